/**
 * Chaos scenarios against a sim web, shared by the CI test (small) and
 * `npm run chaos` (large):
 *
 * - `workerKill`: the monitor in this process, extraction in 2 worker threads
 *   whose handler kills its own thread on chosen pages; every target must
 *   still be recorded (killed pages as `ExtractorUnavailable`, the rest equal
 *   to the truth), and a second pass on the same pool (into a fresh
 *   database) must extract every page right, and every dead thread must have
 *   been replaced.
 * - `appKill`: the real `trawl run` as a child process, SIGKILLed mid-run and
 *   started again on the same database; every observation must equal the
 *   truth at its time, everything committed before the kill must survive,
 *   every target must be visited again, and each change must raise exactly
 *   one alert, delivered under one key to the webhook and the JSONL file.
 *
 * Each returns a report whose `failures` lists every check that did not hold.
 *
 * @since 0.1.0
 */
import { Fetcher } from "@trawl/fetch"
import { Extractor, Monitor } from "@trawl/scraper"
import { Model, Store } from "@trawl/store"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as SimWeb from "../src/SimWeb.ts"
import * as Verify from "./verify.ts"

/**
 * A scenario could not run (the sim web, the store or the app failed to start):
 * not a verdict, which is a report's `failures`.
 *
 * @example
 * ```ts
 * import { ChaosError } from "./scenarios.ts"
 * new ChaosError({ message: "SimWebError: sim-web was not ready within 30000 ms" })
 * ```
 * @since 0.1.0
 */
export class ChaosError extends Data.TaggedError("ChaosError")<{ readonly message: string }> {}

const asChaosError = (error: { readonly _tag: string; readonly message: string }) => new ChaosError({ message: `${error._tag}: ${error.message}` })

/** Sim-time at the start: 30 s past a price step, so a run at clock speed 1 stays clear of step boundaries. */
const epochMillis = Date.UTC(2026, 0, 1, 0, 0, 30)

const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "trawl-chaos-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Product URLs whose truth at the start is a price (no robots-disallowed pages: their failure streaks raise alerts of their own). */
const priceUrls = (web: SimWeb.SimWeb, clock: SimWeb.ClockView, shops: number, products: number): Array<string> => {
  const urls: Array<string> = []
  for (let shop = 0; shop < shops; shop++) {
    for (let product = 0; product < products; product++) {
      const url = web.productUrl(shop, product)
      if (web.truthAt(url, clock.nowMillis)?.expected._tag === "Price") urls.push(url)
    }
  }
  return urls
}

// -----------------------------------------------------------------------------
// worker threads killed mid-run
// -----------------------------------------------------------------------------

/**
 * Settings of `workerKill`.
 *
 * - `shops`, `products`: the sim web (every product page is a target).
 * - `kills`: pages whose worker thread dies (spread over the run; keep it under
 *   the pool's crash breaker, 5 crashes in 10 s).
 *
 * @example
 * ```ts
 * import type { WorkerKillOptions } from "./scenarios.ts"
 * const options: WorkerKillOptions = { shops: 80, products: 2, kills: 3 }
 * ```
 * @since 0.1.0
 */
export interface WorkerKillOptions {
  readonly shops: number
  readonly products: number
  readonly kills: number
  readonly seed?: number | undefined
}

/**
 * What `workerKill` saw.
 *
 * @example
 * ```ts
 * import type { WorkerKillReport } from "./scenarios.ts"
 * const passed = (report: WorkerKillReport) => report.failures.length === 0
 * ```
 * @since 0.1.0
 */
export interface WorkerKillReport {
  readonly targets: number
  readonly observations: number
  readonly ok: number
  readonly errorsByTag: Record<string, number>
  readonly killed: ReadonlyArray<string>
  /** Threads that died (at most one per kill page). */
  readonly kills: number
  readonly threads: number
  readonly tasksAfterLastKill: number
  readonly secondPassOk: number
  readonly secondPassThreads: number
  readonly seconds: number
  readonly failures: ReadonlyArray<string>
}

const chaosHandler = new URL("./handler.ts", import.meta.url)

