/**
 * OpenTelemetry export from the real binary: `trawl run --otlp URL` (or
 * OTEL_EXPORTER_OTLP_ENDPOINT) posts OTLP/HTTP JSON to a collector stub on
 * 127.0.0.1 — a span per visit whose fetch, extraction and store children
 * name it as their parent across the pipeline's actors, and trawl's metrics;
 * without an endpoint the exporters are not even loaded; a bad URL is one
 * line and exit 3. And in process, the pipeline under a tracer that keeps
 * its spans: a 304 visit, a write that fails, no span under the native tracer.
 */
import { Fetcher } from "@trawl/fetch"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Tracer from "effect/Tracer"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Extractor, Pipeline } from "../src/index.ts"
import { type Shop, startShop } from "./fixtures-shop.ts"
import { runTrawl } from "./helpers.ts"

interface AnyValue {
  readonly stringValue?: string
  readonly intValue?: number | string
  readonly doubleValue?: number
  readonly boolValue?: boolean
}
interface KeyValue {
  readonly key: string
  readonly value: AnyValue
}
interface Span {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly startTimeUnixNano: string
  readonly endTimeUnixNano: string
  readonly attributes: ReadonlyArray<KeyValue>
  readonly status: { readonly code: number; readonly message?: string }
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>
}
interface DataPoint {
  readonly attributes: ReadonlyArray<KeyValue>
  readonly asInt?: number | string
  readonly asDouble?: number
  readonly count?: number | string
}
interface Metric {
  readonly name: string
  readonly sum?: { readonly dataPoints: ReadonlyArray<DataPoint> }
  readonly gauge?: { readonly dataPoints: ReadonlyArray<DataPoint> }
  readonly histogram?: { readonly dataPoints: ReadonlyArray<DataPoint> }
}
interface TracesData {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource: { readonly attributes: ReadonlyArray<KeyValue> }
    readonly scopeSpans: ReadonlyArray<{ readonly spans: ReadonlyArray<Span> }>
  }>
}
interface MetricsData {
  readonly resourceMetrics: ReadonlyArray<{
    readonly resource: { readonly attributes: ReadonlyArray<KeyValue> }
    readonly scopeMetrics: ReadonlyArray<{ readonly metrics: ReadonlyArray<Metric> }>
  }>
}

/** A collector on 127.0.0.1: records every POST (path, content type, decoded JSON body) and answers 200. */
const startCollector = async () => {
  const posts: Array<{ readonly path: string; readonly contentType: string | undefined; readonly body: unknown }> = []
  const server = http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      if (req.method !== "POST") return void res.writeHead(405).end()
      posts.push({ path: req.url ?? "", contentType: req.headers["content-type"], body: JSON.parse(Buffer.concat(chunks).toString("utf8")) })
      res.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    posts,
    traces: (prefix = "") => posts.filter((p) => p.path === `${prefix}/v1/traces`).map((p) => p.body as TracesData),
    metrics: (prefix = "") => posts.filter((p) => p.path === `${prefix}/v1/metrics`).map((p) => p.body as MetricsData),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

const valueOf = (value: AnyValue): unknown =>
  value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.doubleValue ?? value.boolValue)
const attributesOf = (attributes: ReadonlyArray<KeyValue>): Record<string, unknown> =>
  Object.fromEntries(attributes.map((a) => [a.key, valueOf(a.value)]))
const spansOf = (payloads: ReadonlyArray<TracesData>) =>
  payloads.flatMap((p) => p.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)))
const serviceNames = (payloads: ReadonlyArray<{ readonly resourceSpans?: TracesData["resourceSpans"]; readonly resourceMetrics?: MetricsData["resourceMetrics"] }>) =>
  new Set(payloads.flatMap((p) => [...(p.resourceSpans ?? []), ...(p.resourceMetrics ?? [])].map((r) => attributesOf(r.resource.attributes)["service.name"])))

let dir: string
let shop: Shop
const products = 12

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "trawl-telemetry-"))
  shop = await startShop()
})

afterAll(async () => {
  await shop.close()
  await fs.rm(dir, { recursive: true, force: true })
})

