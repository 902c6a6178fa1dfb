/**
 * Outage scenarios: the real `trawl run` (child process, from source) against
 * a sim web whose prices move (clock speed 60: a price step every 5 s), with
 * its three notifiers (stdout, `--alerts-file`, `--webhook`), while a part it
 * depends on goes away:
 *
 * - `storeLock`: another process holds the SQLite write lock (`BEGIN
 *   IMMEDIATE`) for a while; the run must ride it out within its outage
 *   budget and end at its `--duration` with nothing lost or doubled.
 * - `postgresRestart`: the run's own throwaway Postgres is stopped (`pg_ctl
 *   stop -m fast`) and started again mid-run; same expectations.
 * - `outageBudget`: the lock outlasts `--store-outage-budget`: exit 4, one
 *   line naming the store, the run recorded "aborted", and a `trawl run
 *   --once` afterwards visits every target (what was held is due again).
 * - `webhookOutage`: the webhook answers 500 for a while: stdout and the file
 *   deliver each alert at once, the webhook every alert after it recovers,
 *   each channel once; optionally trawl is SIGKILLed mid-outage and started
 *   again on the same database, and `trawl status` must show the webhook's
 *   pending count reach 0.
 *
 * Each returns a report whose `failures` lists every check that did not hold,
 * with the figures; `SetupError` means the scenario could not run.
 *
 * @since 0.2.0
 */
import { AlertText } from "@trawl/scraper"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import { postgresBinaries, startPostgres, type ThrowawayPostgres } from "../../packages/store/test/support/throwaway-postgres.ts"
import * as SimWeb from "../src/SimWeb.ts"
import type * as Truth from "../src/Truth.ts"
import * as Support from "./support.ts"
import * as Verify from "./verify.ts"

/** Sim-time at the start: 30 s past a price step. */
const epochMillis = Date.UTC(2026, 0, 1, 0, 0, 30)
/** A 5-minute price step every 5 s of wall time. */
const clockSpeed = 60
/** Target interval (the app's minimum). */
const intervalMillis = 10_000

// -----------------------------------------------------------------------------
// the world: a sim web, its product URLs as targets
// -----------------------------------------------------------------------------

/**
 * Size of the sim web: every robots-allowed product page with a price is a
 * target, visited every 10 s.
 *
 * @since 0.2.0
 */
export interface WorldOptions {
  readonly shops?: number | undefined
  readonly products?: number | undefined
  readonly seed?: number | undefined
}

interface World {
  readonly web: SimWeb.SimWeb
  readonly clock: SimWeb.ClockView
  readonly urls: ReadonlyArray<string>
  readonly targetsFile: string
}

const startWorld = (dir: string, options: WorldOptions): Effect.Effect<World, Support.SetupError, Scope.Scope> =>
  Effect.gen(function*() {
    const shops = options.shops ?? 80
    const products = options.products ?? 2
    const web = yield* SimWeb.start({
      shops,
      products,
      seed: options.seed ?? 17,
      hostileFraction: 0,
      errorScale: 0,
      latencyScale: 0.1,
      clockSpeed,
      epochMillis
    })
    const clock = yield* web.clock
    const urls: Array<string> = []
    for (let shop = 0; shop < shops; shop++) {
      for (let product = 0; product < products; product++) {
        const url = web.productUrl(shop, product)
        if (web.truthAt(url, clock.nowMillis)?.expected._tag === "Price") urls.push(url)
      }
    }
    const targetsFile = path.join(dir, "targets.csv")
    fs.writeFileSync(targetsFile, ["url,interval", ...urls.map((url) => `${url},${intervalMillis / 1000}s`)].join("\n") + "\n")
    return { web, clock, urls, targetsFile }
  }).pipe(Effect.mapError((error) => new Support.SetupError({ message: `${error._tag}: ${error.message}` })))

const fetchArgs = ["--resolve", "*.sim.test=127.0.0.1", "--allow-private", "--timeout", "5s", "--workers", "1"]

/** How long a run's first pass may take before a case's outage starts. */
const firstPassSeconds = 25

/** Waits (bounded) until most targets have been recorded once. */
const firstPass = (reader: Support.Reader, targets: number, limitMillis = 20_000) =>
  Support.waitFor(Effect.map(reader.countObservations, (n) => n >= Math.ceil(targets * 0.9)), limitMillis, 100)

const seconds = (millis: number) => Math.round(millis / 100) / 10

// -----------------------------------------------------------------------------
// judging
// -----------------------------------------------------------------------------

const storeAvailability = (availability: Truth.Availability) => availability === "InStock" ? "in_stock" : "out_of_stock"

const matchesTruth = (row: Support.Observation, truth: Truth.ProductTruth) => {
  const expected = truth.expected
  if (expected._tag !== "Price") return false
  const availability = storeAvailability(truth.availability)
  return (row.amount === expected.price || (row.amount === null && availability === "out_of_stock")) &&
    (row.amount === null || row.currency === expected.currency) && row.availability === availability
}

/**
 * Figures about the observations of a database.
 *
 * @since 0.2.0
 */
export interface ObservationFigures {
  readonly observations: number
  /** Rows sharing a (target, observed_at) key with another. */
  readonly duplicateObservations: number
  readonly wrongObservations: number
  readonly errorObservations: number
  readonly alerts: number
  readonly expectedAlerts: number
  readonly missingAlerts: number
  readonly extraAlerts: number
}

/**
 * Judges observations against the truth and the alerts against the changes
 * those observations show.
 *
 * A page is rendered a moment before the app time-stamps the observation,
 * and at clock speed 60 a price step may fall in between: a reading may
 * equal the truth at its time or `slackMillis` before. A 304 must mean the
 * page's version is the one of the last reading. Alerts are what a correct
 * monitor raises from the observations in order (first_seen, price_up/down,
 * stock flips; `Verify.judge`'s rules), compared as `url kind newAmount`.
 *
 * @since 0.2.0
 */
