/**
 * Where the SQLite connection runs: the store on the calling thread
 * (`thread: "main"`, SqliteClient) against the store with its connection in a
 * worker (`thread: "worker"`, SqliteWorkerClient, the default). One JSON line
 * per measurement, the worker's compared with the main thread's:
 *
 * - main-thread CPU per 1,000 observations (`process.threadCpuUsage()`, user +
 *   system, of this thread only) and wall time per 1,000 observations, over
 *   `recordObservations` of 1,000-observation batches (1,000 targets, one
 *   observation in ten moves a price and raises an alert);
 * - the client's start-up: opening an existing, migrated database (the worker
 *   thread's start included), median of 20; the worker from `.ts` sources
 *   (type stripping) and, when the package is built, from `dist/`.
 *
 * Each case runs `rounds` times (default 3) on a fresh database, `batches`
 * (default 40) measured batches each; the median round is reported.
 *
 *   node --conditions=@trawl/source bench/thread.ts [batches] [rounds]
 */
import * as Effect from "effect/Effect"
import * as References from "effect/References"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import * as Model from "../src/Model.ts"
import * as SqliteClient from "../src/SqliteClient.ts"
import * as SqliteWorkerClient from "../src/SqliteWorkerClient.ts"
import * as Store from "../src/Store.ts"

const batches = Number(process.argv[2] ?? 40)
const rounds = Number(process.argv[3] ?? 3)
const emit = (line: Record<string, unknown>) => console.log(JSON.stringify(line))
const T0 = 1_700_000_000_000
const targets = 1000
/** `worker, unbatched`: the worker client with one message per statement, also for the targets' updates (see `layer`). */
type Case = "main" | "worker" | "worker, unbatched"

const cpuMicros = () => {
  const usage = process.threadCpuUsage()
  return usage.user + usage.system
}

const clientOf = (filename: string, thread: "main" | "worker"): Effect.Effect<SqlClient.SqlClient, SqlError.SqlError, Scope.Scope | Reactivity.Reactivity> =>
  thread === "main" ? SqliteClient.make({ filename }) : SqliteWorkerClient.make({ filename })

/**
 * The store of a case. "worker, unbatched" hands the store a proxy of the
 * client: the store's batch of target updates (`executeBatch`) does not know
 * it, so it runs them as one statement (one message) each.
 */
const layer = (filename: string, thread: Case) =>
  thread !== "worker, unbatched"
    ? Store.layerSqlite({ filename, thread })
    : Layer.effect(
      Store.Store,
      Effect.flatMap(clientOf(filename, "worker"), (client) =>
        Effect.provideService(Store.make({ database: filename }), SqlClient.SqlClient, new Proxy(client, {})))
    ).pipe(Layer.provide(Reactivity.layer))

const record = (filename: string, thread: Case) =>
  Effect.gen(function*() {
    const store = yield* Store.Store
    yield* store.addTargets(
      Array.from({ length: targets }, (_, i) =>
        new Model.NewTarget({ url: `https://shop${i % 50}.example/p/${i}`, intervalMillis: 300_000, dueAt: T0 }))
    )
    const ids = (yield* store.dueTargets({ now: T0, limit: targets })).map((t) => t.id)
    let n = 0
    const batch = () =>
      Array.from({ length: 1000 }, () => {
        const i = n++
        return new Model.ObservationInput({
          targetId: ids[i % targets]!,
          observedAt: T0 + i,
          outcome: "ok",
          price: new Model.Money({ amount: `${10 + Math.floor(i / targets / 10) % 2}.99`, currency: "EUR" }),
          availability: "in_stock",
          httpStatus: 200,
          source: "json-ld",
          contentHash: `h${i}`
        })
      })
    // warm-up: statements prepared, first_seen alerts out of the way
    for (let i = 0; i < 3; i++) yield* store.recordObservations(batch())
    const inputs = Array.from({ length: batches }, batch)
    const cpu = cpuMicros()
    const start = performance.now()
    for (const input of inputs) yield* store.recordObservations(input)
    const wall = performance.now() - start
    return { cpuMillis: (cpuMicros() - cpu) / 1000 / batches, wallMillis: wall / batches }
  }).pipe(Effect.provide(layer(filename, thread)))

const median = (values: Array<number>) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** The built client (`npm run build`), whose worker loads `dist/internal/sqliteWorker.js`: no type stripping. */
const built = new URL("../dist/SqliteWorkerClient.js", import.meta.url)

const startUp = (filename: string, thread: "main" | "worker" | "worker from dist") =>
  Effect.gen(function*() {
    const times: Array<number> = []
    for (let i = 0; i < 21; i++) {
      const start = performance.now()
      yield* Effect.scoped(
        Effect.flatMap(
          thread === "worker from dist"
            ? Effect.flatMap(
              Effect.promise(() => import(built.href) as Promise<typeof SqliteWorkerClient>),
              (module) => module.make({ filename })
            )
            : clientOf(filename, thread),
          (sql) => sql`SELECT count(*) FROM targets`
        )
      ).pipe(Effect.provide(Reactivity.layer))
      if (i > 0) times.push(performance.now() - start)
    }
    return median(times)
  })

const program = Effect.gen(function*() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trawl-bench-thread-"))
  try {
    // Rounds of every case, each on a database of its own; the median round counts (a shared machine is noisy).
    const cases = ["main", "worker", "worker, unbatched"] as const
    const runs = { main: [], worker: [], "worker, unbatched": [] } as Record<Case, Array<{ cpuMillis: number; wallMillis: number }>>
    for (let round = 0; round < rounds; round++) {
      for (const [i, thread] of cases.entries()) runs[thread].push(yield* record(path.join(dir, `${round}-${i}.db`), thread))
    }
    const results = {} as Record<Case, { cpuMillis: number; wallMillis: number }>
    for (const thread of cases) {
      results[thread] = {
        cpuMillis: median(runs[thread].map((run) => run.cpuMillis)),
        wallMillis: median(runs[thread].map((run) => run.wallMillis))
      }
    }
    const start = { main: yield* startUp(path.join(dir, "0-0.db"), "main"), worker: yield* startUp(path.join(dir, "0-0.db"), "worker") }
    const line = (thread: Case, value: number, baseline: number, what: string, unit: string, baselineWhat = what) =>
      emit({
        bench: "store-thread",
        case: `sqlite ${thread}, ${what}`,
        value: Number(value.toFixed(2)),
        unit,
        baseline: `sqlite main, ${baselineWhat}`,
        ratio: Number((value / baseline).toFixed(2)),
        baselineValue: Number(baseline.toFixed(2))
      })
    for (const thread of ["worker", "worker, unbatched"] as const) {
      const what = "recordObservations batches of 1000"
      line(thread, results[thread].cpuMillis, results.main.cpuMillis, `main-thread CPU, ${what}`, "ms per 1000 observations")
      line(thread, results[thread].wallMillis, results.main.wallMillis, `wall time, ${what}`, "ms per 1000 observations")
    }
    const opening = "open an existing database (client start-up), median of 20"
    line("worker", start.worker, start.main, "open an existing database (client start-up, worker from .ts sources), median of 20", "ms", opening)
    if (fs.existsSync(fileURLToPath(built))) {
      const fromDist = yield* startUp(path.join(dir, "0-0.db"), "worker from dist")
      line("worker", fromDist, start.main, "open an existing database (client start-up, worker from dist/), median of 20", "ms", opening)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

Effect.runPromise(program.pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))).catch((error) => {
  console.error(error)
  process.exit(1)
})
