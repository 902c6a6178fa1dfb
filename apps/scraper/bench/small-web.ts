/**
 * The web of the many-small-pages benchmark (`bench/small.ts`): one HTTP
 * server on 127.0.0.1 whose Host header picks one of `hosts` shops
 * (`shop-<n>.small.test`), each with `/robots.txt` (allow all) and `pages`
 * product pages `/p/<k>` of ~15 KB of HTML, served gzip (compressed once at
 * start, with content-length). Page `i` (= n × pages + k) uses markup style
 * `i mod 8` (`styles`); every page has exactly one price, `pageOf(…).price`.
 * One host in 13 answers its first product request with 503 + Retry-After: 1.
 *
 * It counts TCP connections (the server's 'connection' event), in total and
 * per host (a socket's host is the Host header of its first request), and
 * requests per host. The parent (it must be started with an IPC channel)
 * sends `{ type: "stats" }` or `{ type: "reset" }` and gets a message back;
 * IPC rather than an HTTP endpoint so that asking does not add a connection.
 * The server exits when the IPC channel closes (the bench ended, or died).
 *
 *   node bench/small-web.ts   (env BENCH_HOSTS=2000, BENCH_PAGES=5, BENCH_SEED=19)
 *
 * The page builders are pure and exported: the bench checks its results
 * against them.
 */
import * as http from "node:http"
import type * as net from "node:net"
import * as zlib from "node:zlib"

/** The eight markup styles, by `i mod 8`. */
export const styles = [
  "json-ld Product",
  "json-ld @graph",
  "json-ld AggregateOffer",
  "json-ld priceSpecification",
  "microdata",
  "RDFa",
  "OpenGraph product meta",
  "broken json-ld + good json-ld"
] as const

export const hostName = (n: number): string => `shop-${n}.small.test`

/** The hosts whose first product request gets a 503 (with Retry-After: 1), once. */
export const failsOnce = (n: number): boolean => n % 13 === 6

/** What the page shows; `price` is what an extractor must find (for AggregateOffer, the low price). */
export interface Page {
  readonly html: string
  readonly style: (typeof styles)[number]
  readonly price: string
  readonly currency: string
}

/** mulberry32: a small, fast, seeded PRNG (the pages must be the same in every run). */
const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const words = (
  "the a of and to in for with on by from this that our your is are was be can will more less very quite " +
  "steel cotton oak walnut bamboo ceramic glass leather wool linen copper brass matte glossy soft firm light heavy " +
  "kitchen garden office travel outdoor indoor daily weekend classic modern compact large small slim wide deep " +
  "handle lid base strap frame blade cord cushion panel drawer shelf pocket zipper button hinge valve filter " +
  "design quality finish comfort value warranty delivery return size colour fit grip weight capacity battery " +
  "easy clean durable sturdy reliable quiet fast warm cool bright gentle smooth robust elegant practical simple " +
  "perfect great good nice solid lovely handy useful sensible honest careful precise tidy clever"
).split(" ")

const currencies = [
  { code: "USD", lang: "en-US", show: (p: string) => `$${p}` },
  { code: "EUR", lang: "de-DE", show: (p: string) => `${p.replace(".", ",")} €` },
  { code: "GBP", lang: "en-GB", show: (p: string) => `£${p}` }
] as const

const TARGET_CHARS = 15 * 1024