export const judgeObservations = (
  web: Pick<SimWeb.SimWeb, "truthAt">,
  clock: SimWeb.ClockView,
  snapshot: Support.Snapshot,
  slackMillis = 1500
): { readonly figures: ObservationFigures; readonly failures: ReadonlyArray<string> } => {
  const failures: Array<string> = []
  const wrong: Array<{ row: Support.Observation; expected: unknown }> = []
  const versions = new Map<string, ReadonlySet<number>>()
  const expectedAlerts: Array<string> = []
  const state = new Map<string, { amount: string | null; availability: string }>()
  const keys = new Map<string, number>()
  for (const row of snapshot.observations) {
    const key = `${row.targetId}@${row.observedAt}`
    keys.set(key, (keys.get(key) ?? 0) + 1)
    const truths = [row.observedAt, row.observedAt - slackMillis]
      .map((wall) => web.truthAt(row.url, SimWeb.simTimeAt(clock, wall)))
      .filter((truth): truth is Truth.ProductTruth => truth !== undefined)
    if (truths.length === 0) {
      wrong.push({ row, expected: "a product URL of the sim web" })
      continue
    }
    if (row.outcome === "error") {
      if (!truths.some((truth) => truth.expected._tag === "Error" && truth.expected.error === row.errorTag)) {
        wrong.push({ row, expected: truths[0]!.expected })
      }
      continue
    }
    const before = versions.get(row.url)
    const fits = row.outcome === "unchanged"
      ? truths.filter((truth) => before?.has(truth.version) === true)
      : truths.filter((truth) => matchesTruth(row, truth))
    if (fits.length === 0) {
      wrong.push({ row, expected: row.outcome === "unchanged" ? { versions: truths.map((t) => t.version), was: [...before ?? []] } : truths[0]!.expected })
      continue
    }
    versions.set(row.url, new Set(fits.map((truth) => truth.version)))
    if (row.outcome === "unchanged") continue
    const was = state.get(row.url)
    if (was === undefined) expectedAlerts.push(`${row.url} first_seen ${row.amount}`)
    else {
      if (was.amount !== null && row.amount !== null && was.amount !== row.amount) {
        expectedAlerts.push(`${row.url} ${Number(row.amount) > Number(was.amount) ? "price_up" : "price_down"} ${row.amount}`)
      }
      if (was.availability === "out_of_stock" && row.availability === "in_stock") expectedAlerts.push(`${row.url} back_in_stock ${row.amount}`)
      if (was.availability === "in_stock" && row.availability === "out_of_stock") expectedAlerts.push(`${row.url} out_of_stock ${row.amount}`)
    }
    state.set(row.url, { amount: row.amount ?? was?.amount ?? null, availability: row.availability })
  }
  const duplicates = [...keys.values()].reduce((sum, n) => sum + n - 1, 0)
  if (duplicates > 0) failures.push(`${duplicates} observations share a (target, observed_at) key with another`)
  for (const item of wrong.slice(0, 5)) failures.push(`disagrees with the truth: ${JSON.stringify(item)}`)
  if (wrong.length > 5) failures.push(`… ${wrong.length - 5} more observations disagree with the truth`)
  const diff = Verify.diffLines(expectedAlerts, snapshot.alerts.map((alert) => `${alert.url} ${alert.kind} ${alert.newAmount}`))
  if (diff.missing.length > 0) failures.push(`${diff.missing.length} of ${expectedAlerts.length} expected alerts missing, e.g. ${diff.missing.slice(0, 3).join("; ")}`)
  if (diff.extra.length > 0) failures.push(`${diff.extra.length} alerts too many (${snapshot.alerts.length} in the store), e.g. ${diff.extra.slice(0, 3).join("; ")}`)
  return {
    figures: {
      observations: snapshot.observations.length,
      duplicateObservations: duplicates,
      wrongObservations: wrong.length,
      errorObservations: snapshot.observations.filter((row) => row.outcome === "error").length,
      alerts: snapshot.alerts.length,
      expectedAlerts: expectedAlerts.length,
      missingAlerts: diff.missing.length,
      extraAlerts: diff.extra.length
    },
    failures
  }
}

/**
 * Figures about what each channel received.
 *
 * @since 0.2.0
 */
export interface DeliveryFigures {
  /** Alerts in the store not yet marked sent (delivered by every notifier). */
  readonly unsent: number
  readonly webhookRequests: number
  /** Distinct keys the webhook answered 2xx for. */
  readonly webhookKeys: number
  /**
   * 2xx answers beyond the first for a key: the same alert sent again under
   * its Idempotency-Key (a receiver drops it; counted, not a failure, unless
   * the body differs).
   */
  readonly webhookResends: number
  readonly fileLines: number
  readonly fileKeys: number
  readonly fileDuplicates: number
  readonly fileTorn: number
  /**
   * Per notifier, deliveries left claimed and not sent (a pass that was
   * interrupted holds its claims until their lease ends), with the claim
   * times' range in seconds before the last run's exit.
   */
  readonly leftClaimed: Readonly<Record<string, string>>
  readonly stdoutLines: number
  readonly stdoutExpected: number
  readonly stdoutMissing: number
  readonly stdoutExtra: number
}

const alertLike = (alert: Support.Alert): AlertText.AlertLike => ({
  key: alert.key,
  kind: alert.kind,
  url: alert.url,
  targetId: alert.targetId,
  oldPrice: alert.oldAmount === null || alert.oldCurrency === null ? null : { amount: alert.oldAmount, currency: alert.oldCurrency },
  newPrice: alert.newAmount === null || alert.newCurrency === null ? null : { amount: alert.newAmount, currency: alert.newCurrency },
  percent: alert.percent,
  failureStreak: alert.failureStreak,
  createdAt: alert.createdAt,
  productName: alert.productName
})

/** The stdout notifier's line for each alert it prints (all but `first_seen`). */
const stdoutLineOf = (alert: Support.Alert) => AlertText.line(alertLike(alert))

/**
 * Judges the three channels against the store's alerts: the webhook's 2xx
 * keys and the file's keys must each be exactly the alerts, once; stdout's
 * lines (when `stdoutExact`) exactly the non-`first_seen` alerts' lines;
 * every alert marked sent.
 *
 * @since 0.2.0
 */
