/**
 * `npm run bench:peers`: Crawlee's `CheerioCrawler` and trawl crawl the same
 * product URLs (default 20,000, 20 per shop, shops interleaved; robots-disallowed
 * pages are left out, since trawl does not fetch them, and so are shops whose
 * robots.txt asks for a Crawl-delay, which trawl honours and Crawlee ignores)
 * on one sim-web process (no latency, no injected errors, no hostile shops,
 * prices fixed), one after the other, each extracting the price. Each crawler
 * runs in a child process of its own, so its CPU time (all threads, from
 * `process.cpuUsage`) and memory are its own.
 *
 * - Crawlee 3 (`@crawlee/cheerio`, its defaults: autoscaled concurrency up to
 *   `--concurrency`, got-scraping with generated headers, in-memory storage)
 *   reaches `*.sim.test` through sim-web's proxy mode; its request handler
 *   reads the price the usual way with the cheerio `$` it is given (JSON-LD
 *   offers, `itemprop=price`, `product:price:amount`, RDFa).
 * - trawl: `Monitor.run` (one pass) with its fetcher (robots.txt checked,
 *   per-host limits), 2 extraction worker threads and the SQLite store.
 *
 * One JSON line per case: pages/s and CPU ms per 1,000 pages for each, with
 * Crawlee as the baseline of trawl's (`ratio` = trawl / Crawlee: above 1 is
 * better for pages/s, below 1 is better for CPU), and the share of prices
 * each got right against the truth.
 *
 * Flags: `--urls N` (20000), `--products N` (products per shop, 20), `--concurrency N` (256),
 * `--only crawlee|trawl`. Run under `flock /tmp/trawl-bench.lock` (2 shared
 * cores, the sim-web server among them: figures are noisy).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { SimWeb, Truth } from "@trawl/harness"

const { values } = parseArgs({
  options: {
    urls: { type: "string", default: "20000" },
    products: { type: "string", default: "20" },
    concurrency: { type: "string", default: "256" },
    only: { type: "string" },
    // internal: run one crawler (in the child)
    crawler: { type: "string" },
    input: { type: "string" },
    port: { type: "string" }
  }
})

/** One page to crawl: its URL with the sim-web port (trawl), without (Crawlee, through the proxy), and its true price. */
interface Page {
  readonly url: string
  readonly proxyUrl: string
  readonly price: string
}

/** What a crawler child reports. */
interface Result {
  readonly crawler: string
  readonly pages: number
  readonly correct: number
  readonly failed: number
  readonly seconds: number
  readonly cpuMillis: number
  readonly peakRssMb: number
}

