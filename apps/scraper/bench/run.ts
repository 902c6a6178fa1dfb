/**
 * End-to-end benchmark: `trawl run --once` (the same Monitor, in this
 * process) over 20,000 product pages of the harness's sim-web — fetch,
 * extraction in worker threads, batched SQLite writes with change detection —
 * against the bare-undici ceiling (@trawl/fetch's bench) fetching the same
 * URLs at the same concurrency, in the same run.
 *
 *   npm run bench -w @trawl/scraper
 *
 * Environment: BENCH_SHOPS (default 4000), BENCH_PRODUCTS (5), BENCH_CONCURRENCY (256), BENCH_WORKERS (2).
 */
import { SimWeb } from "@trawl/harness"
import { Fetcher } from "@trawl/fetch"
import { Model, Store } from "@trawl/store"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { Agent, buildConnector } from "undici"
import { measure } from "@trawl/fetch/bench/ceiling"
import { Extractor, Monitor } from "../src/index.ts"

const shops = Number(process.env["BENCH_SHOPS"] ?? 4000)
const products = Number(process.env["BENCH_PRODUCTS"] ?? 5)
const concurrency = Number(process.env["BENCH_CONCURRENCY"] ?? 256)
const workers = Number(process.env["BENCH_WORKERS"] ?? 2)
const pages = shops * products

const emit = (line: Record<string, unknown>) => console.log(JSON.stringify({ bench: "scraper", ...line }))

/**
 * The bare-undici loop of @trawl/fetch's ceiling, over a list of URLs — asking
 * for the same encodings trawl asks for (and decoding them), so both clients
 * get the same bytes from the server.
 */
const bareUndici = async (urls: ReadonlyArray<string>) => {
  const dial = buildConnector({ keepAlive: true })
  const agent = new Agent({
    pipelining: 1,
    keepAliveTimeout: 30_000,
    connect: (options, callback) => dial({ ...options, hostname: "127.0.0.1" }, callback)
  })
  try {
    return await measure(urls.length, async () => {
      let next = 0
      let bytes = 0
      const worker = async () => {
        while (next < urls.length) {
          const url = new URL(urls[next++]!)
          const response = await agent.request({
            origin: url.origin,
            path: url.pathname,
            method: "GET",
            headers: { "accept-encoding": "gzip, deflate, br" }
          })
          const raw = Buffer.from(await response.body.arrayBuffer())
          if (response.statusCode !== 200) throw new Error(`status ${response.statusCode} for ${url.href}`)
          const encoding = response.headers["content-encoding"]
          const body = encoding === "br" ? zlib.brotliDecompressSync(raw) : encoding === "gzip" ? zlib.gunzipSync(raw) : encoding === "deflate" ? zlib.inflateSync(raw) : raw
          bytes += body.byteLength
        }
      }
      await Promise.all(Array.from({ length: concurrency }, worker))
      return bytes
    })
  } finally {
    await agent.destroy()
  }
}

/** Samples the process's memory; returns the peaks (RSS, and the main thread's heap and buffers). */
const peakRss = () => {
  const peak = { rss: 0, heapUsed: 0, arrayBuffers: 0 }
  const sample = () => {
    const usage = process.memoryUsage()
    peak.rss = Math.max(peak.rss, usage.rss)
    peak.heapUsed = Math.max(peak.heapUsed, usage.heapUsed)
    peak.arrayBuffers = Math.max(peak.arrayBuffers, usage.arrayBuffers)
  }
  sample()
  const timer = setInterval(sample, 50)
  return () => {
    clearInterval(timer)
    sample()
    return peak
  }
}