export const judgeDeliveries = (
  snapshot: Support.Snapshot,
  hook: Support.Hook,
  file: Support.FileWatch,
  stdout: ReadonlyArray<Support.StdoutLine>,
  options: { readonly stdoutExact: boolean; readonly tornAllowed?: number | undefined; readonly endedAt?: number | undefined }
): { readonly figures: DeliveryFigures; readonly failures: ReadonlyArray<string> } => {
  const failures: Array<string> = []
  const leftClaimed: Record<string, string> = {}
  const endedAt = options.endedAt ?? Date.now()
  for (const row of snapshot.deliveries) {
    if (row.sentAt !== null || row.claimedUntil === null) continue
    // the lease is 60 s from the claim
    const before = seconds(endedAt - (row.claimedUntil - 60_000))
    const [n, min, max] = (leftClaimed[row.notifier] ?? `0 ${before} ${before}`).split(" ").map(Number)
    leftClaimed[row.notifier] = `${n! + 1} ${Math.min(min!, before)} ${Math.max(max!, before)}`
  }
  for (const [name, text] of Object.entries(leftClaimed)) {
    const [n, min, max] = text.split(" ")
    leftClaimed[name] = `${n} claimed, not sent, claimed ${min}–${max} s before the exit`
  }
  const keys = snapshot.alerts.map((alert) => alert.key)
  const n = keys.length
  const unsent = snapshot.alerts.filter((alert) => alert.sentAt === null).length
  if (unsent > 0) failures.push(`${unsent} of ${n} alerts not marked sent${Object.keys(leftClaimed).length > 0 ? ` (left claimed: ${JSON.stringify(leftClaimed)})` : ""}`)

  const ok = hook.requests.filter((request) => request.status >= 200 && request.status < 300)
  const hookKeys = new Set(ok.map((request) => request.key))
  const webhookResends = ok.length - hookKeys.size
  // the product's name is left out: a run knows only the names of pages it fetched itself
  const withoutName = (body: string) => {
    const { name: _name, ...rest } = JSON.parse(body) as Record<string, unknown>
    return JSON.stringify(rest)
  }
  const bodies = new Map<string, string>()
  for (const request of ok) {
    const seen = bodies.get(request.key)
    if (seen === undefined) bodies.set(request.key, request.body)
    else if (withoutName(seen) !== withoutName(request.body)) failures.push(`webhook: key ${request.key} sent with two different alerts: ${seen} / ${request.body}`)
  }
  const hookDiff = Verify.diffLines(keys, [...hookKeys])
  if (hookDiff.missing.length + hookDiff.extra.length > 0) {
    failures.push(`webhook: ${hookKeys.size} distinct keys delivered for ${n} alerts in the store: ${hookDiff.missing.length} missing, ${hookDiff.extra.length} unknown`)
  }

  const read = file.read()
  const fileKeys = new Set(read.keys)
  const fileDuplicates = read.keys.length - fileKeys.size
  if (fileDuplicates > 0) failures.push(`alerts file: ${fileDuplicates} duplicate keys (${read.keys.length} lines for ${fileKeys.size} keys)`)
  if (read.torn > (options.tornAllowed ?? 0)) failures.push(`alerts file: ${read.torn} unreadable lines`)
  const fileDiff = Verify.diffLines(keys, [...fileKeys])
  if (fileDiff.missing.length + fileDiff.extra.length > 0) {
    failures.push(`alerts file: ${fileKeys.size} keys for ${n} alerts in the store: ${fileDiff.missing.length} missing, ${fileDiff.extra.length} unknown`)
  }

  const printed = Support.alertLinesOf(stdout).map(({ line }) => line)
  const expected = snapshot.alerts.filter((alert) => alert.kind !== "first_seen").map(stdoutLineOf)
  const stdoutDiff = Verify.diffLines(expected, printed)
  if (options.stdoutExact && stdoutDiff.missing.length + stdoutDiff.extra.length > 0) {
    failures.push(`stdout: ${printed.length} alert lines for ${expected.length} alerts it prints: ${stdoutDiff.missing.length} missing (e.g. ${stdoutDiff.missing[0]}), ${stdoutDiff.extra.length} extra (e.g. ${stdoutDiff.extra[0]})`)
  }
  return {
    figures: {
      unsent,
      webhookRequests: hook.requests.length,
      webhookKeys: hookKeys.size,
      webhookResends,
      fileLines: read.lines,
      fileKeys: fileKeys.size,
      fileDuplicates,
      fileTorn: read.torn,
      leftClaimed,
      stdoutLines: printed.length,
      stdoutExpected: expected.length,
      stdoutMissing: stdoutDiff.missing.length,
      stdoutExtra: stdoutDiff.extra.length
    },
    failures
  }
}

/**
 * The longest stretch without a log line on stderr, in seconds, and when it
 * began (the app logs its progress every 5 s, so a longer silence means its
 * event loop was not running).
 */
const longestSilence = (stderr: string): { readonly seconds: number; readonly after: string | undefined } => {
  let previous: number | undefined
  let previousText: string | undefined
  let longest = { seconds: 0, after: undefined as string | undefined }
  for (const line of stderr.split("\n")) {
    const match = /^\[(\d\d):(\d\d):(\d\d)\.(\d\d\d)\]/.exec(line)
    if (match === null) continue
    const at = ((Number(match[1]) * 60 + Number(match[2])) * 60 + Number(match[3])) * 1000 + Number(match[4])
    if (previous !== undefined && at - previous > longest.seconds * 1000) longest = { seconds: seconds(at - previous), after: previousText?.slice(0, 200) }
    previous = at
    previousText = line
  }
  return longest
}

const timeOfDay = (millis: number) => {
  const date = new Date(millis)
  const pad = (n: number, width = 2) => String(n).padStart(width, "0")
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
}

/** Log lines (`[HH:MM:SS.mmm] …`, local time) written between two wall times. */
const logLinesBetween = (stderr: string, from: number, to: number): ReadonlyArray<string> => {
  const [start, end] = [timeOfDay(from), timeOfDay(to)]
  return stderr.split("\n").filter((line) => {
    const stamp = /^\[(\d\d:\d\d:\d\d\.\d\d\d)\]/.exec(line)?.[1]
    return stamp !== undefined && stamp >= start && stamp <= end
  })
}

/** `trawl: …` lines: the one message line a failing command ends with. */
const messageLines = (stderr: string) => stderr.split("\n").filter((line) => line.startsWith("trawl: "))
const grepLines = (stderr: string, text: string) => stderr.split("\n").filter((line) => line.includes(text))

// -----------------------------------------------------------------------------
// the store away for a while (SQLite lock, Postgres restart)
// -----------------------------------------------------------------------------

