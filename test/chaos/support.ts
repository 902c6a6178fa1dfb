/**
 * Real parts for the outage scenarios (`outage.ts`): `trawl` as a child
 * process with its stdout lines time-stamped on arrival, a webhook receiver
 * that can be told to fail, a process holding a SQLite write lock, an alerts
 * file watched for when each key appears, and a reader of a trawl database
 * (SQLite through `node:sqlite`, Postgres through `psql`) that does not go
 * through the store under test.
 *
 * Everything is on 127.0.0.1, and every wait is bounded.
 *
 * @since 0.2.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Readline from "node:readline"
import { DatabaseSync } from "node:sqlite"
import { fileURLToPath } from "node:url"
import type { ObservationRow } from "./verify.ts"

/**
 * A scenario could not run (a process did not start, a wait ran out): not a
 * verdict, which is a report's `failures`.
 *
 * @since 0.2.0
 */
export class SetupError extends Data.TaggedError("SetupError")<{ readonly message: string }> {}

/**
 * A temporary directory, removed with the scope.
 *
 * @since 0.2.0
 */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

// -----------------------------------------------------------------------------
// trawl as a child process
// -----------------------------------------------------------------------------

const trawlBin = fileURLToPath(new URL("../../apps/scraper/src/bin/trawl.ts", import.meta.url))

/**
 * How a `trawl` process ended.
 *
 * @since 0.2.0
 */
export interface TrawlExit {
  readonly code: number | null
  readonly signal: string | null
  readonly stderr: string
  readonly stdout: ReadonlyArray<StdoutLine>
  readonly startedAt: number
  readonly endedAt: number
}

/**
 * One line the process wrote on stdout, with the wall time it arrived here.
 *
 * @since 0.2.0
 */
export interface StdoutLine {
  readonly at: number
  readonly line: string
}

/**
 * A running `trawl`.
 *
 * @since 0.2.0
 */
export interface Trawl {
  readonly process: ChildProcess.ChildProcess
  readonly startedAt: number
  /** Lines so far (the array grows while the process runs). */
  readonly stdout: ReadonlyArray<StdoutLine>
  readonly stderr: () => string
  readonly exited: Promise<TrawlExit>
  readonly running: () => boolean
}

/**
 * Starts `trawl …` from source; SIGKILLed when the scope closes if still
 * running, and never outlives `limitMillis`.
 *
 * @since 0.2.0
 */
export const spawnTrawl = (
  args: ReadonlyArray<string>,
  limitMillis: number,
  env: Record<string, string> = {}
): Effect.Effect<Trawl, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync((): Trawl => {
      const startedAt = Date.now()
      const child = ChildProcess.spawn(process.execPath, ["--conditions=@trawl/source", trawlBin, ...args], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ...env }
      })
      const stdout: Array<StdoutLine> = []
      let stderr = ""
      child.stderr!.setEncoding("utf8")
      // keep the head and a long tail: the first warnings and the last line both matter
      child.stderr!.on("data", (chunk: string) => {
        stderr += chunk
        if (stderr.length > 1 << 20) stderr = stderr.slice(0, 1 << 18) + "\n…\n" + stderr.slice(-(1 << 19))
      })
      Readline.createInterface({ input: child.stdout! }).on("line", (line) => stdout.push({ at: Date.now(), line }))
      const limit = setTimeout(() => child.kill("SIGKILL"), limitMillis)
      let done = false
      const exited = new Promise<TrawlExit>((resolve) => {
        child.on("close", (code, signal) => {
          done = true
          clearTimeout(limit)
          resolve({ code, signal, stderr, stdout, startedAt, endedAt: Date.now() })
        })
      })
      return { process: child, startedAt, stdout, stderr: () => stderr, exited, running: () => !done }
    }),
    (trawl) => Effect.sync(() => void (trawl.running() && trawl.process.kill("SIGKILL")))
  )

/**
 * Runs `trawl …` to its end (bounded by `limitMillis`).
 *
 * @since 0.2.0
 */
export const runTrawl = (args: ReadonlyArray<string>, limitMillis: number): Effect.Effect<TrawlExit> =>
  Effect.scoped(Effect.flatMap(spawnTrawl(args, limitMillis), (trawl) => Effect.promise(() => trawl.exited)))

/**
 * The `| label | value |` rows of the summary table a run prints at its end.
 *
 * @since 0.2.0
 */
export const summaryOf = (stdout: ReadonlyArray<StdoutLine>): Record<string, string> => {
  const rows: Record<string, string> = {}
  for (const { line } of stdout) {
    const match = /^\| (.+?) +\| +(.*?) \|$/.exec(line)
    if (match !== null) rows[match[1]!] = match[2]!
  }
  return rows
}