const line = (value: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ bench: "peers", ...value })}\n`)

// -----------------------------------------------------------------------------
// the children
// -----------------------------------------------------------------------------

const peakRssMb = () => {
  const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"))
  return Math.round(Number(match?.[1] ?? 0) / 1024)
}

const measured = async (crawler: string, crawl: () => Promise<{ correct: number; failed: number; pages: number }>) => {
  const cpu = process.cpuUsage()
  const started = performance.now()
  const outcome = await crawl()
  const seconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  const result: Result = { crawler, ...outcome, seconds, cpuMillis: (used.user + used.system) / 1000, peakRssMb: peakRssMb() }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

/** A price as a plain decimal, for comparison: "1,234.50 €" → "1234.50". */
const plain = (text: string | undefined): string | undefined => {
  if (text === undefined) return undefined
  const cleaned = text.replace(/[^\d.,]/g, "")
  if (cleaned === "") return undefined
  // "1.234,56" or "12,99": comma decimal
  const normalized = /,\d{1,2}$/.test(cleaned) ? cleaned.replace(/\./g, "").replace(",", ".") : cleaned.replace(/,/g, "")
  return normalized
}

const samePrice = (found: string | undefined, truth: string) => found !== undefined && Number(found) === Number(truth)

/** The price in JSON-LD: the first offer's `price` / `lowPrice` anywhere in the graph. */
const jsonLdPrice = (value: unknown, depth = 0): string | undefined => {
  if (depth > 12 || value === null || typeof value !== "object") return undefined
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = jsonLdPrice(item, depth + 1)
      if (found !== undefined) return found
    }
    return undefined
  }
  const record = value as Record<string, unknown>
  const type = String(record["@type"] ?? "")
  if (/Offer/.test(type)) {
    const price = record.price ?? record.lowPrice
    if (typeof price === "string" || typeof price === "number") return String(price)
  }
  for (const key of ["offers", "@graph", "hasVariant", "mainEntity"]) {
    if (key in record) {
      const found = jsonLdPrice(record[key], depth + 1)
      if (found !== undefined) return found
    }
  }
  return undefined
}

const runCrawlee = async (pages: ReadonlyArray<Page>, port: number, concurrency: number) => {
  const { CheerioCrawler, Configuration, ProxyConfiguration, log } = await import("@crawlee/cheerio")
  log.setLevel(log.LEVELS.WARNING)
  const truth = new Map(pages.map((page) => [page.proxyUrl, page.price]))
  await measured("crawlee", async () => {
    let correct = 0
    let handled = 0
    let failed = 0
    const crawler = new CheerioCrawler({
      proxyConfiguration: new ProxyConfiguration({ proxyUrls: [`http://127.0.0.1:${port}`] }),
      maxConcurrency: concurrency,
      maxRequestRetries: 2,
      requestHandlerTimeoutSecs: 30,
      navigationTimeoutSecs: 30,
      requestHandler: async ({ $, request }) => {
        let price: string | undefined
        $("script[type='application/ld+json']").each((_, element) => {
          if (price !== undefined) return
          try {
            price = jsonLdPrice(JSON.parse($(element).text()))
          } catch {
            // broken JSON-LD: the markup below still has the price
          }
        })
        price ??= $("[itemprop='price']").first().attr("content") ?? $("[itemprop='price']").first().text()
        price ||= $("meta[property='product:price:amount']").attr("content") ?? $("meta[property='og:price:amount']").attr("content")
        price ||= $("[property='schema:price'], [property='price']").first().attr("content")
        handled++
        if (samePrice(plain(price), truth.get(request.url) ?? "")) correct++
      },
      failedRequestHandler: () => {
        failed++
      }
    }, new Configuration({ persistStorage: false, purgeOnStart: true }))
    await crawler.run(pages.map((page) => page.proxyUrl))
    return { pages: handled, correct, failed }
  })
}

