import { PgClient } from "@effect/sql-pg"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Reactivity from "effect/reactivity/Reactivity"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Shop, startShop } from "./fixtures-shop.ts"
import { runTrawl } from "./helpers.ts"

/** The Postgres server the store's tests use (its script), or why there is none. */
const server = (() => {
  const script = fileURLToPath(new URL("../../../packages/store/scripts/postgres.sh", import.meta.url))
  const result = spawnSync("bash", [script], { encoding: "utf8", timeout: 240_000 })
  const url = result.stdout.trim().split("\n").pop() ?? ""
  return result.status === 0 && url.startsWith("postgres://") ? { url } : { reason: (result.stderr || `exit ${result.status}`).trim() }
})()

if (!("url" in server)) {
  console.log(`trawl-on-Postgres tests skipped: no PostgreSQL server could be had (packages/store/scripts/postgres.sh said: ${server.reason})`)
}

const schema = `trawl_cli_${process.pid}_${Date.now()}`
let shop: Shop
let dir: string

beforeAll(async () => {
  shop = await startShop()
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "trawl-pg-"))
})

afterAll(async () => {
  await shop.close()
  await fs.rm(dir, { recursive: true, force: true })
  if ("url" in server) {
    const url = server.url
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 })
      yield* sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`
    })).pipe(Effect.provide(Reactivity.layer), Effect.orDie))
  }
})

describe.runIf("url" in server)("trawl on Postgres", { timeout: 120_000 }, () => {
  it("run --once records prices in Postgres (own schema), export and history read them back", async () => {
    const url = (server as { url: string }).url
    const targets = path.join(dir, "targets.csv")
    await fs.writeFile(targets, ["url", ...Array.from({ length: 10 }, (_, i) => `http://pg${i % 3}.shop.test:${shop.port}/p/${i + 1}`)].join("\n"))
    const pg = ["--postgres", url, "--postgres-schema", schema]
    const run = await runTrawl(["run", "--once", "--targets", targets, ...pg, "--resolve", "*.shop.test=127.0.0.1", "--allow-private", "--workers", "0"])
    expect(run.stderr).not.toMatch(/\n\s+at /)
    expect(run.code).toBe(0)
    const exported = await runTrawl(["export", ...pg])
    const rows = exported.stdout.trim().split("\n").map((line) => JSON.parse(line) as { url: string; amount: string })
    expect(rows).toHaveLength(10)
    for (const row of rows) expect(row.amount).toBe(shop.priceOf(Number(/\/p\/(\d+)$/.exec(row.url)![1])))
    const history = await runTrawl(["history", rows[0]!.url, ...pg])
    expect(history.stdout).toMatch(new RegExp(`${rows[0]!.amount} EUR`))
  })
})
