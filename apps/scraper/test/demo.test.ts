import { Truth, type World } from "@trawl/harness"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runTrawl } from "./helpers.ts"

let dir: string

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "trawl-demo-"))
})

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true })
})

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("trawl demo", { timeout: 120_000 }, () => {
  it("--shops 50 --duration 20s: exits 0, observes every shop as the ground truth says, alerts once each, leaves nothing running", async () => {
    const db = path.join(dir, "demo.db")
    const alertsFile = path.join(dir, "alerts.jsonl")
    const run = await runTrawl(["demo", "--shops", "50", "--duration", "20s", "--db", db, "--alerts-file", alertsFile, "--workers", "2"], { timeoutMillis: 90_000 })
    expect(run.stderr).not.toMatch(/\n\s+at /)
    expect(run.code).toBe(0)

    const description = JSON.parse(run.stderr.split("\n").find((line) => line.startsWith("{\"event\":\"sim-web\""))!) as {
      pid: number
      world: World.World
      clock: { nowMillis: number; wallMillis: number; clockSpeed: number }
    }
    expect(alive(description.pid)).toBe(false)
    const simTime = (wall: number) => description.clock.nowMillis + (wall - description.clock.wallMillis) * description.clock.clockSpeed

    const exported = await runTrawl(["export", "--db", db])
    expect(exported.code).toBe(0)
    const observations = exported.stdout.trim().split("\n").map((line) => JSON.parse(line) as {
      url: string
      observedAt: string
      outcome: string
      amount: string | null
      currency: string | null
      errorTag: string | null
    })
    const matches = (o: (typeof observations)[number]) => {
      const wall = Date.parse(o.observedAt)
      // the page was rendered a moment before it was recorded
      return [0, 250, 1000].some((before) => {
        const truth = Truth.lookup(description.world, o.url.replace(/:\d+\//, "/"), simTime(wall - before))
        if (truth === undefined) return false
        const expected = truth.expected
        return expected._tag === "Price"
          ? o.outcome === "ok" && o.amount === expected.price && o.currency === expected.currency
          : o.outcome === "error" && o.errorTag === expected.error
      })
    }
    const shops = new Map<string, boolean>()
    for (const o of observations) {
      const host = new URL(o.url).hostname
      shops.set(host, (shops.get(host) ?? false) || matches(o))
    }
    expect(shops.size).toBe(50)
    expect([...shops.entries()].filter(([, ok]) => !ok)).toEqual([])

    const changes = run.stdout.split("\n").filter((line) => /^price (up|down):/.test(line))
    expect(changes.length).toBeGreaterThan(0)
    const lines = (await fs.readFile(alertsFile, "utf8")).trim().split("\n").map((line) => JSON.parse(line) as { key: string; kind: string })
    expect(new Set(lines.map((l) => l.key)).size).toBe(lines.length)
    expect(lines.filter((l) => l.kind === "price_up" || l.kind === "price_down").length).toBe(changes.length)

    const history = await runTrawl(["history", observations[0]!.url, "--db", db])
    expect(history.code).toBe(0)
    expect(history.stdout.split("\n").length).toBeGreaterThan(1)
  })

  it.each([
    [["--shops", "0"], /--shops/],
    [["--duration", "-1"], /--duration/],
    [["--products", "1000"], /--products/]
  ])("bad input %j: one clear line and a non-zero exit", async (args, message) => {
    const run = await runTrawl(["demo", ...args, "--db", path.join(dir, "bad.db")])
    expect(run.code).not.toBe(0)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })

  it("a port already taken and an unwritable --db are clear errors, and nothing is left running", async () => {
    const blocker = net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
    const port = (blocker.address() as net.AddressInfo).port
    try {
      const taken = await runTrawl(["demo", "--sim-port", String(port), "--duration", "5s", "--db", path.join(dir, "taken.db")])
      expect(taken.code).not.toBe(0)
      expect(taken.stderr).toMatch(new RegExp(`${port}|in use`))
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()))
    }
    const unwritable = await runTrawl(["demo", "--duration", "5s", "--db", "/proc/trawl-demo.db"])
    expect(unwritable.code).toBe(3)
    expect(unwritable.stderr).toMatch(/cannot write the demo database/)
  })
})
