/**
 * The JSON API's latency over real HTTP (the dashboard's server on
 * 127.0.0.1, `fetch` as the client), on SQLite and on Postgres:
 *
 * - `GET /api/v1/targets/:id/history` of a target with 100,000 observations
 *   (the default page: its newest 1,000), and of a one-day range in it;
 * - `GET /api/v1/targets?q=&page=` over 100,000 targets (a word a quarter of
 *   them contain, page 40 of 50; and one no URL contains).
 *
 * Each case: `BENCH_REQUESTS` (100) requests after 10 unmeasured ones, p50
 * and p99; the baseline is the same store query called directly in the same
 * run (no HTTP, no JSON), so `ratio` is what the API adds.
 *
 *   npm run bench:api -w @trawl/scraper
 *
 * Postgres: TRAWL_TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/test
 * (a schema of its own, dropped after); skipped with the reason when it does
 * not answer.
 */
import { Model, Store } from "@trawl/store"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as SqlClient from "effect/sql/SqlClient"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Dashboard } from "../src/index.ts"

const requests = Number(process.env["BENCH_REQUESTS"] ?? 100)
const targetCount = 100_000
const observationCount = 100_000
const T0 = 1_700_000_000_000
const MINUTE = 60_000

const emit = (line: Record<string, unknown>) => console.log(JSON.stringify({ bench: "api", ...line }))

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

const time = async (run: () => Promise<unknown>): Promise<Array<number>> => {
  for (let i = 0; i < 10; i++) await run()
  const took: Array<number> = []
  for (let i = 0; i < requests; i++) {
    const started = performance.now()
    await run()
    took.push(performance.now() - started)
  }
  return took
}

/** Fills the store: 100,000 targets (a quarter with "kettle" in the path), target 1 with 100,000 observations a minute apart. */
const fill = (store: Store.Service) =>
  Effect.gen(function*() {
    for (let start = 0; start < targetCount; start += 5_000) {
      yield* store.addTargets(Array.from({ length: 5_000 }, (_, i) => {
        const n = start + i + 1
        return new Model.NewTarget({ url: `https://shop-${n % 4999}.example/${n % 4 === 0 ? "kettle" : "toaster"}/${n}`, intervalMillis: 5 * MINUTE, dueAt: T0 })
      }))
    }
    for (let start = 0; start < observationCount; start += 1_000) {
      yield* store.recordObservations(Array.from({ length: 1_000 }, (_, i) => {
        const n = start + i
        return new Model.ObservationInput({
          targetId: 1,
          observedAt: T0 + n * MINUTE,
          outcome: "ok",
          price: new Model.Money({ amount: (19 + (n % 7) / 10).toFixed(2), currency: "EUR" }),
          availability: "in_stock",
          httpStatus: 200,
          source: "json-ld"
        })
      }))
    }
  })

const cases = (backend: string, store: Store.Service) =>
  Effect.gen(function*() {
    const { url } = yield* Dashboard.serve(undefined, { port: 0, store })
    const api = `${url}api/v1/`
    const day = { from: T0 + 50_000 * MINUTE, to: T0 + 50_000 * MINUTE + 24 * 60 * MINUTE }
    const measured: Array<{ case: string; http: () => Promise<unknown>; direct: () => Promise<unknown>; target: number }> = [
      {
        case: `history of a target with ${observationCount} observations (newest 1,000)`,
        http: () => fetch(`${api}targets/1/history`).then((r) => r.json()),
        direct: () => Effect.runPromise(store.history(1, { limit: 1_000 })),
        target: 20
      },
      {
        case: "history, a one-day range (1,440 observations, limit 10,000)",
        http: () => fetch(`${api}targets/1/history?from=${day.from}&to=${day.to}&limit=10000`).then((r) => r.json()),
        direct: () => Effect.runPromise(store.history(1, { since: day.from, until: day.to, limit: 10_000 })),
        target: 20
      },
      {
        case: `targets search over ${targetCount} targets (q=kettle: 25,000 match, page 40 of 50)`,
        http: () => fetch(`${api}targets?q=kettle&page=40&size=50`).then((r) => r.json()),
        direct: () => Effect.runPromise(store.searchTargets({ query: "kettle", offset: 39 * 50, limit: 50 })),
        target: 50
      },
      {
        case: `targets search over ${targetCount} targets (a query nothing matches)`,
        http: () => fetch(`${api}targets?q=no-such-thing`).then((r) => r.json()),
        direct: () => Effect.runPromise(store.searchTargets({ query: "no-such-thing", offset: 0, limit: 50 })),
        target: 50
      }
    ]
    for (const c of measured) {
      const http = yield* Effect.promise(() => time(c.http))
      const direct = yield* Effect.promise(() => time(c.direct))
      const p50 = percentile(http, 0.5)
      const base = percentile(direct, 0.5)
      emit({
        case: `${backend}: ${c.case}, p50 over HTTP`,
        value: Math.round(p50 * 100) / 100,
        unit: "ms",
        p99: Math.round(percentile(http, 0.99) * 100) / 100,
        baseline: Math.round(base * 100) / 100,
        ratio: Math.round((p50 / base) * 100) / 100,
        target: `p50 <= ${c.target} ms`
      })
    }
  })

const onBackend = (backend: string, layer: Layer.Layer<Store.Store, unknown>, dropSchema?: string) =>
  Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(layer)
    const store = Context.get(context, Store.Store)
    if (dropSchema !== undefined) {
      // the bench's schema goes with it
      const sql = Context.getOption(context as Context.Context<unknown>, SqlClient.SqlClient)
      if (sql._tag === "Some") yield* Effect.addFinalizer(() => Effect.ignore(sql.value.unsafe(`DROP SCHEMA IF EXISTS ${dropSchema} CASCADE`)))
    }
    const filling = performance.now()
    yield* fill(store)
    console.error(`${backend}: filled in ${((performance.now() - filling) / 1000).toFixed(1)} s`)
    yield* cases(backend, store)
  }))

const program = Effect.gen(function*() {
  const dir = yield* Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "trawl-bench-api-")))
  yield* onBackend("sqlite", Store.layerSqlite({ filename: path.join(dir, "api.db") })).pipe(
    Effect.ensuring(Effect.promise(() => fs.rm(dir, { recursive: true, force: true })))
  )
  const url = process.env["TRAWL_TEST_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"
  const schema = `trawl_bench_api_${process.pid}`
  const ran = yield* Effect.result(onBackend("postgres", Store.layerPostgres({ url, schema }), schema))
  if (ran._tag === "Failure") console.error(`postgres: skipped (${String((ran.failure as Error).message ?? ran.failure)})`)
})

Effect.runPromise(program.pipe(Effect.provide(Logger.layer([])))).catch((error) => {
  console.error(error)
  process.exit(1)
})
