/**
 * End-to-end benchmark, many small pages (issue 19): the `trawl` binary
 * (`trawl run --once`, a child process, start-up included) over BENCH_HOSTS
 * (2000) hosts × BENCH_PAGES (5) gzip-served ~15 KB product pages in eight
 * markup styles (`bench/small-web.ts`, its own child process), with robots.txt
 * on every host and a 503 + Retry-After: 1 on one host in 13 — against a bare
 * undici loop (its own child process too) fetching the same pages under the
 * same rules (robots.txt first, ≤ 2 requests per host, 503s retried after
 * Retry-After), in the same run.
 *
 *   npm run bench:small -w @trawl/scraper
 *
 * Order: the server is warmed (a bare pass over 1,000 URLs), then trawl runs,
 * then the bare loop; the server's counters are reset before each client.
 * Measured per client: wall time (trawl: spawn to exit; the bare loop: its
 * fetch loop), CPU of every thread and peak RSS from /proc (polled every
 * 50 ms; the last sample before exit counts, so up to 50 ms of CPU is
 * missed), and the TCP connections the server accepted. trawl must exit 0
 * and its database must hold the right price for every page, else the bench
 * fails. Targets are reported, not enforced.
 *
 * `small.ts dashboard` (`npm run bench:dashboard -w @trawl/scraper`) measures
 * instead what the dashboard costs a run (issue 20): the same `trawl run
 * --once` with `--dashboard` and BENCH_SSE_CLIENTS (10) Server-Sent Events
 * clients connected from this process, against the same run without the
 * dashboard, alternating (without, with, with, without, …) BENCH_ROUNDS (5)
 * times each; the lines give the medians' pages/s and CPU per 1,000 pages,
 * and their ratios (BENCH_PROFILE=<dir>: the runs with the dashboard write
 * CPU profiles there).
 *
 * Environment: BENCH_HOSTS (2000), BENCH_PAGES (5), BENCH_SEED (19),
 * BENCH_TIMEOUT (300 s per child), BENCH_PROFILE=<dir> (the trawl child runs
 * with --cpu-prof into <dir>; read it with bench/profile-top.ts),
 * BENCH_NODE_FLAGS (more node flags for the trawl child, e.g. --trace-gc; its
 * output is in run.log), BENCH_KEEP=1 (keep the temp dir: database, targets
 * file, trawl's output).
 */
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as zlib from "node:zlib"
import { Agent, buildConnector } from "undici"
import { Extract } from "@trawl/extract"
import * as Result from "effect/Result"
import { failsOnce, hostName, pageOf, type Stats, styles } from "./small-web.ts"

const hosts = Number(process.env["BENCH_HOSTS"] ?? 2000)
const pagesPerHost = Number(process.env["BENCH_PAGES"] ?? 5)
const seed = Number(process.env["BENCH_SEED"] ?? 19)
const timeoutMillis = Number(process.env["BENCH_TIMEOUT"] ?? 300) * 1000
const profileDir = process.env["BENCH_PROFILE"]
const pages = hosts * pagesPerHost
/** The bare loop's global concurrency; trawl runs at its default (256) with --per-host 2. */
const concurrency = Math.min(hosts * 2, 256)

const appDir = path.resolve(import.meta.dirname, "..")
const repoDir = path.resolve(appDir, "../..")
/** The Node 24 that `npm ci` installs; trawl's bin is started with it, as its shebang would. */
const node24 = path.join(repoDir, "node_modules/.bin/node")
/** The V8 flags of bin/trawl.js's shebang (see the comments there), passed because we start node ourselves. */
const trawlV8Flags = ["--max-semi-space-size=16", "--heap-growing-percent=50"]

const pageUrl = (port: number, n: number, k: number) => `http://${hostName(n)}:${port}/p/${k}`
const log = (text: string) => process.stderr.write(`small.ts: ${text}\n`)

// -----------------------------------------------------------------------------
// the bare loop (runs in a child: `small.ts bare <port> <hosts>`)
// -----------------------------------------------------------------------------

/**
 * The bare-undici loop of bench/run.ts with the politeness trawl has: up to
 * `concurrency` hosts at a time, each fetching robots.txt first and then its
 * pages two at a time; at most `concurrency` requests in flight. A 503 is
 * retried after its Retry-After without holding a request slot while waiting.
 */