/**
 * Runs one monitoring pass in this process with a 2-thread extraction pool
 * whose handler kills its thread on `kills` chosen pages, and judges the
 * database.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { workerKill } from "./scenarios.ts"
 * const report = Effect.runPromise(Effect.scoped(workerKill({ shops: 150, products: 2, kills: 3 })))
 * ```
 * @since 0.1.0
 */
export const workerKill = (options: WorkerKillOptions): Effect.Effect<WorkerKillReport, ChaosError, Scope.Scope> =>
  Effect.gen(function*() {
    const started = Date.now()
    const dir = yield* tempDir
    const web = yield* SimWeb.start({
      shops: options.shops,
      products: options.products,
      seed: options.seed ?? 11,
      hostileFraction: 0,
      errorScale: 0,
      latencyScale: 0.05,
      epochMillis
    })
    const clock = yield* web.clock
    const urls = priceUrls(web, clock, options.shops, options.products)
    // spread the kills over the run: targets are dispatched in id (insertion) order
    const killed = Array.from({ length: options.kills }, (_, i) => urls[Math.floor(((i + 1) * urls.length) / (options.kills + 1))]!)
    const db = path.join(dir, "chaos.db")
    const log = path.join(dir, "threads.log")
    fs.writeFileSync(log, "")
    // worker threads copy the environment when they start: set before the pool exists
    process.env.TRAWL_CHAOS_KILL_URLS = killed.join(",")
    process.env.TRAWL_CHAOS_LOG = log

    // one pool for both passes: the first kills threads, the second shows what is left of the pool
    const pass = (db: string) =>
      Effect.gen(function*() {
        const store = yield* Store.Store
        yield* store.addTargets(urls.map((url) => new Model.NewTarget({ url, intervalMillis: 300_000 })))
        return yield* Monitor.run({
          once: true,
          all: true,
          notifiers: [],
          fetchFibers: 64,
          tty: false,
          handleSignals: false,
          print: () => undefined
        })
      }).pipe(Effect.scoped, Effect.provide(Store.layerSqlite({ filename: db })))
    const secondDb = path.join(dir, "chaos-2.db")
    const [summary, linesOfFirst] = yield* Effect.gen(function*() {
      const summary = yield* pass(db)
      const linesOfFirst = fs.readFileSync(log, "utf8").trim().split("\n").length
      // no more kills: a kill page that failed in pass 1 only as a prefetched victim would kill now
      fs.writeFileSync(`${log}.disarmed`, "")
      yield* pass(secondDb)
      // every dead thread gets a replacement: wait (bounded) until each has loaded the handler
      const readyThreads = () => new Set(fs.readFileSync(log, "utf8").split("\n").filter((line) => line.includes(" ready ")).map((line) => line.split(" ")[0])).size
      const until = Date.now() + 15_000
      const died = () => fs.readFileSync(log, "utf8").split("\n").filter((line) => line.includes(" kill ")).length
      while (readyThreads() < 2 + died() && Date.now() < until) yield* Effect.sleep("100 millis")
      return [summary, linesOfFirst] as const
    }).pipe(
      Effect.provide(Layer.mergeAll(
        Fetcher.layer({ resolve: { "*.sim.test": "127.0.0.1" }, allowRanges: ["loopback"] }),
        Extractor.layerWorker({ workers: 2, handler: chaosHandler })
      )),
      Effect.ensuring(Effect.sync(() => {
        delete process.env.TRAWL_CHAOS_KILL_URLS
        delete process.env.TRAWL_CHAOS_LOG
      }))
    )

    const { observations } = Verify.readDatabase(db)
    const allLines = fs.readFileSync(log, "utf8").trim().split("\n").filter((line) => line !== "").map((line) => {
      const [thread, event, url] = line.split(" ")
      return { thread: Number(thread), event: event!, url: url! }
    })
    const lines = allLines.slice(0, linesOfFirst)
    const startedUrls = new Set(lines.filter((line) => line.event === "start").map((line) => line.url))
    const killedSet = new Set(killed)
    // a page may fail only if its thread died under it: the killed page itself, or one
    // prefetched into the dying thread's inbox (never started, its transferred body gone)
    const verdict = Verify.judge(web, observations, () => clock, (row) =>
      row.errorTag === "ExtractorUnavailable" && (killedSet.has(row.url) || !startedUrls.has(row.url)))

    const failures: Array<string> = []
    const errorsByTag: Record<string, number> = {}
    for (const row of observations) if (row.errorTag !== null) errorsByTag[row.errorTag] = (errorsByTag[row.errorTag] ?? 0) + 1
    const recorded = new Set(observations.map((row) => row.url))
    if (observations.length !== urls.length || recorded.size !== urls.length) {
      failures.push(`${urls.length} targets, ${observations.length} observations of ${recorded.size} targets`)
    }
    for (const wrong of verdict.wrong.slice(0, 10)) failures.push(`disagrees with the truth: ${JSON.stringify(wrong)}`)
    if (verdict.wrong.length > 10) failures.push(`… ${verdict.wrong.length - 10} more disagreements`)
    const byUrl = new Map(observations.map((row) => [row.url, row]))
    for (const url of killed) {
      const row = byUrl.get(url)
      if (row?.errorTag !== "ExtractorUnavailable") failures.push(`killed page ${url} recorded as ${JSON.stringify(row)}`)
    }
    // a kill page may have been prefetched into a thread that another kill ended: it failed
    // there without running, so fewer threads may die than pages were chosen (never none)
    const kills = lines.filter((line) => line.event === "kill")
    const killedOrVictim = killed.every((url) => kills.some((line) => line.url === url) || !startedUrls.has(url))
    if (kills.length === 0 || !killedOrVictim) failures.push(`${kills.length} threads killed themselves for ${killed.length} kill pages`)
    if (summary.snapshot.counters.recorded !== urls.length) failures.push(`the monitor counted ${summary.snapshot.counters.recorded} recorded`)
    // after the last kill the first pass went on extracting
    const lastKill = lines.findLastIndex((line) => line.event === "kill")
    const after = lines.slice(lastKill + 1).filter((line) => line.event === "start")
    const okAfter = after.filter((line) => byUrl.get(line.url)?.outcome === "ok").length
    if (after.length === 0 || okAfter !== after.length) {
      failures.push(`after the last kill ${after.length} pages started, ${okAfter} recorded ok`)
    }
    // the pool replaced every dead thread: the second pass, on the same pool, extracts every page right
    const second = Verify.readDatabase(secondDb).observations
    const secondVerdict = Verify.judge(web, second, () => clock)
    if (second.length !== urls.length || secondVerdict.wrong.length > 0) {
      failures.push(`second pass: ${second.length} of ${urls.length} recorded, ${secondVerdict.wrong.length} wrong, e.g. ${JSON.stringify(secondVerdict.wrong[0])}`)
    }
    // (a light load may keep one thread busy enough for all: how many ran tasks is reported, not judged)
    const secondThreads = new Set(allLines.slice(linesOfFirst).filter((line) => line.event === "start").map((line) => line.thread)).size
    const dead = new Set(lines.filter((line) => line.event === "kill").map((line) => line.thread))
    if (allLines.slice(linesOfFirst).some((line) => dead.has(line.thread))) failures.push("a thread that died ran a task later")
    const threads = new Set(allLines.filter((line) => line.event === "ready").map((line) => line.thread)).size
    if (threads < 2 + kills.length) failures.push(`${threads} threads started; expected at least ${2 + kills.length} (2 + one per kill)`)
    return {
      targets: urls.length,
      observations: observations.length,
      ok: observations.filter((row) => row.outcome === "ok").length,
      errorsByTag,
      killed,
      kills: kills.length,
      threads,
      tasksAfterLastKill: after.length,
      secondPassOk: second.filter((row) => row.outcome === "ok").length,
      secondPassThreads: secondThreads,
      seconds: (Date.now() - started) / 1000,
      failures
    } satisfies WorkerKillReport
  }).pipe(Effect.mapError(asChaosError))

