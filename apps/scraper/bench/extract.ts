/**
 * The extraction stage alone: sim-web product pages, fetched once by
 * bare undici (with the charsets `@trawl/fetch` would give them), then fed through `Extractor.layerWorker` round after round. It
 * reports the CPU the extraction costs per page, split into the calling
 * thread (the scraper's main thread: encoding, posting, decoding replies) and
 * every other thread (the extraction workers and V8's GC helpers) — the figure
 * the end-to-end bench is bound by on 2 shared cores — and, for reference, the
 * same pages extracted in-process (`Extractor.layerLocal`) on one thread.
 *
 * Then where a compressed page is decoded (decompression with the cap and
 * charset sniffing, `Decode`): on the main thread before the page is posted
 * (`decoded-on-main`, what the pipeline did while the fetcher decoded every
 * page) or in the worker (`raw-<encoding>-in-worker`: the compressed bytes are
 * posted, what the pipeline does now) — main-thread CPU per 1,000 pages, for
 * the gzip and br bodies sim-web serves; and whether posting several pages per
 * message lowers it (the pool's `prefetch`: refills go out as one message for
 * up to `prefetch` pages; 1 is one page per message).
 *
 *   npm run bench:extract -w @trawl/scraper
 *
 * Environment: BENCH_SHOPS (default 400; 5 products each), BENCH_ROUNDS (5),
 * BENCH_WORKERS (2), BENCH_INFLIGHT (64 pages asked at once), BENCH_YOUNG_MB
 * (the workers' young generation), BENCH_HANDLER (another handler module,
 * relative to the working directory, e.g. one that skips a step),
 * BENCH_CASES (`all`, or `decode` for only the decoding and batching cases).
 * One JSON line per case; figures are medians of the rounds.
 */
import { SimWeb } from "@trawl/harness"
import { Charset, Decode } from "@trawl/fetch"
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
  readonly contentType: string | undefined
  /** The same page as sim-web sends it compressed. */
  readonly gzip: Uint8Array
  readonly br: Uint8Array
}