const bareLoop = async (port: number, hostCount: number) => {
  const dial = buildConnector({ keepAlive: true })
  const agent = new Agent({
    pipelining: 1,
    keepAliveTimeout: 30_000,
    // at most 2 per origin, like its 2 lanes: uncapped, undici dispatches a lane's next request before
    // the finished one has freed its connection, and opens another (3–4 per host here instead of 2)
    connections: 2,
    connect: (options, callback) => dial({ ...options, hostname: "127.0.0.1" }, callback)
  })
  let free = concurrency
  const waiting: Array<() => void> = []
  const acquire = () => free > 0 ? (free--, Promise.resolve()) : new Promise<void>((resolve) => waiting.push(resolve))
  const release = () => {
    const next = waiting.shift()
    if (next === undefined) free++
    else next()
  }
  const get = async (origin: string, path: string) => {
    await acquire()
    try {
      const response = await agent.request({ origin, path, method: "GET", headers: { "accept-encoding": "gzip", "user-agent": "bench-bare/1" } })
      return { status: response.statusCode, headers: response.headers, raw: Buffer.from(await response.body.arrayBuffer()) }
    } finally {
      release()
    }
  }
  let bytes = 0
  let retries = 0
  let fetched = 0
  const fetchPage = async (origin: string, k: number) => {
    for (;;) {
      const { headers, raw, status } = await get(origin, `/p/${k}`)
      if (status === 503) {
        retries++
        await new Promise((resolve) => setTimeout(resolve, Number(headers["retry-after"] ?? 1) * 1000))
        continue
      }
      if (status !== 200) throw new Error(`status ${status} for ${origin}/p/${k}`)
      bytes += (headers["content-encoding"] === "gzip" ? zlib.gunzipSync(raw) : raw).byteLength
      fetched++
      return
    }
  }
  const visitHost = async (n: number) => {
    const origin = `http://${hostName(n)}:${port}`
    const robots = await get(origin, "/robots.txt")
    if (robots.status !== 200) throw new Error(`robots.txt of ${origin}: status ${robots.status}`)
    await Promise.all([0, 1].map(async (lane) => {
      for (let k = lane; k < pagesPerHost; k += 2) await fetchPage(origin, k)
    }))
  }
  const cpu = process.cpuUsage()
  const started = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, hostCount) }, async () => {
    while (next < hostCount) await visitHost(next++)
  }))
  const seconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  await agent.destroy()
  return { pages: fetched, seconds, bytes, retries, loopCpuSeconds: (used.user + used.system) / 1e6 }
}

// -----------------------------------------------------------------------------
// children: bounded, killed when the bench exits, watched through /proc
// -----------------------------------------------------------------------------

