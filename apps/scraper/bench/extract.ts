/**
 * The extraction stage alone: sim-web product pages, fetched once by
 * bare undici (with the charsets `@trawl/fetch` would give them), then fed through `Extractor.layerWorker` round after round. It
 * reports the CPU the extraction costs per page, split into the calling
 * thread (the scraper's main thread: encoding, posting, decoding replies) and
 * every other thread (the extraction workers and V8's GC helpers) — the figure
 * the end-to-end bench is bound by on 2 shared cores — and, for reference, the
 * same pages extracted in-process (`Extractor.layerLocal`) on one thread.
 *
 *   npm run bench:extract -w @trawl/scraper
 *
 * Environment: BENCH_SHOPS (default 400; 5 products each), BENCH_ROUNDS (5),
 * BENCH_WORKERS (2), BENCH_INFLIGHT (64 pages asked at once), BENCH_YOUNG_MB
 * (the workers' young generation), BENCH_HANDLER (another handler module,
 * relative to the working directory, e.g. one that skips a step).
 * One JSON line per case; figures are medians of the rounds.
 */
import { SimWeb } from "@trawl/harness"
import { Charset } from "@trawl/fetch"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { loadavg } from "node:os"
import { Agent, buildConnector } from "undici"
import { Extractor } from "../src/index.ts"

const shops = Number(process.env["BENCH_SHOPS"] ?? 400)
const rounds = Number(process.env["BENCH_ROUNDS"] ?? 5)
const workers = Number(process.env["BENCH_WORKERS"] ?? 2)
const inflight = Number(process.env["BENCH_INFLIGHT"] ?? 64)
const young = process.env["BENCH_YOUNG_MB"] === undefined ? undefined : Number(process.env["BENCH_YOUNG_MB"])
// another handler module (e.g. one that skips a step), to see what each step costs
const handler = process.env["BENCH_HANDLER"] === undefined ? undefined : new URL(process.env["BENCH_HANDLER"], `file://${process.cwd()}/`)

interface FetchedPage {
  readonly url: string
  readonly body: Uint8Array
  readonly charset: string
}

const emit = (line: Record<string, unknown>) =>
  console.log(JSON.stringify({ bench: "scraper-extract", ...line, loadavg1m: Math.round(loadavg()[0]! * 100) / 100 }))
const median = (values: ReadonlyArray<number>): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const round3 = (n: number) => Math.round(n * 1000) / 1000

/**
 * Fetches every product page once with bare undici (this bench measures the
 * extractor, not the fetcher), with the charset `@trawl/fetch` would give it.
 */
const fetchPages = Effect.gen(function*() {
  const sim = yield* SimWeb.start({ shops, products: 5, seed: 11, hostileFraction: 0, errorScale: 0, latencyScale: 0 })
  const urls: Array<string> = []
  for (let shop = 0; shop < shops; shop++) for (let p = 0; p < 5; p++) urls.push(sim.productUrl(shop, p))
  const dial = buildConnector({ keepAlive: true })
  const agent = new Agent({ connect: (options, callback) => dial({ ...options, hostname: "127.0.0.1" }, callback) })
  return yield* Effect.promise(async () => {
    const pages: Array<FetchedPage> = []
    let next = 0
    const loop = async () => {
      while (next < urls.length) {
        const url = new URL(urls[next++]!)
        const response = await agent.request({ origin: url.origin, path: url.pathname, method: "GET" })
        const body = new Uint8Array(await response.body.arrayBuffer())
        if (response.statusCode !== 200) throw new Error(`status ${response.statusCode} for ${url.href}`)
        const contentType = response.headers["content-type"]
        const sniffed = Charset.sniff(typeof contentType === "string" ? contentType : undefined, body)
        if (sniffed._tag !== "Known") throw new Error(`unknown charset ${sniffed.label} for ${url.href}`)
        pages.push({ url: url.href, body, charset: sniffed.charset })
      }
    }
    await Promise.all(Array.from({ length: 32 }, loop))
    await agent.close()
    return pages
  })
}).pipe(Effect.scoped)

interface Round {
  readonly seconds: number
  readonly mainCpu: number
  readonly otherCpu: number
}

/** Extracts every page once, `inflight` at a time; the bodies are copied first (a transfer detaches them). */
const extractAll = (pages: ReadonlyArray<FetchedPage>) =>
  Effect.gen(function*() {
    const extractor = yield* Extractor.Extractor
    const copies = pages.map((page) => ({ ...page, body: page.body.slice() }))
    const cpu = process.cpuUsage()
    const main = process.threadCpuUsage()
    const started = performance.now()
    let priced = 0
    yield* Effect.forEach(copies, (page) =>
      Effect.map(extractor.extract(page), (product) => {
        if (product.price !== undefined) priced++
      }), { concurrency: inflight, discard: true })
    const seconds = (performance.now() - started) / 1000
    const all = process.cpuUsage(cpu)
    const mainUsed = process.threadCpuUsage(main)
    if (priced !== pages.length && process.env["BENCH_HANDLER"] === undefined) throw new Error(`priced ${priced} of ${pages.length} pages`)
    const mainCpu = (mainUsed.user + mainUsed.system) / 1e6
    return { seconds, mainCpu, otherCpu: (all.user + all.system) / 1e6 - mainCpu } satisfies Round
  })

const program = Effect.gen(function*() {
  const pages = yield* fetchPages
  const bytes = pages.reduce((sum, page) => sum + page.body.byteLength, 0)
  const charsets = new Map<string, number>()
  for (const page of pages) charsets.set(page.charset, (charsets.get(page.charset) ?? 0) + 1)
  const per1000 = (seconds: number) => round3((seconds / pages.length) * 1000)

  const measured: Array<Round> = yield* Effect.gen(function*() {
    yield* extractAll(pages) // warm-up: JIT, worker heaps
    const results: Array<Round> = []
    for (let i = 0; i < rounds; i++) results.push(yield* extractAll(pages))
    return results
  }).pipe(Effect.provide(Extractor.layerWorker({ workers, ...(handler === undefined ? {} : { handler }), ...(young === undefined ? {} : { youngHeapMb: young }) })))

  emit({
    case: `worker extraction, ${pages.length} sim-web pages, CPU of other threads (workers + GC helpers) per 1,000 pages`,
    value: per1000(median(measured.map((r) => r.otherCpu))),
    unit: "cpu-s/1000 pages",
    mainThread: per1000(median(measured.map((r) => r.mainCpu))),
    pagesPerSecond: Math.round(median(measured.map((r) => pages.length / r.seconds))),
    workers,
    avgPageKB: Math.round(bytes / pages.length / 1024),
    charsets: Object.fromEntries(charsets),
    rounds
  })

  const local: Array<Round> = yield* Effect.gen(function*() {
    yield* extractAll(pages)
    const results: Array<Round> = []
    for (let i = 0; i < rounds; i++) results.push(yield* extractAll(pages))
    return results
  }).pipe(Effect.provide(Extractor.layerLocal))
  emit({
    case: `in-process extraction (reference: no worker protocol), ${pages.length} pages, CPU per 1,000 pages`,
    value: per1000(median(local.map((r) => r.mainCpu + r.otherCpu))),
    unit: "cpu-s/1000 pages",
    mainThread: per1000(median(local.map((r) => r.mainCpu))),
    rounds
  })
}).pipe(Effect.scoped, Effect.provideService(Logger.LogToStderr, true))

await Effect.runPromise(program)