const cases = process.env["BENCH_CASES"] ?? "all"
const maxDecompressedBytes = 32 * 1024 * 1024

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
    const get = async (url: URL, encoding: string | undefined) => {
      const response = await agent.request({
        origin: url.origin,
        path: url.pathname,
        method: "GET",
        ...(encoding === undefined ? {} : { headers: { "accept-encoding": encoding } })
      })
      const body = new Uint8Array(await response.body.arrayBuffer())
      if (response.statusCode !== 200) throw new Error(`status ${response.statusCode} for ${url.href}`)
      if (response.headers["content-encoding"] !== encoding) throw new Error(`not ${encoding}: ${url.href}`)
      const contentType = response.headers["content-type"]
      return { body, contentType: typeof contentType === "string" ? contentType : undefined }
    }
    const loop = async () => {
      while (next < urls.length) {
        const url = new URL(urls[next++]!)
        const { body, contentType } = await get(url, undefined)
        const sniffed = Charset.sniff(contentType, body)
        if (sniffed._tag !== "Known") throw new Error(`unknown charset ${sniffed.label} for ${url.href}`)
        const gzip = (await get(url, "gzip")).body
        const br = (await get(url, "br")).body
        pages.push({ url: url.href, body, charset: sniffed.charset, contentType, gzip, br })
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
    const copies = pages.map((page) => ({ url: page.url, charset: page.charset, body: page.body.slice() }))
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

type Where = "decoded-on-main" | "raw-in-worker"

/**
 * Extracts every page once from its `encoding` bytes, `inflight` at a time: decoded on this
 * thread first (`decoded-on-main`, as the fetcher did), or posted as received with what the
 * worker needs to decode it (`raw-in-worker`). The decoding is inside the measured window.
 */
const extractEncoded = (pages: ReadonlyArray<FetchedPage>, encoding: "gzip" | "br", where: Where, atOnce: number) =>
  Effect.gen(function*() {
    const extractor = yield* Extractor.Extractor
    const copies = pages.map((page) => ({ url: page.url, contentType: page.contentType, body: page[encoding].slice() }))
    const cpu = process.cpuUsage()
    const main = process.threadCpuUsage()
    const started = performance.now()
    let priced = 0
    yield* Effect.forEach(copies, (page) =>
      Effect.suspend(() => {
        if (where === "raw-in-worker") {
          return extractor.extract({
            url: page.url,
            body: page.body,
            ownsBuffer: true,
            charset: "",
            decode: { contentEncoding: encoding, contentType: page.contentType, maxDecompressedBytes }
          })
        }
        const decoded = Decode.decode({
          url: page.url,
          body: page.body,
          contentEncoding: encoding,
          contentType: page.contentType,
          maxDecompressedBytes
        })
        if (Decode.isDecodeError(decoded)) return Effect.die(decoded)
        return extractor.extract({ url: page.url, body: decoded.body, ownsBuffer: true, charset: decoded.charset })
      }).pipe(Effect.map((product) => {
        if (product.price !== undefined) priced++
      })), { concurrency: atOnce, discard: true })
    const seconds = (performance.now() - started) / 1000
    const all = process.cpuUsage(cpu)
    const mainUsed = process.threadCpuUsage(main)
    if (priced !== pages.length) throw new Error(`priced ${priced} of ${pages.length} pages`)
    const mainCpu = (mainUsed.user + mainUsed.system) / 1e6
    return { seconds, mainCpu, otherCpu: (all.user + all.system) / 1e6 - mainCpu } satisfies Round
  })

/** Warm-up, then `rounds` rounds, on a pool of its own (`prefetch`), `atOnce` pages asked at once. */
const measureEncoded = (
  pages: ReadonlyArray<FetchedPage>,
  encoding: "gzip" | "br",
  where: Where,
  atOnce: number,
  prefetch?: number
) =>
  Effect.gen(function*() {
    yield* extractEncoded(pages, encoding, where, atOnce)
    const results: Array<Round> = []
    for (let i = 0; i < rounds; i++) results.push(yield* extractEncoded(pages, encoding, where, atOnce))
    return results
  }).pipe(Effect.provide(Extractor.layerWorker({
    workers,
    ...(prefetch === undefined ? {} : { prefetch }),
    ...(young === undefined ? {} : { youngHeapMb: young })
  })))

const decodingCases = (pages: ReadonlyArray<FetchedPage>) =>
  Effect.gen(function*() {
    const per1000 = (seconds: number) => round3((seconds / pages.length) * 1000)
    const mainOf = (results: ReadonlyArray<Round>) => per1000(median(results.map((r) => r.mainCpu)))
    const otherOf = (results: ReadonlyArray<Round>) => per1000(median(results.map((r) => r.otherCpu)))
    const rateOf = (results: ReadonlyArray<Round>) => Math.round(median(results.map((r) => pages.length / r.seconds)))
    for (const encoding of ["gzip", "br"] as const) {
      const bytes = pages.reduce((sum, page) => sum + page[encoding].byteLength, 0)
      const onMain = yield* measureEncoded(pages, encoding, "decoded-on-main", inflight)
      const inWorker = yield* measureEncoded(pages, encoding, "raw-in-worker", inflight)
      emit({
        case: `main-thread CPU per 1,000 ${encoding} pages: raw-${encoding}-in-worker vs decoded-on-main (baseline)`,
        value: mainOf(inWorker),
        unit: "cpu-s/1000 pages",
        baseline: mainOf(onMain),
        ratio: round3(mainOf(inWorker) / mainOf(onMain)),
        workerThreads: { inWorker: otherOf(inWorker), onMain: otherOf(onMain) },
        pagesPerSecond: { inWorker: rateOf(inWorker), onMain: rateOf(onMain) },
        avgWireKB: Math.round(bytes / pages.length / 1024),
        workers,
        inflight,
        rounds
      })
    }
    // Several pages per message: a refill carries up to prefetch/2 pages (up to prefetch once the
    // queue backs up) in one postMessage; prefetch 1 sends one page per message. Asked 16 at once,
    // as the monitor's extraction stage does (`extractFibers`), and `inflight` at once.
    for (const atOnce of [...new Set([16, inflight])]) {
      const single = yield* measureEncoded(pages, "gzip", "raw-in-worker", atOnce, 1)
      for (const prefetch of [4, 8]) {
        const batched = yield* measureEncoded(pages, "gzip", "raw-in-worker", atOnce, prefetch)
        emit({
          case: `main-thread CPU per 1,000 raw gzip pages, ${atOnce} asked at once: prefetch ${prefetch} (several pages per postMessage) vs prefetch 1 (baseline, one per message)`,
          value: mainOf(batched),
          unit: "cpu-s/1000 pages",
          baseline: mainOf(single),
          ratio: round3(mainOf(batched) / mainOf(single)),
          workerThreads: { batched: otherOf(batched), single: otherOf(single) },
          pagesPerSecond: { batched: rateOf(batched), single: rateOf(single) },
          workers,
          rounds
        })
      }
    }
  })

const program = Effect.gen(function*() {
  const pages = yield* fetchPages
  if (cases === "decode") return yield* decodingCases(pages)
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
  yield* decodingCases(pages)
}).pipe(Effect.scoped, Effect.provideService(Logger.LogToStderr, true))

await Effect.runPromise(program)