const children = new Set<ChildProcess.ChildProcess>()
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL")
})
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping the children`)
    process.exit(130)
  })
}

const clockTicks = (() => {
  try {
    return Number(ChildProcess.execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

/** utime + stime (clock ticks) and the name from a /proc …/stat line; the name may hold spaces and parentheses. */
const parseStat = (text: string) => {
  const close = text.lastIndexOf(")")
  const fields = text.slice(close + 2).split(" ")
  // fields[0] is field 3 (state): utime is field 14, stime field 15
  return { comm: text.slice(text.indexOf("(") + 1, close), ticks: Number(fields[11]) + Number(fields[12]) }
}

interface Usage {
  /** The process's CPU, every thread (dead ones included: the kernel adds them to the process's stat). */
  readonly cpuSeconds: number
  readonly mainSeconds: number
  /** Threads named `extract-<n>`: @trawl/worker names its pool's threads `<pool>-<id>`. */
  readonly workerSeconds: number
  /** Everything else (V8's platform threads, libuv's pool, …) by thread name. */
  readonly otherByName: Readonly<Record<string, number>>
  readonly peakRssMB: number
  readonly samples: number
}

/**
 * Polls /proc/<pid> every 50 ms until stopped; the last successful sample
 * before the process exits is what counts (after exit /proc has nothing).
 */
const watch = (pid: number) => {
  const threads = new Map<number, { comm: string; ticks: number }>()
  let total = 0
  let hwmKb = 0
  let samples = 0
  const sample = () => {
    try {
      const processTicks = parseStat(fs.readFileSync(`/proc/${pid}/stat`, "utf8")).ticks
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        try {
          threads.set(Number(tid), parseStat(fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")))
        } catch {
          // the thread ended between readdir and read: its last sample stands
        }
      }
      const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
      hwmKb = Math.max(hwmKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0))
      total = Math.max(total, processTicks)
      samples++
    } catch {
      // exited (or a zombie without tasks): keep the last sample
    }
  }
  sample()
  const timer = setInterval(sample, 50)
  return (): Usage => {
    clearInterval(timer)
    let main = 0
    let workers = 0
    const other: Record<string, number> = {}
    for (const [tid, { comm, ticks }] of threads) {
      if (tid === pid) main += ticks
      else if (comm.startsWith("extract-")) workers += ticks
      else other[comm] = (other[comm] ?? 0) + ticks / clockTicks
    }
    return {
      cpuSeconds: Math.max(total, main + workers) / clockTicks,
      mainSeconds: main / clockTicks,
      workerSeconds: workers / clockTicks,
      otherByName: other,
      peakRssMB: Math.round(hwmKb / 1024),
      samples
    }
  }
}

interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly seconds: number
  readonly usage: Usage
  readonly stdout: string
}

/**
 * Runs `node <args>` to its end, watched; killed (and the bench failed) past
 * the timeout. stdout is kept (bounded by `logFile` when given: then both
 * streams go to that file and stdout is read back from it).
 */
const runNode = (label: string, args: ReadonlyArray<string>, options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv; readonly logFile?: string } = {}) =>
  new Promise<Finished>((resolve, reject) => {
    const logFd = options.logFile === undefined ? undefined : fs.openSync(options.logFile, "w")
    const started = performance.now()
    const child = ChildProcess.spawn(node24, args, {
      cwd: options.cwd ?? appDir,
      env: options.env ?? process.env,
      stdio: logFd === undefined ? ["ignore", "pipe", "inherit"] : ["ignore", logFd, logFd]
    })
    children.add(child)
    // no pid: the spawn failed and "error" follows; the watcher then just finds nothing
    const stop = watch(child.pid ?? -1)
    let stdout = ""
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${label} did not finish within ${timeoutMillis / 1000} s: killed (BENCH_TIMEOUT)`))
    }, timeoutMillis)
    child.on("error", (error) => {
      clearTimeout(timer)
      reject(new Error(`${label} could not start: ${error.message}`))
    })
    let ended: { code: number | null; signal: NodeJS.Signals | null; seconds: number; usage: Usage } | undefined
    // the time and usage at exit; the result at 'close', when a piped stdout has been read to its end
    child.on("exit", (code, signal) => {
      ended = { code, signal, seconds: (performance.now() - started) / 1000, usage: stop() }
      clearTimeout(timer)
      children.delete(child)
    })
    child.on("close", () => {
      if (ended === undefined) return
      if (logFd !== undefined) fs.closeSync(logFd)
      resolve({ ...ended, stdout: logFd === undefined ? stdout : fs.readFileSync(options.logFile!, "utf8") })
    })
  })

/** The page server, forked with an IPC channel (its counters are read over it: no extra connection). */
const startWeb = () =>
  new Promise<{ port: number; rawBytes: number; gzBytes: number; startMillis: number; ask: (type: "stats" | "reset") => Promise<any> }>(
    (resolve, reject) => {
      const child = ChildProcess.fork(path.join(import.meta.dirname, "small-web.ts"), [], {
        execPath: node24,
        execArgv: [],
        env: { ...process.env, BENCH_HOSTS: String(hosts), BENCH_PAGES: String(pagesPerHost), BENCH_SEED: String(seed) },
        stdio: ["ignore", "inherit", "inherit", "ipc"]
      })
      children.add(child)
      const timer = setTimeout(() => reject(new Error("the bench web did not start within 120 s")), 120_000)
      child.on("exit", (code, signal) => {
        children.delete(child)
        reject(new Error(`the bench web exited (code ${code}, signal ${signal})`))
      })
      const ask = (type: "stats" | "reset") =>
        new Promise<any>((answer, fail) => {
          const late = setTimeout(() => fail(new Error(`the bench web did not answer '${type}' within 10 s`)), 10_000)
          const onMessage = (message: { type: string }) => {
            if (message.type !== type) return
            clearTimeout(late)
            child.off("message", onMessage)
            answer(message)
          }
          child.on("message", onMessage)
          child.send({ type })
        })
      child.once("message", (message: { type: string; port: number; rawBytes: number; gzBytes: number; startMillis: number }) => {
        clearTimeout(timer)
        resolve({ ...message, ask })
      })
    }
  )