/**
 * Settings of `storeLock` and `postgresRestart`.
 *
 * - `outageSeconds`: how long the lock is held / the server is down.
 * - `afterSeconds`: how long the run goes on after the outage (its
 *   `--duration` is computed from it); at least one target interval (10 s)
 *   plus a pass, so every target is visited after the outage. Default 16.
 *
 * @since 0.2.0
 */
export interface StoreOutageOptions extends WorldOptions {
  readonly outageSeconds: number
  readonly afterSeconds?: number | undefined
}

/**
 * What `storeLock` / `postgresRestart` saw.
 *
 * @since 0.2.0
 */
export interface StoreOutageReport extends ObservationFigures, DeliveryFigures {
  readonly backend: "sqlite" | "postgres"
  readonly targets: number
  readonly exitCode: number | null
  readonly signal: string | null
  readonly runStatus: string | undefined
  readonly runObservations: number | undefined
  /** Seconds the store was away, as measured here. */
  readonly outageSeconds: number
  /** Observations that became visible while the store was away (SQLite: must be 0). */
  readonly writtenDuringOutage: number
  /** Observations time-stamped within the outage: visits held by the writer and written afterwards. */
  readonly heldObservations: number
  readonly observedAfterOutage: number
  readonly targetsNotObservedAfter: number
  /** The longest gap between two observations of one target. */
  readonly maxGapSeconds: number
  readonly summary: Record<string, string>
  readonly unavailableLines: number
  readonly recoveredLines: ReadonlyArray<string>
  /** The outage as local times of day (as the log shows them), and what the run logged meanwhile. */
  readonly outageWindow: string
  readonly logDuringOutage: ReadonlyArray<string>
  /** The longest silence of the run's log (progress is logged every 5 s) and the line before it. */
  readonly longestLogSilence: { readonly seconds: number; readonly after: string | undefined }
  /** The run's stderr, its first and last lines (warnings and errors say what happened). */
  readonly stderrHead: ReadonlyArray<string>
  readonly stderrTail: ReadonlyArray<string>
  readonly seconds: number
  readonly failures: ReadonlyArray<string>
}

interface Outage {
  /** Starts the outage; resolves when it has begun, with when. */
  readonly begin: Effect.Effect<number, Support.SetupError, Scope.Scope>
  /** Resolves when it is over, with when. */
  readonly end: Effect.Effect<number, Support.SetupError>
  /** Observations are visible (SQLite: the lock does not stop readers). */
  readonly readableDuring: boolean
}

const storeOutage = (
  backend: "sqlite" | "postgres",
  dir: string,
  world: World,
  storeArgs: ReadonlyArray<string>,
  reader: Support.Reader,
  outage: Outage,
  options: StoreOutageOptions
) =>
  Effect.gen(function*() {
    const started = Date.now()
    const hook = yield* Support.webhookReceiver
    const alertsFile = path.join(dir, "alerts.jsonl")
    const file = yield* Support.watchFile(alertsFile)
    const failures: Array<string> = []
    const afterSeconds = options.afterSeconds ?? 16
    // the run starts, makes a first pass (≈ 5 s alone, up to ~15 s with the other cases on 2 busy
    // cores: the session-start code measured 58 of 149 in 10 s so on 2026-12-02), then the outage,
    // then `afterSeconds`
    const durationSeconds = firstPassSeconds + options.outageSeconds + afterSeconds
    const trawl = yield* Support.spawnTrawl([
      "run", "--targets", world.targetsFile, ...storeArgs, ...fetchArgs,
      "--webhook", hook.url, "--alerts-file", alertsFile, "--duration", `${durationSeconds}s`
    ], (durationSeconds + 90) * 1000)
    const passed = yield* firstPass(reader, world.urls.length, firstPassSeconds * 1000)
    if (!passed) failures.push(`the first pass did not record 90 % of ${world.urls.length} targets within ${firstPassSeconds} s (${yield* reader.countObservations} recorded)`)
    if (!trawl.running()) {
      const exit = yield* Effect.promise(() => trawl.exited)
      return yield* new Support.SetupError({ message: `trawl exited before the outage: ${exit.code} ${exit.stderr.slice(-2000)}` })
    }
    const from = yield* outage.begin
    // (SQLite: read once the lock is held; the last trawl transaction before it may have committed meanwhile)
    const countBefore = yield* reader.countObservations
    let countLate = countBefore
    if (outage.readableDuring) {
      // just before the end: nothing can have been written meanwhile
      yield* Effect.sleep(Math.max(0, options.outageSeconds * 1000 - 1000))
      countLate = yield* reader.countObservations
    }
    const to = yield* outage.end
    const exit = yield* Effect.promise(() => trawl.exited)
    const snapshot = yield* reader.snapshot

    if (exit.code !== 0 || exit.signal !== null) {
      failures.push(`trawl exited ${exit.code} (signal ${exit.signal}); last stderr: ${exit.stderr.trim().split("\n").slice(-3).join(" | ")}`)
    }
    const run = snapshot.runs.at(-1)
    if (snapshot.runs.length !== 1 || run?.status !== "finished") failures.push(`run records: ${JSON.stringify(snapshot.runs)}; expected one, "finished"`)
    const unavailable = grepLines(exit.stderr, "store unavailable")
    if (unavailable.length === 0) failures.push(`stderr never says "store unavailable" (${exit.stderr.split("\n").length} lines)`)
    const writtenDuringOutage = countLate - countBefore
    if (outage.readableDuring && writtenDuringOutage !== 0) failures.push(`${writtenDuringOutage} observations became visible while the lock was held: the lock did not hold`)

    const observed = judgeObservations(world.web, world.clock, snapshot)
    failures.push(...observed.failures)
    const held = snapshot.observations.filter((row) => row.observedAt >= from && row.observedAt <= to).length
    if (held === 0) {
      const progress = logLinesBetween(exit.stderr, from, to).filter((line) => line.includes("pages/s")).length
      failures.push(`no observation time-stamped within the ${seconds(to - from)} s outage (${snapshot.observations.length} in ${seconds(exit.endedAt - exit.startedAt)} s of run): nothing was fetched and held meanwhile; ${progress} progress lines logged during it (one every 5 s when running)`)
    }
    const after = snapshot.observations.filter((row) => row.observedAt > to)
    const seenAfter = new Set(after.map((row) => row.url))
    const notAfter = world.urls.filter((url) => !seenAfter.has(url))
    if (after.length === 0 || notAfter.length > 0) {
      failures.push(`${after.length} observations after the outage; ${notAfter.length} of ${world.urls.length} targets not observed after it, e.g. ${notAfter[0]}`)
    }
    const byTarget = new Map<string, Array<number>>()
    for (const row of snapshot.observations) byTarget.set(row.url, [...byTarget.get(row.url) ?? [], row.observedAt])
    let maxGap = 0
    for (const times of byTarget.values()) {
      times.sort((a, b) => a - b)
      for (let i = 1; i < times.length; i++) maxGap = Math.max(maxGap, times[i]! - times[i - 1]!)
    }
    // held visits are time-stamped when fetched; the target is due again an interval after it is written
    const gapLimit = (to - from) + 2 * intervalMillis + 10_000
    if (maxGap > gapLimit) failures.push(`a target went ${seconds(maxGap)} s between two observations (limit ${seconds(gapLimit)} s for a ${seconds(to - from)} s outage)`)

    // accounting: every visit the app counted is a row, once
    const summary = Support.summaryOf(exit.stdout)
    const recorded = Number(summary["pages recorded"])
    // every visit ends as a response (200, 304) or a fetch error; extraction errors are on fetched pages
    const fetchErrors = Object.entries(summary)
      .filter(([label]) => label.startsWith("error ") && !label.startsWith("error ExtractError") && label !== "error ExtractorUnavailable")
      .reduce((sum, [, value]) => sum + Number(value), 0)
    const visits = Number(summary["fetched (200)"]) + Number(summary["not modified (304)"]) + fetchErrors
    if (recorded !== snapshot.observations.length || run?.observations !== snapshot.observations.length || visits !== recorded) {
      failures.push(`accounting: ${snapshot.observations.length} observation rows, run record says ${run?.observations}, summary says ${recorded} recorded of ${visits} visits (200 + 304 + ${fetchErrors} fetch errors)`)
    }
    const delivered = judgeDeliveries(snapshot, hook, file, exit.stdout, { stdoutExact: true, endedAt: exit.endedAt })
    failures.push(...delivered.failures)

    return {
      backend,
      targets: world.urls.length,
      exitCode: exit.code,
      signal: exit.signal,
      runStatus: run?.status,
      runObservations: run?.observations,
      outageSeconds: seconds(to - from),
      writtenDuringOutage,
      heldObservations: held,
      observedAfterOutage: after.length,
      targetsNotObservedAfter: notAfter.length,
      maxGapSeconds: seconds(maxGap),
      ...observed.figures,
      ...delivered.figures,
      summary,
      unavailableLines: unavailable.length,
      recoveredLines: grepLines(exit.stderr, "store available again").map((line) => line.slice(0, 300)),
      outageWindow: `${timeOfDay(from)}–${timeOfDay(to)}`,
      logDuringOutage: logLinesBetween(exit.stderr, from, to).map((line) => line.slice(0, 300)),
      longestLogSilence: longestSilence(exit.stderr),
      stderrHead: exit.stderr.split("\n").slice(0, 8).map((line) => line.slice(0, 400)),
      stderrTail: exit.stderr.trim().split("\n").slice(-8).map((line) => line.slice(0, 400)),
      seconds: seconds(Date.now() - started),
      failures
    } satisfies StoreOutageReport
  })

