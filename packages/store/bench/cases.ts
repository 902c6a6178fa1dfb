/**
 * Store benchmark cases. One JSON line per measurement.
 *
 * - write: observations/s recorded with change detection on (about one in
 *   ten observations changes the price and raises an alert), batch sizes 1,
 *   100 and 1000; batches of 100 and 1000 are compared with batches of 1
 *   measured in the same run.
 * - writer: observations/s through the batching Writer, 1000 producer
 *   fibers each recording one observation per call; baseline: batches of 1.
 * - due: latency of the due-targets query (the next 1000 due targets) over
 *   1,000,000 targets, half of them due; the baseline is the same query with
 *   the due index dropped (a full scan), measured in the same run.
 * - rules: observations/s recorded for targets with 3 alert rules each
 *   (`below 90 EUR`, `drop 5%`, `rise 5%`) against targets without rules
 *   (the default change detection), 2,000 targets each, batches of 500 (the
 *   pipeline's `maxBatch`), prices on a random walk that crosses the rules.
 *   The two sets' batches alternate (A B A B …) in one database, rounds of
 *   20 batches each (10 on Postgres); the median rounds are compared.
 *   Target: ratio >= 0.8 (issue 21).
 */
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as SqlClient from "effect/sql/SqlClient"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Model from "../src/Model.ts"
import * as Store from "../src/Store.ts"
import * as Writer from "../src/Writer.ts"

const [name, backend, url] = process.argv.slice(2) as [string, "sqlite" | "postgres", string]
const emit = (line: Record<string, unknown>) => console.log(JSON.stringify(line))
const T0 = 1_700_000_000_000

