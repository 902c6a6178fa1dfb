/**
 * Progress of a run: a live status line on a TTY (redrawn every second), a
 * log line every few seconds otherwise, and a summary table at the end.
 *
 * @since 0.1.0
 */
import { Actor } from "@trawl/actor"
import type { Fetcher } from "@trawl/fetch"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Pipeline from "./Pipeline.ts"
import type * as Scheduler from "./Scheduler.ts"

/**
 * Everything a progress line shows.
 *
 * @since 0.1.0
 */
export interface Snapshot {
  readonly counters: Pipeline.Counters
  readonly schedule: Scheduler.Stats
  /** CPU utilisation of the extraction threads (0–1, `Extractor.Service.utilization`), when workers are used. */
  readonly workerUtilization?: number | undefined
  /** Extraction threads that died unexpectedly so far (`Extractor.Service.crashes`), when workers are used. */
  readonly workerCrashes?: number | undefined
  /** The hosts held back now (throttled, circuit open), when the fetcher reports them. */
  readonly hosts?: Fetcher.HostStates | undefined
  /** Restarts made by supervisors in this process (`Actor.metrics.restarts`). */
  readonly restarts: number
  readonly now: number
}

const seconds = (millis: number) => `${(millis / 1000).toFixed(1)}s`

const topErrors = (errors: Readonly<Record<string, number>>, limit: number): string => {
  const entries = Object.entries(errors).sort((a, b) => b[1] - a[1])
  const total = entries.reduce((sum, [, n]) => sum + n, 0)
  if (total === 0) return "errors 0"
  const shown = entries.slice(0, limit).map(([tag, n]) => `${tag} ${n}`).join(", ")
  return `errors ${total} (${shown}${entries.length > limit ? ", …" : ""})`
}

/**
 * Pages per second since the run started.
 *
 * @example
 * ```ts
 * import { Progress } from "@trawl/scraper"
 * declare const snapshot: Progress.Snapshot
 * Progress.pagesPerSecond(snapshot)
 * ```
 * @since 0.1.0
 */
export const pagesPerSecond = (snapshot: Snapshot): number => {
  const elapsed = Math.max(1, snapshot.now - snapshot.counters.startedAt) / 1000
  return snapshot.counters.recorded / elapsed
}

/**
 * One status line.
 *
 * @example
 * ```ts
 * import { Progress } from "@trawl/scraper"
 * declare const snapshot: Progress.Snapshot
 * console.log(Progress.statusLine(snapshot))
 * // trawl ▸ 412.3 pages/s · in flight 180 · queues jobs 1024 pages 12 out 0 · extract cpu 74% · errors 3 (Timeout 3) · lag p50 0.4s p99 2.1s
 * ```
 * @since 0.1.0
 */
export const statusLine = (snapshot: Snapshot): string => {
  const { counters, schedule } = snapshot
  const q = counters.queueDepths
  return [
    `trawl ▸ ${pagesPerSecond(snapshot).toFixed(1)} pages/s`,
    `recorded ${counters.recorded}`,
    `in flight ${counters.inFlightFetches}`,
    `queues jobs ${q.jobs} pages ${q.pages} out ${q.outcomes}`,
    ...(snapshot.workerUtilization === undefined ? [] : [`extract cpu ${Math.round(snapshot.workerUtilization * 100)}%`]),
    ...(snapshot.workerCrashes === undefined || snapshot.workerCrashes === 0 ? [] : [`extract crashes ${snapshot.workerCrashes}`]),
    ...(counters.storeUnavailableSince === undefined
      ? []
      : [`store unavailable, retrying (${seconds(snapshot.now - counters.storeUnavailableSince)})`]),
    ...(snapshot.hosts === undefined || snapshot.hosts.throttled + snapshot.hosts.circuitOpen === 0
      ? []
      : [`hosts throttled ${snapshot.hosts.throttled} circuit open ${snapshot.hosts.circuitOpen}`]),
    ...(snapshot.restarts === 0 ? [] : [`restarts ${snapshot.restarts}`]),
    topErrors(counters.errorsByTag, 3),
    `lag p50 ${seconds(schedule.lagP50Millis)} p99 ${seconds(schedule.lagP99Millis)}`
  ].join(" · ")
}

/**
 * The end-of-run summary table.
 *
 * @example
 * ```ts
 * import { Progress } from "@trawl/scraper"
 * declare const snapshot: Progress.Snapshot
 * console.log(Progress.summaryTable(snapshot))
 * ```
 * @since 0.1.0
 */