/** Page `k` of host `n`: deterministic from `seed`. */
export const pageOf = (seed: number, n: number, k: number, pages: number): Page => {
  const random = prng((seed * 1_000_003) ^ (n * 7919 + k * 104_729))
  const pick = <A>(list: ReadonlyArray<A>): A => list[Math.floor(random() * list.length)]!
  const sentence = (min: number, max: number) => {
    const count = min + Math.floor(random() * (max - min))
    const text = Array.from({ length: count }, () => pick(words)).join(" ")
    return text.charAt(0).toUpperCase() + text.slice(1) + "."
  }
  const style = styles[(n * pages + k) % styles.length]!
  const money = currencies[n % currencies.length]!
  const cents = 500 + Math.floor(random() * 99_500)
  const price = (cents / 100).toFixed(2)
  const high = ((cents + 1000 + Math.floor(random() * 20_000)) / 100).toFixed(2)
  const host = hostName(n)
  const url = `http://${host}/p/${k}`
  const name = `${pick(words)} ${pick(words)} ${pick(words)} ${k}`.replace(/^./, (c) => c.toUpperCase())
  const sku = `S${n}-${k}`
  const shop = `Shop ${n}`
  const offer = `"@type":"Offer","price":"${price}","priceCurrency":"${money.code}","availability":"https://schema.org/InStock","url":"${url}"`

  let head = ""
  let product = ""
  let htmlAttributes = ""
  const ld = (json: string) => `<script type="application/ld+json">${json}</script>\n`
  const visible = `<div class="price-box"><span class="amount">${money.show(price)}</span></div>`
  switch (style) {
    case "json-ld Product":
      head = ld(`{"@context":"https://schema.org","@type":"Product","name":"${name}","sku":"${sku}","offers":{${offer}}}`)
      break
    case "json-ld @graph":
      head = ld(
        `{"@context":"https://schema.org","@graph":[` +
          `{"@type":"WebSite","@id":"http://${host}/#website","url":"http://${host}/","name":"${shop}"},` +
          `{"@type":"BreadcrumbList","@id":"${url}#breadcrumb","itemListElement":[{"@type":"ListItem","position":1,"name":"${pick(words)}","item":"http://${host}/c/1"}]},` +
          `{"@type":"Product","@id":"${url}#product","name":"${name}","sku":"${sku}","offers":{"@id":"${url}#offer"}},` +
          `{"@id":"${url}#offer",${offer}},` +
          `{"@type":"Organization","@id":"http://${host}/#organization","name":"${shop}"}]}`
      )
      break
    case "json-ld AggregateOffer":
      head = ld(
        `{"@context":"https://schema.org","@type":"Product","name":"${name}","offers":{"@type":"AggregateOffer",` +
          `"lowPrice":"${price}","highPrice":"${high}","priceCurrency":"${money.code}","offerCount":"3","availability":"https://schema.org/InStock"}}`
      )
      break
    case "json-ld priceSpecification":
      // both shapes shops use: a list of UnitPriceSpecification (with a struck-through one), or one PriceSpecification
      head = ld(
        `{"@context":"https://schema.org","@type":"Product","name":"${name}","sku":"${sku}","offers":{"@type":"Offer",` +
          `"priceCurrency":"${money.code}","availability":"https://schema.org/InStock","priceSpecification":` +
          (n % 2 === 0
            ? `[{"@type":"UnitPriceSpecification","price":${price},"priceCurrency":"${money.code}"},` +
              `{"@type":"UnitPriceSpecification","priceType":"https://schema.org/StrikethroughPrice","price":${high},"priceCurrency":"${money.code}"}]`
            : `{"@type":"PriceSpecification","price":"${price}","priceCurrency":"${money.code}"}`) +
          `}}`
      )
      break
    case "microdata":
      product = `<article class="product-detail" itemscope itemtype="https://schema.org/Product">
  <h1 itemprop="name">${name}</h1>
  <p>Item no. <span itemprop="sku">${sku}</span></p>
  <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
    <meta itemprop="priceCurrency" content="${money.code}">
    <span class="price" itemprop="price" content="${price}">${money.show(price)}</span>
    <link itemprop="availability" href="https://schema.org/InStock">In stock
  </div>
</article>\n`
      break
    case "RDFa":
      htmlAttributes = ` prefix="schema: http://schema.org/"`
      product = `<div typeof="schema:Product" resource="#product">
  <h1 property="schema:name">${name}</h1>
  <div property="schema:offers" typeof="schema:Offer">
    <span property="schema:price" content="${price}">${money.show(price)}</span>
    <meta property="schema:priceCurrency" content="${money.code}">
    <link property="schema:availability" href="http://schema.org/InStock">In stock
  </div>
</div>\n`
      break
    case "OpenGraph product meta":
      head = `<meta property="og:type" content="product">
<meta property="product:price:amount" content="${price}">
<meta property="product:price:currency" content="${money.code}">
<meta property="product:availability" content="instock">
<meta property="product:retailer_item_id" content="${sku}">\n`
      break
    case "broken json-ld + good json-ld":
      // the broken block (a missing comma, which the extractor's repair pass does not fix) carries a
      // decoy price: a page recorded at 1.00 would mean the broken block was read
      head = ld(`{"@context":"https://schema.org","@type":"Product","name":"${name}" "offers":{"price":"1.00","priceCurrency":"${money.code}"}}`) +
        ld(`{"@context":"https://schema.org","@type":"Product","name":"${name}","sku":"${sku}","offers":{${offer}}}`)
      break
  }
  if (product === "") product = `<section class="product"><h1>${name}</h1>${visible}<button class="buy">Add to cart</button></section>\n`

  const nav = `<header><a class="logo" href="/">${shop}</a><nav class="menu">` +
    Array.from({ length: 24 }, (_, i) => `<a href="/c/${i}">${pick(words)} ${pick(words)}</a>`).join("") +
    `</nav></header>\n<nav class="breadcrumb"><a href="/">Home</a> › <a href="/c/1">${pick(words)}</a> › ${name}</nav>\n`
  const footer = `<footer><p>© ${shop}. ${sentence(8, 16)}</p><ul class="links">` +
    Array.from({ length: 12 }, (_, i) => `<li><a href="/info/${i}">${pick(words)}</a></li>`).join("") + `</ul></footer>\n`
  const top = `<!DOCTYPE html>\n<html lang="${money.lang}"${htmlAttributes}>\n<head>\n<meta charset="utf-8">\n<title>${name} | ${shop}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="${sentence(10, 20)}">
<meta property="og:title" content="${name}">
<meta property="og:site_name" content="${shop}">
<link rel="stylesheet" href="/static/shop.css">\n${head}</head>\n<body class="product-page">\n${nav}<main>\n${product}`
  const bottom = `</main>\n${footer}<script src="/static/app.js" defer></script>\n</body>\n</html>\n`

  // filler (description, specs, reviews) up to ~15 KB: plain markup, no price-bearing attributes
  const filler: Array<string> = []
  let size = top.length + bottom.length
  const add = (part: string) => {
    filler.push(part)
    size += part.length
  }
  add(`<section class="description"><h2>Description</h2>${Array.from({ length: 4 }, () => `<p>${sentence(25, 45)}</p>`).join("\n")}</section>\n`)
  add(`<table class="specs">${Array.from({ length: 10 }, () => `<tr><th>${pick(words)}</th><td>${pick(words)} ${pick(words)}</td></tr>`).join("")}</table>\n`)
  add(`<section class="reviews"><h2>Reviews</h2>\n`)
  while (size < TARGET_CHARS - 40) {
    add(`<div class="review"><span class="author">${pick(words)} ${pick(words).charAt(0).toUpperCase()}.</span> <span class="stars">${1 + Math.floor(random() * 5)}/5</span><p>${sentence(20, 60)}</p></div>\n`)
  }
  add(`</section>\n`)
  return { html: top + filler.join("") + bottom, style, price, currency: money.code }
}