// -----------------------------------------------------------------------------
// the bench
// -----------------------------------------------------------------------------

const emit = (line: Record<string, unknown>) => console.log(JSON.stringify({ bench: "scraper", ...line }))
const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits
const per1000 = (seconds: number) => round((seconds / pages) * 1000)
const histogram = (values: ReadonlyArray<number>) => {
  const counts: Record<string, number> = {}
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1
  return counts
}

/** Warns when a package's sources are newer than its build: bin/trawl.js runs dist/, so the bench would measure old code. */
const warnIfStale = () => {
  for (const dir of ["apps/scraper", ...fs.readdirSync(path.join(repoDir, "packages")).map((p) => `packages/${p}`)]) {
    const built = path.join(repoDir, dir, "dist/index.js")
    if (!fs.existsSync(built)) continue
    const builtAt = fs.statSync(built).mtimeMs
    const newer = (fs.readdirSync(path.join(repoDir, dir, "src"), { recursive: true }) as Array<string>)
      .filter((f) => f.endsWith(".ts") && fs.statSync(path.join(repoDir, dir, "src", f)).mtimeMs > builtAt)
    if (newer.length > 0) log(`warning: ${dir}/src has ${newer.length} file(s) newer than its dist/ (e.g. ${newer[0]}): run \`npm run build\` to measure them`)
  }
}

