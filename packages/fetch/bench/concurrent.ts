/**
 * 10,000 requests in flight at once against a server that answers each page
 * after 2 s: all must complete; reports the client's peak RSS. Run in its own
 * process by `run.ts` (argv: port, requests, mode, page bytes, consumer) so
 * the RSS is this case's alone. `mode` is `trawl` (the Fetcher) or `bare` (a
 * bare undici loop, the baseline). The trawl consumer `release`s each page
 * once it has read it (`Page.release`, what the scraper's hand-off to a worker
 * amounts to) or `drop`s it for the garbage collector.
 *
 * `run.ts` runs this file as plain JavaScript (types stripped) importing the
 * built package, as a user's program would: so it imports packages only,
 * no other bench file.
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { Agent, buildConnector } from "undici"
import { Fetcher, Page } from "@trawl/fetch"

const port = Number(process.argv[2])
const requests = Number(process.argv[3] ?? "10000")
const mode = process.argv[4] ?? "trawl"
const pageBytes = Number(process.argv[5] ?? String(60 * 1024))
const consumer = process.argv[6] ?? "release"
const hosts = 1000
const perHost = Math.ceil(requests / hosts)
// The URLs of the ceiling's load (ceiling.ts): `hosts` virtual hosts resolved to 127.0.0.1.
const pageUrl = (i: number) => `http://h${i % hosts}.bench.test:${port}/p/${i}`

// Peak RSS is the kernel's high-water mark (getrusage maxrss): a sampling timer would
// miss the peak, which comes while the event loop is busy with the burst of responses.
const peakRss = () => process.resourceUsage().maxRSS * 1024
let peak = 0
let atPeak = process.memoryUsage()
const sampler = setInterval(() => {
  // Only for the BENCH_VERBOSE breakdown: heap figures near the peak.
  if (process.env["BENCH_VERBOSE"] && process.memoryUsage.rss() >= atPeak.rss) atPeak = process.memoryUsage()
}, 20)
const startRss = process.memoryUsage.rss()

const runTrawl = async () => {
  // Politeness must not serialize the requests here (the case is about 10,000 in flight):
  // per-host limit = requests per host, no minimum delay, no adaptive throttle. Robots stay on.
  const runtime = ManagedRuntime.make(Fetcher.layer({
    resolve: { "*.bench.test": "127.0.0.1" },
    allowRanges: ["loopback"],
    globalConcurrency: requests,
    perHostConcurrency: perHost,
    perHostMinDelayMillis: 0,
    throttle: { enabled: false },
    headersTimeoutMillis: 30_000,
    totalTimeoutMillis: 60_000,
    connectTimeoutMillis: 20_000
  }))
  const fetcher = await runtime.runPromise(Effect.service(Fetcher.Fetcher))
  const outcomes = await Effect.runPromise(
    Effect.forEach(
      Array.from({ length: requests }, (_, i) => i),
      // Keep only the outcome: the bench must not be what holds 10,000 pages.
      (i) =>
        Effect.result(Effect.map(fetcher.fetchPage(pageUrl(i)), (page) => {
          const bytes = page.body.byteLength
          if (consumer === "release") Page.release(page)
          return bytes
        })),
      { concurrency: "unbounded" }
    )
  )
  stopSampling()
  await runtime.dispose()
  const failures = outcomes.filter((outcome) => outcome._tag === "Failure")
  return {
    completed: outcomes.length - failures.length,
    errors: [...new Set(failures.map((outcome) => outcome._tag === "Failure" ? outcome.failure._tag : ""))]
  }
}

const runBare = async () => {
  const dial = buildConnector({ keepAlive: true })
  const agent = new Agent({
    connections: perHost,
    pipelining: 1,
    connect: (options, callback) => dial({ ...options, hostname: "127.0.0.1" }, callback)
  })
  const outcomes = await Promise.allSettled(Array.from({ length: requests }, async (_, i) => {
    const url = new URL(pageUrl(i))
    const response = await agent.request({ origin: url.origin, path: url.pathname, method: "GET" })
    return (await response.body.arrayBuffer()).byteLength
  }))
  stopSampling()
  await agent.destroy()
  const failures = outcomes.filter((outcome) => outcome.status === "rejected")
  return { completed: outcomes.length - failures.length, errors: failures.slice(0, 3).map((f) => String(f.reason)) }
}

// The peak is read when the last response is in, before the client is torn down.
let seconds = 0
const stopSampling = () => {
  seconds = (performance.now() - started) / 1000
  clearInterval(sampler)
  peak = peakRss()
}
const started = performance.now()
const { completed, errors } = mode === "bare" ? await runBare() : await runTrawl()
if (process.env["BENCH_VERBOSE"]) {
  const mb = (n: number) => Math.round(n / 1024 / 1024)
  process.stderr.write(
    `at peak: heapTotal ${mb(atPeak.heapTotal)} MB, heapUsed ${mb(atPeak.heapUsed)} MB, external ${mb(atPeak.external)} MB, arrayBuffers ${mb(atPeak.arrayBuffers)} MB\n`
  )
}
process.stdout.write(
  `${
    JSON.stringify({
      bench: "fetch",
      case: `concurrent-10k-2s-delay-${Math.round(pageBytes / 1024)}kb-peak-rss${
        mode === "bare" ? "-bare-undici" : consumer === "drop" ? "-pages-dropped" : ""
      }`,
      value: Math.round(peak / 1024 / 1024),
      unit: "MB",
      requests,
      ...(mode === "bare" ? {} : { consumer }),
      completed,
      errors,
      seconds: Number(seconds.toFixed(2)),
      startRssMB: Math.round(startRss / 1024 / 1024),
      target: 300
    })
  }\n`
)