/**
 * `trawl run --duration …` on a SQLite file while another process holds its
 * write lock for `outageSeconds`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { storeLock } from "./outage.ts"
 * const report = Effect.runPromise(Effect.scoped(storeLock({ outageSeconds: 15 })))
 * ```
 * @since 0.2.0
 */
export const storeLock = (options: StoreOutageOptions): Effect.Effect<StoreOutageReport, Support.SetupError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* Support.tempDir("trawl-lock-")
    const world = yield* startWorld(dir, options)
    const db = path.join(dir, "trawl.db")
    let lock: Support.HeldLock | undefined
    return yield* storeOutage("sqlite", dir, world, ["--db", db], Support.sqliteReader(db), {
      begin: Effect.map(Support.holdSqliteLock(db, options.outageSeconds * 1000), (held) => {
        lock = held
        return held.lockedAt
      }),
      end: Effect.promise(() => lock!.released),
      readableDuring: true
    }, options)
  })

/**
 * Whether `postgresRestart` can run here: the reason it cannot, or undefined.
 *
 * @since 0.2.0
 */
export const postgresMissing = (): string | undefined => {
  const found = postgresBinaries()
  if ("reason" in found) return found.reason
  return fs.existsSync(path.join(found.bin, "psql")) ? undefined : `no psql in ${found.bin}`
}

const throwawayPostgres = Effect.acquireRelease(
  Effect.tryPromise({ try: () => startPostgres(), catch: (error) => new Support.SetupError({ message: `throwaway postgres: ${(error as Error).message}` }) }),
  (pg) => Effect.promise(() => pg.close().catch(() => undefined))
)

/**
 * `trawl run --postgres … --duration …` on a throwaway server of its own,
 * stopped (`pg_ctl stop -m fast`) for `outageSeconds` mid-run and started again.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { postgresRestart } from "./outage.ts"
 * const report = Effect.runPromise(Effect.scoped(postgresRestart({ outageSeconds: 10 })))
 * ```
 * @since 0.2.0
 */
export const postgresRestart = (options: StoreOutageOptions): Effect.Effect<StoreOutageReport, Support.SetupError, Scope.Scope> =>
  Effect.gen(function*() {
    const missing = postgresMissing()
    if (missing !== undefined) return yield* new Support.SetupError({ message: missing })
    const dir = yield* Support.tempDir("trawl-pg-outage-")
    const world = yield* startWorld(dir, options)
    const pg: ThrowawayPostgres = yield* throwawayPostgres
    const bin = (postgresBinaries() as { bin: string }).bin
    const reader = Support.postgresReader(path.join(bin, "psql"), pg.port)
    let stoppedAt = 0
    return yield* storeOutage("postgres", dir, world, ["--postgres", pg.url], reader, {
      begin: Effect.tryPromise({
        try: async () => {
          stoppedAt = Date.now()
          await pg.stop("fast")
          return stoppedAt
        },
        catch: (error) => new Support.SetupError({ message: `pg_ctl stop: ${(error as Error).message}` })
      }),
      end: Effect.tryPromise({
        try: async () => {
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedAt + options.outageSeconds * 1000 - Date.now())))
          await pg.start()
          return Date.now()
        },
        catch: (error) => new Support.SetupError({ message: `pg_ctl start: ${(error as Error).message}` })
      }),
      readableDuring: false
    }, options)
  })