/** `products` product pages on 3 hosts, and one page that is a 404. */
const targetsCsv = async (name: string) => {
  const file = path.join(dir, `${name}.csv`)
  const lines = ["url,interval"]
  for (let i = 1; i <= products; i++) lines.push(`http://shop-${i % 3}.shop.test:${shop.port}/p/${i},5m`)
  lines.push(`http://shop-0.shop.test:${shop.port}/missing,5m`)
  await fs.writeFile(file, lines.join("\n") + "\n")
  return file
}

const common = (db: string) => ["--db", db, "--resolve", "*.shop.test=127.0.0.1", "--allow-private", "--workers", "1", "--quiet"]

describe("trawl run --otlp", { timeout: 120_000 }, () => {
  it("exports one visit span per target, its fetch/extract/store children parented to it across the actors, and trawl's metrics", async () => {
    const collector = await startCollector()
    try {
      const run = await runTrawl(
        ["run", "--once", "--targets", await targetsCsv("traced"), ...common(path.join(dir, "traced.db")), "--otlp", collector.url],
        { env: { OTEL_SERVICE_NAME: "trawl-under-test" }, timeoutMillis: 60_000 }
      )
      expect(run.stderr).not.toMatch(/\n\s+at /)
      expect(run.code).toBe(0)
      expect(collector.posts.every((p) => p.contentType === "application/json")).toBe(true)
      const traces = collector.traces()
      expect(serviceNames(traces)).toEqual(new Set(["trawl-under-test"]))
      const spans = spansOf(traces)
      const byId = new Map(spans.map((s) => [s.spanId, s]))

      const visits = spans.filter((s) => s.name === "trawl.visit")
      expect(visits).toHaveLength(products + 1)
      const urls = visits.map((v) => attributesOf(v.attributes)["url.full"])
      expect(new Set(urls).size).toBe(products + 1)
      for (const visit of visits) {
        const attributes = attributesOf(visit.attributes)
        const url = new URL(String(attributes["url.full"]))
        expect(attributes["server.address"]).toBe(url.hostname)
        expect(typeof attributes["trawl.target.id"]).toBe("number")
        // a root: a visit is a trace of its own
        expect(visit.parentSpanId ?? "").toBe("")
        const children = spans.filter((s) => s.parentSpanId === visit.spanId)
        for (const child of children) {
          expect(child.traceId).toBe(visit.traceId)
          expect(BigInt(child.startTimeUnixNano) >= BigInt(visit.startTimeUnixNano)).toBe(true)
          expect(BigInt(child.endTimeUnixNano) <= BigInt(visit.endTimeUnixNano)).toBe(true)
        }
        const names = children.map((c) => c.name).sort()
        const store = children.find((c) => c.name === "trawl.store")!
        if (url.pathname === "/missing") {
          expect(attributes).toMatchObject({ "trawl.outcome": "error", "error.type": "HttpStatus" })
          expect(visit.status.code).toBe(2)
          // no page: nothing to extract
          expect(names).toEqual(["trawl.fetch", "trawl.store"])
          expect(children.find((c) => c.name === "trawl.fetch")!.status.code).toBe(2)
        } else {
          expect(attributes).toMatchObject({ "trawl.outcome": "ok", "http.response.status_code": 200 })
          expect(visit.status.code).toBe(1)
          expect(names).toEqual(["trawl.extract", "trawl.fetch", "trawl.store"])
          expect(attributesOf(children.find((c) => c.name === "trawl.fetch")!.attributes)["http.response.status_code"]).toBe(200)
          expect(attributesOf(children.find((c) => c.name === "trawl.extract")!.attributes)["trawl.extract.source"]).toBe("json-ld")
          // fetch, then extraction, then the write
          const [fetch, extract] = [children.find((c) => c.name === "trawl.fetch")!, children.find((c) => c.name === "trawl.extract")!]
          expect(BigInt(fetch.endTimeUnixNano) <= BigInt(extract.startTimeUnixNano)).toBe(true)
          expect(BigInt(extract.endTimeUnixNano) <= BigInt(store.startTimeUnixNano)).toBe(true)
        }
        // the store step is linked to its batch's write, under which the store's own spans are
        expect(store.links).toHaveLength(1)
        const batch = byId.get(store.links[0]!.spanId)!
        expect(batch.name).toBe("trawl.store.write")
        expect(spans.some((s) => s.parentSpanId === batch.spanId && s.name === "Store.recordObservations")).toBe(true)
      }
      const batchSizes = new Map(spans.filter((s) => s.name === "trawl.store.write").map((s) => [s.spanId, attributesOf(s.attributes)["trawl.batch.size"]]))
      // every visit is in exactly one batch, and each batch's size is the number of visits linked to it
      const linked = new Map<string, number>()
      for (const store of spans.filter((s) => s.name === "trawl.store")) linked.set(store.links[0]!.spanId, (linked.get(store.links[0]!.spanId) ?? 0) + 1)
      expect(new Map([...linked].map(([id]) => [id, batchSizes.get(id)]))).toEqual(linked)

      // metrics: the last export is cumulative over the whole run
      const metrics = collector.metrics()
      expect(metrics.length).toBeGreaterThan(0)
      expect(serviceNames(metrics)).toEqual(new Set(["trawl-under-test"]))
      const last = metrics.at(-1)!.resourceMetrics.flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
      const requests = last.find((m) => m.name === "trawl_fetch_requests_total")
      expect(requests?.sum).toBeDefined()
      const byOutcome = Object.fromEntries(requests!.sum!.dataPoints.map((d) => [attributesOf(d.attributes)["outcome"], Number(d.asInt ?? d.asDouble)]))
      expect(byOutcome).toMatchObject({ ok: products, HttpStatus: 1 })
      const lag = last.find((m) => m.name === "trawl_schedule_lag_ms")
      expect(Number(lag?.histogram?.dataPoints[0]?.count)).toBe(products + 1)
    } finally {
      await collector.close()
    }
  })

  it("the outbox's polling exports no span: its passes are no visit (alerts delivered all the same)", async () => {
    const collector = await startCollector()
    try {
      const alerts = path.join(dir, "polled.jsonl")
      const run = await runTrawl(
        ["run", "--duration", "4s", "--targets", await targetsCsv("polled"), ...common(path.join(dir, "polled.db")), "--alerts-file", alerts, "--otlp", collector.url],
        { timeoutMillis: 60_000 }
      )
      expect(run.code).toBe(0)
      // every priced page raised its first_seen alert, delivered by the file notifier's passes (one a second)
      expect((await fs.readFile(alerts, "utf8")).trim().split("\n")).toHaveLength(products)
      const names = new Set(spansOf(collector.traces()).map((s) => s.name))
      expect(names.has("trawl.visit")).toBe(true)
      expect(names.has("Store.deliver")).toBe(false)
    } finally {
      await collector.close()
    }
  })

  it("a collector that is down costs the run nothing: every page recorded, exit 0, the last export given up within its timeout", async () => {
    // a port that was free a moment ago: nothing listens there
    const collector = await startCollector()
    const down = collector.url
    await collector.close()
    const db = path.join(dir, "down.db")
    const started = Date.now()
    const run = await runTrawl(["run", "--once", "--targets", await targetsCsv("down"), ...common(db), "--otlp", down], { timeoutMillis: 60_000 })
    expect(run.code).toBe(0)
    expect(run.stderr).not.toMatch(/\n\s+at /)
    expect(Date.now() - started).toBeLessThan(30_000)
    const exported = await runTrawl(["export", "--db", db])
    expect(exported.stdout.trim().split("\n")).toHaveLength(products + 1)
  })

  it("OTEL_EXPORTER_OTLP_ENDPOINT alone turns it on, its path the base of /v1/traces and /v1/metrics; service.name defaults to trawl", async () => {
    const collector = await startCollector()
    try {
      const env: Record<string, string> = { OTEL_EXPORTER_OTLP_ENDPOINT: `${collector.url}/otlp/` }
      const run = await runTrawl(["run", "--once", "--targets", await targetsCsv("env"), ...common(path.join(dir, "env.db"))], { env, timeoutMillis: 60_000 })
      expect(run.code).toBe(0)
      expect(new Set(collector.posts.map((p) => p.path))).toEqual(new Set(["/otlp/v1/traces", "/otlp/v1/metrics"]))
      const traces = collector.traces("/otlp")
      expect(spansOf(traces).filter((s) => s.name === "trawl.visit")).toHaveLength(products + 1)
      expect(serviceNames([...traces, ...collector.metrics("/otlp")])).toEqual(new Set(["trawl"]))
    } finally {
      await collector.close()
    }
  })

  it("without an endpoint the OTLP exporters are not loaded at all; with one they are", async () => {
    // a module hook that names every effect OTLP module the process loads, on stderr
    const hook = path.join(dir, "otlp-hook.mjs")
    await fs.writeFile(hook, [
      `import * as Module from "node:module"`,
      `Module.registerHooks({ load(url, context, next) {`,
      `  if (/\\/observability\\/Otlp/.test(url)) process.stderr.write("otlp module loaded: " + url + "\\n")`,
      `  return next(url, context)`,
      `} })`
    ].join("\n"))
    const env = { NODE_OPTIONS: `--import=${hook}` }
    const plain = await runTrawl(["run", "--once", "--targets", await targetsCsv("plain"), ...common(path.join(dir, "plain.db"))], { env, timeoutMillis: 60_000 })
    expect(plain.code).toBe(0)
    expect(plain.stderr).not.toContain("otlp module loaded")

    const collector = await startCollector()
    try {
      const traced = await runTrawl(["run", "--once", ...common(path.join(dir, "plain.db")), "--all", "--otlp", collector.url], { env, timeoutMillis: 60_000 })
      expect(traced.code).toBe(0)
      expect(traced.stderr).toMatch(/otlp module loaded: .*\/observability\/OtlpTracer\.js/)
      expect(spansOf(collector.traces()).filter((s) => s.name === "trawl.visit")).toHaveLength(products + 1)
    } finally {
      await collector.close()
    }
  })

  it("a bad --otlp URL (or OTEL_EXPORTER_OTLP_ENDPOINT) is one line and exit 3, before anything runs", async () => {
    const db = path.join(dir, "bad.db")
    const notUrl = await runTrawl(["run", "--once", "--db", db, "--otlp", "127.0.0.1:4318"])
    expect(notUrl.code).toBe(3)
    expect(notUrl.stderr).toBe("trawl: --otlp: not a URL (the collector's base URL, e.g. http://127.0.0.1:4318), got '127.0.0.1:4318'\n")
    const ftp = await runTrawl(["run", "--once", "--db", db], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://127.0.0.1:4318" } })
    expect(ftp.code).toBe(3)
    expect(ftp.stderr).toBe("trawl: --otlp: expected an http or https URL (the collector's base URL, e.g. http://127.0.0.1:4318), got 'ftp://127.0.0.1:4318'\n")
    const query = await runTrawl(["run", "--once", "--db", db, "--otlp", "http://127.0.0.1:4318/?x=1"])
    expect(query.code).toBe(3)
    expect(query.stderr.trim().split("\n")).toEqual(["trawl: --otlp: expected no query or fragment (the collector's base URL, e.g. http://127.0.0.1:4318), got 'http://127.0.0.1:4318/?x=1'"])
    // a bad header is named by its key, never shown with its value (an API key)
    const header = await runTrawl(["run", "--once", "--db", db, "--otlp", "http://127.0.0.1:4318"], {
      env: { OTEL_EXPORTER_OTLP_HEADERS: "api-key=,s3cr3t-token" }
    })
    expect(header.code).toBe(3)
    expect(header.stderr).toBe("trawl: OTEL_EXPORTER_OTLP_HEADERS: expected 'key=value,…' (values URL-encoded), got an entry 'api-key' without a value\n")
    const bare = await runTrawl(["run", "--once", "--db", db, "--otlp", "http://127.0.0.1:4318"], { env: { OTEL_EXPORTER_OTLP_HEADERS: "s3cr3t-token" } })
    expect(bare.stderr).not.toContain("s3cr3t")
    expect(bare.code).toBe(3)
    // the run never started: no database was made
    await expect(fs.access(db)).rejects.toThrow()
  })
})

/** A server on 127.0.0.1 whose /p/N pages carry an ETag (a revalidation is a 304). */
const startEtagShop = async () => {
  const server = http.createServer((req, res) => {
    if (req.url === "/robots.txt") return void res.writeHead(404).end()
    const match = /^\/p\/(\d+)$/.exec(req.url ?? "")
    if (match === null) return void res.writeHead(404).end()
    const etag = `"v${match[1]}"`
    if (req.headers["if-none-match"] === etag) return void res.writeHead(304, { etag }).end()
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", etag })
    res.end(`<html><head><script type="application/ld+json">{"@type":"Product","name":"Item ${match[1]}","offers":{"price":"${match[1]}.99","priceCurrency":"EUR"}}</script></head></html>`)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** A tracer that keeps every span it makes (effect's own span objects). */
const recordingTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { tracer, spans }
}

const pipelineLayers = Layer.merge(
  Fetcher.layer({ resolve: { "*.shop.test": "127.0.0.1" }, allowRanges: ["loopback"], perHostMinDelayMillis: 0 }),
  Extractor.layerLocal
)

const exitOf = (span: Tracer.Span) => span.status._tag === "Ended" ? span.status.exit : undefined

describe("Pipeline spans", { timeout: 60_000 }, () => {
  it("a revalidated visit is not_modified with no extraction span; a write that fails ends its store and visit spans failed", async () => {
    const etagShop = await startEtagShop()
    try {
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const { spans, tracer } = recordingTracer()
        const targets = Array.from({ length: 4 }, (_, i) => ({
          id: i,
          host: `e${i % 2}.shop.test`,
          url: `http://e${i % 2}.shop.test:${etagShop.port}/p/${i}`,
          intervalMillis: 60_000,
          etag: `"v${i}"`
        }))
        const recorded: Array<Pipeline.Outcome> = []
        const writer: Pipeline.Writer<never> = { record: (batch) => Effect.sync(() => void recorded.push(...batch)) }
        const revalidated = yield* Pipeline.start(targets, writer, { once: true, fetchFibers: 4 }).pipe(Effect.provideService(Tracer.Tracer, tracer))
        yield* revalidated.done.pipe(Effect.timeout("20 seconds"))
        expect(recorded.every((o) => o.notModified && o.visit !== undefined)).toBe(true)
        const visits = spans.filter((s) => s.name === "trawl.visit")
        expect(visits).toHaveLength(4)
        for (const visit of visits) {
          expect(visit.attributes.get("trawl.outcome")).toBe("not_modified")
          expect(visit.attributes.get("http.response.status_code")).toBe(304)
          expect(exitOf(visit)?._tag).toBe("Success")
          const children = spans.filter((s) => s.parent._tag === "Some" && s.parent.value === visit).map((s) => s.name).sort()
          expect(children).toEqual(["trawl.fetch", "trawl.store"])
        }

        // a store that fails for good: the run fails, and so do the store step and the visit
        spans.length = 0
        const failing: Pipeline.Writer<{ readonly _tag: "DiskFull"; readonly message: string }> = {
          record: () => Effect.fail({ _tag: "DiskFull", message: "no space left" })
        }
        const broken = yield* Pipeline.start(targets.slice(0, 1).map(({ etag: _, ...t }) => t), failing, { once: true }).pipe(
          Effect.provideService(Tracer.Tracer, tracer)
        )
        const error = yield* Effect.flip(broken.done.pipe(Effect.timeout("20 seconds")))
        expect(error).toMatchObject({ _tag: "DiskFull" })
        const visit = spans.find((s) => s.name === "trawl.visit")!
        const store = spans.find((s) => s.name === "trawl.store")!
        expect(store.parent).toMatchObject({ _tag: "Some", value: visit })
        for (const span of [visit, store]) {
          const exit = exitOf(span)
          expect(exit !== undefined && Exit.isFailure(exit)).toBe(true)
          expect(exit !== undefined && Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined).toMatchObject({ message: "no space left" })
        }
        // the page itself was fine
        expect(visit.attributes.get("trawl.outcome")).toBe("ok")
      })).pipe(Effect.provide(pipelineLayers)))
    } finally {
      await etagShop.close()
    }
  })

  it("under effect's native tracer (no export) the pipeline makes no span: outcomes carry none", async () => {
    const etagShop = await startEtagShop()
    try {
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const recorded: Array<Pipeline.Outcome> = []
        const writer: Pipeline.Writer<never> = { record: (batch) => Effect.sync(() => void recorded.push(...batch)) }
        const targets = Array.from({ length: 3 }, (_, i) => ({ id: i, host: "n.shop.test", url: `http://n.shop.test:${etagShop.port}/p/${i}`, intervalMillis: 60_000 }))
        const running = yield* Pipeline.start(targets, writer, { once: true })
        yield* running.done.pipe(Effect.timeout("20 seconds"))
        expect(recorded).toHaveLength(3)
        expect(recorded.every((o) => o.visit === undefined && o.product !== undefined)).toBe(true)
      })).pipe(Effect.provide(pipelineLayers)))
    } finally {
      await etagShop.close()
    }
  })
})
