/**
 * Fetch benchmarks (JSON lines on stdout). Run with `npm run bench` in
 * packages/fetch, under `flock /tmp/trawl-bench.lock`.
 *
 * 1. ceiling vs fetcher: ~60 KB pages over 1,000 virtual hosts (resolve map),
 *    64 in flight; pages/s and client CPU s per 1,000 pages, best of
 *    `ROUNDS` alternating rounds after a warm-up that fills robots caches and
 *    keep-alive pools (steady state).
 * 2. 10,000 concurrent requests against a 2 s-delay server (own process): peak RSS.
 *    The client process runs as a user's program does: plain JavaScript
 *    loading the compiled `dist` (what `@trawl/fetch` exports; built here
 *    first), not TypeScript sources through Node's type stripping — that
 *    alone costs ~25 MB of RSS at start (the stripper is ~17 MB), which the
 *    peak would count. `concurrent.ts` is stripped into `node_modules/.cache`.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import { createRequire, stripTypeScriptTypes } from "node:module"
import * as Path from "node:path"
import { bareUndiciCeiling, type LoadResult, startServer } from "./ceiling.ts"
import { makeBenchFetcher, trawlLoad } from "./trawl.ts"

const hosts = 1000
const concurrency = Number(process.env["BENCH_CONCURRENCY"] ?? "64")
const pages = Number(process.env["BENCH_PAGES"] ?? "20000")
const rounds = Number(process.env["BENCH_ROUNDS"] ?? "3")
const concurrentRequests = Number(process.env["BENCH_CONCURRENT"] ?? "10000")

const line = (fields: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ bench: "fetch", ...fields })}\n`)
const round2 = (value: number) => Number(value.toFixed(2))
const round4 = (value: number) => Number(value.toFixed(4))

const throughput = async () => {
  const server = await startServer({ delayMillis: 0 })
  const { fetcher, dispose } = await makeBenchFetcher({
    globalConcurrency: concurrency,
    perHostConcurrency: 8,
    perHostMinDelayMillis: 0
  })
  try {
    const load = { port: server.port, hosts, concurrency }
    await bareUndiciCeiling({ ...load, pages: 2 * hosts })
    await trawlLoad(fetcher, { ...load, pages: 2 * hosts })
    let ceiling: LoadResult | undefined
    let trawl: LoadResult | undefined
    for (let round = 0; round < rounds; round++) {
      const offset = (round + 1) * 1_000_000
      const c = await bareUndiciCeiling({ ...load, pages, offset })
      const t = await trawlLoad(fetcher, { ...load, pages, offset })
      if (ceiling === undefined || c.pagesPerSecond > ceiling.pagesPerSecond) ceiling = c
      if (trawl === undefined || t.pagesPerSecond > trawl.pagesPerSecond) trawl = t
    }
    line({ case: "ceiling-bare-undici", value: round2(ceiling!.pagesPerSecond), unit: "pages/s" })
    line({ case: "ceiling-bare-undici-cpu", value: round4(ceiling!.cpuSecondsPer1000), unit: "cpu-s/1000 pages" })
    line({
      case: "fetcher",
      value: round2(trawl!.pagesPerSecond),
      unit: "pages/s",
      baseline: round2(ceiling!.pagesPerSecond),
      ratio: round2(trawl!.pagesPerSecond / ceiling!.pagesPerSecond)
    })
    line({
      case: "fetcher-cpu",
      value: round4(trawl!.cpuSecondsPer1000),
      unit: "cpu-s/1000 pages",
      baseline: round4(ceiling!.cpuSecondsPer1000),
      ratio: round2(trawl!.cpuSecondsPer1000 / ceiling!.cpuSecondsPer1000)
    })
  } finally {
    await dispose()
    await server.stop()
  }
}

// Compiles src to dist (tsconfig.build.json), so the concurrent case runs the current sources.
const buildDist = () => {
  const tsc = Path.join(Path.dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin", "tsc")
  const result = ChildProcess.spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
    cwd: Path.join(import.meta.dirname, ".."),
    stdio: "inherit",
    timeout: 120_000
  })
  if (result.status !== 0) throw new Error(`building dist failed (${result.status ?? result.signal})`)
}

// concurrent.ts as plain JavaScript, under this package's node_modules so that its imports
// resolve as before (`@trawl/fetch` through the workspace link, to dist).
const concurrentScript = () => {
  const dir = Path.join(import.meta.dirname, "..", "node_modules", ".cache", "trawl-fetch-bench")
  Fs.mkdirSync(dir, { recursive: true })
  const file = Path.join(dir, "concurrent.mjs")
  Fs.writeFileSync(file, stripTypeScriptTypes(Fs.readFileSync(Path.join(import.meta.dirname, "concurrent.ts"), "utf8")))
  return file
}
let script: string | undefined

interface ConcurrentRun {
  readonly mode: "trawl" | "bare"
  readonly consumer?: "release" | "drop"
  readonly nodeFlags?: ReadonlyArray<string>
}

const runConcurrentChild = (port: number, pageBytes: number, run: ConcurrentRun) =>
  new Promise<Record<string, unknown>>((resolve, reject) => {
    // No `@trawl/source` condition: `@trawl/fetch` resolves to dist, as for a user of the package.
    const child = ChildProcess.spawn(
      process.execPath,
      [
        ...(run.nodeFlags ?? []),
        script ??= concurrentScript(),
        String(port),
        String(concurrentRequests),
        run.mode,
        String(pageBytes),
        run.consumer ?? "release"
      ],
      { stdio: ["ignore", "pipe", "inherit"] }
    )
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000)
    child.on("exit", (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, unknown>)
      else reject(new Error(`concurrent bench (${run.mode}) exited with ${code}: ${out}`))
    })
  })

// The `trawl` binary's V8 flags (apps/scraper/bin/trawl.js): the Fetcher as the monitor runs it.
const binaryFlags = ["--max-semi-space-size=16", "--heap-growing-percent=50"]

// Run for ~60 KB pages (10,000 bodies ≈ 600 MB arrive within about a second, so the payload
// dominates) and for 1 KB pages (the cost of 10,000 requests in flight itself). The trawl
// client releases each page once read, with Node's defaults and with the binary's flags; and,
// with the flags, drops its pages for the GC instead.
const concurrent = async (pageBytes: number) => {
  const server = await startServer({ delayMillis: 2_000, pageBytes })
  try {
    const bare = await runConcurrentChild(server.port, pageBytes, { mode: "bare" })
    process.stdout.write(`${JSON.stringify(bare)}\n`)
    const runs: ReadonlyArray<ConcurrentRun> = [
      { mode: "trawl" },
      { mode: "trawl", nodeFlags: binaryFlags },
      { mode: "trawl", nodeFlags: binaryFlags, consumer: "drop" }
    ]
    for (const run of runs) {
      const trawl = await runConcurrentChild(server.port, pageBytes, run)
      const flagged = run.nodeFlags === undefined ? {} : {
        case: `${String(trawl["case"])}-trawl-binary-flags`,
        nodeFlags: run.nodeFlags.join(" ")
      }
      process.stdout.write(
        `${
          JSON.stringify({
            ...trawl,
            ...flagged,
            baseline: bare["value"],
            ratio: round2(Number(trawl["value"]) / Number(bare["value"]))
          })
        }\n`
      )
    }
  } finally {
    await server.stop()
  }
}

const only = process.env["BENCH_CASE"]
if (only === undefined || only === "throughput") await throughput()
if (only === undefined || only === "concurrent") {
  buildDist()
  await concurrent(60 * 1024)
  await concurrent(1024)
}
