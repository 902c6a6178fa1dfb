import { spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Shop, startReceiver, startShop } from "./fixtures-shop.ts"
import { runTrawl } from "./helpers.ts"

let dir: string
let shop: Shop
const products = 40

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "trawl-run-"))
  shop = await startShop()
})

afterAll(async () => {
  await shop.close()
  await fs.rm(dir, { recursive: true, force: true })
})

const targetsCsv = async (name: string) => {
  const file = path.join(dir, `${name}.csv`)
  const lines = ["url,interval"]
  for (let i = 1; i <= products; i++) lines.push(`http://shop-${i % 7}.shop.test:${shop.port}/p/${i},5m`)
  await fs.writeFile(file, lines.join("\n") + "\n")
  return file
}

const common = (db: string) => ["--db", db, "--resolve", "*.shop.test=127.0.0.1", "--allow-private", "--workers", "1"]

const exportRows = async (db: string) => {
  const run = await runTrawl(["export", "--db", db])
  expect(run.code).toBe(0)
  return run.stdout.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>)
}

describe("trawl run", { timeout: 120_000 }, () => {
  it("--once records every target's price exactly as served; after prices move, the next pass raises exactly the expected alerts", async () => {
    const db = path.join(dir, "once.db")
    const receiver = await startReceiver()
    const alertsFile = path.join(dir, "alerts.jsonl")
    try {
      shop.step = 0
      const first = await runTrawl(["run", "--once", "--targets", await targetsCsv("once"), ...common(db), "--webhook", receiver.url, "--alerts-file", alertsFile], { timeoutMillis: 60_000 })
      expect(first.stderr).not.toMatch(/\n\s+at /)
      expect(first.code).toBe(0)
      const rows = await exportRows(db)
      expect(rows).toHaveLength(products)
      for (const row of rows) {
        const product = Number(/\/p\/(\d+)$/.exec(String(row.url))![1])
        expect(row).toMatchObject({ outcome: "ok", amount: shop.priceOf(product), currency: "EUR" })
      }
      // the first pass: one first_seen alert per product, each delivered once
      expect(receiver.deliveries).toHaveLength(products)
      expect(receiver.deliveries.every((d) => d.body.kind === "first_seen")).toBe(true)

      shop.step = 1 // even products go up by 1.00
      const second = await runTrawl(["run", "--once", "--all", ...common(db), "--webhook", receiver.url, "--alerts-file", alertsFile], { timeoutMillis: 60_000 })
      expect(second.code).toBe(0)
      const changes = receiver.deliveries.slice(products)
      expect(changes).toHaveLength(products / 2)
      expect(changes.every((d) => d.body.kind === "price_up")).toBe(true)
      expect(new Set(receiver.deliveries.map((d) => d.key)).size).toBe(receiver.deliveries.length)
      expect(second.stdout).toMatch(/price up: Item \d+ \d+\.00 EUR → \d+\.00 EUR/)
      const lines = (await fs.readFile(alertsFile, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { key: string })
      expect(lines).toHaveLength(products + products / 2)
      expect(new Set(lines.map((l) => l.key)).size).toBe(lines.length)
    } finally {
      await receiver.close()
    }
  })

  it("SIGTERM mid-run drains, records what was fetched, exits 0; SIGKILL then a restart resumes with no duplicate alert", async () => {
    const db = path.join(dir, "signals.db")
    const receiver = await startReceiver()
    try {
      shop.step = 0
      shop.delayMillis = 150
      const bin = fileURLToPath(new URL("../src/bin/trawl.ts", import.meta.url))
      await runTrawl(["import", await targetsCsv("signals"), "--db", db])
      const started = shop.requests()
      const child = spawn(process.execPath, ["--conditions=@trawl/source", bin, "run", ...common(db), "--per-host", "1", "--webhook", receiver.url], { stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      child.stdout.on("data", (chunk) => (stdout += chunk))
      while (shop.requests() < started + 10) await new Promise((r) => setTimeout(r, 20))
      child.kill("SIGTERM")
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve))
      expect(code).toBe(0)
      expect(stdout).toMatch(/stopped by +\| +signal/)
      const recorded = await exportRows(db)
      expect(recorded.length).toBeGreaterThan(0)
      const status = await runTrawl(["status", "--db", db])
      expect(status.stdout).toMatch(/alertsPending +0/)

      // SIGKILL in the middle of a pass, then the same pass again on the same database
      shop.step = 3
      const killed = spawn(process.execPath, ["--conditions=@trawl/source", bin, "run", "--once", "--all", ...common(db), "--per-host", "1", "--webhook", receiver.url], { stdio: "ignore" })
      const before = shop.requests()
      while (shop.requests() < before + 12) await new Promise((r) => setTimeout(r, 20))
      killed.kill("SIGKILL")
      await new Promise((resolve) => killed.on("close", resolve))
      shop.delayMillis = 0
      const resumed = await runTrawl(["run", "--once", "--all", ...common(db), "--webhook", receiver.url], { timeoutMillis: 60_000 })
      expect(resumed.code).toBe(0)
      const keys = receiver.deliveries.map((d) => d.key)
      expect(new Set(keys).size).toBe(keys.length)
      const final = await exportRows(db)
      const latest = new Map<string, Record<string, unknown>>()
      for (const row of final) latest.set(String(row.url), row)
      for (const [url, row] of latest) {
        const product = Number(/\/p\/(\d+)$/.exec(url)![1])
        expect(row.amount).toBe(shop.priceOf(product))
      }
    } finally {
      shop.delayMillis = 0
      await receiver.close()
    }
  })

  it("alerts left in the outbox by one process are delivered by the next with the product's name, read from the store", async () => {
    const db = path.join(dir, "restart-names.db")
    const file = path.join(dir, "restart-names.csv")
    const few = [1, 2, 3, 4]
    await fs.writeFile(file, ["url,interval", ...few.map((i) => `http://names.shop.test:${shop.port}/p/${i},5m`)].join("\n") + "\n")
    // a receiver that is down (503: worth a retry, later), so every alert stays in its outbox
    const receiver = await startReceiver()
    receiver.status = 503
    const alertsFile = path.join(dir, "restart-names.jsonl")
    try {
      shop.step = 0
      const first = await runTrawl(["run", "--once", "--targets", file, ...common(db), "--webhook", receiver.url], { timeoutMillis: 60_000 })
      expect(first.code).toBe(0)
      shop.step = 1 // products 2 and 4 go up
      const second = await runTrawl(["run", "--once", "--all", ...common(db), "--webhook", receiver.url], { timeoutMillis: 60_000 })
      expect(second.code).toBe(0)
      expect(receiver.refused).toBeGreaterThanOrEqual(2)
      const status = (await runTrawl(["status", "--db", db])).stdout
      expect(status).toMatch(/alertsPending +6\b/)
      expect(status).toMatch(/notifier +webhook http:\/\/127\.0\.0\.1:\d+ #[0-9a-f]{8}: 6 pending, 0 delivered · last error \S+Z: .*HTTP 503/)

      // a new process on the same database, with nothing due, the webhook back: it fetches no
      // page, so every name it puts in a notification came from the outbox row
      receiver.status = 200
      const requests = shop.requests()
      const third = await runTrawl(["run", "--once", ...common(db), "--webhook", receiver.url, "--alerts-file", alertsFile], { timeoutMillis: 60_000 })
      expect(third.code).toBe(0)
      expect(shop.requests()).toBe(requests)
      const product = (url: unknown) => Number(/\/p\/(\d+)$/.exec(String(url))![1])
      expect(receiver.deliveries.map((d) => [d.body.kind, d.body.name]).sort()).toEqual([
        ...few.map((i) => ["first_seen", `Item ${i}`]),
        ["price_up", "Item 2"],
        ["price_up", "Item 4"]
      ].sort())
      for (const { body } of receiver.deliveries) expect(body.name).toBe(`Item ${product(body.url)}`)
      const lines = (await fs.readFile(alertsFile, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(lines.map((l) => l.name).sort()).toEqual(receiver.deliveries.map((d) => d.body.name).sort())
      // stdout printed each alert at once, while the webhook was down, and not again
      expect(second.stdout).toMatch(/price up: Item 2 20\.00 EUR → 21\.00 EUR \(5\.00%\) http:\/\/names\.shop\.test:\d+\/p\/2/)
      expect(second.stdout).toMatch(/price up: Item 4 40\.00 EUR → 41\.00 EUR \(2\.50%\) /)
      expect(third.stdout).not.toMatch(/price up/)
      expect((await runTrawl(["status", "--db", db])).stdout).toMatch(/alertsPending +0\b/)
    } finally {
      await receiver.close()
    }
  })

  it("a database locked by another process when the run starts is waited for, not an exit 4", async () => {
    const db = path.join(dir, "locked-at-start.db")
    const file = await targetsCsv("locked-at-start")
    expect((await runTrawl(["import", file, "--db", db])).code).toBe(0)
    // a second process takes the write lock and holds it for 3 s
    const holder = spawn(process.execPath, ["-e", `
      const { DatabaseSync } = require("node:sqlite")
      const db = new DatabaseSync(${JSON.stringify(db)})
      db.exec("BEGIN IMMEDIATE")
      console.log("locked")
      setTimeout(() => { db.exec("ROLLBACK"); db.close() }, 3000)
    `], { stdio: ["ignore", "pipe", "inherit"] })
    await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()))
    const started = Date.now()
    const run = await runTrawl(["run", "--once", ...common(db)], { timeoutMillis: 60_000 })
    expect(run.stderr).not.toMatch(/\n\s+at /)
    expect(run.code).toBe(0)
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_500)
    expect(await exportRows(db)).toHaveLength(products)
  })

  it.each([
    [["run", "--once", "--concurrency", "0"], 3, /--concurrency/],
    [["run", "--once", "--workers", "-1"], 3, /--workers/],
    [["run", "--once", "--duration", "soon"], 3, /--duration/],
    [["run", "--once", "--store-outage-budget", "forever"], 3, /--store-outage-budget/],
    [["run", "--once", "--webhook", "not-a-url"], 3, /--webhook/],
    [["run", "--once", "--targets", "/no/such/file.csv"], 3, /no such file/],
    [["run", "--once", "--postgres", "postgres://nobody@127.0.0.1:1/none"], 4, /./]
  ] as const)("bad input %j: one clear line, exit %i", async (args, code, message) => {
    const run = await runTrawl([...args, "--db", path.join(dir, "bad.db")], { timeoutMillis: 60_000 })
    expect(run.code).toBe(code)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })

  it("a corrupt database file is exit 4 with a message, not a crash", async () => {
    const db = path.join(dir, "corrupt.db")
    await fs.writeFile(db, "this is not a sqlite database, not at all".repeat(200))
    const run = await runTrawl(["status", "--db", db])
    expect(run.code).toBe(4)
    expect(run.stderr).toMatch(/corrupt\.db/)
  })

  it("import reports broken rows by line and exits 5, keeping the valid ones", async () => {
    const db = path.join(dir, "import.db")
    const file = path.join(dir, "mixed.csv")
    await fs.writeFile(file, `url,interval\nhttp://a.shop.test:${shop.port}/p/1,5m\nnot-a-url,5m\nhttp://a.shop.test:${shop.port}/p/1,5m\n`)
    const run = await runTrawl(["import", file, "--db", db])
    expect(run.code).toBe(5)
    expect(run.stderr).toMatch(/mixed\.csv:3: .*not a URL/)
    expect(run.stderr).toMatch(/mixed\.csv:4: .*already exists/)
    const targets = await runTrawl(["targets", "--db", db])
    expect(targets.stdout.trim().split("\n")).toHaveLength(2)
  })
})
