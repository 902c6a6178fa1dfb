/**
 * The sim-web HTTP server: node:http on 127.0.0.1, routing by Host header to
 * simulated shops (rendered from `Truth`) or to the admin endpoints.
 */
import * as Http from "node:http"
import type * as Net from "node:net"
import * as Zlib from "node:zlib"
import * as Truth from "../Truth.ts"
import type { World } from "../World.ts"
import { encode } from "./encode.ts"
import * as Hash from "./hash.ts"
import { Lru } from "./lru.ts"
import * as Render from "./render.ts"
import { Stats } from "./stats.ts"

const P = Hash.Purpose

export interface ServerSettings {
  readonly world: World
  readonly clockSpeed: number
  readonly epochMillis: number
  readonly latencyScale: number
  readonly errorScale: number
  readonly cacheBytes: number
  readonly slowlorisIntervalMillis: number
  readonly slowlorisMaxMillis: number
  readonly endlessMaxBytes: number
  readonly maxConnections: number
}

/** Sim time: wall time since start × speed, from an epoch, plus manual advances. */
export class Clock {
  readonly epochMillis: number
  readonly speed: number
  readonly startWallMillis = Date.now()
  readonly #startPerf = performance.now()
  offsetMillis = 0

  constructor(epochMillis: number, speed: number) {
    this.epochMillis = epochMillis
    this.speed = speed
  }

