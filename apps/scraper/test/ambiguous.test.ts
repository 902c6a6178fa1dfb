/**
 * An ambiguous page end to end: `trawl extract` says why and lists the
 * prices in contention; `trawl run` records it as `ambiguous` (no price, no
 * price alert), `trawl history` shows the candidates, and the third
 * ambiguous reading in a row raises one `price_ambiguous` alert.
 */
import * as fs from "node:fs/promises"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runTrawl } from "./helpers.ts"

const fixture = fileURLToPath(new URL("../../../packages/extract/test/fixtures/ambiguous-price-jsonld-vs-microdata.html", import.meta.url))
let dir: string
let server: http.Server
let port: number

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "trawl-ambiguous-"))
  const page = await fs.readFile(fixture)
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

describe("an ambiguous page", { timeout: 120_000 }, () => {
  it("trawl extract: no price, the reason and the prices in contention", async () => {
    const run = await runTrawl(["extract", fixture, "--url", "https://www.kaffeehaus.example.de/maschinen/barista-pro"])
    expect(run.code).toBe(0)
    const product = JSON.parse(run.stdout)
    expect(product.price).toBeUndefined()
    expect(product.ambiguity).toMatchObject({
      reason: "sources-disagree",
      candidates: [{ source: "json-ld", price: "449.00", currency: "EUR" }, { source: "microdata", price: "399.00", currency: "EUR" }]
    })
  })

  it("trawl run records it as ambiguous, history shows the candidates, the third in a row raises price_ambiguous once", async () => {
    const db = path.join(dir, "ambiguous.db")
    const alertsFile = path.join(dir, "alerts.jsonl")
    const url = `http://kaffeehaus.shop.test:${port}/p/1`
    expect((await runTrawl(["add", url, "--interval", "10s", "--db", db])).code).toBe(0)
    for (let pass = 0; pass < 4; pass++) {
      const run = await runTrawl(
        ["run", "--once", "--all", "--db", db, "--resolve", "*.shop.test=127.0.0.1", "--allow-private", "--workers", "1", "--alerts-file", alertsFile, "--quiet"],
        { timeoutMillis: 60_000 }
      )
      expect(run.code, run.stderr).toBe(0)
    }
    const history = await runTrawl(["history", url, "--db", db])
    const rows = history.stdout.trim().split("\n").slice(1)
    expect(rows).toHaveLength(4)
    for (const row of rows) {
      expect(row).toMatch(/\tambiguous\t449\.00 EUR \(json-ld\) \| 399\.00 EUR \(microdata\)\tin_stock\t200\tsources-disagree$/)
    }
    const alerts = (await fs.readFile(alertsFile, "utf8")).trim().split("\n").map((line) => JSON.parse(line))
    expect(alerts.map((alert) => alert.kind)).toEqual(["price_ambiguous"])
  })
})
