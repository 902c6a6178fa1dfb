import * as http from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A shop on 127.0.0.1 for end-to-end tests: `/p/N` shows product N with a
 * JSON-LD price that depends on the current `step`; `delayMillis` slows every
 * page; `nameOf` names the products (e.g. a hostile name). Answers any Host
 * (`*.shop.test` through the resolve map).
 */
export interface Shop {
  readonly port: number
  step: number
  delayMillis: number
  readonly priceOf: (product: number) => string
  nameOf: (product: number) => string
  readonly requests: () => number
  readonly close: () => Promise<void>
}

export const startShop = async (): Promise<Shop> => {
  let requests = 0
  const shop = {
    port: 0,
    step: 0,
    delayMillis: 0,
    priceOf: (product: number) => (product * 10 + (product % 2 === 0 ? shop.step : 0)).toFixed(2),
    nameOf: (product: number) => `Item ${product}`,
    requests: () => requests,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
  const server = http.createServer((req, res) => {
    if (req.url === "/robots.txt") return void res.writeHead(404).end()
    const match = /^\/p\/(\d+)$/.exec(req.url ?? "")
    if (match === null) return void res.writeHead(404).end()
    requests++
    const product = Number(match[1])
    const offer = { "@type": "Product", name: shop.nameOf(product), offers: { price: shop.priceOf(product), priceCurrency: "EUR", availability: "https://schema.org/InStock" } }
    // JSON in a script element: "<" escaped, so a name cannot end the element
    const body = `<html><head><script type="application/ld+json">${JSON.stringify(offer).replace(/</g, "\\u003c")}</script></head></html>`
    const send = () => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(body)
    if (shop.delayMillis > 0) setTimeout(send, shop.delayMillis)
    else send()
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  shop.port = (server.address() as AddressInfo).port
  return shop
}

/** A webhook receiver counting deliveries per Idempotency-Key; while `status` is not 200 it answers that and records nothing. */
export const startReceiver = async () => {
  const deliveries: Array<{ key: string; body: Record<string, unknown> }> = []
  const receiver = {
    url: "",
    deliveries,
    status: 200,
    refused: 0,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
  const server = http.createServer((req, res) => {
    let body = ""
    req.on("data", (chunk) => (body += chunk))
    req.on("end", () => {
      if (receiver.status !== 200) {
        receiver.refused++
        return void res.writeHead(receiver.status).end()
      }
      deliveries.push({ key: String(req.headers["idempotency-key"]), body: JSON.parse(body) })
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  return receiver
}
