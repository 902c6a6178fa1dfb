/**
 * A competitor group from the command line: three shops of one kettle in two
 * currencies, a rates file, `trawl run --rates` (cheapest_changed when the
 * best shop changes), `trawl group NAME` (each shop's price and availability,
 * the best offer, the rates' date), the group in the export, and bad rates
 * files refused in one line.
 */
import * as fs from "node:fs/promises"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runTrawl } from "./helpers.ts"

let dir: string
let server: http.Server
let port: number
const prices: Record<string, { amount: string; currency: string }> = {
  a: { amount: "100.00", currency: "EUR" },
  b: { amount: "105.00", currency: "USD" }, // 94.50 EUR: the best at first
  c: { amount: "99.00", currency: "EUR" }
}

const page = (shop: string) => {
  const { amount, currency } = prices[shop]!
  return `<html><head><title>Kettle X</title><script type="application/ld+json">${
    JSON.stringify({ "@context": "https://schema.org", "@type": "Product", name: "Kettle X", offers: { "@type": "Offer", price: amount, priceCurrency: currency, availability: "https://schema.org/InStock" } })
  }</script></head><body><h1>Kettle X</h1></body></html>`
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "trawl-group-"))
  server = http.createServer((req, res) => {
    if (req.url === "/robots.txt") return res.writeHead(404).end()
    const shop = /^([abc])\./.exec(req.headers.host ?? "")?.[1]
    if (shop === undefined) return res.writeHead(404).end()
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page(shop))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await fs.rm(dir, { recursive: true, force: true })
})

describe("trawl group", { timeout: 120_000 }, () => {
  it("compares the shops in the rates' base, names the best offer and the rates' date; cheapest_changed when the best shop changes", async () => {
    const db = path.join(dir, "group.db")
    const rates = path.join(dir, "rates.json")
    const alertsFile = path.join(dir, "alerts.jsonl")
    await fs.writeFile(rates, JSON.stringify({ base: "EUR", date: "2026-12-01", rates: { USD: "0.90" } }))
    for (const shop of ["a", "b", "c"]) {
      expect((await runTrawl(["add", `http://${shop}.shop.test:${port}/kettle`, "--interval", "10s", "--group", "kettle-x", "--db", db])).code).toBe(0)
    }
    const run = (args: ReadonlyArray<string> = []) =>
      runTrawl(["run", "--once", "--all", "--db", db, "--resolve", "*.shop.test=127.0.0.1", "--allow-private", "--workers", "1", "--alerts-file", alertsFile, "--quiet", ...args], { timeoutMillis: 60_000 })
    expect((await run(["--rates", rates])).code).toBe(0)
    const view = await runTrawl(["group", "kettle-x", "--rates", rates, "--db", db])
    expect(view.code).toBe(0)
    const lines = view.stdout.trim().split("\n")
    expect(lines[0]).toBe("shop\tprice\tavailability\tin EUR\tobserved\turl")
    expect(lines[1]).toMatch(/^  a\.shop\.test\t100\.00 EUR\tin_stock\t100\.00\t/)
    expect(lines[2]).toMatch(/^\* b\.shop\.test\t105\.00 USD\tin_stock\t94\.50\t/)
    expect(lines[3]).toMatch(/^  c\.shop\.test\t99\.00 EUR\tin_stock\t99\.00\t/)
    expect(view.stdout).toMatch(/best offer: 94\.50 EUR at b\.shop\.test/)
    expect(view.stdout).toMatch(/compared in EUR with the rates of 2026-12-01/)
    const withoutRates = await runTrawl(["group", "kettle-x", "--db", db])
    expect(withoutRates.stdout).toMatch(/best offer: 99\.00 EUR at c\.shop\.test/)
    expect(withoutRates.stdout).toMatch(/no rates given \(--rates\): only offers in EUR are compared/)

    // c drops to 90.00 EUR: now the best
    prices["c"] = { amount: "90.00", currency: "EUR" }
    expect((await run(["--rates", rates])).code).toBe(0)
    // again, unchanged: nothing new
    expect((await run(["--rates", rates])).code).toBe(0)
    const alerts = (await fs.readFile(alertsFile, "utf8")).trim().split("\n").map((line) => JSON.parse(line))
    const changed = alerts.filter((alert) => alert.kind === "cheapest_changed")
    expect(changed).toHaveLength(1)
    expect(changed[0]).toMatchObject({ group: "kettle-x", url: `http://c.shop.test:${port}/kettle`, oldPrice: { amount: "94.50", currency: "EUR" }, newPrice: { amount: "90.00", currency: "EUR" } })
    const csv = await runTrawl(["export", "--format", "csv", "--db", db])
    expect(csv.stdout.split("\n")[0]).toMatch(/,contentHash,group$/)
    expect(csv.stdout).toMatch(/,kettle-x\n/)
  })

  it("group rules, and bad rates files and unknown groups refused in one line", async () => {
    const db = path.join(dir, "group.db")
    const set = await runTrawl(["group", "kettle-x", "--alert", "below 80 EUR", "--cooldown", "1h", "--db", db])
    expect(set.code).toBe(0)
    expect(set.stdout).toMatch(/group alert rules: below 80 EUR, cooldown 1h/)
    const bad = path.join(dir, "bad-rates.json")
    await fs.writeFile(bad, JSON.stringify({ base: "EUR", date: "2026-12-01", rates: { USD: "cheap" } }))
    for (const args of [["group", "kettle-x", "--rates", bad], ["run", "--once", "--rates", bad]]) {
      const run = await runTrawl([...args, "--db", db])
      expect(run.code).toBe(3)
      expect(run.stderr.trim().split("\n").at(-1)).toMatch(/bad-rates\.json: rates: the rate of USD 'cheap' is not a positive decimal/)
      expect(run.stderr).not.toMatch(/\n\s+at /)
    }
    const missing = await runTrawl(["group", "kettle-x", "--rates", path.join(dir, "none.json"), "--db", db])
    expect(missing.code).toBe(3)
    expect(missing.stderr).toMatch(/none\.json: no such file/)
    const unknown = await runTrawl(["group", "toaster", "--db", db])
    expect(unknown.code).toBe(3)
    expect(unknown.stderr).toMatch(/toaster: no target is in this group/)
  })
})