/**
 * The stdout notifier's alert lines (not the summary table, not `imported N
 * target(s)`).
 *
 * @since 0.2.0
 */
export const alertLinesOf = (stdout: ReadonlyArray<StdoutLine>): ReadonlyArray<StdoutLine> =>
  stdout.filter(({ line }) => alertHeadline.test(line))

/** How `AlertText.line` starts, for each kind of alert. */
const alertHeadline = /^(first seen|price up|price down|currency changed|back in stock|out of stock|extraction broken|[a-z_]+): /

/**
 * The `notifier NAME: N pending, M delivered …` lines of `trawl status`.
 *
 * @since 0.2.0
 */
export interface NotifierLine {
  readonly name: string
  readonly pending: number
  readonly delivered: number
  readonly lastError: string | undefined
}

/**
 * Parses `trawl status` output.
 *
 * @since 0.2.0
 */
export const notifierLinesOf = (stdout: ReadonlyArray<StdoutLine>): ReadonlyArray<NotifierLine> =>
  stdout.flatMap(({ line }) => {
    const match = /^notifier\s+(.+): (\d+) pending, (\d+) delivered(?: · last error (.*))?$/.exec(line)
    return match === null ? [] : [{ name: match[1]!, pending: Number(match[2]), delivered: Number(match[3]), lastError: match[4] }]
  })

// -----------------------------------------------------------------------------
// a webhook receiver that can fail
// -----------------------------------------------------------------------------

/**
 * One request the receiver answered.
 *
 * @since 0.2.0
 */
export interface HookRequest {
  readonly key: string
  readonly body: string
  readonly at: number
  readonly status: number
}

/**
 * A webhook receiver on 127.0.0.1.
 *
 * @since 0.2.0
 */
export interface Hook {
  readonly url: string
  readonly requests: ReadonlyArray<HookRequest>
  /** Answer this status (500) until `untilMillis` (wall time), 200 after. */
  readonly failUntil: (untilMillis: number, status?: number) => void
}

/**
 * A webhook receiver recording each request's `Idempotency-Key`, body, time
 * and the status it answered; closed with the scope.
 *
 * @since 0.2.0
 */
export const webhookReceiver: Effect.Effect<Hook, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const requests: Array<HookRequest> = []
    let failing = { until: 0, status: 500 }
    const server = http.createServer((req, res) => {
      let body = ""
      req.setEncoding("utf8")
      req.on("data", (chunk: string) => (body += chunk))
      req.on("end", () => {
        const at = Date.now()
        const status = at < failing.until ? failing.status : 200
        requests.push({ key: String(req.headers["idempotency-key"]), body, at, status })
        res.writeHead(status).end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const hook: Hook = {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
      requests,
      failUntil: (until, status = 500) => void (failing = { until, status })
    }
    return { hook, server }
  }),
  ({ server }) =>
    Effect.promise(() => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    })
).pipe(Effect.map(({ hook }) => hook))

// -----------------------------------------------------------------------------
// a process holding the SQLite write lock
// -----------------------------------------------------------------------------

const lockHolderScript = fileURLToPath(new URL("./lock-holder.ts", import.meta.url))

/**
 * A lock held by another process.
 *
 * @since 0.2.0
 */
export interface HeldLock {
  readonly lockedAt: number
  /** Resolves with the wall time of the rollback, once the process is gone. */
  readonly released: Promise<number>
}

/**
 * Starts `lock-holder.ts` on `file` and waits (up to 30 s) until it holds the
 * write lock; killed with the scope if still running.
 *
 * @since 0.2.0
 */
export const holdSqliteLock = (file: string, holdMillis: number, mode: "immediate" | "exclusive" = "immediate"): Effect.Effect<HeldLock, SetupError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() =>
      ChildProcess.spawn(process.execPath, [lockHolderScript, file, String(holdMillis), mode], { stdio: ["ignore", "pipe", "pipe"] })
    ),
    (child) => Effect.sync(() => void (child.exitCode === null && child.signalCode === null && child.kill("SIGKILL")))
  ).pipe(
    Effect.flatMap((child) =>
      Effect.callback<HeldLock, SetupError>((resume) => {
        let stderr = ""
        let resolveReleased: (at: number) => void = () => undefined
        const released = new Promise<number>((resolve) => (resolveReleased = resolve))
        let releasedAt: number | undefined
        child.stderr!.setEncoding("utf8")
        child.stderr!.on("data", (chunk: string) => (stderr += chunk))
        const timer = setTimeout(() => resume(Effect.fail(new SetupError({ message: `lock-holder did not lock ${file} within 30 s: ${stderr}` }))), 30_000)
        Readline.createInterface({ input: child.stdout! }).on("line", (line) => {
          const event = JSON.parse(line) as { event: string; at: number }
          if (event.event === "locked") {
            clearTimeout(timer)
            resume(Effect.succeed({ lockedAt: event.at, released }))
          } else if (event.event === "released") releasedAt = event.at
        })
        child.on("close", (code) => {
          clearTimeout(timer)
          if (releasedAt === undefined) {
            resume(Effect.fail(new SetupError({ message: `lock-holder exited ${code}: ${stderr.trim()}` })))
            resolveReleased(Date.now())
          } else resolveReleased(releasedAt)
        })
      })
    )
  )

