/**
 * `npm run chaos`: both chaos scenarios at full size, one JSON line each
 * (`{"chaos":…,"ok":…,…}`); exits 1 if any check failed.
 *
 * Flags: `--shops N` (default 1000), `--products N` (2), `--kills N` (4),
 * `--resume-seconds S` (30), `--only worker|app`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { parseArgs } from "node:util"
import { appKill, workerKill } from "./scenarios.ts"

const { values } = parseArgs({
  options: {
    shops: { type: "string", default: "1000" },
    products: { type: "string", default: "2" },
    kills: { type: "string", default: "4" },
    "resume-seconds": { type: "string", default: "30" },
    only: { type: "string" }
  }
})
const shops = Number(values.shops)
const products = Number(values.products)

const main = Effect.gen(function*() {
  let failed = false
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
