/**
 * `npm run load`: the real `trawl run` (a child process, from source) watching
 * one product page on each of 50,000 sim-web shops every 5 minutes, for at
 * least 10 minutes. Not in CI.
 *
 * The database is prepared here with every target's first due time spread
 * over the first interval (the steady state of a monitor that has been
 * running; a cold start with all 50,000 due at once is a different question),
 * then `trawl run --dashboard 0` runs for `--minutes`. Every `--report-seconds`
 * one JSON line `{"bench":"load","case":"progress",…}` gives pages/s over the
 * last period, the schedule lag p50/p99 of the app's recent-dispatch window,
 * the app's CPU (% of 2 cores, its worker threads included), RSS and peak
 * RSS, and errors by tag; at the end one line per case (`pages-per-second`,
 * `lag-p50`, `lag-p99`, `client-cpu`, `peak-rss`, `errors`) with its target.
 *
 * Flags: `--shops N` (50000), `--minutes M` (10), `--interval-seconds S` (300),
 * `--products-per-shop N` (1), `--report-seconds S` (5), `--seed S` (1),
 * `--latency-scale X` (1), `--error-scale X` (1), `--hostile-fraction F` (0.02).
 * Smoke run: `--shops 5000 --minutes 2`. `LOAD_NODE_FLAGS` adds node flags to
 * the trawl child (e.g. `--cpu-prof`).
 *
 * Run under `flock /tmp/trawl-bench.lock` (2 shared cores: the sim-web
 * server runs on the same machine, figures are noisy).
 *
 * @since 0.1.0
 */
import { Model, Store } from "@trawl/store"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { SimWeb } from "@trawl/harness"

const { values } = parseArgs({
  options: {
    shops: { type: "string", default: "50000" },
    minutes: { type: "string", default: "10" },
    "interval-seconds": { type: "string", default: "300" },
    "products-per-shop": { type: "string", default: "1" },
    "report-seconds": { type: "string", default: "5" },
    seed: { type: "string", default: "1" },
    "latency-scale": { type: "string", default: "1" },
    "error-scale": { type: "string", default: "1" },
    "hostile-fraction": { type: "string", default: "0.02" }
  }
})
const shops = Number(values.shops)
const minutes = Number(values.minutes)
const intervalMillis = Number(values["interval-seconds"]) * 1000
const perShop = Number(values["products-per-shop"])
const reportMillis = Number(values["report-seconds"]) * 1000
const cores = 2