// -----------------------------------------------------------------------------
// the store away past the outage budget
// -----------------------------------------------------------------------------

/**
 * Settings of `outageBudget`.
 *
 * @since 0.2.0
 */
export interface OutageBudgetOptions extends WorldOptions {
  /** How long the lock is held. Default 15. */
  readonly lockSeconds?: number | undefined
  /** `--store-outage-budget`. Default "3s". */
  readonly budget?: string | undefined
}

/**
 * What `outageBudget` saw.
 *
 * @since 0.2.0
 */
export interface OutageBudgetReport extends ObservationFigures, DeliveryFigures {
  readonly targets: number
  readonly exitCode: number | null
  readonly signal: string | null
  /** Seconds from taking the lock to trawl's exit. */
  readonly exitedAfterSeconds: number
  readonly lockSeconds: number
  /** The `trawl: …` lines on stderr. */
  readonly messageLines: ReadonlyArray<string>
  readonly runStatus: string | undefined
  readonly onceExitCode: number | null
  readonly onceRunStatus: string | undefined
  /** Targets the `--once` run recorded. */
  readonly observedByOnce: number
  readonly seconds: number
  readonly failures: ReadonlyArray<string>
}

/**
 * A continuous `trawl run --store-outage-budget 3s` on a SQLite file while
 * another process holds the write lock for 15 s; then `trawl run --once`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { outageBudget } from "./outage.ts"
 * const report = Effect.runPromise(Effect.scoped(outageBudget({})))
 * ```
 * @since 0.2.0
 */
export const outageBudget = (options: OutageBudgetOptions): Effect.Effect<OutageBudgetReport, Support.SetupError, Scope.Scope> =>
  Effect.gen(function*() {
    const started = Date.now()
    const dir = yield* Support.tempDir("trawl-budget-")
    const world = yield* startWorld(dir, options)
    const db = path.join(dir, "trawl.db")
    const reader = Support.sqliteReader(db)
    const hook = yield* Support.webhookReceiver
    const alertsFile = path.join(dir, "alerts.jsonl")
    const file = yield* Support.watchFile(alertsFile)
    const lockSeconds = options.lockSeconds ?? 15
    const budget = options.budget ?? "3s"
    const failures: Array<string> = []
    const common = ["--db", db, ...fetchArgs, "--webhook", hook.url, "--alerts-file", alertsFile]

    const trawl = yield* Support.spawnTrawl(["run", "--targets", world.targetsFile, ...common, "--store-outage-budget", budget], 120_000)
    const passed = yield* firstPass(reader, world.urls.length, firstPassSeconds * 1000)
    if (!passed) failures.push(`the first pass did not record 90 % of ${world.urls.length} targets within ${firstPassSeconds} s`)
    const lock = yield* Support.holdSqliteLock(db, lockSeconds * 1000)
    const releasedAt = yield* Effect.promise(() => lock.released)
    // the run must have given up by now, or soon (it may be finishing its stop); else it is stopped
    const gaveUp = yield* Support.waitFor(Effect.sync(() => !trawl.running()), 20_000)
    let stillRunning: string | undefined
    if (!gaveUp) {
      stillRunning = `trawl still running 20 s after the ${seconds(releasedAt - lock.lockedAt)} s lock was released (budget ${budget}): ` +
        `${grepLines(trawl.stderr(), "store unavailable").length} "store unavailable" log lines, ` +
        `${JSON.stringify(grepLines(trawl.stderr(), "store available again").map((line) => line.slice(0, 160)))}; stopped with SIGTERM`
      failures.push(stillRunning)
      trawl.process.kill("SIGTERM")
    }
    const exit = yield* Effect.promise(() => trawl.exited)
    const exitedAfter = exit.endedAt - lock.lockedAt

    if (gaveUp && exit.code !== 4) failures.push(`trawl exited ${exit.code} (signal ${exit.signal}) ${seconds(exitedAfter)} s after the lock; expected 4; last stderr: ${exit.stderr.trim().split("\n").slice(-3).join(" | ")}`)
    const messages = messageLines(exit.stderr)
    if (gaveUp && (messages.length !== 1 || !/store/i.test(messages[0]!))) failures.push(`stderr's message lines: ${JSON.stringify(messages)}; expected one naming the store`)
    // the lock is gone now: the run record can be read (and could have been written)
    const first = yield* reader.snapshot
    const run = first.runs.at(-1)
    if (gaveUp && (first.runs.length !== 1 || run?.status !== "aborted")) {
      failures.push(`run record after the abort: ${JSON.stringify(first.runs)}; expected "aborted" (trawl exited ${seconds(exitedAfter)} s after the lock was taken; the lock was held ${seconds(releasedAt - lock.lockedAt)} s)`)
    }

    // what was held in memory is lost, but those targets are still due in the store
    const once = yield* Support.runTrawl(["run", "--once", ...common], 90_000)
    if (once.code !== 0) failures.push(`trawl run --once exited ${once.code}: ${once.stderr.trim().split("\n").slice(-3).join(" | ")}`)
    const snapshot = yield* reader.snapshot
    const onceRun = snapshot.runs.at(-1)
    if (snapshot.runs.length !== 2 || onceRun?.status !== "finished") failures.push(`run records after --once: ${JSON.stringify(snapshot.runs)}`)
    const byOnce = new Set(snapshot.observations.filter((row) => row.observedAt >= once.startedAt).map((row) => row.url))
    const notObserved = world.urls.filter((url) => !byOnce.has(url))
    // (after a run that did not give up, only the targets due by now are visited)
    if (gaveUp && notObserved.length > 0) failures.push(`${notObserved.length} of ${world.urls.length} targets not recorded by the --once run after the abort, e.g. ${notObserved[0]}`)
    const observed = judgeObservations(world.web, world.clock, snapshot)
    failures.push(...observed.failures)
    const delivered = judgeDeliveries(snapshot, hook, file, [...exit.stdout, ...once.stdout], { stdoutExact: true, endedAt: once.endedAt })
    failures.push(...delivered.failures)
    return {
      targets: world.urls.length,
      exitCode: exit.code,
      signal: exit.signal,
      exitedAfterSeconds: seconds(exitedAfter),
      lockSeconds: seconds(releasedAt - lock.lockedAt),
      messageLines: messages,
      runStatus: run?.status,
      onceExitCode: once.code,
      onceRunStatus: onceRun?.status,
      observedByOnce: byOnce.size,
      ...observed.figures,
      ...delivered.figures,
      seconds: seconds(Date.now() - started),
      failures
    } satisfies OutageBudgetReport
  })

