/**
 * The sim-web process: ready line, clean stop on signals, no orphan when its
 * parent dies, one-line messages and non-zero exits on bad input.
 */
import { describe, expect, it } from "vitest"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { SimWeb } from "@trawl/harness"

const bin = fileURLToPath(new URL("../src/bin/sim-web.ts", import.meta.url))
const node = process.execPath

/** Running and not a zombie. */
const alive = (pid: number): boolean => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return !/^\d+ \(.*\) [ZX]/.test(stat)
  } catch {
    return false
  }
}

const waitGone = async (pid: number, millis: number) => {
  const deadline = Date.now() + millis
  while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  return !alive(pid)
}

/** Tie a started server to this test process, unless the case is about bad flags. */
const guard = (args: ReadonlyArray<string>) => (args.includes("--parent-pid") || args.length < 2 ? [] : ["--parent-pid", String(process.pid)])

const runToEnd = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    // --parent-pid: a failing test never leaves a server behind.
    const child = ChildProcess.spawn(node, ["--conditions=@trawl/source", bin, ...args, ...guard(args)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/** The first JSON line a process prints. */
const readyLine = (stream: NodeJS.ReadableStream) =>
  new Promise<{ event: string; port: number; pid: number }>((resolve, reject) => {
    let buffer = ""
    const timer = setTimeout(() => reject(new Error(`no ready line: ${buffer}`)), 20_000)
    stream.on("data", (chunk) => {
      buffer += String(chunk)
      const newline = buffer.indexOf("\n")
      if (newline !== -1) {
        clearTimeout(timer)
        resolve(JSON.parse(buffer.slice(0, newline)))
      }
    })
  })

const intermediate = (childArgs: ReadonlyArray<string>, childStdin: "pipe" | "ignore") => `
const cp = require("node:child_process")
const child = cp.spawn(process.execPath, ${JSON.stringify(["--conditions=@trawl/source", bin])}.concat(${
  JSON.stringify(childArgs)
}, ${childStdin === "ignore" ? "[\"--parent-pid\", String(process.pid)]" : "[]"}), { stdio: [${JSON.stringify(childStdin)}, "pipe", "inherit"] })
child.stdout.on("data", (chunk) => process.stdout.write(chunk))
setInterval(() => {}, 1000)
`

describe("the sim-web process", () => {
  it("prints one ready line with its port, serves, and stops cleanly on SIGTERM", async () => {
    const child = ChildProcess.spawn(
      node,
      ["--conditions=@trawl/source", bin, "--shops", "10", "--port", "0", "--parent-pid", String(process.pid)],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    let stdout = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    const ready = await readyLine(child.stdout)
    expect(ready).toMatchObject({ event: "ready", pid: child.pid })
    expect(ready.port).toBeGreaterThan(0)
    const health = await fetch(`http://127.0.0.1:${ready.port}/__health`)
    expect(await health.json()).toEqual({ ok: true })
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    child.kill("SIGTERM")
    expect(await exited).toBe(0)
    expect(stdout).toContain(`{"event":"stopped","reason":"SIGTERM"}`)
    await expect(fetch(`http://127.0.0.1:${ready.port}/__health`)).rejects.toThrow()
  })

  it("stops on SIGINT too", async () => {
    const child = ChildProcess.spawn(node, ["--conditions=@trawl/source", bin, "--shops", "10", "--parent-pid", String(process.pid)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    await readyLine(child.stdout)
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    child.kill("SIGINT")
    expect(await exited).toBe(0)
  })

  it.each([
    ["--parent-pid", "ignore"],
    ["stdin close", "pipe"]
  ] as const)("exits by itself when its parent is SIGKILLed (%s)", async (_name, stdin) => {
    const args = ["--shops", "10", ...(stdin === "pipe" ? ["--exit-on-stdin-close"] : [])]
    const parent = ChildProcess.spawn(node, ["-e", intermediate(args, stdin)], { stdio: ["ignore", "pipe", "inherit"] })
    try {
      const ready = await readyLine(parent.stdout)
      expect(alive(ready.pid)).toBe(true)
      parent.kill("SIGKILL")
      expect(await waitGone(ready.pid, 5_000)).toBe(true)
    } finally {
      parent.kill("SIGKILL")
    }
  })

})

describe.concurrent("bad command lines", () => {
  it.for<[ReadonlyArray<string>, RegExp]>([
    [["--shops", "0"], /^sim-web: --shops must be an integer from 1 to 1000000 \(got 0\)$/],
    [["--port", "0"], /^sim-web: --shops is required/],
    [["--shops", "10", "--port", "70000"], /^sim-web: --port must be an integer from 0 to 65535 \(got 70000\)$/],
    [["--shops", "10", "--port", "abc"], /^sim-web: --port must be a number \(got "abc"\)$/],
    [["--shops", "10", "--port", "-1"], /^sim-web: --port must be an integer/],
    [["--shops", "10", "--bogus", "1"], /^sim-web: unknown option --bogus/],
    [["--shops"], /^sim-web: --shops needs a value$/],
    [["--shops", "10", "--hostile-fraction", "1.5"], /^sim-web: --hostile-fraction must be a number from 0 to 1/],
    [["--shops", "10", "--clock-speed", "0"], /^sim-web: --clock-speed must be a number above 0/],
    [["--shops", "10", "--epoch", "yesterday"], /^sim-web: --epoch must be an ISO date/],
    [["shops=10"], /^sim-web: unexpected argument "shops=10"/]
  ])("rejects %j with one line and exit code 2", async ([args, message], { expect }) => {
    const { code, stdout, stderr } = await runToEnd(args)
    expect(code).toBe(2)
    expect(stdout).toBe("")
    expect(stderr.trimEnd().split("\n")).toHaveLength(1)
    expect(stderr.trimEnd()).toMatch(message)
  })

  it("reports a port in use with one line and exit code 3", async ({ expect }) => {
    const blocker = Net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
    const port = (blocker.address() as Net.AddressInfo).port
    try {
      const { code, stdout, stderr } = await runToEnd(["--shops", "10", "--port", String(port)])
      expect(code).toBe(3)
      expect(stdout).toBe("")
      expect(stderr.trimEnd()).toBe(`sim-web: port ${port} on 127.0.0.1 is already in use`)
    } finally {
      blocker.close()
    }
  })

  it("prints usage on --help", async ({ expect }) => {
    const { code, stdout } = await runToEnd(["--help"])
    expect(code).toBe(0)
    expect(stdout).toContain("--shops N")
    expect(stdout).toContain("--clock-speed X")
  })
})

describe("SimWeb.start", () => {
  it("runs the process for the life of the scope", async () => {
    const pid = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const web = yield* SimWeb.start({ shops: 5, seed: 2, latencyScale: 0 })
      const clock = yield* web.clock
      expect(clock.clockSpeed).toBe(1)
      expect(alive(web.pid)).toBe(true)
      return web.pid
    })))
    expect(await waitGone(pid, 5_000)).toBe(true)
  })

  it("runs sim-time at --clock-speed × wall time from --epoch, so prices move every few wall-clock seconds", async () => {
    const epochMillis = Date.UTC(2026, 0, 1)
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const web = yield* SimWeb.start({ shops: 5, seed: 2, latencyScale: 0, clockSpeed: 3_000, epochMillis })
      const first = yield* web.clock
      expect(first.epochMillis).toBe(epochMillis)
      expect(first.nowMillis).toBeGreaterThanOrEqual(epochMillis)
      yield* Effect.sleep("400 millis")
      const second = yield* web.clock
      const simElapsed = second.nowMillis - first.nowMillis
      const wallElapsed = second.wallMillis - first.wallMillis
      // 5-minute steps pass every 100 ms of wall time.
      expect(Math.abs(simElapsed - wallElapsed * 3_000)).toBeLessThan(30 * 3_000)
      expect(second.step - first.step).toBeGreaterThanOrEqual(3)
      const volatile = [0, 1, 2, 3, 4].flatMap((s) => [0, 1, 2, 3, 4].map((p) => web.productUrl(s, p)))
        .find((url) => web.truthAt(url, first.nowMillis)!.volatile)!
      expect(web.truthAt(volatile, second.nowMillis)!.version).toBeGreaterThan(web.truthAt(volatile, first.nowMillis)!.version)
    })))
  })

  it("fails with the process's one-line reason on bad options", async () => {
    const exit = await Effect.runPromiseExit(Effect.scoped(SimWeb.start({ shops: 0 })))
    expect(Exit.isFailure(exit)).toBe(true)
    expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain("--shops must be an integer from 1 to 1000000 (got 0)")
  })
})

describe("SimWeb.config and simTimeAt", () => {
  it("reads start options from the environment, with defaults", async () => {
    const provider = ConfigProvider.fromUnknown({ SIM_WEB_SHOPS: "7", SIM_WEB_CLOCK_SPEED: "60" })
    const options = await Effect.runPromise(SimWeb.config.parse(provider))
    expect(options).toMatchObject({ shops: 7, clockSpeed: 60, seed: 1, latencyScale: 1, port: 0 })
    const bad = await Effect.runPromiseExit(SimWeb.config.parse(ConfigProvider.fromUnknown({ SIM_WEB_SHOPS: "many" })))
    expect(Exit.isFailure(bad)).toBe(true)
  })

  it("maps wall time to sim-time as the server does", () => {
    const clock = {
      nowMillis: 0,
      now: "",
      epochMillis: 1_000_000,
      clockSpeed: 60,
      offsetMillis: 500,
      wallMillis: 0,
      startWallMillis: 10_000,
      stepMillis: 300_000,
      step: 0
    }
    expect(SimWeb.simTimeAt(clock, 11_000)).toBe(1_000_000 + 60_000 + 500)
  })
})