const main = async () => {
  warnIfStale()
  const failures: Array<string> = []
  const web = await startWeb()
  log(`bench web on 127.0.0.1:${web.port}: ${hosts} hosts × ${pagesPerHost} pages, ${Math.round(web.rawBytes / pages)} B of HTML per page, ${Math.round(web.gzBytes / pages)} B gzip, built in ${web.startMillis} ms`)

  // every page must extract to its price: checked here first (a sample of each style), and in trawl's database at the end
  const expected = new Map<string, { price: string; currency: string }>()
  for (let n = 0; n < hosts; n++) {
    for (let k = 0; k < pagesPerHost; k++) {
      const page = pageOf(seed, n, k, pagesPerHost)
      expected.set(new URL(pageUrl(web.port, n, k)).href, { price: page.price, currency: page.currency })
      if (n < 16) {
        const result = Extract.extractProductResult(page.html, { url: pageUrl(web.port, n, k) })
        const product = Result.isSuccess(result) ? result.success : undefined
        if (product?.price === undefined || Number(product.price.amount) !== Number(page.price) || product.currency !== page.currency) {
          throw new Error(`page ${n}/${k} (${page.style}) extracts to ${product?.price?.amount} ${product?.currency}, not ${page.price} ${page.currency}`)
        }
      }
    }
  }

  // set-up, not timed: a fresh database with every page as a target
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trawl-small-"))
  if (process.env["BENCH_KEEP"] === undefined) process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }))
  else log(`keeping ${dir} (database, targets, trawl's output)`)
  const db = path.join(dir, "bench.db")
  const csv = path.join(dir, "targets.csv")
  fs.writeFileSync(csv, "url,interval\n" + [...expected.keys()].map((url) => `${url},5m`).join("\n") + "\n")
  // trawl reads settings from TRAWL_* and a trawl.config.json in its cwd: neither may change what is measured
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("TRAWL_")))
  const trawl = (args: ReadonlyArray<string>, nodeFlags: ReadonlyArray<string>, logFile: string) =>
    runNode(`trawl ${args[0]}`, [...trawlV8Flags, ...nodeFlags, path.join(appDir, "bin/trawl.js"), ...args, "--db", db], { cwd: dir, env, logFile })
  const imported = await trawl(["import", csv], [], path.join(dir, "import.log"))
  if (imported.code !== 0) throw new Error(`trawl import exited ${imported.code}:\n${imported.stdout}`)
  log(`imported: ${imported.stdout.trim()} (${imported.seconds.toFixed(1)} s)`)

  if (process.argv[2] === "dashboard") return dashboardCost(web, trawl, expected.size, dir)

  const bare = async (label: string, hostCount: number) => {
    const run = await runNode(label, [...process.execArgv, import.meta.filename, "bare", String(web.port), String(hostCount)])
    if (run.code !== 0) throw new Error(`${label} exited ${run.code ?? run.signal}`)
    const result = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as Awaited<ReturnType<typeof bareLoop>>
    return { ...result, usage: run.usage }
  }
  // warm the server (its code paths and socket handling), then measure each client on fresh counters
  await bare("bare warm-up", Math.min(hosts, 200))

  await web.ask("reset")
  if (profileDir !== undefined) fs.mkdirSync(profileDir, { recursive: true })
  const profileFlags = [
    ...(profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${path.resolve(profileDir)}`]),
    ...(process.env["BENCH_NODE_FLAGS"]?.split(" ").filter((flag) => flag !== "") ?? [])
  ]
  const trawlLog = path.join(dir, "run.log")
  const run = await trawl(
    ["run", "--once", "--all", "--resolve", "*.small.test=127.0.0.1", "--allow-private", "--per-host", "2"],
    profileFlags,
    trawlLog
  )
  const trawlStats = (await web.ask("stats")).stats as Stats
  const output = run.stdout
  process.stderr.write(output.split("\n").filter((line) => line.startsWith("+") || line.startsWith("|")).join("\n") + "\n")
  // Effect's logger: "[time] WARN (#fiber): …"; the summary table's "error <tag>" rows are printed above
  const complaints = output.split("\n").filter((line) => /^\[[\d:.]+\] (WARN|ERROR|FATAL)\b|^trawl: /.test(line))
  if (complaints.length > 0) log(`trawl printed ${complaints.length} error/warning line(s), e.g.:\n  ${complaints.slice(0, 5).join("\n  ")}`)
  if (run.code !== 0) failures.push(`trawl run exited ${run.code ?? run.signal}; its output:\n${output.split("\n").slice(-30).join("\n")}`)

  // every page recorded, with its price
  const sqlite = new DatabaseSync(db, { readOnly: true })
  const rows = sqlite.prepare(
    "SELECT t.url AS url, o.amount AS amount, o.currency AS currency, o.outcome AS outcome, o.error_tag AS errorTag FROM targets t LEFT JOIN observations o ON o.target_id = t.id ORDER BY o.observed_at"
  ).all() as Array<{ url: string; amount: string | null; currency: string | null; outcome: string | null; errorTag: string | null }>
  sqlite.close()
  const latest = new Map(rows.map((row) => [row.url, row]))
  let priced = 0
  const wrong: Array<string> = []
  const unpricedBy: Record<string, number> = {}
  for (const [url, want] of expected) {
    const row = latest.get(url)
    if (row?.amount == null) {
      const why = row === undefined ? "no target" : row.outcome === null ? "not visited" : `${row.outcome}${row.errorTag === null ? "" : ` ${row.errorTag}`}`
      unpricedBy[why] = (unpricedBy[why] ?? 0) + 1
      continue
    }
    priced++
    if (Number(row.amount) !== Number(want.price) || row.currency !== want.currency) wrong.push(`${url}: ${row.amount} ${row.currency}, not ${want.price} ${want.currency}`)
  }
  if (priced !== pages) failures.push(`trawl recorded a price for ${priced} of ${pages} pages (the others: ${JSON.stringify(unpricedBy)})`)
  if (wrong.length > 0) failures.push(`${wrong.length} page(s) recorded with a wrong price, e.g. ${wrong.slice(0, 3).join("; ")}`)

  await web.ask("reset")
  const ceiling = await bare("bare loop", hosts)
  const bareStats = (await web.ask("stats")).stats as Stats
  if (ceiling.pages !== pages) failures.push(`the bare loop fetched ${ceiling.pages} of ${pages} pages`)

  // ---- the lines ---------------------------------------------------------------
  const shape = `many-small-pages, ${pages} pages on ${hosts} hosts (~${Math.round(web.rawBytes / pages / 1024)} KB gzip HTML, ${styles.length} markups, robots.txt, 503s)`
  const profiled = profileDir === undefined ? {} : { profiled: true }
  const trawlPagesPerSecond = priced / run.seconds
  emit({
    case: `${shape}: trawl run --once (spawn to exit) vs bare undici loop, pages/s`,
    value: Math.round(trawlPagesPerSecond),
    unit: "pages/s",
    baseline: Math.round(ceiling.pages / ceiling.seconds),
    ratio: round(trawlPagesPerSecond / (ceiling.pages / ceiling.seconds)),
    target: "ratio >= 0.5",
    seconds: round(run.seconds, 2),
    baselineSeconds: round(ceiling.seconds, 2),
    ...profiled
  })
  const u = run.usage
  emit({
    case: `${shape}: client CPU per 1,000 pages, all threads`,
    value: per1000(u.cpuSeconds),
    unit: "cpu-s/1000 pages",
    mainThread: per1000(u.mainSeconds),
    otherThreads: per1000(u.cpuSeconds - u.mainSeconds),
    extractWorkers: per1000(u.workerSeconds),
    baseline: per1000(ceiling.usage.cpuSeconds),
    baselineMainThread: per1000(ceiling.usage.mainSeconds),
    target: "value <= 1.2, mainThread <= 0.3",
    ...profiled
  })
  const perHost = (stats: Stats) => ({ max: Math.max(...stats.connectionsByHost), distribution: histogram(stats.connectionsByHost) })
  emit({
    case: `${shape}: TCP connections accepted by the server during the run`,
    value: trawlStats.connections,
    unit: "connections",
    hosts,
    perHostMax: perHost(trawlStats).max,
    perHost: perHost(trawlStats).distribution,
    requests: trawlStats.requests,
    robots: trawlStats.robots,
    served503: trawlStats.served503,
    baseline: bareStats.connections,
    baselinePerHost: perHost(bareStats).distribution,
    baselineRequests: bareStats.requests,
    target: `value <= ${Math.round(1.2 * hosts)} (1.2 × hosts)`
  })
  emit({
    case: `${shape}: peak RSS of trawl (VmHWM, main thread + extraction workers)`,
    value: u.peakRssMB,
    unit: "MB",
    baseline: ceiling.usage.peakRssMB,
    target: "value <= 350",
    ...profiled
  })
  const seconds = (x: number) => round(x, 2)
  log(`trawl: ${run.seconds.toFixed(2)} s, cpu ${seconds(u.cpuSeconds)} s (main ${seconds(u.mainSeconds)}, extract workers ${seconds(u.workerSeconds)}, other ${JSON.stringify(Object.fromEntries(Object.entries(u.otherByName).map(([k, v]) => [k, seconds(v)])))}), ${u.samples} samples`)
  log(`bare loop: ${ceiling.seconds.toFixed(2)} s loop (${ceiling.retries} 503 retries), cpu ${seconds(ceiling.usage.cpuSeconds)} s process / ${seconds(ceiling.loopCpuSeconds)} s in the loop`)
  log(`server cpu: ${seconds(trawlStats.cpuSeconds)} s during trawl, ${seconds(bareStats.cpuSeconds)} s during the bare loop; peak open sockets ${trawlStats.peakOpenSockets} / ${bareStats.peakOpenSockets}; requests without a known host: ${trawlStats.notFound} / ${bareStats.notFound}; connections without a request: ${trawlStats.connectionsWithoutRequest} / ${bareStats.connectionsWithoutRequest}`)
  log(`503 hosts: ${Array.from({ length: hosts }, (_, n) => n).filter(failsOnce).length}`)
  if (profileDir !== undefined) log(`profiles in ${path.resolve(profileDir)}: node bench/profile-top.ts ${path.resolve(profileDir)}/*.cpuprofile`)
  if (failures.length > 0) {
    for (const failure of failures) log(`FAILED: ${failure}`)
    process.exitCode = 1
  }
}

/** A port free now on 127.0.0.1 (for the dashboard of a run whose log goes to a file). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

/**
 * `clients` event-stream readers of `url`, each retrying its connection
 * every 50 ms until the server answers, then counting the events it reads
 * until `stop`.
 */
const sseClients = (url: string, clients: number) => {
  const controller = new AbortController()
  let events = 0
  let connected = 0
  const client = async () => {
    while (!controller.signal.aborted) {
      try {
        const response = await fetch(url, { signal: controller.signal })
        connected++
        const reader = response.body!.getReader()
        const decoder = new TextDecoder()
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          events += decoder.decode(value).split("event: live").length - 1
        }
        return
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  }
  const running = Array.from({ length: clients }, client)
  return {
    stop: async () => {
      controller.abort()
      await Promise.allSettled(running)
      return { connected, events }
    }
  }
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** The dashboard's cost to a run: pages/s with `--dashboard` and SSE clients against without, alternating. */
const dashboardCost = async (
  web: Awaited<ReturnType<typeof startWeb>>,
  trawl: (args: ReadonlyArray<string>, nodeFlags: ReadonlyArray<string>, logFile: string) => Promise<Finished>,
  targets: number,
  dir: string
) => {
  const clients = Number(process.env["BENCH_SSE_CLIENTS"] ?? 10)
  const rounds = Number(process.env["BENCH_ROUNDS"] ?? 5)
  const args = ["run", "--once", "--all", "--resolve", "*.small.test=127.0.0.1", "--allow-private", "--per-host", "2"]
  const without: Array<number> = []
  const withDashboard: Array<number> = []
  // CPU of all of trawl's threads per 1,000 pages: what the dashboard costs, less noisy than wall time
  const cpuWithout: Array<number> = []
  const cpuWith: Array<number> = []
  let received = { connected: 0, events: 0 }
  const pass = async (dashboard: boolean, n: number) => {
    await web.ask("reset")
    if (!dashboard) {
      const run = await trawl(args, [], path.join(dir, "plain.log"))
      if (run.code !== 0) throw new Error(`trawl run exited ${run.code ?? run.signal}`)
      without.push(targets / run.seconds)
      cpuWithout.push((run.usage.cpuSeconds / targets) * 1000)
      return
    }
    const port = await freePort()
    const readers = sseClients(`http://127.0.0.1:${port}/events`, clients)
    // BENCH_PROFILE: the runs with the dashboard are profiled (where its cost would show)
    const profile = profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${path.resolve(profileDir)}`]
    const run = await trawl([...args, `--dashboard=${port}`], profile, path.join(dir, "dashboard.log"))
    const seen = await readers.stop()
    if (run.code !== 0) throw new Error(`trawl run --dashboard exited ${run.code ?? run.signal}`)
    if (seen.connected < clients) throw new Error(`only ${seen.connected} of ${clients} event-stream clients connected in round ${n}`)
    received = { connected: received.connected + seen.connected, events: received.events + seen.events }
    withDashboard.push(targets / run.seconds)
    cpuWith.push((run.usage.cpuSeconds / targets) * 1000)
  }
  for (let round = 0; round < rounds; round++) {
    // alternating order, so a drift of the machine weighs on both sides alike
    const order = round % 2 === 0 ? [false, true] : [true, false]
    for (const dashboard of order) await pass(dashboard, round)
    log(`round ${round + 1}: without ${Math.round(without.at(-1)!)} pages/s, with the dashboard and ${clients} clients ${Math.round(withDashboard.at(-1)!)} pages/s`)
  }
  emit({
    case: `many-small-pages, ${targets} pages on ${hosts} hosts: trawl run --once with --dashboard and ${clients} SSE clients vs without, pages/s (medians of ${rounds})`,
    value: Math.round(median(withDashboard)),
    unit: "pages/s",
    baseline: Math.round(median(without)),
    ratio: round(median(withDashboard) / median(without)),
    target: "ratio >= 0.95",
    // each round's own ratio (its two runs side by side), whose median a slow drift of the machine moves less
    pairedRatio: round(median(withDashboard.map((x, i) => x / without[i]!))),
    runs: { with: withDashboard.map((x) => Math.round(x)), without: without.map((x) => Math.round(x)) },
    eventsReceived: received.events
  })
  emit({
    case: `many-small-pages, ${targets} pages on ${hosts} hosts: trawl's CPU (all threads) with --dashboard and ${clients} SSE clients vs without (medians of ${rounds})`,
    value: round(median(cpuWith)),
    unit: "cpu-s/1000 pages",
    baseline: round(median(cpuWithout)),
    ratio: round(median(cpuWith) / median(cpuWithout)),
    runs: { with: cpuWith.map((x) => round(x)), without: cpuWithout.map((x) => round(x)) }
  })
}

if (process.argv[2] === "bare") {
  console.log(JSON.stringify(await bareLoop(Number(process.argv[3]), Number(process.argv[4]))))
} else {
  try {
    await main()
  } catch (error) {
    log(`FAILED: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 1
  }
  // the server child and its IPC channel would keep the event loop alive
  process.exit()
}