// -----------------------------------------------------------------------------
// the webhook failing for a while
// -----------------------------------------------------------------------------

/**
 * Settings of `webhookOutage`.
 *
 * - `failSeconds`: the webhook answers 500 for this long from its first request.
 * - `killAfterSeconds`: SIGKILL trawl this long after the webhook's first
 *   request (within the outage) and start it again on the same database.
 * - `promptSeconds`: stdout and the file must show an alert within this
 *   long of its creation. Default 5.
 *
 * @since 0.2.0
 */
export interface WebhookOutageOptions extends WorldOptions {
  readonly failSeconds: number
  readonly killAfterSeconds?: number | undefined
  readonly promptSeconds?: number | undefined
}

/**
 * One `trawl status` reading of the webhook's line.
 *
 * @since 0.2.0
 */
export interface StatusReading {
  readonly atSeconds: number
  readonly pending: number
  readonly delivered: number
  readonly lastError: string | undefined
}

/**
 * What `webhookOutage` saw.
 *
 * @since 0.2.0
 */
export interface WebhookOutageReport extends ObservationFigures, DeliveryFigures {
  readonly targets: number
  readonly killed: boolean
  readonly exitCode: number | null
  /** Alerts created while the webhook failed (≥ 2 s before it recovered). */
  readonly alertsDuringOutage: number
  readonly stdoutDuringOutage: number
  /** Slowest stdout / file delivery of an alert created during the outage, from its creation. */
  readonly maxStdoutLatencySeconds: number
  readonly maxFileLatencySeconds: number
  readonly webhook2xxBeforeRecovery: number
  /** From the webhook's recovery to its first 2xx. */
  readonly webhookCatchUpSeconds: number | undefined
  /** From the recovery to the 2xx that completed the store's alerts. */
  readonly webhookCompleteSeconds: number | undefined
  readonly statusReadings: ReadonlyArray<StatusReading>
  readonly notifierLines: ReadonlyArray<string>
  readonly seconds: number
  readonly failures: ReadonlyArray<string>
}

/**
 * `trawl run` with stdout, `--alerts-file` and a `--webhook` that answers 500
 * for `failSeconds`; with `killAfterSeconds`, SIGKILLed mid-outage and
 * started again on the same database.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { webhookOutage } from "./outage.ts"
 * const report = Effect.runPromise(Effect.scoped(webhookOutage({ failSeconds: 30 })))
 * ```
 * @since 0.2.0
 */