// -----------------------------------------------------------------------------
// the app SIGKILLed mid-run and started again
// -----------------------------------------------------------------------------

/**
 * Settings of `appKill`.
 *
 * - `killAfter`: SIGKILL once this share of the targets has been recorded (0–1).
 * - `resumeSeconds`: how long the restarted run goes on (it stops gracefully);
 *   at least the 10 s interval plus a pass, so every target is visited again.
 *
 * @example
 * ```ts
 * import type { AppKillOptions } from "./scenarios.ts"
 * const options: AppKillOptions = { shops: 80, products: 2, killAfter: 0.4, resumeSeconds: 13 }
 * ```
 *
 * @since 0.1.0
 */
export interface AppKillOptions {
  readonly shops: number
  readonly products: number
  readonly killAfter: number
  readonly resumeSeconds: number
  readonly seed?: number | undefined
  /** Price steps the sim clock moves between the kill and the restart. Default 3. */
  readonly steps?: number | undefined
  /**
   * Alerts the killed run had claimed from the outbox stay leased to it (60 s)
   * and go out once the lease expires. With `awaitLeases`, wait for that and
   * run `trawl run --once` a third time, then demand every alert delivered;
   * without, such alerts may still be pending (and are counted).
   */
  readonly awaitLeases?: boolean | undefined
}

