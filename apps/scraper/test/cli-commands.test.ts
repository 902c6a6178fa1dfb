import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runTrawl } from "./helpers.ts"

let dir: string
let db: string

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "trawl-commands-"))
  db = path.join(dir, "commands.db")
})

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true })
})

describe("trawl commands", { timeout: 60_000 }, () => {
  it("add, targets, status, history and export on an empty history", async () => {
    const added = await runTrawl(["add", "https://shop.example/p/1", "--interval", "10m", "--selector", ".price", "--db", db])
    expect(added.code).toBe(0)
    expect(added.stdout).toMatch(/added target 1: https:\/\/shop\.example\/p\/1 every 10m/)
    const targets = await runTrawl(["targets", "--db", db])
    expect(targets.stdout).toMatch(/^1\thttps:\/\/shop\.example\/p\/1\t600s\t/m)
    const status = await runTrawl(["status", "--db", db])
    expect(status.stdout).toMatch(/targets +1/)
    expect(status.stdout).toMatch(/observations +0/)
    const history = await runTrawl(["history", "https://shop.example/p/1", "--db", db])
    expect(history.code).toBe(0)
    expect(history.stdout.trim().split("\n")).toHaveLength(1)
    const csv = await runTrawl(["export", "--format", "csv", "--db", db])
    expect(csv.code).toBe(0)
    expect(csv.stdout.trim().split("\n")).toHaveLength(1)
  })

  it.each([
    [["add", "not-a-url"], 3, /not a URL/],
    [["add", "ftp://shop.example/x"], 3, /only http and https/],
    [["add", "https://shop.example/p/2", "--interval", "1s"], 3, /--interval/],
    [["add", "https://shop.example/p/3", "--regex", "(("], 3, /--regex/],
    [["history", "https://shop.example/never-added"], 3, /not a watched target/],
    [["export", "--format", "xml"], 2, /xml|format/],
    [["import", "/no/such/targets.csv"], 3, /no such file/],
    [["status", "--db", "/proc/cannot/create/here.db"], 3, /./]
  ] as const)("bad input %j: exit %i with one clear message", async (args, code, message) => {
    const run = await runTrawl((args as ReadonlyArray<string>).includes("--db") ? args : [...args, "--db", db])
    expect(run.code).toBe(code)
    expect(run.stdout + run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })

  it("--help lists every command", async () => {
    const run = await runTrawl(["--help"])
    expect(run.code).toBe(0)
    for (const command of ["run", "demo", "add", "import", "targets", "status", "history", "export", "extract"]) {
      expect(run.stdout).toMatch(new RegExp(`\\b${command}\\b`))
    }
  })
})