/** Stats of the server since the last reset. */
export interface Stats {
  readonly connections: number
  /** Connections that sent no request (so no host). */
  readonly connectionsWithoutRequest: number
  /** `connectionsByHost[n]` for host `n`. */
  readonly connectionsByHost: ReadonlyArray<number>
  readonly requests: number
  readonly requestsByHost: ReadonlyArray<number>
  readonly robots: number
  readonly served503: number
  readonly notFound: number
  readonly peakOpenSockets: number
  readonly cpuSeconds: number
}

const serve = () => {
  const hosts = Number(process.env["BENCH_HOSTS"] ?? 2000)
  const pages = Number(process.env["BENCH_PAGES"] ?? 5)
  const seed = Number(process.env["BENCH_SEED"] ?? 19)
  if (process.send === undefined) throw new Error("small-web.ts must be started with an IPC channel (child_process.fork or stdio 'ipc')")
  const send = process.send.bind(process)

  const started = performance.now()
  let rawBytes = 0
  let gzBytes = 0
  // compressed once, here: the server's CPU per request is then a lookup and a write
  const bodies: Array<Array<Buffer>> = []
  for (let n = 0; n < hosts; n++) {
    const shop: Array<Buffer> = []
    for (let k = 0; k < pages; k++) {
      const html = Buffer.from(pageOf(seed, n, k, pages).html)
      const gz = zlib.gzipSync(html, { level: 6 })
      rawBytes += html.byteLength
      gzBytes += gz.byteLength
      shop.push(gz)
    }
    bodies.push(shop)
  }
  const robots = Buffer.from("User-agent: *\nAllow: /\n")

  let connections = 0
  let connectionsByHost = new Uint32Array(hosts)
  let requestsByHost = new Uint32Array(hosts)
  let requests = 0
  let robotsServed = 0
  let served503 = 0
  let notFound = 0
  let open = 0
  let peakOpen = 0
  let failed = new Uint8Array(hosts)
  let cpuAtReset = process.cpuUsage()
  const hostOf = new WeakMap<net.Socket, number>()

  const server = http.createServer((request, response) => {
    requests++
    const name = (request.headers.host ?? "").replace(/:\d+$/, "")
    const match = /^shop-(\d+)\.small\.test$/.exec(name)
    const n = match === null ? -1 : Number(match[1])
    const socket = request.socket
    if (!hostOf.has(socket)) {
      hostOf.set(socket, n)
      if (n >= 0 && n < hosts) connectionsByHost[n]!++
    }
    const path = request.url ?? "/"
    const page = /^\/p\/(\d+)$/.exec(path)
    const k = page === null ? -1 : Number(page[1])
    if (n < 0 || n >= hosts || (path !== "/robots.txt" && (k < 0 || k >= pages))) {
      notFound++
      response.writeHead(404, { "content-type": "text/plain", "content-length": 9 }).end("not found")
      return
    }
    requestsByHost[n]!++
    if (path === "/robots.txt") {
      robotsServed++
      response.writeHead(200, { "content-type": "text/plain", "content-length": robots.byteLength }).end(robots)
      return
    }
    if (failsOnce(n) && failed[n] === 0) {
      failed[n] = 1
      served503++
      response.writeHead(503, { "retry-after": "1", "content-type": "text/plain", "content-length": 11 }).end("unavailable")
      return
    }
    const body = bodies[n]![k]!
    response.writeHead(200, {
      "content-type": "text/html; charset=utf-8",
      "content-encoding": "gzip",
      "content-length": body.byteLength,
      vary: "accept-encoding"
    }).end(body)
  })
  // Node's default (5 s), set explicitly: how long an idle keep-alive connection stays open is part of what is measured
  server.keepAliveTimeout = 5_000
  server.on("connection", (socket: net.Socket) => {
    connections++
    open++
    if (open > peakOpen) peakOpen = open
    socket.once("close", () => open--)
  })

  process.on("message", (message: { readonly type: string }) => {
    if (message.type === "reset") {
      connections = 0
      connectionsByHost = new Uint32Array(hosts)
      requestsByHost = new Uint32Array(hosts)
      requests = robotsServed = served503 = notFound = 0
      peakOpen = open
      failed = new Uint8Array(hosts)
      cpuAtReset = process.cpuUsage()
      send({ type: "reset", open })
    } else if (message.type === "stats") {
      const cpu = process.cpuUsage(cpuAtReset)
      const attributed = connectionsByHost.reduce((sum, c) => sum + c, 0)
      send({
        type: "stats",
        stats: {
          connections,
          connectionsWithoutRequest: connections - attributed,
          connectionsByHost: Array.from(connectionsByHost),
          requests,
          requestsByHost: Array.from(requestsByHost),
          robots: robotsServed,
          served503,
          notFound,
          peakOpenSockets: peakOpen,
          cpuSeconds: (cpu.user + cpu.system) / 1e6
        } satisfies Stats
      })
    }
  })
  // the bench is gone (ended or crashed): so is its server
  process.on("disconnect", () => process.exit(0))

  server.listen(0, "127.0.0.1", () => {
    const address = server.address() as net.AddressInfo
    send({
      type: "ready",
      port: address.port,
      hosts,
      pages,
      rawBytes,
      gzBytes,
      startMillis: Math.round(performance.now() - started)
    })
  })
}

if (import.meta.main) serve()