const runTrawl = async (pages: ReadonlyArray<Page>, concurrency: number) => {
  const { Fetcher } = await import("@trawl/fetch")
  const { Extractor, Monitor } = await import("@trawl/scraper")
  const { Model, Store } = await import("@trawl/store")
  const { Layer } = await import("effect")
  const Verify = await import("../chaos/verify.ts")
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trawl-peers-"))
  const db = path.join(dir, "peers.db")
  try {
    // targets go in before the clock starts: the crawl is what is measured
    await Effect.runPromise(Effect.gen(function*() {
      const store = yield* Store.Store
      yield* store.addTargets(pages.map((page) => new Model.NewTarget({ url: page.url, intervalMillis: 300_000 })))
    }).pipe(Effect.scoped, Effect.provide(Store.layerSqlite({ filename: db }))))
    const layers = Layer.mergeAll(
      Store.layerSqlite({ filename: db }),
      Fetcher.layer({ resolve: { "*.sim.test": "127.0.0.1" }, allowRanges: ["loopback"], globalConcurrency: concurrency }),
      Extractor.layerWorker({ workers: 2 })
    )
    await measured("trawl", () =>
      Effect.runPromise(
        Monitor.run({ once: true, all: true, notifiers: [], fetchFibers: concurrency, tty: false, handleSignals: false, print: () => undefined }).pipe(
          Effect.scoped,
          Effect.provide(layers),
          Effect.map(() => {
            const truth = new Map(pages.map((page) => [page.url, page.price]))
            const { observations } = Verify.readDatabase(db)
            const correct = observations.filter((row) => row.amount !== null && samePrice(row.amount, truth.get(row.url) ?? "")).length
            return { pages: observations.length, correct, failed: observations.filter((row) => row.outcome === "error").length }
          })
        )
      ))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

// -----------------------------------------------------------------------------
// the orchestrator
// -----------------------------------------------------------------------------

const runChild = (crawler: string, input: string, port: number, concurrency: number) =>
  Effect.callback<Result, Error>((resume) => {
    const child = ChildProcess.spawn(process.execPath, [
      "--conditions=@trawl/source", fileURLToPath(import.meta.url),
      "--crawler", crawler, "--input", input, "--port", String(port), "--concurrency", String(concurrency)
    ], { stdio: ["ignore", "pipe", "inherit"] })
    let stdout = ""
    child.stdout!.setEncoding("utf8")
    child.stdout!.on("data", (chunk: string) => (stdout += chunk))
    const limit = setTimeout(() => child.kill("SIGKILL"), 15 * 60_000)
    child.on("close", (code, signal) => {
      clearTimeout(limit)
      const last = stdout.trim().split("\n").filter((l) => l.startsWith("{\"crawler\"")).at(-1)
      if (code === 0 && last !== undefined) resume(Effect.succeed(JSON.parse(last) as Result))
      else resume(Effect.fail(new Error(`${crawler} exited with ${signal ?? code}: ${stdout.slice(-1000)}`)))
    })
    return Effect.sync(() => void child.kill("SIGKILL"))
  })

const orchestrate = Effect.gen(function*() {
  const wanted = Number(values.urls)
  const products = Number(values.products)
  // robots.txt disallows a few pages of some shops and a tenth of the shops ask for a
  // Crawl-delay: two fifths more shops than needed is plenty
  const shops = Math.ceil((wanted / products) * 1.4)
  const concurrency = Number(values.concurrency)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trawl-peers-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
  const web = yield* SimWeb.start({
    shops,
    products,
    seed: 3,
    hostileFraction: 0,
    errorScale: 0,
    latencyScale: 0,
    // prices hold still for the whole run
    stepMillis: 7 * 24 * 3_600_000
  })
  const clock = yield* web.clock
  const pages: Array<Page> = []
  // shops interleaved (product-major), so neither crawler meets one host many times in a row
  for (let product = 0; product < products && pages.length < wanted; product++) {
    for (let shop = 0; shop < shops && pages.length < wanted; shop++) {
      // trawl honours a Crawl-delay (1–2 s between pages: a shop's 20 pages take 20–40 s,
      // whatever the crawler's speed) and Crawlee does not: such shops would measure the delay
      if (Truth.shop(web.world, shop).crawlDelaySeconds !== undefined) continue
      const url = web.productUrl(shop, product)
      const truth = web.truthAt(url, clock.nowMillis)
      // robots-disallowed pages are not fetched by trawl: leave them out for both
      if (truth?.expected._tag !== "Price") continue
      pages.push({ url, proxyUrl: url.replace(`:${web.port}/`, "/"), price: truth.expected.price })
    }
  }
  const input = path.join(dir, "pages.json")
  fs.writeFileSync(input, JSON.stringify(pages))
  const results: Record<string, Result> = {}
  for (const crawler of ["crawlee", "trawl"]) {
    if (values.only !== undefined && values.only !== crawler) continue
    const result = yield* runChild(crawler, input, web.port, concurrency)
    results[crawler] = result
    const base = crawler === "trawl" ? results.crawlee : undefined
    const pagesPerSec = Math.round(result.pages / result.seconds)
    const cpuPer1000 = Math.round((result.cpuMillis / Math.max(1, result.pages)) * 1000)
    const basePagesPerSec = base === undefined ? undefined : Math.round(base.pages / base.seconds)
    const baseCpu = base === undefined ? undefined : Math.round((base.cpuMillis / Math.max(1, base.pages)) * 1000)
    const ratio = (value: number, baseline: number | undefined) =>
      baseline === undefined ? {} : { baseline, ratio: Math.round((value / baseline) * 100) / 100 }
    line({ case: `${crawler}-pages-per-second`, value: pagesPerSec, unit: "pages/s", urls: pages.length, ...ratio(pagesPerSec, basePagesPerSec) })
    line({ case: `${crawler}-cpu-per-1000-pages`, value: cpuPer1000, unit: "CPU ms", ...ratio(cpuPer1000, baseCpu) })
    line({ case: `${crawler}-prices-right`, value: Math.round((result.correct / pages.length) * 1000) / 10, unit: "%", pages: result.pages, failed: result.failed })
    line({ case: `${crawler}-peak-rss`, value: result.peakRssMb, unit: "MiB" })
  }
})

if (values.crawler === undefined) {
  Effect.runPromise(Effect.scoped(orchestrate)).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
} else {
  const pages = JSON.parse(fs.readFileSync(values.input!, "utf8")) as Array<Page>
  const concurrency = Number(values.concurrency)
  const run = values.crawler === "crawlee" ? runCrawlee(pages, Number(values.port), concurrency) : runTrawl(pages, concurrency)
  run.then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