const open = (): { layer: Layer.Layer<Store.Store | SqlClient.SqlClient, unknown>; cleanup: () => Promise<void> } => {
  if (backend === "sqlite") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trawl-bench-"))
    return {
      layer: Store.layerSqlite({ filename: path.join(dir, "trawl.db") }),
      cleanup: async () => fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  const schema = `trawl_bench_${process.pid}`
  return {
    layer: Store.layerPostgres({ url, schema }),
    cleanup: () =>
      Effect.runPromise(
        Effect.provide(
          Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`),
          Store.layerPostgres({ url })
        ).pipe(Effect.asVoid)
      )
  }
}

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

const write = Effect.gen(function*() {
  const store = yield* Store.Store
  const targets = 1000
  yield* store.addTargets(
    Array.from({ length: targets }, (_, i) =>
      new Model.NewTarget({ url: `https://shop${i % 50}.example/p/${i}`, intervalMillis: 300_000, dueAt: T0 }))
  )
  const ids = (yield* store.dueTargets({ now: T0, limit: targets })).map((t) => t.id)
  let n = 0
  const next = () => {
    const i = n++
    // one observation in ten moves the price
    const price = 10 + Math.floor(i / targets / 10) % 2
    return new Model.ObservationInput({
      targetId: ids[i % targets]!,
      observedAt: T0 + i,
      outcome: "ok",
      price: new Model.Money({ amount: `${price}.99`, currency: "EUR" }),
      availability: "in_stock",
      httpStatus: 200,
      source: "json-ld",
      contentHash: `h${i}`
    })
  }
  // warm-up: statements prepared, first_seen alerts out of the way
  for (let i = 0; i < 2; i++) yield* store.recordObservations(Array.from({ length: targets }, next))

  const measure = (batchSize: number, total: number) =>
    Effect.gen(function*() {
      const batches = Array.from({ length: total / batchSize }, () => Array.from({ length: batchSize }, next))
      const start = performance.now()
      let alerts = 0
      for (const batch of batches) {
        const results = yield* store.recordObservations(batch)
        for (const result of results) alerts += result.alerts.length
      }
      const seconds = (performance.now() - start) / 1000
      return { rate: total / seconds, alerts }
    })
  const one = yield* measure(1, backend === "sqlite" ? 5_000 : 2_000)
  emit({ bench: "store-write", case: `${backend} batch 1`, value: Math.round(one.rate), unit: "observations/s", alerts: one.alerts })
  for (const [batchSize, total] of [[100, 50_000], [1000, 200_000]] as const) {
    const result = yield* measure(batchSize, backend === "sqlite" ? total : total / 2)
    emit({
      bench: "store-write",
      case: `${backend} batch ${batchSize}`,
      value: Math.round(result.rate),
      unit: "observations/s",
      baseline: `${backend} batch 1`,
      ratio: Number((result.rate / one.rate).toFixed(1)),
      alerts: result.alerts
    })
  }
})

// The Writer: 1000 producer fibers each recording observations one at a
// time; the writer turns them into transactions of up to 1000.
const writer = Effect.gen(function*() {
  const store = yield* Store.Store
  const targets = 1000
  yield* store.addTargets(
    Array.from({ length: targets }, (_, i) =>
      new Model.NewTarget({ url: `https://shop${i % 50}.example/p/${i}`, intervalMillis: 300_000, dueAt: T0 }))
  )
  const ids = (yield* store.dueTargets({ now: T0, limit: targets })).map((t) => t.id)
  const input = (i: number) =>
    new Model.ObservationInput({
      targetId: ids[i % targets]!,
      observedAt: T0 + i,
      outcome: "ok",
      price: new Model.Money({ amount: `${10 + Math.floor(i / targets / 10) % 2}.99`, currency: "EUR" }),
      availability: "in_stock",
      httpStatus: 200
    })
  const direct = backend === "sqlite" ? 5_000 : 2_000
  let start = performance.now()
  for (let i = 0; i < direct; i++) yield* store.recordObservations([input(i)])
  const baseline = direct / ((performance.now() - start) / 1000)
  const perProducer = backend === "sqlite" ? 100 : 50
  const total = targets * perProducer
  start = performance.now()
  yield* Effect.scoped(Effect.gen(function*() {
    const w = yield* Writer.make({ capacity: 10_000, maxBatch: 1000 })
    yield* Effect.forEach(
      Array.from({ length: targets }, (_, p) => p),
      (p) => Effect.forEach(Array.from({ length: perProducer }, (_, k) => direct + k * targets + p), (i) => w.record(input(i)), { discard: true }),
      { concurrency: "unbounded", discard: true }
    )
  }))
  const rate = total / ((performance.now() - start) / 1000)
  emit({
    bench: "store-writer",
    case: `${backend} 1000 producers, one observation per call`,
    value: Math.round(rate),
    unit: "observations/s",
    baseline: `${backend} recordObservations with batches of 1`,
    ratio: Number((rate / baseline).toFixed(1))
  })
})

const due = Effect.gen(function*() {
  const store = yield* Store.Store
  const sql = yield* SqlClient.SqlClient
  const total = 1_000_000
  const setup = performance.now()
  // Bulk set-up in SQL: 1,000,000 targets, due times spread over 2 hours
  // around T0 (half due), one in 20 disabled.
  yield* sql.withTransaction(
    sql.onDialectOrElse({
      pg: () =>
        sql`INSERT INTO targets (url, host, interval_ms, enabled, next_due_at, created_at)
          SELECT 'https://shop' || (g % 5000) || '.example/p/' || g, 'shop' || (g % 5000) || '.example', 300000,
                 CASE WHEN g % 20 = 0 THEN 0 ELSE 1 END, ${T0 - 3_600_000} + ((g::bigint * 7919) % 7200000), ${T0}
          FROM generate_series(1, ${total}) AS g`,
      orElse: () =>
        sql`WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ${total})
          INSERT INTO targets (url, host, interval_ms, enabled, next_due_at, created_at)
          SELECT 'https://shop' || (n % 5000) || '.example/p/' || n, 'shop' || (n % 5000) || '.example', 300000,
                 CASE WHEN n % 20 = 0 THEN 0 ELSE 1 END, ${T0 - 3_600_000} + ((n * 7919) % 7200000), ${T0}
          FROM g`
    })
  )
  yield* sql.onDialectOrElse({ pg: () => sql`ANALYZE targets`, orElse: () => sql`ANALYZE` })
  const counts = yield* store.statusCounts(T0)
  process.stderr.write(
    `due: ${counts.targets} targets, ${counts.due} due, set up in ${((performance.now() - setup) / 1000).toFixed(1)} s\n`
  )

  const timeQuery = (runs: number) =>
    Effect.gen(function*() {
      const times: Array<number> = []
      for (let i = 0; i < runs; i++) {
        // a different "now" each time, so no run reuses the previous one's pages more than the real scheduler would
        const now = T0 - 1_800_000 + i * 9_000
        const start = performance.now()
        const due = yield* store.dueTargets({ now, limit: 1000 })
        times.push(performance.now() - start)
        if (due.length !== 1000) throw new Error(`expected 1000 due targets, got ${due.length}`)
      }
      return times.sort((a, b) => a - b)
    })
  yield* timeQuery(20)
  const indexed = yield* timeQuery(200)
  yield* sql`DROP INDEX targets_due`
  yield* timeQuery(2)
  const scan = yield* timeQuery(10)
  const p50 = percentile(indexed, 0.5)
  emit({
    bench: "store-due-targets",
    case: `${backend} 1,000,000 targets, next 1000 due, p50`,
    value: Number(p50.toFixed(2)),
    unit: "ms",
    baseline: `${backend} same query without the due index, p50`,
    ratio: Number((percentile(scan, 0.5) / p50).toFixed(1)),
    baselineValue: Number(percentile(scan, 0.5).toFixed(2))
  })
  emit({
    bench: "store-due-targets",
    case: `${backend} 1,000,000 targets, next 1000 due, p99`,
    value: Number(percentile(indexed, 0.99).toFixed(2)),
    unit: "ms"
  })
})

// Alert rules: the same price sequences written to 2,000 targets with 3 rules
// each and to 2,000 targets without (Detect alone), alternating.
const rules = Effect.gen(function*() {
  const store = yield* Store.Store
  const targets = 2000
  const batchSize = 500
  const runBatches = backend === "sqlite" ? 20 : 10
  const rounds = 9
  const alertRules = ["below 90 EUR", "drop 5%", "rise 5%"]
  const add = (set: string, withRules: boolean) =>
    Effect.gen(function*() {
      yield* store.addTargets(
        Array.from({ length: targets }, (_, i) =>
          new Model.NewTarget({
            url: `https://shop${i % 50}.example/${set}/${i}`,
            intervalMillis: 300_000,
            dueAt: T0,
            ...(withRules ? { alertRules } : {})
          }))
      )
      const due = yield* store.dueTargets({ now: T0, limit: 2 * targets })
      return due.filter((t) => t.url.includes(`/${set}/`)).map((t) => t.id)
    })
  // A deterministic random walk per target, the same for both sets (same seed):
  // one reading in five moves the price by up to ±6 %, kept within 70–130 EUR.
  const feed = (ids: ReadonlyArray<number>) => {
    let seed = 0x2545f491
    const random = () => {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return (seed >>> 0) / 0x1_0000_0000
    }
    const cents = ids.map(() => 10_000)
    let n = 0
    return () =>
      Array.from({ length: batchSize }, () => {
        const i = n % ids.length
        const reading = Math.floor(n / ids.length)
        n++
        if (random() < 0.2) {
          let next = Math.round(cents[i]! * (1 + (random() * 2 - 1) * 0.06))
          if (next < 7_000) next = 14_000 - next
          if (next > 13_000) next = 26_000 - next
          cents[i] = next
        }
        const c = cents[i]!
        return new Model.ObservationInput({
          targetId: ids[i]!,
          observedAt: T0 + reading * 300_000,
          outcome: "ok",
          price: new Model.Money({ amount: `${Math.floor(c / 100)}.${String(c % 100).padStart(2, "0")}`, currency: "EUR" }),
          availability: "in_stock",
          httpStatus: 200,
          source: "json-ld",
          contentHash: `h${c}`
        })
      })
  }
  const sets = {
    with: feed(yield* add("rules", true)),
    without: feed(yield* add("plain", false))
  }
  // One round: `runBatches` batches of each set, interleaved batch by batch
  // (A B A B …, B first in every other round), so a burst of load from
  // elsewhere on the machine falls on both alike; each set's time is summed.
  const round = (first: keyof typeof sets) =>
    Effect.gen(function*() {
      const order = first === "with" ? ["with", "without"] as const : ["without", "with"] as const
      const batches = { with: Array.from({ length: runBatches }, sets.with), without: Array.from({ length: runBatches }, sets.without) }
      ;(globalThis as { gc?: () => void }).gc?.()
      const millis = { with: 0, without: 0 }
      const alerts = { with: 0, without: 0 }
      for (let k = 0; k < runBatches; k++) {
        for (const which of order) {
          const start = performance.now()
          const results = yield* store.recordObservations(batches[which][k]!)
          millis[which] += performance.now() - start
          for (const result of results) alerts[which] += result.alerts.length
        }
      }
      const rate = (which: keyof typeof sets) => ({ rate: batchSize * runBatches / (millis[which] / 1000), alerts: alerts[which] })
      return { with: rate("with"), without: rate("without") }
    })
  // warm-up: every target's first reading (first_seen, the rules' references), statements prepared
  for (let i = 0; i < targets / batchSize + 2; i++) {
    yield* store.recordObservations(sets.with())
    yield* store.recordObservations(sets.without())
  }
  const runs = { with: [] as Array<{ rate: number; alerts: number }>, without: [] as Array<{ rate: number; alerts: number }> }
  for (let r = 0; r < rounds; r++) {
    const result = yield* round(r % 2 === 0 ? "with" : "without")
    runs.with.push(result.with)
    runs.without.push(result.without)
  }
  const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
  const value = median(runs.with.map((r) => r.rate))
  const baseline = median(runs.without.map((r) => r.rate))
  const per = `${targets} targets, batches of ${batchSize}`
  emit({
    bench: "store-rules",
    case: `${backend} 3 alert rules per target (below 90 EUR, drop 5%, rise 5%), ${per}`,
    value: Math.round(value),
    unit: "observations/s",
    baseline: `${backend} no alert rules (default change detection), ${per}`,
    baselineValue: Math.round(baseline),
    ratio: Number((value / baseline).toFixed(2)),
    target: "ratio >= 0.8",
    rounds,
    observationsPerRound: batchSize * runBatches,
    roundRatios: runs.with.map((r, i) => Number((r.rate / runs.without[i]!.rate).toFixed(2))),
    alerts: { with: runs.with.reduce((sum, r) => sum + r.alerts, 0), without: runs.without.reduce((sum, r) => sum + r.alerts, 0) }
  })
})

const { cleanup, layer } = open()
const program: Effect.Effect<void, unknown, Store.Store | SqlClient.SqlClient> = name === "write"
  ? write
  : name === "writer"
  ? writer
  : name === "rules"
  ? rules
  : due
// stdout carries only the JSON lines: logs below warnings are dropped.
Effect.runPromise(Effect.provide(program, layer).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")))
  .then(cleanup, async (error) => {
    await cleanup()
    console.error(error)
    process.exit(1)
  })