  now(): number {
    return Math.floor(this.epochMillis + (performance.now() - this.#startPerf) * this.speed + this.offsetMillis)
  }

  toJson(world: World) {
    const nowMillis = this.now()
    return {
      nowMillis,
      now: new Date(nowMillis).toISOString(),
      epochMillis: this.epochMillis,
      clockSpeed: this.speed,
      offsetMillis: this.offsetMillis,
      wallMillis: Date.now(),
      startWallMillis: this.startWallMillis,
      stepMillis: world.stepMillis,
      step: Math.floor(nowMillis / world.stepMillis)
    }
  }
}

type Encoding = "br" | "gzip" | "identity"

const negotiate = (header: string | undefined): Encoding => {
  if (header === undefined) return "identity"
  let br = false
  let gzip = false
  for (const part of header.split(",").slice(0, 32)) {
    const [name = "", ...params] = part.trim().toLowerCase().split(";")
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="))
    if (q !== undefined && !(Number(q.slice(2)) > 0)) continue
    if (name === "br") br = true
    else if (name === "gzip" || name === "x-gzip") gzip = true
  }
  return br ? "br" : gzip ? "gzip" : "identity"
}

/** An exact-size copy when `bytes` is a view of a larger allocation (zlib returns such views), so the cache's weights are true. */
const exact = (bytes: Buffer): Buffer => bytes.byteLength === bytes.buffer.byteLength ? bytes : Buffer.from(bytes)

const compress = (body: Buffer, encoding: Encoding): Buffer =>
  exact(encoding === "br"
    ? Zlib.brotliCompressSync(body, {
      params: { [Zlib.constants.BROTLI_PARAM_QUALITY]: 1, [Zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length }
    })
    : encoding === "gzip"
    ? Zlib.gzipSync(body, { level: 1 })
    : body)

const bombBytes = 128 * 1024 * 1024

/** A gzip stream of 128 MiB of zeros (~130 KB), made once, off the event loop. */
const makeBomb = (): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const gzip = Zlib.createGzip({ level: 9 })
    const chunks: Array<Buffer> = []
    gzip.on("data", (chunk: Buffer) => chunks.push(chunk))
    gzip.on("end", () => resolve(Buffer.concat(chunks)))
    gzip.on("error", reject)
    const zeros = Buffer.alloc(1024 * 1024)
    let written = 0
    const pump = () => {
      while (written < bombBytes / zeros.length) {
        written++
        if (!gzip.write(zeros)) return void gzip.once("drain", pump)
      }
      gzip.end()
    }
    pump()
  })

const json = (res: Http.ServerResponse, status: number, value: unknown) => {
  const body = Buffer.from(JSON.stringify(value))
  res.writeHead(status, { "content-type": "application/json", "content-length": body.length, "cache-control": "no-store" })
  res.end(body)
}

const text = (res: Http.ServerResponse, status: number, contentType: string, body: string | Buffer, head: boolean) => {
  const bytes = typeof body === "string" ? Buffer.from(body) : body
  res.writeHead(status, { "content-type": contentType, "content-length": bytes.length })
  res.end(head ? undefined : bytes)
}

export interface Running {
  readonly server: Http.Server
  readonly clock: Clock
  readonly stats: Stats
  readonly close: () => Promise<void>
}

export const create = (settings: ServerSettings): Running => {
  const { world } = settings
  const clock = new Clock(settings.epochMillis, settings.clockSpeed)
  const stats = new Stats(world.shops + 16)
  const cache = new Lru<string, { body: Buffer; charset: string }>(100_000, settings.cacheBytes)
  const requestCounts = new Lru<number, number>(500_000)
  const timers = new Set<NodeJS.Timeout>()
  const sockets = new Set<Net.Socket>()
  let bomb: Promise<Buffer> | undefined
  const getBomb = () => (bomb ??= makeBomb())
  if (world.hostileFraction > 0) void getBomb().catch(() => undefined)
  let closed = false

  const later = (millis: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      run()
    }, millis)
    timers.add(timer)
    return timer
  }

  const server = Http.createServer({ keepAliveTimeout: 5_000, requestTimeout: 30_000, headersTimeout: 20_000 })
  server.maxConnections = settings.maxConnections
  server.on("connection", (socket) => {
    sockets.add(socket)
    stats.connectionOpened()
    socket.on("close", () => {
      sockets.delete(socket)
      stats.connectionClosed(socket)
    })
  })
  server.on("clientError", (_error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
    else socket.destroy()
  })

  const admin = (req: Http.IncomingMessage, res: Http.ServerResponse, url: URL) => {
    const number = (name: string) => {
      const raw = url.searchParams.get(name)
      if (raw === null || raw === "") return undefined
      const value = Number(raw)
      return Number.isFinite(value) ? value : Number.NaN
    }
    switch (url.pathname) {
      case "/__health":
        return json(res, 200, { ok: true })
      case "/__memory": {
        const gc = (globalThis as { gc?: () => void }).gc
        if (url.searchParams.has("gc") && gc !== undefined) gc()
        const memory = process.memoryUsage()
        return json(res, 200, { ...memory, cacheBytes: cache.weight, cacheEntries: cache.size, requestCounters: requestCounts.size })
      }
      case "/__world":
        return json(res, 200, {
          world,
          clockSpeed: clock.speed,
          epochMillis: clock.epochMillis,
          latencyScale: settings.latencyScale,
          errorScale: settings.errorScale
        })
      case "/__clock":
        return json(res, 200, clock.toJson(world))
      case "/__clock/advance": {
        const millis = number("millis")
        if (req.method !== "POST") return json(res, 405, { error: "use POST" })
        if (millis === undefined || !Number.isSafeInteger(millis) || millis < 0 || millis > 366 * 86_400_000) {
          return json(res, 400, { error: "millis must be an integer from 0 to 31622400000" })
        }
        clock.offsetMillis += millis
        return json(res, 200, clock.toJson(world))
      }
      case "/__stats": {
        const top = number("top")
        if (top !== undefined && !(Number.isSafeInteger(top) && top >= 0)) {
          return json(res, 400, { error: "top must be a non-negative integer" })
        }
        return json(res, 200, {
          clock: clock.toJson(world),
          ...stats.toJson({ host: url.searchParams.get("host") ?? undefined, top })
        })
      }
      case "/__stats/reset":
        if (req.method !== "POST") return json(res, 405, { error: "use POST" })
        stats.reset()
        return json(res, 200, { ok: true })
      case "/__truth": {
        const at = number("at") ?? clock.now()
        if (Number.isNaN(at)) return json(res, 400, { error: "at must be a number of milliseconds" })
        const target = url.searchParams.get("url")
        let found: { readonly shop: number; readonly product: number } | undefined
        if (target !== null) found = Truth.locate(world, target)
        else {
          const shopIndex = number("shop")
          const productIndex = number("product")
          if (
            shopIndex !== undefined && productIndex !== undefined && Number.isSafeInteger(shopIndex) &&
            Number.isSafeInteger(productIndex) && shopIndex >= 0 && shopIndex < world.shops && productIndex >= 0 &&
            productIndex < world.products
          ) found = { shop: shopIndex, product: productIndex }
        }
        if (found === undefined) return json(res, 404, { error: "no such product: give ?url=… or ?shop=…&product=…" })
        return json(res, 200, {
          clock: clock.toJson(world),
          shop: Truth.shop(world, found.shop),
          truth: Truth.productAt(world, found.shop, found.product, at)
        })
      }
      default:
        return json(res, 404, { error: `unknown admin path ${url.pathname}` })
    }
  }

  const latencyOf = (shop: Truth.Shop, key: number, n: number): number => {
    if (settings.latencyScale <= 0) return 0
    const draw = shop.latencyMedianMillis * Math.exp(0.5 * Hash.normal(world.seed, P.requestLatency, key, n))
    return Math.min(Math.round(draw * settings.latencyScale), 10 * shop.latencyMedianMillis * settings.latencyScale)
  }

  /**
   * Injected transient failures: never twice in a row for one URL, so one retry always gets through
   * (and, checked by the caller, never three in a row for one host).
   */
  const injectedError = (shop: Truth.Shop, key: number, n: number): "503" | "429" | "reset" | undefined => {
    const rate = Math.min(0.5, shop.errorRate * settings.errorScale)
    if (rate <= 0) return undefined
    const fails = (m: number) => m >= 0 && Hash.unit(world.seed, P.requestError, key, m) < rate
    if (!fails(n) || fails(n - 1)) return undefined
    const kind = Hash.below(3, world.seed, P.requestErrorKind, key, n)
    return kind === 0 ? "503" : kind === 1 ? "429" : "reset"
  }

  const slowloris = (req: Http.IncomingMessage) => {
    const socket = req.socket
    socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow: ")
    const started = Date.now()
    const tick = () => {
      if (closed || socket.destroyed) return
      if (Date.now() - started > settings.slowlorisMaxMillis) return void socket.destroy()
      socket.write("a")
      later(settings.slowlorisIntervalMillis, tick)
    }
    later(settings.slowlorisIntervalMillis, tick)
  }

  const endless = (res: Http.ServerResponse, head: boolean) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" })
    if (head) return void res.end()
    const chunk = Buffer.from(`<div class="row">${"<p>more and more and more</p>".repeat(2200)}</div>\n`)
    let sent = 0
    const pump = () => {
      // Bounded: stops at endlessMaxBytes, or when the client goes away.
      while (!closed && !res.destroyed && sent < settings.endlessMaxBytes) {
        sent += chunk.length
        if (!res.write(chunk)) return void res.once("drain", pump)
      }
      res.destroy()
    }
    res.write("<!DOCTYPE html><html><body>")
    pump()
  }

  const productResponse = (
    req: Http.IncomingMessage,
    res: Http.ServerResponse,
    shop: Truth.Shop,
    productIndex: number,
    origin: string,
    hostStats: ReturnType<Stats["begin"]>["stats"],
    head: boolean,
    url: URL
  ) => {
    const truth = Truth.productAt(world, shop.index, productIndex, clock.now())
    const hostile = shop.hostile
    if (hostile === "slowloris") return slowloris(req)
    if (hostile === "endless-body") return endless(res, head)
    if (hostile === "redirect-loop") {
      const next = url.searchParams.has("loop") ? `${origin}${truth.path}` : `${origin}${truth.path}?loop=1`
      res.writeHead(302, { location: next, "content-length": 0 })
      return void res.end()
    }
    if (hostile === "gzip-bomb") {
      return void getBomb().then(
        (body) => {
          if (res.destroyed) return
          res.writeHead(200, {
            "content-type": "text/html; charset=utf-8",
            "content-encoding": "gzip",
            "content-length": body.length
          })
          res.end(head ? undefined : body)
        },
        () => {
          res.writeHead(500).end()
        }
      )
    }
    const etag = `W/"${world.seed >>> 0}-${shop.index}-${productIndex}-${truth.version}"`
    const lastModified = new Date(truth.lastModifiedMillis).toUTCString()
    const validators = { etag, "last-modified": lastModified, "cache-control": "no-cache", vary: "Accept-Encoding" }
    const ifNoneMatch = req.headers["if-none-match"]
    const ifModifiedSince = req.headers["if-modified-since"]
    const notModified = ifNoneMatch !== undefined
      ? ifNoneMatch.split(",").some((tag) => tag.trim() === etag || tag.trim() === "*")
      : ifModifiedSince !== undefined && Date.parse(ifModifiedSince) >= Math.floor(truth.lastModifiedMillis / 1000) * 1000
    if (notModified) {
      hostStats.notModified++
      res.writeHead(304, validators)
      return void res.end()
    }
    const charset = hostile === "wrong-charset" ? "x-sim-klingon" : shop.charset
    const encoding = negotiate(req.headers["accept-encoding"])
    const key = `${origin}|${shop.index}|${productIndex}|${truth.version}|${encoding}`
    let entry = cache.get(key)
    if (entry === undefined) {
      const html = Render.productPage(world, truth, origin, charset, { hugeJsonLd: hostile === "huge-jsonld" }, encode)
      entry = { body: compress(html, encoding), charset }
      cache.set(key, entry, entry.body.length + key.length)
    }
    res.writeHead(200, {
      "content-type": `text/html; charset=${entry.charset}`,
      "content-length": entry.body.length,
      ...(encoding === "identity" ? {} : { "content-encoding": encoding }),
      ...validators
    })
    res.end(head ? undefined : entry.body)
  }

  const shopResponse = (
    req: Http.IncomingMessage,
    res: Http.ServerResponse,
    shop: Truth.Shop,
    url: URL,
    origin: string,
    hostStats: ReturnType<Stats["begin"]>["stats"],
    counterKey: number,
    n: number
  ) => {
    if (closed || res.destroyed) return
    const head = req.method === "HEAD"
    const path = url.pathname
    const products = () => Array.from({ length: world.products }, (_, i) => Truth.product(world, shop.index, i))
    switch (path) {
      case "/":
        return text(res, 200, `text/html; charset=${shop.charset}`, encode(Render.homePage(shop, products(), origin), shop.charset), head)
      case "/robots.txt":
        return text(res, 200, "text/plain; charset=utf-8", Render.robotsTxt(shop, origin), head)
      case "/sitemap.txt":
        return text(res, 200, "text/plain; charset=utf-8", Render.sitemapText(products(), origin), head)
      case "/sitemap.xml":
        return text(res, 200, "application/xml; charset=utf-8", Render.sitemapXml(products(), origin), head)
    }
    const found = Truth.locatePath(world, shop.host, path)
    if (found === undefined) return text(res, 404, "text/html; charset=utf-8", "<!DOCTYPE html><h1>Not found</h1>", head)
    const injected = hostStats.injectedRun >= 2 ? undefined : injectedError(shop, counterKey, n)
    if (injected === undefined) hostStats.injectedRun = 0
    else {
      hostStats.injectedRun++
      hostStats.injectedErrors++
      // A real TCP reset (RST), not a polite close.
      if (injected === "reset") return void req.socket.resetAndDestroy()
      if (injected === "429") {
        res.writeHead(429, { "retry-after": "1", "content-type": "text/plain", "content-length": 17 })
        return void res.end("Too Many Requests")
      }
      res.writeHead(503, { "content-type": "text/plain", "content-length": 19 })
      return void res.end("Service Unavailable")
    }
    productResponse(req, res, shop, found.product, origin, hostStats, head, url)
  }

  server.on("request", (req: Http.IncomingMessage, res: Http.ServerResponse) => {
    let url: URL
    try {
      url = new URL(req.url ?? "/", "http://sim.invalid")
    } catch {
      return json(res, 400, { error: "bad request target" })
    }
    // An absolute-form target (`GET http://shop-00042.sim.test/… HTTP/1.1`) means we are used as an
    // HTTP proxy: the target names the host, so clients without a resolve map can reach the shops.
    const proxied = req.url !== undefined && /^http:\/\//i.test(req.url)
    const hostHeader = proxied ? url.host.toLowerCase() : (req.headers.host ?? "").toLowerCase()
    const hostname = hostHeader.replace(/:\d+$/, "")
    if (hostname === Truth.adminHost || hostname === "127.0.0.1" || hostname === "localhost") return admin(req, res, url)
    const shopIndex = Truth.shopIndexOf(world, hostname)
    const tracked = stats.begin(shopIndex === undefined ? "(unknown)" : hostname, req.socket, Date.now())
    res.once("close", tracked.end)
    res.once("finish", tracked.end)
    if (shopIndex === undefined) return text(res, 404, "text/plain", `no such host: ${hostname}\n`, false)
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-length": 0 })
      return void res.end()
    }
    const shop = Truth.shop(world, shopIndex)
    if (shop.disallowOutlet && url.pathname.startsWith("/outlet/")) tracked.stats.disallowedRequests++
    const origin = `http://${hostHeader}`
    const counterKey = Hash.ofString(`${hostname}${url.pathname}`)
    const n = requestCounts.get(counterKey) ?? 0
    requestCounts.set(counterKey, n + 1)
    const delay = latencyOf(shop, counterKey, n)
    if (delay <= 0) shopResponse(req, res, shop, url, origin, tracked.stats, counterKey, n)
    else later(delay, () => shopResponse(req, res, shop, url, origin, tracked.stats, counterKey, n))
  })

  const close = () =>
    new Promise<void>((resolve) => {
      closed = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      server.close(() => resolve())
      for (const socket of sockets) socket.destroy()
      server.closeAllConnections()
    })

  return { server, clock, stats, close }
}
