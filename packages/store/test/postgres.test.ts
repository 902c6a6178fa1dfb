import { describe, it } from "@effect/vitest"
import { postgres, postgresServer } from "./support/backends.ts"
import { alertRulesSuite } from "./support/alertRulesSuite.ts"
import { storeSuite } from "./support/suite.ts"

const server = postgresServer()
if ("url" in server) {
  storeSuite(postgres(server.url))
  alertRulesSuite(postgres(server.url))
} else {
  console.log(`Postgres store tests skipped: no server could be had (scripts/postgres.sh said: ${server.reason})`)
  describe.skip("Store on postgres", () => {
    it("needs a PostgreSQL server", () => {})
  })
}