// -----------------------------------------------------------------------------
// watching the alerts file
// -----------------------------------------------------------------------------

/**
 * The JSONL alerts file as seen so far.
 *
 * @since 0.2.0
 */
export interface FileWatch {
  /** When each key was first seen in the file (polled every 100 ms). */
  readonly firstSeen: ReadonlyMap<string, number>
  /** Reads the file now: its keys in order (with repeats) and unreadable lines. */
  readonly read: () => { readonly keys: ReadonlyArray<string>; readonly torn: number; readonly lines: number }
}

const readJsonl = (file: string) => {
  const lines = fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== "") : []
  const keys: Array<string> = []
  let torn = 0
  for (const line of lines) {
    try {
      keys.push(String((JSON.parse(line) as { key: unknown }).key))
    } catch {
      torn++
    }
  }
  return { keys, torn, lines: lines.length }
}

/**
 * Polls the alerts file every 100 ms for as long as the scope is open.
 *
 * @since 0.2.0
 */
export const watchFile = (file: string): Effect.Effect<FileWatch, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const firstSeen = new Map<string, number>()
      const poll = () => {
        const now = Date.now()
        for (const key of readJsonl(file).keys) if (!firstSeen.has(key)) firstSeen.set(key, now)
      }
      const timer = setInterval(poll, 100)
      return { timer, watch: { firstSeen, read: () => readJsonl(file) } satisfies FileWatch }
    }),
    ({ timer }) => Effect.sync(() => clearInterval(timer))
  ).pipe(Effect.map(({ watch }) => watch))

// -----------------------------------------------------------------------------
// reading a trawl database
// -----------------------------------------------------------------------------

/**
 * An observation, with its target's URL.
 *
 * @since 0.2.0
 */
export interface Observation extends ObservationRow {
  readonly targetId: number
}

/**
 * An alert row, with its target's URL.
 *
 * @since 0.2.0
 */
export interface Alert {
  readonly id: number
  readonly key: string
  readonly targetId: number
  readonly url: string
  readonly kind: string
  readonly oldAmount: string | null
  readonly oldCurrency: string | null
  readonly newAmount: string | null
  readonly newCurrency: string | null
  readonly percent: string | null
  readonly failureStreak: number
  readonly createdAt: number
  readonly sentAt: number | null
  readonly productName: string | null
}

/**
 * A run record.
 *
 * @since 0.2.0
 */
export interface Run {
  readonly id: number
  readonly startedAt: number
  readonly finishedAt: number | null
  readonly status: string
  readonly observations: number
  readonly failures: number
}

/**
 * A delivery row (schema 3_deliveries).
 *
 * @since 0.2.0
 */
export interface Delivery {
  readonly alertId: number
  readonly notifier: string
  readonly claimedUntil: number | null
  readonly sentAt: number | null
  readonly attempts: number
}

/**
 * Everything the scenarios judge, read at one moment.
 *
 * @since 0.2.0
 */
export interface Snapshot {
  readonly observations: ReadonlyArray<Observation>
  readonly alerts: ReadonlyArray<Alert>
  readonly runs: ReadonlyArray<Run>
  readonly deliveries: ReadonlyArray<Delivery>
  readonly targets: number
}

const queries = {
  observations: `SELECT o.id AS "id", o.target_id AS "targetId", t.url AS "url", o.observed_at AS "observedAt", o.outcome AS "outcome",
    o.amount AS "amount", o.currency AS "currency", o.availability AS "availability", o.error_tag AS "errorTag"
    FROM observations o JOIN targets t ON t.id = o.target_id ORDER BY o.id`,
  alerts: `SELECT a.id AS "id", a.key AS "key", a.target_id AS "targetId", t.url AS "url", a.kind AS "kind",
    a.old_amount AS "oldAmount", a.old_currency AS "oldCurrency", a.new_amount AS "newAmount", a.new_currency AS "newCurrency",
    a.percent AS "percent", a.failure_streak AS "failureStreak", a.created_at AS "createdAt", a.sent_at AS "sentAt",
    a.product_name AS "productName"
    FROM alerts a JOIN targets t ON t.id = a.target_id ORDER BY a.id`,
  runs: `SELECT id AS "id", started_at AS "startedAt", finished_at AS "finishedAt", status AS "status",
    observations AS "observations", failures AS "failures" FROM runs ORDER BY id`,
  deliveries: `SELECT alert_id AS "alertId", notifier AS "notifier", claimed_until AS "claimedUntil", sent_at AS "sentAt",
    attempts AS "attempts" FROM deliveries ORDER BY alert_id, notifier`,
  targets: `SELECT count(*) AS "n" FROM targets`
} as const