/**
 * What `appKill` saw.
 *
 * @example
 * ```ts
 * import type { AppKillReport } from "./scenarios.ts"
 * const passed = (report: AppKillReport) => report.failures.length === 0 && report.duplicateAlerts === 0
 * ```
 * @since 0.1.0
 */
export interface AppKillReport {
  readonly targets: number
  readonly observedBeforeKill: number
  readonly observations: number
  readonly observationsLost: number
  readonly wrongObservations: number
  readonly alerts: number
  readonly expectedAlerts: number
  readonly duplicateAlerts: number
  readonly missingAlerts: number
  readonly heldByDeadLease: number
  readonly webhookDeliveries: number
  readonly webhookKeys: number
  readonly webhookRedeliveries: number
  readonly jsonlLines: number
  readonly jsonlDuplicateKeys: number
  readonly seconds: number
  readonly failures: ReadonlyArray<string>
}

const trawlBin = fileURLToPath(new URL("../../apps/scraper/src/bin/trawl.ts", import.meta.url))

interface Child {
  readonly process: ChildProcess.ChildProcess
  readonly exited: Promise<{ readonly code: number | null; readonly signal: string | null; readonly stderr: string }>
}

/** Starts `trawl …` from source; killed (SIGKILL) when the scope closes if still running; never outlives `limitMillis`. */
const spawnTrawl = (args: ReadonlyArray<string>, limitMillis: number) =>
  Effect.acquireRelease(
    Effect.sync((): Child => {
      const child = ChildProcess.spawn(process.execPath, ["--conditions=@trawl/source", trawlBin, ...args], {
        stdio: ["ignore", "ignore", "pipe"]
      })
      let stderr = ""
      child.stderr!.setEncoding("utf8")
      child.stderr!.on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-8192)))
      const limit = setTimeout(() => child.kill("SIGKILL"), limitMillis)
      const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
        child.on("close", (code, signal) => {
          clearTimeout(limit)
          resolve({ code, signal, stderr })
        })
      })
      return { process: child, exited }
    }),
    (child) => Effect.sync(() => void (child.process.exitCode === null && child.process.signalCode === null && child.process.kill("SIGKILL")))
  )