export const webhookOutage = (options: WebhookOutageOptions): Effect.Effect<WebhookOutageReport, Support.SetupError, Scope.Scope> =>
  Effect.gen(function*() {
    const started = Date.now()
    const dir = yield* Support.tempDir("trawl-hook-")
    const world = yield* startWorld(dir, options)
    const db = path.join(dir, "trawl.db")
    const reader = Support.sqliteReader(db)
    const hook = yield* Support.webhookReceiver
    const alertsFile = path.join(dir, "alerts.jsonl")
    const file = yield* Support.watchFile(alertsFile)
    const failures: Array<string> = []
    const promptMillis = (options.promptSeconds ?? 5) * 1000
    const failMillis = options.failSeconds * 1000
    const common = ["--db", db, ...fetchArgs, "--webhook", hook.url, "--alerts-file", alertsFile]
    const killed = options.killAfterSeconds !== undefined

    hook.failUntil(Number.POSITIVE_INFINITY)
    // without a kill: the first alerts (≈ 5 s), the outage, then 20 s for the webhook to catch up
    const durationSeconds = Math.ceil(8 + options.failSeconds + 20)
    const first = yield* Support.spawnTrawl(
      ["run", "--targets", world.targetsFile, ...common, ...(killed ? [] : ["--duration", `${durationSeconds}s`])],
      (durationSeconds + 90) * 1000
    )
    const hookCalled = yield* Support.waitFor(Effect.sync(() => hook.requests.length > 0), 30_000)
    if (!hookCalled) return yield* new Support.SetupError({ message: `the webhook got no request within 30 s: ${first.stderr().slice(-2000)}` })
    const failFrom = hook.requests[0]!.at
    const recovery = failFrom + failMillis
    hook.failUntil(recovery)

    const exits: Array<Support.TrawlExit> = []
    const readings: Array<StatusReading> = []
    let notifierLines: ReadonlyArray<string> = []
    const webhookName = (lines: ReadonlyArray<Support.NotifierLine>) => lines.find((line) => line.name.startsWith("webhook "))
    const readStatus = Effect.gen(function*() {
      const status = yield* Support.runTrawl(["status", "--db", db], 30_000)
      const lines = Support.notifierLinesOf(status.stdout)
      notifierLines = status.stdout.map(({ line }) => line).filter((line) => line.startsWith("notifier"))
      const webhook = webhookName(lines)
      if (webhook !== undefined) readings.push({ atSeconds: seconds(Date.now() - failFrom), pending: webhook.pending, delivered: webhook.delivered, lastError: webhook.lastError?.slice(0, 200) })
      return { status, lines }
    })

    if (!killed) {
      exits.push(yield* Effect.promise(() => first.exited))
    } else {
      yield* Effect.sleep(Math.max(0, failFrom + options.killAfterSeconds! * 1000 - Date.now()))
      if (Date.now() >= recovery) failures.push(`the kill came after the webhook recovered: not mid-outage`)
      first.process.kill("SIGKILL")
      const firstExit = yield* Effect.promise(() => first.exited)
      exits.push(firstExit)
      if (firstExit.signal !== "SIGKILL") failures.push(`the first run was not SIGKILLed: exit ${firstExit.code}, signal ${firstExit.signal}`)
      // the killed run's claims stay leased to it: run until they have expired and been delivered
      const leased = (yield* reader.snapshot).deliveries.filter((row) => row.sentAt === null && row.claimedUntil !== null && row.claimedUntil > Date.now())
      const leaseEnd = Math.max(0, ...leased.map((row) => row.claimedUntil!))
      const until = Math.max(leaseEnd + 10_000, recovery + 25_000)
      const secondSeconds = Math.min(120, Math.ceil((until - Date.now()) / 1000))
      const second = yield* Support.spawnTrawl(["run", ...common, "--duration", `${secondSeconds}s`], (secondSeconds + 90) * 1000)
      while (second.running()) {
        yield* readStatus
        yield* Effect.sleep(6_000)
      }
      exits.push(yield* Effect.promise(() => second.exited))
    }
    const last = exits.at(-1)!
    if (last.code !== 0) failures.push(`trawl exited ${last.code} (signal ${last.signal}); last stderr: ${last.stderr.trim().split("\n").slice(-3).join(" | ")}`)
    const { lines: finalLines } = yield* readStatus
    const snapshot = yield* reader.snapshot
    const stdout = exits.flatMap((exit) => exit.stdout)

    const observed = judgeObservations(world.web, world.clock, snapshot)
    failures.push(...observed.failures)
    // a killed run may print a line and die before marking it delivered: stdout is not idempotent
    const delivered = judgeDeliveries(snapshot, hook, file, stdout, { stdoutExact: !killed, tornAllowed: killed ? 1 : 0, endedAt: last.endedAt })
    failures.push(...delivered.failures)

    // stdout and the file deliver while the webhook fails (alerts of the killed run's last moments aside)
    const during = snapshot.alerts.filter((alert) =>
      alert.createdAt >= failFrom && alert.createdAt < recovery - 2000 &&
      (!killed || alert.createdAt < exits[0]!.endedAt - promptMillis || alert.createdAt > exits[0]!.endedAt + 8000)
    )
    if (during.length === 0) failures.push(`no alert was created while the webhook failed (${snapshot.alerts.length} alerts in all)`)
    let maxFile = 0
    const lateFile: Array<string> = []
    for (const alert of during) {
      const seen = file.firstSeen.get(alert.key)
      const latency = seen === undefined ? Number.POSITIVE_INFINITY : seen - alert.createdAt
      maxFile = Math.max(maxFile, latency)
      if (latency > promptMillis) lateFile.push(`${alert.key} ${seen === undefined ? "never" : `${seconds(latency)} s`}`)
    }
    if (lateFile.length > 0) failures.push(`alerts file: ${lateFile.length} of ${during.length} alerts created during the webhook outage came later than ${promptMillis / 1000} s, e.g. ${lateFile.slice(0, 3).join(", ")}`)
    const arrivals = new Map<string, Array<number>>()
    for (const { at, line } of Support.alertLinesOf(stdout)) arrivals.set(line, [...arrivals.get(line) ?? [], at])
    let maxStdout = 0
    const lateStdout: Array<string> = []
    const printable = during.filter((alert) => alert.kind !== "first_seen")
    for (const alert of printable) {
      const at = arrivals.get(stdoutLineOf(alert))?.shift()
      const latency = at === undefined ? Number.POSITIVE_INFINITY : at - alert.createdAt
      maxStdout = Math.max(maxStdout, latency)
      if (latency > promptMillis) lateStdout.push(`${alert.key} ${at === undefined ? "never" : `${seconds(latency)} s`}`)
    }
    if (printable.length === 0) failures.push(`no price or stock change was alerted while the webhook failed (${during.length} first sightings)`)
    if (lateStdout.length > 0) failures.push(`stdout: ${lateStdout.length} of ${printable.length} alerts created during the webhook outage came later than ${promptMillis / 1000} s, e.g. ${lateStdout.slice(0, 3).join(", ")}`)

    // the webhook: nothing accepted before it recovered, everything after
    const ok = hook.requests.filter((request) => request.status >= 200 && request.status < 300)
    const early = ok.filter((request) => request.at < recovery).length
    if (early > 0) failures.push(`the webhook answered 2xx ${early} times before it recovered`)
    const keys = new Set(snapshot.alerts.map((alert) => alert.key))
    const seenKeys = new Set<string>()
    let completeAt: number | undefined
    for (const request of ok) {
      if (keys.has(request.key)) seenKeys.add(request.key)
      if (completeAt === undefined && seenKeys.size === keys.size) completeAt = request.at
    }
    const webhook = webhookName(finalLines)
    if (webhook === undefined) failures.push(`trawl status shows no webhook notifier: ${JSON.stringify(notifierLines)}`)
    else if (webhook.pending !== 0 || webhook.delivered !== snapshot.alerts.length) {
      failures.push(`trawl status at the end: webhook ${webhook.pending} pending, ${webhook.delivered} delivered; ${snapshot.alerts.length} alerts in the store`)
    }
    for (const name of ["stdout", "jsonl "]) {
      const line = finalLines.find((l) => l.name.startsWith(name))
      if (line === undefined || line.pending !== 0) failures.push(`trawl status at the end: ${name.trim()} ${JSON.stringify(line)}`)
    }
    if (killed && !readings.some((reading) => reading.pending > 0)) {
      failures.push(`trawl status never showed the webhook with alerts pending after the restart: ${JSON.stringify(readings)}`)
    }
    return {
      targets: world.urls.length,
      killed,
      exitCode: last.code,
      alertsDuringOutage: during.length,
      stdoutDuringOutage: printable.length,
      maxStdoutLatencySeconds: seconds(maxStdout),
      maxFileLatencySeconds: seconds(maxFile),
      webhook2xxBeforeRecovery: early,
      webhookCatchUpSeconds: ok.length === 0 ? undefined : seconds(ok[0]!.at - recovery),
      webhookCompleteSeconds: completeAt === undefined ? undefined : seconds(completeAt - recovery),
      statusReadings: readings,
      notifierLines,
      ...observed.figures,
      ...delivered.figures,
      seconds: seconds(Date.now() - started),
      failures
    } satisfies WebhookOutageReport
  })