const program = Effect.gen(function*() {
  const sim = yield* SimWeb.start({ shops, products, seed: 11, hostileFraction: 0, errorScale: 0, latencyScale: 0 })
  const urls: Array<string> = []
  for (let shop = 0; shop < shops; shop++) for (let p = 0; p < products; p++) urls.push(sim.productUrl(shop, p))

  // warm the server's page cache and the HTTP code paths
  yield* Effect.promise(() => bareUndici(urls.slice(0, 2000)))

  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "trawl-bench-"))),
    (d) => Effect.promise(() => fs.rm(d, { recursive: true, force: true }))
  )
  const db = path.join(dir, "bench.db")
  const layers = Layer.mergeAll(
    Store.layerSqlite({ filename: db }),
    Fetcher.layer({
      resolve: { "*.sim.test": "127.0.0.1" },
      allowRanges: ["loopback"],
      globalConcurrency: concurrency,
      robots: false,
      ...(process.env["BENCH_PER_HOST_DELAY"] === undefined ? {} : { perHostMinDelayMillis: Number(process.env["BENCH_PER_HOST_DELAY"]) }),
      ...(process.env["BENCH_PER_HOST"] === undefined ? {} : { perHostConcurrency: Number(process.env["BENCH_PER_HOST"]) })
    }),
    workers === 0 ? Extractor.layerLocal : Extractor.layerWorker({ workers })
  )
  const result = yield* Effect.gen(function*() {
    const store = yield* Store.Store
    for (let i = 0; i < urls.length; i += 500) {
      yield* store.addTargets(urls.slice(i, i + 500).map((url) => new Model.NewTarget({ url, intervalMillis: 300_000 })))
    }
    const stopRss = peakRss()
    const cpu = process.cpuUsage()
    const mainCpu = process.threadCpuUsage()
    const started = performance.now()
    const summary = yield* Monitor.run({
      once: true,
      all: true,
      notifiers: [],
      fetchFibers: concurrency,
      ...(process.env["BENCH_EXTRACT_FIBERS"] === undefined ? {} : { extractFibers: Number(process.env["BENCH_EXTRACT_FIBERS"]) }),
      tty: false,
      handleSignals: false,
      print: () => undefined
    }).pipe(Effect.scoped)
    const seconds = (performance.now() - started) / 1000
    const used = process.cpuUsage(cpu)
    const usedByMain = process.threadCpuUsage(mainCpu)
    return {
      summary,
      seconds,
      cpuSeconds: (used.user + used.system) / 1e6,
      mainCpuSeconds: (usedByMain.user + usedByMain.system) / 1e6,
      rss: stopRss()
    }
  }).pipe(Effect.provide(layers))
  // the ceiling runs after trawl, so its buffers do not count in trawl's peak RSS
  const ceiling = yield* Effect.promise(() => bareUndici(urls))

  const recorded = result.summary.snapshot.counters.recorded
  const extracted = result.summary.snapshot.counters.extracted
  if (recorded !== pages) throw new Error(`recorded ${recorded} of ${pages} pages`)
  const pagesPerSecond = recorded / result.seconds
  emit({ case: `end-to-end --once, ${pages} pages (fetch + worker extraction + SQLite), pages/s`, value: Math.round(pagesPerSecond), unit: "pages/s", baseline: Math.round(ceiling.pagesPerSecond), ratio: Math.round((pagesPerSecond / ceiling.pagesPerSecond) * 1000) / 1000, target: "ratio >= 0.6", extracted, avgPageKB: Math.round(ceiling.bytes / pages / 1024) })
  const per1000 = (seconds: number) => Math.round((seconds / recorded) * 1000 * 1000) / 1000
  emit({
    case: "end-to-end --once, client CPU per 1,000 pages",
    value: per1000(result.cpuSeconds),
    unit: "cpu-s/1000 pages",
    baseline: Math.round(ceiling.cpuSecondsPer1000 * 1000) / 1000,
    mainThread: per1000(result.mainCpuSeconds),
    otherThreads: per1000(result.cpuSeconds - result.mainCpuSeconds)
  })
  const mb = (bytes: number) => Math.round(bytes / 1024 / 1024)
  emit({
    case: "end-to-end --once, peak RSS of the client (main thread + extraction workers)",
    value: mb(result.rss.rss),
    unit: "MB",
    mainHeapPeakMB: mb(result.rss.heapUsed),
    arrayBuffersPeakMB: mb(result.rss.arrayBuffers)
  })
}).pipe(Effect.scoped, Effect.provideService(Logger.LogToStderr, true))

await Effect.runPromise(program)