/** A webhook receiver on 127.0.0.1 that records each delivery's Idempotency-Key and body. */
const webhookReceiver = Effect.acquireRelease(
  Effect.promise(async () => {
    const deliveries: Array<{ readonly key: string; readonly body: string }> = []
    const server = http.createServer((req, res) => {
      let body = ""
      req.setEncoding("utf8")
      req.on("data", (chunk: string) => (body += chunk))
      req.on("end", () => {
        deliveries.push({ key: String(req.headers["idempotency-key"]), body })
        res.writeHead(200).end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, deliveries, server }
  }),
  ({ server }) =>
    Effect.promise(() => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    })
)

/**
 * SIGKILLs `trawl run` mid-run, moves the sim clock, starts it again on the
 * same database, and judges the database, the webhook receiver and the JSONL
 * alerts file.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { appKill } from "./scenarios.ts"
 * const report = Effect.runPromise(Effect.scoped(appKill({ shops: 150, products: 2, killAfter: 0.4, resumeSeconds: 15 })))
 * ```
 * @since 0.1.0
 */
export const appKill = (options: AppKillOptions): Effect.Effect<AppKillReport, ChaosError, Scope.Scope> =>
  Effect.gen(function*() {
    const started = Date.now()
    const dir = yield* tempDir
    const hook = yield* webhookReceiver
    const web = yield* SimWeb.start({
      shops: options.shops,
      products: options.products,
      seed: options.seed ?? 13,
      hostileFraction: 0,
      errorScale: 0,
      latencyScale: 0.1,
      epochMillis
    })
    const clockA = yield* web.clock
    const urls = priceUrls(web, clockA, options.shops, options.products)
    const targets = path.join(dir, "targets.csv")
    fs.writeFileSync(targets, ["url,interval", ...urls.map((url) => `${url},10s`)].join("\n") + "\n")
    const db = path.join(dir, "chaos.db")
    const alertsFile = path.join(dir, "alerts.jsonl")
    const common = [
      "--db", db, "--resolve", "*.sim.test=127.0.0.1", "--allow-private", "--timeout", "5s", "--workers", "1",
      "--webhook", hook.url, "--alerts-file", alertsFile, "--quiet"
    ]
    const failures: Array<string> = []

    // run A: continuous, SIGKILLed once enough is recorded
    const first = yield* spawnTrawl(["run", "--targets", targets, ...common], 120_000)
    const want = Math.max(1, Math.floor(urls.length * options.killAfter))
    const waitUntil = Date.now() + 60_000
    let exitedEarly = false
    first.exited.then(() => (exitedEarly = true))
    while (Verify.countObservations(db) < want && Date.now() < waitUntil && !exitedEarly) yield* Effect.sleep("50 millis")
    const before = Verify.readDatabase(db)
    first.process.kill("SIGKILL")
    const killedAt = Date.now()
    const firstExit = yield* Effect.promise(() => first.exited)
    if (firstExit.signal !== "SIGKILL") failures.push(`run A was not SIGKILLed: ${JSON.stringify(firstExit)}`)
    if (before.observations.length < want) failures.push(`run A recorded only ${before.observations.length} of ${want} before the kill`)

    // prices move while the app is down
    const clockB = yield* web.advanceClock(web.world.stepMillis * (options.steps ?? 3))
    const second = yield* spawnTrawl(["run", ...common, "--duration", `${options.resumeSeconds}s`], (options.resumeSeconds + 60) * 1000)
    const secondExit = yield* Effect.promise(() => second.exited)
    if (secondExit.code !== 0) failures.push(`run B exited ${JSON.stringify(secondExit)}`)

    let after = Verify.readDatabase(db)
    // alerts claimed by the killed run: leased to it until their lease runs out
    const held = (alerts: ReadonlyArray<Verify.AlertRow>) =>
      alerts.filter((alert) => alert.sentAt === null && alert.claimedUntil !== null && alert.createdAt < killedAt && alert.claimedUntil > killedAt)
    const heldByDeadLease = held(after.alerts).length
    if (options.awaitLeases === true && heldByDeadLease > 0) {
      const until = Math.max(...held(after.alerts).map((alert) => alert.claimedUntil!))
      yield* Effect.sleep(Math.max(0, until - Date.now()) + 1000)
      const third = yield* spawnTrawl(["run", "--once", ...common], 120_000)
      const thirdExit = yield* Effect.promise(() => third.exited)
      if (thirdExit.code !== 0) failures.push(`run C exited ${JSON.stringify(thirdExit)}`)
      after = Verify.readDatabase(db)
    }
    const clockAt = (wall: number) => wall < killedAt ? clockA : clockB
    const verdict = Verify.judge(web, after.observations, clockAt)
    for (const wrong of verdict.wrong.slice(0, 10)) failures.push(`disagrees with the truth: ${JSON.stringify(wrong)}`)

    // everything committed before the kill is still there, unchanged
    const kept = new Map(after.observations.map((row) => [row.id, row]))
    const lost = before.observations.filter((row) => JSON.stringify(kept.get(row.id)) !== JSON.stringify(row))
    if (lost.length > 0) failures.push(`${lost.length} observations committed before the kill are gone or changed`)
    // and the restarted run visited every target again
    const revisited = new Set(after.observations.filter((row) => row.observedAt > killedAt).map((row) => row.url))
    const notRevisited = urls.filter((url) => !revisited.has(url))
    if (notRevisited.length > 0) failures.push(`${notRevisited.length} targets not visited after the restart, e.g. ${notRevisited[0]}`)

    // each change raised exactly one alert…
    const alertDiff = Verify.diffLines(verdict.expectedAlerts, after.alerts.map(Verify.alertLine))
    if (alertDiff.missing.length > 0) failures.push(`${alertDiff.missing.length} alerts missing, e.g. ${alertDiff.missing.slice(0, 3).join("; ")}`)
    if (alertDiff.extra.length > 0) failures.push(`${alertDiff.extra.length} alerts too many, e.g. ${alertDiff.extra.slice(0, 3).join("; ")}`)
    const stillHeld = new Set(held(after.alerts).map((alert) => alert.key))
    const unsent = after.alerts.filter((alert) => alert.sentAt === null && !stillHeld.has(alert.key)).length
    if (unsent > 0) failures.push(`${unsent} alerts never delivered`)
    if (options.awaitLeases === true && stillHeld.size > 0) failures.push(`${stillHeld.size} alerts still leased to the killed run`)
    // delivered alerts (a held one has not been delivered, or was delivered and not yet marked sent)
    const keys = new Set(after.alerts.filter((alert) => !stillHeld.has(alert.key)).map((alert) => alert.key))
    // …delivered to the webhook under its one key (a crash between delivering and marking
    // sent re-sends the same key, with the same body: receivers deduplicate on it)
    // (the product's `name` is left out of the comparison: a run only knows the names of
    // the pages it fetched itself, so a re-send by the next run may lack it)
    const bodies = new Map<string, string>()
    const withoutName = (body: string) => {
      const { name: _name, ...rest } = JSON.parse(body) as Record<string, unknown>
      return JSON.stringify(rest)
    }
    let redeliveries = 0
    for (const delivery of hook.deliveries) {
      const seen = bodies.get(delivery.key)
      if (seen === undefined) bodies.set(delivery.key, delivery.body)
      else {
        redeliveries++
        if (withoutName(seen) !== withoutName(delivery.body)) failures.push(`key ${delivery.key} delivered with two different alerts: ${seen} / ${delivery.body}`)
      }
    }
    const hookDiff = Verify.diffLines([...keys], [...bodies.keys()].filter((key) => !stillHeld.has(key)))
    if (hookDiff.missing.length + hookDiff.extra.length > 0) {
      failures.push(`webhook keys differ from the alerts: ${hookDiff.missing.length} missing, ${hookDiff.extra.length} unknown`)
    }
    // …and written once to the JSONL file (a line torn by the kill is not an alert)
    const jsonl = fs.existsSync(alertsFile) ? fs.readFileSync(alertsFile, "utf8").split("\n").filter((line) => line !== "") : []
    const jsonlKeys: Array<string> = []
    let torn = 0
    for (const line of jsonl) {
      try {
        jsonlKeys.push(String((JSON.parse(line) as { key: unknown }).key))
      } catch {
        torn++
      }
    }
    if (torn > 1) failures.push(`${torn} unreadable lines in the alerts file`)
    const jsonlDuplicates = jsonlKeys.length - new Set(jsonlKeys).size
    if (jsonlDuplicates > 0) failures.push(`${jsonlDuplicates} duplicate keys in the alerts file`)
    const fileDiff = Verify.diffLines([...keys], [...new Set(jsonlKeys)].filter((key) => !stillHeld.has(key)))
    if (fileDiff.missing.length + fileDiff.extra.length > 0) {
      failures.push(`alerts file keys differ from the alerts: ${fileDiff.missing.length} missing, ${fileDiff.extra.length} unknown`)
    }

    return {
      targets: urls.length,
      observedBeforeKill: before.observations.length,
      observations: after.observations.length,
      observationsLost: lost.length,
      wrongObservations: verdict.wrong.length,
      alerts: after.alerts.length,
      expectedAlerts: verdict.expectedAlerts.length,
      duplicateAlerts: alertDiff.extra.length,
      missingAlerts: alertDiff.missing.length,
      heldByDeadLease,
      webhookDeliveries: hook.deliveries.length,
      webhookKeys: bodies.size,
      webhookRedeliveries: redeliveries,
      jsonlLines: jsonl.length,
      jsonlDuplicateKeys: jsonlDuplicates,
      seconds: (Date.now() - started) / 1000,
      failures
    } satisfies AppKillReport
  }).pipe(Effect.mapError(asChaosError))