const trawlBin = fileURLToPath(new URL("../../apps/scraper/src/bin/trawl.ts", import.meta.url))
const line = (value: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ bench: "load", ...value })}\n`)

const cpuMillis = (pid: number): number => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // utime + stime, USER_HZ 100
}
const memoryMb = (pid: number): { readonly rss: number; readonly peak: number } => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0)
  return { rss: Math.round(kb("VmRSS") / 1024), peak: Math.round(kb("VmHWM") / 1024) }
}

interface Status {
  readonly counters: {
    readonly fetched: number
    readonly notModified: number
    readonly extracted: number
    readonly recorded: number
    readonly errorsByTag: Record<string, number>
    readonly inFlightFetches: number
  }
  readonly schedule: { readonly lagP50Millis: number; readonly lagP99Millis: number; readonly overdue: number; readonly dispatched: number }
}

const program = Effect.gen(function*() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trawl-load-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
  const web = yield* SimWeb.start({
    shops,
    seed: Number(values.seed),
    products: Math.max(perShop, 20),
    latencyScale: Number(values["latency-scale"]),
    errorScale: Number(values["error-scale"]),
    hostileFraction: Number(values["hostile-fraction"])
  })
  const db = path.join(dir, "load.db")
  const targets = shops * perShop
  // first due times spread over the first interval, starting once the app is up
  const firstDue = Date.now() + 10_000
  yield* Effect.gen(function*() {
    const store = yield* Store.Store
    const batch: Array<Model.NewTarget> = []
    for (let i = 0; i < targets; i++) {
      const shop = i % shops
      const product = Math.floor(i / shops)
      batch.push(new Model.NewTarget({
        url: web.productUrl(shop, product),
        intervalMillis,
        dueAt: firstDue + Math.floor((i * intervalMillis) / targets)
      }))
    }
    for (let i = 0; i < batch.length; i += 10_000) yield* store.addTargets(batch.slice(i, i + 10_000))
  }).pipe(Effect.scoped, Effect.provide(Store.layerSqlite({ filename: db })))

  const durationSeconds = Math.round(minutes * 60)
  const child = ChildProcess.spawn(process.execPath, [
    // the V8 flag of the `trawl` binary's shebang (apps/scraper/bin/trawl.js), which a direct run bypasses
    "--max-semi-space-size=16",
    "--heap-growing-percent=50",
    "--conditions=@trawl/source",
    // e.g. --cpu-prof or --heapsnapshot-signal=SIGUSR2, to look inside a run
    ...(process.env["LOAD_NODE_FLAGS"]?.split(" ").filter((flag) => flag !== "") ?? []),
    trawlBin, "run", "--db", db, "--resolve", "*.sim.test=127.0.0.1", "--allow-private",
    "--quiet", "--dashboard=0", `--duration=${durationSeconds}s`
  ], { stdio: ["ignore", "ignore", "pipe"] })
  const hardLimit = setTimeout(() => child.kill("SIGKILL"), (durationSeconds + 120) * 1000)
  yield* Effect.addFinalizer(() => Effect.sync(() => {
    clearTimeout(hardLimit)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }))
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  let stderr = ""
  const dashboard = new Promise<number>((resolve) => {
    child.stderr!.setEncoding("utf8")
    child.stderr!.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-16_384)
      const match = /dashboard on http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr)
      if (match !== null) resolve(Number(match[1]))
    })
  })
  const port = yield* Effect.promise(() => Promise.race([dashboard, exited.then(() => -1), new Promise<number>((r) => setTimeout(() => r(-1), 60_000))]))
  if (port < 0) return yield* Effect.die(new Error(`trawl run did not start: ${stderr.slice(-2000)}`))
  const status = () =>
    fetch(`http://127.0.0.1:${port}/status.json`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.json() as Promise<Status>).catch(() => undefined)

  const pid = child.pid!
  const startedAt = Date.now()
  const cpuStart = cpuMillis(pid)
  let last = { at: startedAt, cpu: cpuStart, recorded: 0 }
  let worstP99 = 0
  const p50s: Array<number> = []
  let final: Status | undefined
  let peakMb = 0
  let childDone = false
  exited.then(() => (childDone = true))
  while (!childDone) {
    yield* Effect.sleep(reportMillis)
    if (childDone) break
    const s = yield* Effect.promise(status)
    if (s === undefined) continue
    const now = Date.now()
    let cpu: number
    let memory: { readonly rss: number; readonly peak: number }
    try {
      cpu = cpuMillis(pid)
      memory = memoryMb(pid)
    } catch {
      break // the process is gone
    }
    peakMb = Math.max(peakMb, memory.peak)
    // lags count once the first interval has been entered (before that nothing was due)
    if (s.schedule.dispatched > 0) {
      worstP99 = Math.max(worstP99, s.schedule.lagP99Millis)
      p50s.push(s.schedule.lagP50Millis)
    }
    line({
      case: "progress",
      seconds: Math.round((now - startedAt) / 1000),
      pagesPerSec: Math.round(((s.counters.recorded - last.recorded) * 1000) / (now - last.at)),
      recorded: s.counters.recorded,
      notModified: s.counters.notModified,
      inFlight: s.counters.inFlightFetches,
      overdue: s.schedule.overdue,
      lagP50Ms: Math.round(s.schedule.lagP50Millis),
      lagP99Ms: Math.round(s.schedule.lagP99Millis),
      cpuPct: Math.round(((cpu - last.cpu) / ((now - last.at) * cores)) * 1000) / 10,
      rssMb: memory.rss,
      peakRssMb: memory.peak,
      errorsByTag: s.counters.errorsByTag
    })
    last = { at: now, cpu, recorded: s.counters.recorded }
    final = s
  }
  const code = yield* Effect.promise(() => exited)
  const ranMillis = Date.now() - startedAt
  // rates over the sampled span (the last sample can come up to --report-seconds before the exit)
  const elapsed = last.at - startedAt
  const recorded = final?.counters.recorded ?? 0
  const errors = Object.values(final?.counters.errorsByTag ?? {}).reduce((a, b) => a + b, 0)
  const sortedP50 = [...p50s].sort((a, b) => a - b)
  line({ case: "pages-per-second", value: Math.round((recorded * 1000) / elapsed), unit: "pages/s", targets, intervalSeconds: intervalMillis / 1000, expected: Math.round((targets * 1000) / intervalMillis) })
  line({ case: "lag-p50", value: Math.round(sortedP50[Math.floor(sortedP50.length / 2)] ?? 0), unit: "ms", note: "median of the sampled windows" })
  line({ case: "lag-p99", value: Math.round(worstP99), unit: "ms", target: 5000, note: "worst sampled window of 4096 dispatches" })
  line({ case: "client-cpu", value: Math.round(((last.cpu - cpuStart) / (elapsed * cores)) * 1000) / 10, unit: "% of 2 cores", target: 35 })
  line({ case: "peak-rss", value: peakMb, unit: "MiB", target: 1024 })
  line({ case: "errors", value: errors, unit: "pages", of: recorded, byTag: final?.counters.errorsByTag ?? {} })
  line({ case: "run", value: Math.round(ranMillis / 1000), unit: "s", sampledSeconds: Math.round(elapsed / 1000), shops, exitCode: code })
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