const numeric = <A>(rows: ReadonlyArray<Record<string, unknown>>, keys: ReadonlyArray<string>): Array<A> =>
  rows.map((row) => {
    const out: Record<string, unknown> = { ...row }
    for (const key of keys) if (out[key] !== null && out[key] !== undefined) out[key] = Number(out[key])
    return out as A
  })

const toSnapshot = (raw: Record<keyof typeof queries, ReadonlyArray<Record<string, unknown>>>): Snapshot => ({
  observations: numeric<Observation>(raw.observations, ["id", "targetId", "observedAt"]),
  alerts: numeric<Alert>(raw.alerts, ["id", "targetId", "failureStreak", "createdAt", "sentAt"]),
  runs: numeric<Run>(raw.runs, ["id", "startedAt", "finishedAt", "observations", "failures"]),
  deliveries: numeric<Delivery>(raw.deliveries, ["alertId", "claimedUntil", "sentAt", "attempts"]),
  targets: Number(raw.targets[0]?.n ?? 0)
})

/**
 * Reads a trawl database somewhere.
 *
 * @since 0.2.0
 */
export interface Reader {
  readonly describe: string
  readonly snapshot: Effect.Effect<Snapshot, SetupError>
  /** Observations so far; 0 while there is no schema yet (or the store is away). */
  readonly countObservations: Effect.Effect<number>
}

/**
 * Reads a SQLite file read-only (fine beside a running writer in WAL mode, and
 * beside another process's write lock).
 *
 * @since 0.2.0
 */
export const sqliteReader = (file: string): Reader => {
  const read = <A>(f: (db: DatabaseSync) => A): A => {
    const db = new DatabaseSync(file, { readOnly: true, timeout: 5000 })
    try {
      return f(db)
    } finally {
      db.close()
    }
  }
  return {
    describe: file,
    snapshot: Effect.try({
      try: () =>
        read((db) =>
          toSnapshot(Object.fromEntries(Object.entries(queries).map(([name, sql]) => [name, db.prepare(sql).all()])) as never)
        ),
      catch: (error) => new SetupError({ message: `reading ${file}: ${(error as Error).message}` })
    }),
    countObservations: Effect.sync(() => {
      try {
        return read((db) => Number((db.prepare("SELECT count(*) AS n FROM observations").get() as { n: number }).n))
      } catch {
        return 0
      }
    })
  }
}

/**
 * Reads a Postgres database through `psql` (JSON out of `json_agg`).
 *
 * @since 0.2.0
 */
export const postgresReader = (psql: string, port: number, database = "postgres"): Reader => {
  const query = (sql: string) =>
    new Promise<ReadonlyArray<Record<string, unknown>>>((resolve, reject) => {
      ChildProcess.execFile(
        psql,
        ["-X", "-q", "-tA", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", database, "-c",
          `SELECT coalesce(json_agg(q), '[]'::json) FROM (${sql}) q`],
        { timeout: 15_000, maxBuffer: 256 << 20, env: { ...process.env, PGCONNECT_TIMEOUT: "3" } },
        (error, stdout, stderr) => error !== null ? reject(new Error(stderr.trim() || error.message)) : resolve(JSON.parse(stdout))
      )
    })
  return {
    describe: `postgres on 127.0.0.1:${port}`,
    snapshot: Effect.tryPromise({
      try: async () => {
        const raw: Record<string, ReadonlyArray<Record<string, unknown>>> = {}
        // one statement each, in dependency order (observations before the alerts that point at them)
        for (const [name, sql] of Object.entries(queries)) raw[name] = await query(sql)
        return toSnapshot(raw as never)
      },
      catch: (error) => new SetupError({ message: `reading postgres on ${port}: ${(error as Error).message}` })
    }),
    countObservations: Effect.promise(() => query(`SELECT count(*) AS n FROM observations`).then((rows) => Number(rows[0]?.n ?? 0), () => 0))
  }
}

/**
 * Polls `condition` every `everyMillis` until it holds or `limitMillis` passes;
 * succeeds with whether it held.
 *
 * @since 0.2.0
 */
export const waitFor = <E, R>(condition: Effect.Effect<boolean, E, R>, limitMillis: number, everyMillis = 100): Effect.Effect<boolean, E, R> =>
  Effect.gen(function*() {
    const until = Date.now() + limitMillis
    while (true) {
      if (yield* condition) return true
      if (Date.now() >= until) return false
      yield* Effect.sleep(everyMillis)
    }
  })
