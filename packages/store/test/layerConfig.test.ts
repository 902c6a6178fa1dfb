import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Store from "../src/Store.ts"
import { postgresServer } from "./support/backends.ts"

const dialect = (env: Record<string, string>) =>
  Effect.flatMap(Store.Store, (store) => Effect.succeed(store.dialect)).pipe(
    Effect.provide(Store.layerConfig),
    Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(env)))
  )

describe("Store.layerConfig", () => {
  it.live("TRAWL_DB picks the SQLite file", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trawl-config-"))
      const filename = path.join(dir, "chosen.db")
      assert.strictEqual(yield* dialect({ TRAWL_DB: filename }), "sqlite")
      assert.isTrue(fs.existsSync(filename))
      fs.rmSync(dir, { recursive: true, force: true })
    }))

  const server = postgresServer()
  it.live.skipIf(!("url" in server))("TRAWL_POSTGRES_URL picks Postgres, in TRAWL_POSTGRES_SCHEMA", () =>
    Effect.gen(function*() {
      const url = (server as { url: string }).url
      const schema = `trawl_cfg${process.pid}`
      assert.strictEqual(yield* dialect({ TRAWL_POSTGRES_URL: url, TRAWL_POSTGRES_SCHEMA: schema, TRAWL_DB: "/nonexistent/x.db" }), "pg")
      const tables = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.andThen(
          sql<{ n: unknown }>`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = ${schema}`,
          (rows) => Effect.as(sql`DROP SCHEMA ${sql(schema)} CASCADE`, Number(rows[0]!.n))
        )).pipe(Effect.provide(Store.layerPostgres({ url })))
      assert.isAtLeast(tables, 5, "the tables went into the configured schema")
    }))
})
