/**
 * The benchmark's page server, run in its own process (so its CPU is not the
 * client's): ~60 KB HTML pages from memory for any Host, a permissive
 * robots.txt, and an optional delay before each page (`DELAY_MS`).
 *
 * Prints `{"port":N}` on stdout when listening; exits when stdin closes
 * (i.e. with its parent).
 */
import * as Http from "node:http"
import type * as Net from "node:net"

const delayMillis = Number(process.env["DELAY_MS"] ?? "0")
const pageBytes = Number(process.env["PAGE_BYTES"] ?? String(60 * 1024))

const makePage = (size: number): Buffer => {
  const head = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Product</title></head><body>"
  const tail = "<div class=\"price\" itemprop=\"price\">129.99 €</div></body></html>"
  const row = "<li class=\"item\"><a href=\"/p/1234\">Schöne Produktbeschreibung mit Umlauten äöü</a></li>\n"
  let body = ""
  while (head.length + body.length + tail.length < size) body += row
  return Buffer.from(head + body.slice(0, size - head.length - tail.length) + tail)
}

const page = makePage(pageBytes)
const robots = Buffer.from("User-agent: *\nAllow: /\n")

const server = Http.createServer((req, res) => {
  if (req.url === "/robots.txt") {
    res.writeHead(200, { "content-type": "text/plain", "content-length": robots.length })
    res.end(robots)
    return
  }
  const send = () => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": page.length })
    res.end(page)
  }
  if (delayMillis > 0) setTimeout(send, delayMillis)
  else send()
})
server.keepAliveTimeout = 60_000
server.headersTimeout = 70_000
server.requestTimeout = 0
server.maxRequestsPerSocket = 0
server.listen({ port: 0, host: "127.0.0.1", backlog: 16_384 }, () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as Net.AddressInfo).port })}\n`)
})
let connections = 0
server.on("connection", () => connections++)
process.stdin.on("close", () => {
  if (process.env["BENCH_VERBOSE"]) process.stderr.write(`bench server: ${connections} connections\n`)
  process.exit(0)
})
process.stdin.resume()
