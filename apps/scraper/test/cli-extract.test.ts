import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { runTrawl } from "./helpers.ts"

let dir: string
let server: http.Server
let port: number
const page = `<html><head><title>Kettle</title>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"Product","name":"Kettle","offers":{"@type":"Offer","price":"24.90","priceCurrency":"EUR","availability":"https://schema.org/InStock"}}</script>
</head><body><span class="sale">€ 19,90</span></body></html>`

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "trawl-cli-"))
  await fs.writeFile(path.join(dir, "kettle.html"), page)
  server = http.createServer((req, res) => {
    if (req.url === "/robots.txt") return res.writeHead(404).end()
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await fs.rm(dir, { recursive: true, force: true })
})

describe("trawl extract", () => {
  it("prints the product of a file as JSON, the price as an exact decimal string", async () => {
    const run = await runTrawl(["extract", path.join(dir, "kettle.html"), "--url", "https://shop.example/kettle"])
    expect(run.code).toBe(0)
    const product = JSON.parse(run.stdout)
    expect(product).toMatchObject({ url: "https://shop.example/kettle", name: "Kettle", price: "24.90", currency: "EUR", availability: "InStock", source: "json-ld" })
    expect(product.candidates.length).toBeGreaterThan(0)
  })

  it("a --selector rule wins over JSON-LD", async () => {
    const run = await runTrawl(["extract", path.join(dir, "kettle.html"), "--selector", ".sale"])
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ price: "19.90", source: "rules" })
  })

  it("fetches a URL through the resolve map when private addresses are allowed", async () => {
    const run = await runTrawl(["extract", `http://kettle.shop.test:${port}/p/1`, "--resolve", "*.shop.test=127.0.0.1", "--allow-private"])
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ price: "24.90", url: `http://kettle.shop.test:${port}/p/1` })
  })

  it("refuses a loopback target by default (SSRF guard), with one line and exit 3", async () => {
    const run = await runTrawl(["extract", `http://127.0.0.1:${port}/p/1`])
    expect(run.code).toBe(3)
    expect(run.stderr.trim().split("\n")).toHaveLength(1)
    expect(run.stderr).toMatch(/ForbiddenAddress/)
  })

  it("TRAWL_ALLOW_PRIVATE and trawl.config.json are settings too (flag > env > file)", async () => {
    const viaEnv = await runTrawl(["extract", `http://127.0.0.1:${port}/p/1`], { env: { TRAWL_ALLOW_PRIVATE: "true" } })
    expect(viaEnv.code).toBe(0)
    await fs.writeFile(path.join(dir, "trawl.config.json"), JSON.stringify({ allowPrivate: true }))
    const viaFile = await runTrawl(["extract", `http://127.0.0.1:${port}/p/1`], { cwd: dir })
    expect(viaFile.code).toBe(0)
    const envOverFile = await runTrawl(["extract", `http://127.0.0.1:${port}/p/1`], { cwd: dir, env: { TRAWL_ALLOW_PRIVATE: "false" } })
    expect(envOverFile.code).toBe(3)
    await fs.rm(path.join(dir, "trawl.config.json"))
  })

  it.each([
    [["extract", "/definitely/not/here.html"], 3, /no such file/],
    [["extract", "x.html", "--regex", "("], 3, /--regex/],
    [["extract", "http://a.test/", "--resolve", "nonsense"], 3, /--resolve/],
    [["extract", "--bogus-flag", "x"], 2, /bogus-flag/],
    [["frobnicate"], 2, /frobnicate/]
  ] as const)("bad input %j gives exit %i and a clear message, never a stack trace", async (args, code, message) => {
    const run = await runTrawl(args)
    expect(run.code).toBe(code)
    expect(run.stdout + run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })

  it("an empty file is a typed extraction error", async () => {
    await fs.writeFile(path.join(dir, "empty.html"), "")
    const run = await runTrawl(["extract", path.join(dir, "empty.html")])
    expect(run.code).toBe(3)
    expect(run.stderr).toMatch(/empty/i)
  })

  it("a broken trawl.config.json is reported with its path", async () => {
    await fs.writeFile(path.join(dir, "trawl.config.json"), "{ nope")
    const run = await runTrawl(["extract", "x.html"], { cwd: dir })
    await fs.rm(path.join(dir, "trawl.config.json"))
    expect(run.code).toBe(3)
    expect(run.stderr).toMatch(/trawl\.config\.json: not valid JSON/)
  })
})
