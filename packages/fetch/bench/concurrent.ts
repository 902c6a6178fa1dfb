/**
 * 10,000 requests in flight at once against a server that answers each page
 * after 2 s: all must complete; reports the client's peak RSS. Run in its own
 * process by `run.ts` (argv: port) so the RSS is this case's alone.
 */
import * as Effect from "effect/Effect"
import { pageUrl } from "./ceiling.ts"
import { makeBenchFetcher } from "./trawl.ts"

const port = Number(process.argv[2])
const requests = Number(process.argv[3] ?? "10000")
const hosts = 1000

let peak = process.memoryUsage.rss()
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss())
}, 20)
const startRss = process.memoryUsage.rss()

const { fetcher, dispose } = await makeBenchFetcher({
  globalConcurrency: requests,
  perHostConcurrency: Math.ceil(requests / hosts),
  perHostMinDelayMillis: 0,
  headersTimeoutMillis: 30_000,
  totalTimeoutMillis: 60_000,
  connectTimeoutMillis: 20_000
})

const started = performance.now()
const outcomes = await Effect.runPromise(
  Effect.forEach(
    Array.from({ length: requests }, (_, i) => i),
    (i) => Effect.result(fetcher.fetchPage(pageUrl(port, hosts, i))),
    { concurrency: "unbounded" }
  )
)
const seconds = (performance.now() - started) / 1000
clearInterval(sampler)
peak = Math.max(peak, process.memoryUsage.rss())
const failures = outcomes.filter((outcome) => outcome._tag === "Failure")
const errors = [...new Set(failures.map((outcome) => outcome._tag === "Failure" ? outcome.failure._tag : ""))]
await dispose()
process.stdout.write(
  `${
    JSON.stringify({
      bench: "fetch",
      case: "concurrent-10k-2s-delay-peak-rss",
      value: Math.round(peak / 1024 / 1024),
      unit: "MB",
      requests,
      completed: outcomes.length - failures.length,
      errors,
      seconds: Number(seconds.toFixed(2)),
      startRssMB: Math.round(startRss / 1024 / 1024),
      target: 300
    })
  }\n`
)