export const summaryTable = (snapshot: Snapshot, extra: ReadonlyArray<readonly [string, string | number]> = []): string => {
  const { counters, schedule } = snapshot
  const rows: Array<readonly [string, string | number]> = [
    ["duration", seconds(snapshot.now - counters.startedAt)],
    ["pages recorded", counters.recorded],
    ["pages/s", pagesPerSecond(snapshot).toFixed(1)],
    ["fetched (200)", counters.fetched - counters.notModified],
    ["not modified (304)", counters.notModified],
    ["prices extracted", counters.extracted],
    ["schedule lag p50", seconds(schedule.lagP50Millis)],
    ["schedule lag p99", seconds(schedule.lagP99Millis)],
    ...extra,
    ...Object.entries(counters.errorsByTag).sort((a, b) => b[1] - a[1]).map(([tag, n]) => [`error ${tag}`, n] as const)
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  const valueWidth = Math.max(...rows.map(([, value]) => String(value).length))
  const line = `+${"-".repeat(width + 2)}+${"-".repeat(valueWidth + 2)}+`
  return [line, ...rows.map(([label, value]) => `| ${label.padEnd(width)} | ${String(value).padStart(valueWidth)} |`), line].join("\n")
}

/**
 * Reports progress until interrupted: on a TTY, redraws one status line every
 * second; otherwise logs it every `logEveryMillis`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Progress } from "@trawl/scraper"
 * declare const snapshot: Effect.Effect<Progress.Snapshot>
 * const reporter = Progress.report(snapshot, { tty: process.stderr.isTTY === true })
 * ```
 * @since 0.1.0
 */
export const report = (
  snapshot: Effect.Effect<Snapshot>,
  options: { readonly tty: boolean; readonly logEveryMillis?: number | undefined; readonly write?: ((text: string) => void) | undefined }
): Effect.Effect<never> => {
  const write = options.write ?? ((text: string) => void process.stderr.write(text))
  const once = Effect.flatMap(snapshot, (s) =>
    options.tty ? Effect.sync(() => write(`\r\x1b[2K${statusLine(s)}`)) : Effect.logInfo(statusLine(s)))
  const every = options.tty ? 1000 : options.logEveryMillis ?? 5000
  return Effect.forever(Effect.andThen(Effect.sleep(every), once)).pipe(
    Effect.ensuring(options.tty ? Effect.sync(() => write("\r\x1b[2K")) : Effect.void)
  )
}

/**
 * What a snapshot reads besides the pipeline: the extraction threads' CPU
 * utilisation and crashes (`Extractor.Service.utilization`, `crashes`) and the
 * fetcher's held-back hosts (`Fetcher.Service.hostStates`).
 *
 * @since 0.3.0
 */
export interface Sources {
  readonly workerUtilization?: Effect.Effect<number | undefined> | undefined
  readonly workerCrashes?: Effect.Effect<number | undefined> | undefined
  readonly hostStates?: Effect.Effect<Fetcher.HostStates> | undefined
}

/**
 * Takes a snapshot of a running pipeline.
 *
 * @example
 * ```ts
 * import type { Fetcher } from "@trawl/fetch"
 * import { Progress, type Extractor, type Pipeline } from "@trawl/scraper"
 * declare const running: Pipeline.Running<never>
 * declare const extractor: Extractor.Service
 * declare const fetcher: Fetcher.Service
 * const snapshot = Progress.snapshotOf(running, {
 *   workerUtilization: extractor.utilization,
 *   workerCrashes: extractor.crashes,
 *   hostStates: fetcher.hostStates
 * })
 * ```
 * @since 0.1.0
 */
export const snapshotOf = <E>(running: Pipeline.Running<E>, sources: Sources = {}): Effect.Effect<Snapshot> =>
  Effect.gen(function*() {
    const counters = yield* running.counters
    const schedule = yield* running.schedule
    const workerUtilization = sources.workerUtilization === undefined ? undefined : yield* sources.workerUtilization
    const workerCrashes = sources.workerCrashes === undefined ? undefined : yield* sources.workerCrashes
    const hosts = sources.hostStates === undefined ? undefined : yield* sources.hostStates
    const restarts = (yield* Metric.value(Actor.metrics.restarts)).count
    return { counters, schedule, workerUtilization, workerCrashes, hosts, restarts, now: yield* Clock.currentTimeMillis }
  })
