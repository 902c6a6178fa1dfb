/**
 * `npm run chaos`: both chaos scenarios at full size, one JSON line each
 * (`{"chaos":…,"ok":…,…}`); exits 1 if any check failed.
 *
 * Flags: `--shops N` (default 1000), `--products N` (2), `--kills N` (4),
 * `--resume-seconds S` (30), `--only worker|app`.
 *
 * The outage scenarios (`outage.ts`, 80 shops × 2 products unless `--shops` /
 * `--products` are given) run with `--only outage` (all of them, one after
 * the other) or one of `--only lock` (`--outage-seconds S`, default 15),
 * `postgres` (10), `budget` (the lock: 15), `webhook`, `webhook-kill`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { parseArgs } from "node:util"
import { outageBudget, postgresRestart, storeLock, webhookOutage } from "./outage.ts"
import { appKill, workerKill } from "./scenarios.ts"
import type { SetupError } from "./support.ts"

const { values } = parseArgs({
  options: {
    shops: { type: "string", default: "1000" },
    products: { type: "string", default: "2" },
    kills: { type: "string", default: "4" },
    "resume-seconds": { type: "string", default: "30" },
    "outage-seconds": { type: "string" },
    only: { type: "string" }
  }
})
const shops = Number(values.shops)
const products = Number(values.products)
const outageWorld = {
  ...(process.argv.includes("--shops") ? { shops } : {}),
  ...(process.argv.includes("--products") ? { products } : {})
}
const outageSeconds = (fallback: number) => values["outage-seconds"] === undefined ? fallback : Number(values["outage-seconds"])
const outages: Record<string, () => Effect.Effect<{ readonly failures: ReadonlyArray<string> }, SetupError, Scope.Scope>> = {
  lock: () => storeLock({ ...outageWorld, outageSeconds: outageSeconds(15) }),
  postgres: () => postgresRestart({ ...outageWorld, outageSeconds: outageSeconds(10) }),
  budget: () => outageBudget({ ...outageWorld, lockSeconds: outageSeconds(15) }),
  webhook: () => webhookOutage({ ...outageWorld, failSeconds: outageSeconds(30) }),
  "webhook-kill": () => webhookOutage({ ...outageWorld, failSeconds: outageSeconds(30), killAfterSeconds: 12 })
}

const main = Effect.gen(function*() {
  let failed = false
  for (const [name, scenario] of Object.entries(outages)) {
    if (values.only !== "outage" && values.only !== name) continue
    const report = yield* Effect.scoped(scenario())
    console.log(JSON.stringify({ chaos: `outage-${name}`, passed: report.failures.length === 0, ...report }))
    failed ||= report.failures.length > 0
  }
  if (values.only === undefined || values.only === "worker") {
    const report = yield* Effect.scoped(workerKill({ shops, products, kills: Number(values.kills) }))
    console.log(JSON.stringify({ chaos: "worker-kill", passed: report.failures.length === 0, ...report }))
    failed ||= report.failures.length > 0
  }
  if (values.only === undefined || values.only === "app") {
    const report = yield* Effect.scoped(appKill({ shops, products, killAfter: 0.4, resumeSeconds: Number(values["resume-seconds"]), awaitLeases: true }))
    console.log(JSON.stringify({ chaos: "app-kill", passed: report.failures.length === 0, ...report }))
    failed ||= report.failures.length > 0
  }
  return failed
})

Effect.runPromise(main).then(
  (failed) => process.exit(failed ? 1 : 0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
