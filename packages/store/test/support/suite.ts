/**
 * The store suite every backend passes: migrations, targets, change
 * detection, atomicity under a killed writer, idempotent replays, outbox
 * delivery across a crash, batching under backpressure, streamed export.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import * as Migrations from "../../src/Migrations.ts"
import * as Model from "../../src/Model.ts"
import * as Store from "../../src/Store.ts"
import * as Writer from "../../src/Writer.ts"
import type { Backend, Database } from "./backends.ts"

const T0 = 1_700_000_000_000
const MINUTE = 60_000

export const money = (amount: string, currency = "EUR") => new Model.Money({ amount, currency })

export const ok = (
  targetId: number,
  observedAt: number,
  price: Model.Money | null,
  availability: Model.Availability = "in_stock",
  extra: Partial<ConstructorParameters<typeof Model.ObservationInput>[0]> = {}
) =>
  new Model.ObservationInput({
    targetId,
    observedAt,
    outcome: "ok",
    price,
    availability,
    httpStatus: 200,
    source: "json-ld",
    contentHash: `h${observedAt}`,
    ...extra
  })

export const failure = (targetId: number, observedAt: number, errorTag = "NoPrice") =>
  new Model.ObservationInput({ targetId, observedAt, outcome: "error", errorTag, httpStatus: 200 })

const newTarget = (n: number, intervalMillis = 5 * MINUTE, dueAt = T0) =>
  new Model.NewTarget({ url: `https://shop${n % 97}.example/p/${n}`, intervalMillis, dueAt })

/** Runs `f` against a fresh database opened as a Store. */
const withStore = <A, E>(
  backend: Backend,
  f: (store: Store.Service, db: Database) => Effect.Effect<A, E, Store.Store | SqlClient.SqlClient>,
  options?: Store.StoreOptions
) =>
  Effect.scoped(Effect.gen(function*() {
    const db = yield* backend.fresh
    return yield* Effect.provide(Effect.flatMap(Store.Store, (store) => f(store, db)), db.layer(options))
  }))

const count = (table: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ n: unknown }>`SELECT count(*) AS n FROM ${sql(table)}`
    return Number(rows[0]!.n)
  }).pipe(Effect.orDie)

/** Runs an effect that may interrupt itself in a fiber of its own, and returns how it ended. */
const inOwnFiber = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.flatMap(Effect.forkChild(effect), Fiber.await)

/** One delivery pass of `notifier` (registered first), collecting what it was handed. */
export const collect = (store: Store.Service, notifier = "probe", options: { readonly limit?: number; readonly leaseMillis?: number } = { limit: 1000 }) =>
  Effect.gen(function*() {
    yield* store.registerNotifiers([notifier])
    const alerts: Array<Model.Alert> = []
    const delivery = yield* store.deliver(notifier, (alert) => Effect.sync(() => alerts.push(alert)), options)
    return { delivery, alerts }
  })

const kinds = (results: ReadonlyArray<Model.RecordResult>) => results.flatMap((result) => result.alerts.map((a) => a.kind))

export const storeSuite = (backend: Backend) => {
  describe(`Store on ${backend.name}`, () => {
    it.live("migrates an empty database, and re-opening it migrates nothing", () =>
      Effect.scoped(Effect.gen(function*() {
        const db = yield* backend.fresh
        const first = yield* Effect.provide(
          Effect.gen(function*() {
            const store = yield* Store.Store
            yield* store.addTarget(newTarget(1))
            return yield* Migrations.currentVersion
          }),
          db.layer()
        )
        assert.strictEqual(first, Migrations.latest)
        const again = yield* Effect.provide(
          Effect.gen(function*() {
            const store = yield* Store.Store
            const sql = yield* SqlClient.SqlClient
            const rows = yield* sql`SELECT migration_id FROM ${sql(Migrations.table)}`
            const counts = yield* store.statusCounts(T0)
            return { migrations: rows.length, targets: counts.targets }
          }),
          db.layer()
        )
        assert.deepStrictEqual(again, { migrations: Object.keys(Migrations.all).length, targets: 1 })
      })))

    it.live("refuses a database migrated by a newer trawl", () =>
      Effect.scoped(Effect.gen(function*() {
        const db = yield* backend.fresh
        yield* Effect.provide(
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* sql`INSERT INTO ${sql(Migrations.table)} (migration_id, name) VALUES (${999}, ${"from_the_future"})`
          }),
          db.layer()
        )
        const exit = yield* Effect.exit(Effect.provide(Effect.void, db.layer()))
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
        assert.strictEqual(error?._tag, "Fail")
        const failed = (error as { error: { _tag: string; found: number; message: string } }).error
        assert.strictEqual(failed._tag, "SchemaTooNew")
        assert.strictEqual(failed.found, 999)
        assert.match(failed.message, /upgrade trawl/)
      })))

    it.live("migrates a database created at schema 1: its pending alert reads without a name, new alerts carry theirs", () =>
      Effect.scoped(Effect.gen(function*() {
        const db = yield* backend.fresh
        // the database as the first schema left it, with an alert waiting in the outbox
        const old = yield* Effect.provide(
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const applied = yield* Migrator.make({})({
              loader: Migrator.fromRecord({ "1_initial": Migrations.all["1_initial"]! }),
              table: Migrations.table
            })
            assert.deepStrictEqual(applied.map(([id]) => id), [1])
            const [target] = yield* sql<{ id: unknown }>`INSERT INTO targets ${
              sql.insert({
                url: "https://shop.example/p/1",
                host: "shop.example",
                interval_ms: 5 * MINUTE,
                next_due_at: T0 + 5 * MINUTE,
                last_amount: "10.00",
                last_currency: "EUR",
                last_availability: "in_stock",
                last_observed_at: T0,
                created_at: T0
              })
            } RETURNING id`
            const targetId = Number(target!.id)
            const [observation] = yield* sql<{ id: unknown }>`INSERT INTO observations ${
              sql.insert({ target_id: targetId, observed_at: T0, outcome: "ok", amount: "10.00", currency: "EUR", availability: "in_stock" })
            } RETURNING id`
            const key = `t${targetId}-o${Number(observation!.id)}-first_seen`
            yield* sql`INSERT INTO alerts ${
              sql.insert({
                key,
                target_id: targetId,
                observation_id: Number(observation!.id),
                kind: "first_seen",
                new_amount: "10.00",
                new_currency: "EUR",
                created_at: T0
              })
            }`
            return { targetId, key }
          }),
          db.client
        )

        const after = yield* Effect.provide(
          Effect.gen(function*() {
            const store = yield* Store.Store
            const sql = yield* SqlClient.SqlClient
            const versions = yield* sql<{ migration_id: unknown }>`SELECT migration_id FROM ${sql(Migrations.table)} ORDER BY migration_id`
            yield* store.registerNotifiers(["stdout"])
            const pending = (yield* store.notifierStatus())[0]!.pending
            const recorded = yield* store.recordObservations([
              ok(old.targetId, T0 + MINUTE, money("8.00"), "in_stock", { productName: "Kettle" })
            ])
            const { alerts: delivered, delivery } = yield* collect(store, "stdout")
            return { versions: versions.map((row) => Number(row.migration_id)), pending, recorded, delivery, delivered }
          }),
          db.layer()
        )
        assert.deepStrictEqual(after.versions, Object.keys(Migrations.all).map((key) => Number.parseInt(key, 10)))
        assert.strictEqual(after.versions.at(-1), Migrations.latest)
        assert.strictEqual(after.pending, 1)
        assert.deepStrictEqual(
          after.delivered.map((a) => [a.key, a.kind, a.newPrice, a.createdAt, a.productName]).slice(0, 1),
          [[old.key, "first_seen", money("10.00"), T0, null]],
          "the old row reads whole, without a name"
        )
        assert.deepStrictEqual(after.recorded[0]!.alerts.map((a) => [a.kind, a.percent, a.productName]), [["price_down", "-20.00", "Kettle"]])
        assert.deepStrictEqual(after.delivery, { delivered: 2, skipped: 0, failed: 0 })
        assert.deepStrictEqual(after.delivered.map((a) => [a.kind, a.productName]), [["first_seen", null], ["price_down", "Kettle"]])
      })))

    it.live("adds targets; duplicates and invalid URLs are typed errors and write nothing", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const target = yield* store.addTarget(
            new Model.NewTarget({ url: "https://Shop.Example/p/1#reviews", intervalMillis: MINUTE, rules: { price: { selector: ".p" } } })
          )
          assert.strictEqual(target.url, "https://shop.example/p/1")
          assert.strictEqual(target.host, "shop.example")
          assert.deepStrictEqual(target.rules, { price: { selector: ".p" } })
          assert.isTrue(target.enabled)
          assert.deepStrictEqual(yield* store.getTarget(target.id), target)
          // rows are built without re-parsing: the same as a checked construction
          assert.instanceOf(target, Model.Target)
          assert.deepStrictEqual(target, new Model.Target({ ...target }))

          const duplicate = yield* Effect.flip(store.addTarget(new Model.NewTarget({ url: "https://shop.example/p/1", intervalMillis: MINUTE })))
          assert.strictEqual(duplicate._tag, "DuplicateTarget")

          for (const url of ["", "shop.example/p/1", "ftp://shop.example/x", "https://user:pw@shop.example/", "javascript:alert(1)", " https://a.example/", `https://a.example/${"x".repeat(3000)}`]) {
            const error = yield* Effect.flip(store.addTarget(new Model.NewTarget({ url, intervalMillis: MINUTE })))
            assert.strictEqual(error._tag, "InvalidUrl", url)
          }

          // all or nothing: the batch holds one URL that exists already
          const batch = yield* Effect.flip(store.addTargets([newTarget(10), newTarget(11), new Model.NewTarget({ url: "https://shop.example/p/1", intervalMillis: MINUTE })]))
          assert.strictEqual(batch._tag, "DuplicateTarget")
          const inBatch = yield* Effect.flip(store.addTargets([newTarget(12), newTarget(12)]))
          assert.strictEqual(inBatch._tag, "DuplicateTarget")
          assert.strictEqual((yield* store.statusCounts(T0)).targets, 1)

          assert.strictEqual(yield* store.addTargets([newTarget(10), newTarget(11)]), 2)
          yield* store.setEnabled(target.id, false)
          assert.isFalse((yield* store.getTarget(target.id)).enabled)
          yield* store.removeTarget(target.id)
          assert.strictEqual((yield* Effect.flip(store.getTarget(target.id)))._tag, "TargetNotFound")
          assert.strictEqual((yield* Effect.flip(store.removeTarget(target.id)))._tag, "TargetNotFound")
        })))

    it.live("due targets come earliest first, enabled only, from the due index", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          yield* store.addTargets(Array.from({ length: 50 }, (_, i) => newTarget(i, MINUTE, T0 + (49 - i) * 1000)))
          const disabled = (yield* store.dueTargets({ now: T0 + 100_000, limit: 1 }))[0]!
          yield* store.setEnabled(disabled.id, false)
          const due = yield* store.dueTargets({ now: T0 + 9_500, limit: 100 })
          assert.deepStrictEqual(due.map((t) => t.nextDueAt), [1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => T0 + s * 1000))
          assert.strictEqual((yield* store.dueTargets({ now: T0 + 100_000, limit: 7 })).length, 7)
          const counts = yield* store.statusCounts(T0 + 9_500)
          assert.strictEqual(counts.targets, 50)
          assert.strictEqual(counts.enabled, 49)
          assert.strictEqual(counts.due, 9)
        })))

    it.live("change detection: first seen, same, up, down, currency, stock, failure streak", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const { id } = yield* store.addTarget(newTarget(1))
          const step = (input: Model.ObservationInput) => store.recordObservations([input])
          const at = (n: number) => T0 + n * MINUTE

          const first = yield* step(ok(id, at(1), money("19.99")))
          assert.deepStrictEqual(kinds(first), ["first_seen"])
          assert.deepStrictEqual(first[0]!.alerts[0]!.newPrice, money("19.99"))
          assert.deepStrictEqual(kinds(yield* step(ok(id, at(2), money("19.990")))), [], "same price, other scale")

          const up = (yield* step(ok(id, at(3), money("24.99"))))[0]!.alerts
          assert.deepStrictEqual(up.map((a) => [a.kind, a.oldPrice?.amount, a.newPrice?.amount, a.percent]), [["price_up", "19.990", "24.99", "25.01"]])
          const down = (yield* step(ok(id, at(4), money("12.495"))))[0]!.alerts
          assert.deepStrictEqual(down.map((a) => [a.kind, a.percent]), [["price_down", "-50.00"]])

          const currency = (yield* step(ok(id, at(5), money("15.00", "USD"))))[0]!.alerts
          assert.deepStrictEqual(currency.map((a) => [a.kind, a.oldPrice?.currency, a.newPrice?.currency, a.percent]), [["currency_changed", "EUR", "USD", null]])

          assert.deepStrictEqual(kinds(yield* step(ok(id, at(6), money("15.00", "USD"), "out_of_stock"))), ["out_of_stock"])
          assert.deepStrictEqual(kinds(yield* step(ok(id, at(7), null, "unknown"))), [], "nothing read: state kept")
          assert.deepStrictEqual(kinds(yield* step(ok(id, at(8), money("14.00", "USD"), "in_stock"))), ["price_down", "back_in_stock"])

          // extraction failures: the alert comes once, when the streak reaches 3
          assert.deepStrictEqual(kinds(yield* step(failure(id, at(9)))), [])
          assert.deepStrictEqual(kinds(yield* step(failure(id, at(10)))), [])
          const broken = (yield* step(failure(id, at(11))))[0]!.alerts
          assert.deepStrictEqual(broken.map((a) => [a.kind, a.failureStreak]), [["extraction_broken", 3]])
          assert.deepStrictEqual(kinds(yield* step(failure(id, at(12)))), [])
          assert.strictEqual((yield* store.getTarget(id)).failureStreak, 4)
          assert.strictEqual((yield* store.statusCounts(at(12))).failing, 1)
          const unchanged = new Model.ObservationInput({ targetId: id, observedAt: at(13), outcome: "unchanged", httpStatus: 304, etag: "\"v2\"" })
          assert.deepStrictEqual(kinds(yield* step(unchanged)), [])
          const target = yield* store.getTarget(id)
          assert.strictEqual(target.failureStreak, 0)
          assert.strictEqual(target.etag, "\"v2\"")
          assert.deepStrictEqual(target.lastPrice, money("14.00", "USD"))
          assert.strictEqual(target.lastAvailability, "in_stock")
          assert.strictEqual(target.nextDueAt, at(13) + 5 * MINUTE)
          for (const n of [14, 15, 16]) yield* step(failure(id, at(n)))
          assert.strictEqual((yield* collect(store)).alerts.filter((a) => a.kind === "extraction_broken").length, 2)

          const history = yield* store.history(id)
          assert.strictEqual(history.length, 16)
          assert.strictEqual(history[0]!.observedAt, at(16))
          assert.deepStrictEqual(history.at(-1)!.price, money("19.99"))
          assert.strictEqual((yield* store.history(id, { since: at(15) })).length, 2)
          // a range: since inclusive, until exclusive, newest first, limited
          const range = yield* store.history(id, { since: at(3), until: at(6) })
          assert.deepStrictEqual(range.map((o) => o.observedAt), [at(5), at(4), at(3)])
          assert.deepStrictEqual((yield* store.history(id, { since: at(3), until: at(6), limit: 1 })).map((o) => o.observedAt), [at(5)])
          // the extraction's confidence is kept as given (a fraction, exactly), none without one
          yield* step(ok(id, at(17), money("14.00", "USD"), "in_stock", { confidence: 0.85 }))
          assert.strictEqual((yield* store.history(id, { limit: 1 }))[0]!.confidence, 0.85)
          assert.isNull(history[0]!.confidence)

          // alerts: newest first, from a time, of a kind, of a target
          const all = yield* store.alerts({ limit: 100 })
          assert.isAbove(all.length, 3)
          for (let i = 1; i < all.length; i++) assert.isAtLeast(all[i - 1]!.createdAt, all[i]!.createdAt)
          const broken2 = yield* store.alerts({ kind: "extraction_broken", limit: 100 })
          assert.deepStrictEqual(broken2.map((a) => a.kind), ["extraction_broken", "extraction_broken"])
          assert.strictEqual((yield* store.alerts({ kind: "extraction_broken", limit: 1 })).length, 1)
          assert.strictEqual((yield* store.alerts({ targetId: id + 1000, limit: 100 })).length, 0)
          assert.strictEqual((yield* store.alerts({ targetId: id, limit: 100 })).length, all.length)
          assert.strictEqual((yield* store.alerts({ since: Number.MAX_SAFE_INTEGER, limit: 100 })).length, 0)
        })))

    it.live("updateTarget changes what is given and keeps the rest; an unknown target is TargetNotFound", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const { id } = yield* store.addTarget(newTarget(1))
          const changed = yield* store.updateTarget(id, { enabled: false, intervalMillis: 10 * MINUTE })
          assert.deepStrictEqual([changed.enabled, changed.intervalMillis, changed.rules], [false, 10 * MINUTE, null])
          const rules = { price: { selector: ".price" } }
          const ruled = yield* store.updateTarget(id, { rules })
          assert.deepStrictEqual([ruled.enabled, ruled.intervalMillis, ruled.rules], [false, 10 * MINUTE, { price: { selector: ".price" } }])
          assert.strictEqual((yield* store.updateTarget(id, { rules: null })).rules, null)
          assert.strictEqual((yield* store.updateTarget(id, {})).id, id)
          assert.strictEqual((yield* Effect.flip(store.updateTarget(id + 99, { enabled: true })))._tag, "TargetNotFound")
          assert.strictEqual((yield* Effect.flip(store.updateTarget(id + 99, {})))._tag, "TargetNotFound")
        })))

    it.live("the targets' revision moves when targets to schedule change (added, removed, interval, rules, enabled), not when they are visited", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const revisions: Array<number> = [yield* store.targetsRevision]
          const moved = Effect.map(store.targetsRevision, (now) => {
            const changed = now !== revisions.at(-1)
            revisions.push(now)
            return changed
          })
          const { id } = yield* store.addTarget(newTarget(1))
          assert.isTrue(yield* moved, "added")
          yield* store.addTargets([newTarget(2), newTarget(3)])
          assert.isTrue(yield* moved, "added, many")
          yield* store.recordObservations([ok(id, T0 + MINUTE, money("9.99"))])
          yield* store.recordObservations([failure(id, T0 + 2 * MINUTE)])
          assert.isFalse(yield* moved, "a visit is no change of the schedule")
          yield* store.updateTarget(id, { intervalMillis: 10 * MINUTE })
          assert.isTrue(yield* moved, "interval")
          yield* store.updateTarget(id, { rules: { selector: ".price" } })
          assert.isTrue(yield* moved, "rules")
          yield* store.setEnabled(id, false)
          assert.isTrue(yield* moved, "disabled")
          yield* store.removeTarget(id)
          assert.isTrue(yield* moved, "removed")
          assert.isFalse(yield* moved, "nothing since")
        })))

    it.live("a large import refreshes Postgres' statistics of the targets at once (a search plans with them, not with a guess)", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          if (store.dialect !== "pg") return
          const sql = yield* SqlClient.SqlClient
          const analyzed = Effect.map(
            sql<{ at: unknown }>`SELECT last_analyze AS at FROM pg_stat_user_tables WHERE relname = 'targets' AND schemaname = current_schema()`,
            (rows) => rows[0]?.at ?? null
          )
          yield* store.addTargets(Array.from({ length: 10 }, (_, i) =>
            new Model.NewTarget({ url: `https://few.example/${i}`, intervalMillis: 5 * MINUTE, dueAt: T0 })))
          assert.isNull(yield* analyzed, "a small addition leaves the statistics to autovacuum")
          yield* store.addTargets(Array.from({ length: 1_000 }, (_, i) =>
            new Model.NewTarget({ url: `https://many.example/${i}`, intervalMillis: 5 * MINUTE, dueAt: T0 })))
          assert.isNotNull(yield* analyzed)
        })))

    it.live("targets are searched by URL (any case, % and _ as themselves) and paged by id, with the total that match", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          yield* store.addTargets(Array.from({ length: 120 }, (_, i) =>
            new Model.NewTarget({ url: `https://shop-${i}.example/${i % 3 === 0 ? "Kettle" : "toaster"}/${i}`, intervalMillis: 5 * MINUTE, dueAt: T0 })))
          yield* store.addTarget(new Model.NewTarget({ url: "https://odd.example/100%_off", intervalMillis: 5 * MINUTE, dueAt: T0 }))
          const everything = yield* store.searchTargets({ offset: 0, limit: 50 })
          assert.strictEqual(everything.total, 121)
          assert.strictEqual(everything.targets.length, 50)
          const kettles = yield* store.searchTargets({ query: "KETTLE", offset: 0, limit: 25 })
          assert.strictEqual(kettles.total, 40)
          assert.isTrue(kettles.targets.every((t) => t.url.includes("Kettle")))
          const second = yield* store.searchTargets({ query: "kettle", offset: 25, limit: 25 })
          assert.strictEqual(second.targets.length, 15)
          const ids = [...kettles.targets, ...second.targets].map((t) => t.id)
          assert.deepStrictEqual(ids, [...ids].sort((a, b) => a - b))
          assert.strictEqual(new Set(ids).size, 40)
          assert.deepStrictEqual((yield* store.searchTargets({ query: "%_off", offset: 0, limit: 10 })).targets.map((t) => t.url), [
            "https://odd.example/100%_off"
          ])
          // a wildcard in the query is only itself: nothing else has "0%" in it
          assert.strictEqual((yield* store.searchTargets({ query: "0%", offset: 0, limit: 10 })).total, 1)
          assert.strictEqual((yield* store.searchTargets({ query: "_", offset: 0, limit: 10 })).total, 1)
          assert.strictEqual((yield* store.searchTargets({ query: "nothing-like-it", offset: 0, limit: 10 })).total, 0)
          const sql = yield* SqlClient.SqlClient
          const trgm = store.dialect === "pg"
            ? yield* sql<{ name: string }>`SELECT name FROM pg_available_extensions WHERE name = 'pg_trgm'`
            : []
          if (store.dialect === "pg" && trgm.length === 0) console.log("the search index is not checked: this Postgres has no pg_trgm")
          if (trgm.length > 0) {
            // the migration made the trigram index the search uses
            const indexes = yield* sql<{ indexdef: string }>`SELECT indexdef FROM pg_indexes WHERE indexname = 'targets_url_search' AND schemaname = current_schema()`
            assert.strictEqual(indexes.length, 1)
            assert.include(indexes[0]!.indexdef, "gin_trgm_ops")
            // on the lowered URL column (migration 5), not on lower(url) computed per row
            assert.include(indexes[0]!.indexdef, "(url_search ")
          }
        })))

    it.live("an alert keeps the product name of the observation that raised it, and none when it had none", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const { id } = yield* store.addTarget(newTarget(1))
          const at = (n: number) => T0 + n * MINUTE
          const named = (n: number, amount: string, productName: string) =>
            ok(id, at(n), money(amount), "in_stock", { productName })
          const names = (results: ReadonlyArray<Model.RecordResult>) =>
            results.flatMap((result) => result.alerts.map((a) => [a.kind, a.productName]))

          assert.deepStrictEqual(names(yield* store.recordObservations([named(1, "10", "Kettle 1L")])), [["first_seen", "Kettle 1L"]])
          assert.deepStrictEqual(names(yield* store.recordObservations([named(2, "10", "Kettle, 1 litre")])), [], "no change, no alert")
          // the name the page showed when the price moved, not the first one
          assert.deepStrictEqual(names(yield* store.recordObservations([named(3, "12", "  Kettle 1.5L\n")])), [["price_up", "Kettle 1.5L"]])
          assert.deepStrictEqual(names(yield* store.recordObservations([ok(id, at(4), money("11"))])), [["price_down", null]])
          assert.deepStrictEqual(names(yield* store.recordObservations([named(5, "13", " \t ")])), [["price_up", null]])
          // long names are cut, never between the halves of a surrogate pair
          const cut = (yield* store.recordObservations([named(6, "14", "€".repeat(Model.productNameMaxLength - 1) + "😀 and the rest")]))[0]!
          assert.strictEqual(cut.alerts[0]!.productName, "€".repeat(Model.productNameMaxLength - 1))
          const long = (yield* store.recordObservations([named(7, "15", "y".repeat(Model.productNameMaxLength + 100))]))[0]!
          assert.strictEqual(long.alerts[0]!.productName, "y".repeat(Model.productNameMaxLength))
          // a failed fetch read no name
          yield* store.recordObservations([failure(id, at(8)), failure(id, at(9))])
          const broken = yield* store.recordObservations([failure(id, at(10))])
          assert.deepStrictEqual(names(broken), [["extraction_broken", null]])

          // the outbox reads back what recording returned, name included
          const pending = (yield* collect(store)).alerts
          assert.deepStrictEqual(pending.map((a) => [a.kind, a.productName === null ? null : a.productName.slice(0, 12)]), [
            ["first_seen", "Kettle 1L"],
            ["price_up", "Kettle 1.5L"],
            ["price_down", null],
            ["price_up", null],
            ["price_up", "€".repeat(12)],
            ["price_up", "y".repeat(12)],
            ["extraction_broken", null]
          ])
          assert.deepStrictEqual(pending.at(-2), long.alerts[0])
          assert.deepStrictEqual(pending.at(-1), broken[0]!.alerts[0])
        })))

    it.live("a batch applies changes in order, several targets at once", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          yield* store.addTargets([newTarget(1), newTarget(2), newTarget(3)])
          const ids = (yield* store.dueTargets({ now: T0, limit: 10 })).map((t) => t.id)
          const [a, b, c] = ids as [number, number, number]
          const results = yield* store.recordObservations([
            ok(a, T0 + 1, money("10")),
            ok(b, T0 + 1, money("5.00", "GBP")),
            ok(a, T0 + 2, money("11")),
            failure(c, T0 + 1),
            ok(a, T0 + 3, money("9.9"))
          ])
          assert.deepStrictEqual(results.map((r) => r.alerts.map((x) => x.kind)), [["first_seen"], ["first_seen"], ["price_up"], [], ["price_down"]])
          assert.deepStrictEqual(results[4]!.alerts[0]!.percent, "-10.00")
          assert.deepStrictEqual((yield* store.getTarget(a)).lastPrice, money("9.9"))
          assert.strictEqual((yield* store.getTarget(c)).failureStreak, 1)
          const unknown = yield* Effect.flip(store.recordObservations([ok(a, T0 + 4, money("1")), ok(9999, T0, null)]))
          assert.strictEqual(unknown._tag, "TargetNotFound")
          assert.strictEqual(yield* count("observations"), 5, "the failed batch wrote nothing")
        })))

    it.live("concurrent writers on one target raise each alert once", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const { id } = yield* store.addTarget(newTarget(1))
          const results = yield* Effect.all(
            Array.from({ length: 8 }, (_, i) => store.recordObservations([ok(id, T0 + i, money("10"))])),
            { concurrency: "unbounded" }
          )
          assert.deepStrictEqual(kinds(results.flat()), ["first_seen"])
          assert.strictEqual(yield* count("observations"), 8)
        })))

    it.live("replaying an acknowledged batch adds no observation and no alert", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const { id } = yield* store.addTarget(newTarget(1))
          const batch = [ok(id, T0, money("10")), ok(id, T0 + MINUTE, money("12"))]
          const first = yield* store.recordObservations(batch)
          assert.deepStrictEqual(first.map((r) => r.inserted), [true, true])
          assert.deepStrictEqual(first.map((r) => r.key), [`${id}@${T0}`, `${id}@${T0 + MINUTE}`])
          const again = yield* store.recordObservations([...batch, ok(id, T0 + 2 * MINUTE, money("12"))])
          assert.deepStrictEqual(again.map((r) => r.inserted), [false, false, true])
          assert.deepStrictEqual(kinds(again), [])
          assert.strictEqual(yield* count("observations"), 3)
          assert.strictEqual(yield* count("alerts"), 2)
          // the same visit twice in one batch is one observation
          const twice = yield* store.recordObservations([ok(id, T0 + 9 * MINUTE, money("1")), ok(id, T0 + 9 * MINUTE, money("1"))])
          assert.deepStrictEqual(twice.map((r) => r.inserted), [true, false])
          assert.strictEqual(yield* count("observations"), 4)
        })))

    it.live("killing the writer between any two statements leaves no alert without its observation", () =>
      Effect.gen(function*() {
        for (const step of ["targets-read", "observations-inserted", "alerts-inserted", "targets-updated"]) {
          for (const how of ["interrupt", "die"] as const) {
            yield* withStore(
              backend,
              (store) =>
                Effect.gen(function*() {
                  const { id } = yield* store.addTarget(newTarget(1))
                  yield* store.recordObservations([ok(id, T0, money("10"))])
                  const before = yield* store.getTarget(id)
                  armed = true
                  const exit = yield* inOwnFiber(
                    store.recordObservations([ok(id, T0 + MINUTE, money("8"), "out_of_stock"), failure(id, T0 + 2 * MINUTE)])
                  )
                  armed = false
                  assert.isTrue(Exit.isFailure(exit), `${step}/${how} should fail the batch`)
                  assert.strictEqual(yield* count("observations"), 1, `${step}/${how}`)
                  assert.strictEqual(yield* count("alerts"), 1, `${step}/${how}`)
                  assert.deepStrictEqual(yield* store.getTarget(id), before, `${step}/${how}`)
                  // the connection is usable again and the batch goes through
                  const sql = yield* SqlClient.SqlClient
                  const orphans = yield* sql`SELECT a.id FROM alerts a LEFT JOIN observations o ON o.id = a.observation_id WHERE o.id IS NULL`
                  assert.strictEqual(orphans.length, 0)
                }),
              {
                betweenStatements: (at) => armed && at === step ? kill(how) : Effect.void
              }
            )
          }
        }
      }), 60_000)

    it.live("a killed writer fiber (interrupted from outside, mid-transaction) commits nothing", () =>
      withStore(
        backend,
        (store) =>
          Effect.gen(function*() {
            const { id } = yield* store.addTarget(newTarget(1))
            yield* store.recordObservations([ok(id, T0, money("10"))])
            parked = yield* Deferred.make<void>()
            const fiber = yield* Effect.forkChild(store.recordObservations([ok(id, T0 + MINUTE, money("20"))]))
            yield* Deferred.await(parked).pipe(Effect.timeout("10 seconds"))
            yield* Fiber.interrupt(fiber)
            assert.strictEqual(yield* count("observations"), 1)
            assert.strictEqual(yield* count("alerts"), 1)
            parked = undefined
            const retry = yield* store.recordObservations([ok(id, T0 + MINUTE, money("20"))])
            assert.deepStrictEqual(kinds(retry), ["price_up"])
          }),
        {
          betweenStatements: (at) =>
            at === "alerts-inserted" && parked !== undefined
              ? Effect.andThen(Deferred.succeed(parked, undefined), Effect.never)
              : Effect.void
        }
      ))

    it.live("outbox: each alert is delivered exactly once across a crash between delivery and marking", () =>
      Effect.scoped(Effect.gen(function*() {
        const db = yield* backend.fresh
        const received: Array<string> = []
        const effective = new Set<string>()
        // The receiver deduplicates on the idempotency key, as webhook receivers do.
        const receiver = (alert: Model.Alert) =>
          Effect.sync(() => {
            received.push(alert.key)
            effective.add(alert.key)
          })

        const alertsMade = yield* Effect.provide(
          Effect.gen(function*() {
            const store = yield* Store.Store
            yield* store.registerNotifiers(["hook"])
            yield* store.addTargets([newTarget(1), newTarget(2), newTarget(3)])
            const ids = (yield* store.dueTargets({ now: T0, limit: 10 })).map((t) => t.id)
            const results = yield* store.recordObservations(ids.flatMap((id, i) => [ok(id, T0, money(`${10 + i}`)), ok(id, T0 + MINUTE, money(`${20 + i}`))]))
            return results.flatMap((r) => r.alerts.map((a) => a.key))
          }),
          db.layer()
        )
        assert.strictEqual(alertsMade.length, 6)

        // crash: the third alert reaches the receiver, then the process dies before marking it
        let calls = 0
        const lease = { leaseMillis: 300 }
        const crashed = yield* inOwnFiber(Effect.provide(
          Effect.flatMap(Store.Store, (store) =>
            store.deliver("hook", (alert) => Effect.andThen(receiver(alert), ++calls === 3 ? Effect.interrupt : Effect.void), lease)),
          db.layer()
        ))
        assert.isTrue(Exit.isFailure(crashed))
        assert.strictEqual(received.length, 3)

        // restart on the same database: while the crashed pass's claims last, nothing is taken;
        // then the unmarked alerts are delivered, the crashed one again under the same key
        const after = yield* Effect.provide(
          Effect.gen(function*() {
            const store = yield* Store.Store
            yield* store.registerNotifiers(["hook"])
            const early = yield* store.deliver("hook", receiver, lease)
            assert.deepStrictEqual(early, { delivered: 0, skipped: 0, failed: 0 }, "claims survive the crash")
            yield* Effect.sleep("400 millis")
            const delivery = yield* store.deliver("hook", receiver, lease)
            const repeat = yield* store.deliver("hook", receiver)
            const counts = yield* store.statusCounts(T0)
            const status = yield* store.notifierStatus()
            return { delivery, repeat, counts, status }
          }),
          db.layer()
        )
        assert.deepStrictEqual(after.delivery, { delivered: 4, skipped: 0, failed: 0 })
        assert.deepStrictEqual(after.repeat, { delivered: 0, skipped: 0, failed: 0 })
        assert.strictEqual(after.counts.alertsSent, 6)
        assert.strictEqual(after.counts.alertsPending, 0)
        assert.deepStrictEqual(after.status.map((n) => [n.name, n.pending, n.delivered]), [["hook", 0, 6]])
        assert.deepStrictEqual([...effective].sort(), [...alertsMade].sort())
        assert.strictEqual(received.length, 7, "one re-delivery, of the crashed key")
        assert.strictEqual(received.filter((key) => key === received[2]).length, 2)
      })))

    it.live("concurrent deliverers (fibers, and two stores on one database) never take the same alert for a notifier", () =>
      Effect.scoped(Effect.gen(function*() {
        const db = yield* backend.fresh
        const received = { a: [] as Array<string>, b: [] as Array<string> }
        const slow = (into: Array<string>) => (alert: Model.Alert) =>
          Effect.andThen(Effect.sleep("5 millis"), Effect.sync(() => into.push(alert.key)))
        const made = yield* Effect.provide(
          Effect.gen(function*() {
            const store = yield* Store.Store
            yield* store.registerNotifiers(["a", "b"])
            yield* store.addTargets([newTarget(1), newTarget(2), newTarget(3)])
            const ids = (yield* store.dueTargets({ now: T0, limit: 10 })).map((t) => t.id)
            const results = yield* store.recordObservations(
              ids.flatMap((id) => [ok(id, T0, money("1")), ok(id, T0 + MINUTE, money("2")), ok(id, T0 + 2 * MINUTE, money("3"))])
            )
            return results.flatMap((r) => r.alerts.map((a) => a.key))
          }),
          db.layer()
        )
        assert.strictEqual(made.length, 9)
        // each store: two deliverers per notifier, passes of 2, until a pass finds nothing
        const drain = (notifier: "a" | "b") =>
          Effect.flatMap(Store.Store, (store) =>
            Effect.gen(function*() {
              let total = 0
              while (true) {
                const pass = yield* store.deliver(notifier, slow(received[notifier]), { limit: 2 })
                total += pass.delivered
                if (pass.delivered === 0) return total
              }
            }))
        const storeOf = () => Effect.provide(
          Effect.all([drain("a"), drain("a"), drain("b"), drain("b")], { concurrency: "unbounded" }),
          db.layer()
        )
        const [one, two] = yield* Effect.all([storeOf(), storeOf()], { concurrency: "unbounded" })
        const sum = (xs: ReadonlyArray<number>) => xs.reduce((n, x) => n + x, 0)
        assert.strictEqual(sum([one![0], one![1], two![0], two![1]]), 9)
        assert.strictEqual(sum([one![2], one![3], two![2], two![3]]), 9)
        assert.deepStrictEqual([...received.a].sort(), [...made].sort(), "a: each alert once")
        assert.deepStrictEqual([...received.b].sort(), [...made].sort(), "b: each alert once")
        const counts = yield* Effect.provide(Effect.flatMap(Store.Store, (store) => store.statusCounts(T0)), db.layer())
        assert.strictEqual(counts.alertsPending, 0)
        assert.strictEqual(counts.alertsSent, 9)
      })))

    it.live("alerts a notifier skips are done for it, recorded together at the end of the pass, also before a failure", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          yield* store.registerNotifiers(["stdout"])
          const { id } = yield* store.addTarget(newTarget(1))
          // first_seen, price_up, price_up
          yield* store.recordObservations([ok(id, T0, money("1")), ok(id, T0 + MINUTE, money("2")), ok(id, T0 + 2 * MINUTE, money("3"))])
          const printed: Array<string> = []
          const console = (alert: Model.Alert) =>
            alert.kind === "first_seen" ? Effect.succeed(Store.skipped) : Effect.sync(() => printed.push(alert.kind))
          assert.deepStrictEqual(yield* store.deliver("stdout", console), { delivered: 3, skipped: 1, failed: 0 })
          assert.deepStrictEqual(printed, ["price_up", "price_up"])
          const counts = yield* store.statusCounts(T0)
          assert.deepStrictEqual([counts.alertsSent, counts.alertsPending], [3, 0])
          assert.deepStrictEqual(yield* store.deliver("stdout", () => Effect.die("not called")), { delivered: 0, skipped: 0, failed: 0 })
          // a skipped alert, then a failure: the skipped one is recorded, the failed one stays
          yield* store.recordObservations([ok(id, T0 + 3 * MINUTE, money("4")), ok(id, T0 + 4 * MINUTE, money("5"))])
          let seen = 0
          const flaky = () => ++seen === 1 ? Effect.succeed(Store.skipped) : Effect.fail("down")
          assert.deepStrictEqual(yield* store.deliver("stdout", flaky), { delivered: 1, skipped: 1, failed: 1, lastError: "down" })
          assert.strictEqual((yield* store.statusCounts(T0)).alertsPending, 1)
        })))

    it.live("a failing notifier holds back no other, keeps its order, and resumes where it failed", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          yield* store.registerNotifiers(["stdout", "webhook https://hooks.example/x"])
          const { id } = yield* store.addTarget(newTarget(1))
          yield* store.recordObservations([ok(id, T0, money("1")), ok(id, T0 + MINUTE, money("2")), ok(id, T0 + 2 * MINUTE, money("3"))])
          const stdout: Array<string> = []
          const hook: Array<string> = []
          let down = true
          const webhook = (alert: Model.Alert) =>
            Effect.gen(function*() {
              hook.push(alert.kind)
              // the second alert finds the receiver down
              if (down && hook.length === 2) return yield* Effect.fail(new Error("webhook answered 503"))
            })
          const failedPass = yield* store.deliver("webhook https://hooks.example/x", webhook)
          assert.deepStrictEqual(failedPass, { delivered: 1, skipped: 0, failed: 1, lastError: "webhook answered 503" })
          assert.deepStrictEqual(hook, ["first_seen", "price_up"], "the pass stopped at the failure")

          // stdout is not held back
          assert.deepStrictEqual(yield* store.deliver("stdout", (a) => Effect.sync(() => stdout.push(a.kind))), { delivered: 3, skipped: 0, failed: 0 })
          assert.deepStrictEqual(stdout, ["first_seen", "price_up", "price_up"])
          const counts = yield* store.statusCounts(T0)
          assert.deepStrictEqual([counts.alertsSent, counts.alertsPending], [1, 2], "sent means delivered everywhere")
          const status = yield* store.notifierStatus()
          assert.deepStrictEqual(status.map((n) => [n.name, n.pending, n.delivered, n.lastError]), [
            ["stdout", 0, 3, null],
            ["webhook https://hooks.example/x", 2, 1, "webhook answered 503"]
          ])
          assert.isNotNull(status[0]!.lastDeliveredAt)
          assert.isNull(status[0]!.lastErrorAt)
          assert.isNotNull(status[1]!.lastErrorAt)
          assert.instanceOf(status[0], Model.NotifierStatus)

          // the scan of each notifier starts at its watermark: past the last alert for stdout, after the first for the webhook
          const sql = yield* SqlClient.SqlClient
          const alertIds = (yield* sql<{ id: unknown }>`SELECT id FROM alerts ORDER BY id`).map((row) => Number(row.id))
          const marks = yield* sql<{ name: string; watermark: unknown }>`SELECT name, watermark FROM notifiers ORDER BY name`
          assert.deepStrictEqual(marks.map((row) => Number(row.watermark)), [alertIds[2], alertIds[0]])

          // the failed pass released what it had claimed (the lease is 60 s): the next pass resumes in order
          down = false
          assert.deepStrictEqual(yield* store.deliver("webhook https://hooks.example/x", webhook, { limit: 1 }), { delivered: 1, skipped: 0, failed: 0 })
          assert.deepStrictEqual(yield* store.deliver("webhook https://hooks.example/x", webhook), { delivered: 1, skipped: 0, failed: 0 })
          assert.deepStrictEqual(hook, ["first_seen", "price_up", "price_up", "price_up"])
          const attempts = yield* sql<{ attempts: unknown; last_error: unknown; notifier: string }>`SELECT attempts, last_error, notifier FROM deliveries WHERE alert_id = ${alertIds[1]!} ORDER BY notifier`
          assert.deepStrictEqual(attempts.map((row) => [row.notifier, Number(row.attempts), row.last_error]), [
            ["stdout", 1, null],
            ["webhook https://hooks.example/x", 2, "webhook answered 503"]
          ])
          assert.deepStrictEqual(yield* store.deliver("stdout", () => Effect.die("not called")), { delivered: 0, skipped: 0, failed: 0 })
          const done = yield* store.statusCounts(T0)
          assert.deepStrictEqual([done.alertsSent, done.alertsPending], [3, 0])
          assert.deepStrictEqual((yield* store.notifierStatus()).map((n) => [n.pending, n.delivered]), [[0, 3], [0, 3]])
          // failures that are not Errors are recorded too
          yield* store.recordObservations([ok(id, T0 + 3 * MINUTE, money("4"))])
          assert.deepStrictEqual(yield* store.deliver("stdout", () => Effect.fail({ _tag: "Timeout" })), { delivered: 0, skipped: 0, failed: 1, lastError: "Timeout" })
          assert.deepStrictEqual(yield* store.deliver("stdout", () => Effect.fail("receiver down")), { delivered: 0, skipped: 0, failed: 1, lastError: "receiver down" })
        })))

    it.live("nothing is delivered twice to one notifier across passes, failures and concurrent deliverers", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          yield* store.registerNotifiers(["flaky", "steady"])
          yield* store.addTargets([newTarget(1), newTarget(2)])
          const ids = (yield* store.dueTargets({ now: T0, limit: 10 })).map((t) => t.id)
          const delivered = { flaky: [] as Array<string>, steady: [] as Array<string> }
          let calls = 0
          const flaky = (alert: Model.Alert) =>
            ++calls % 3 === 0 ? Effect.fail("flaky") : Effect.sync(() => delivered.flaky.push(alert.key))
          const steady = (alert: Model.Alert) => Effect.sync(() => delivered.steady.push(alert.key))
          const made: Array<string> = []
          for (let round = 0; round < 6; round++) {
            // new alerts arrive between passes
            const results = yield* store.recordObservations(ids.map((id, i) => ok(id, T0 + round * MINUTE, money(`${round + 1 + i}`))))
            made.push(...results.flatMap((r) => r.alerts.map((a) => a.key)))
            yield* Effect.all([
              store.deliver("flaky", flaky, { limit: 3 }),
              store.deliver("flaky", flaky, { limit: 3 }),
              store.deliver("steady", steady, { limit: 1 })
            ], { concurrency: "unbounded" })
          }
          for (let pass = 0; pass < 100; pass++) {
            const [a, b] = yield* Effect.all([store.deliver("flaky", flaky), store.deliver("steady", steady)], { concurrency: "unbounded" })
            if (a.delivered + a.failed + b.delivered + b.failed === 0) break
          }
          assert.strictEqual(made.length, 12)
          assert.deepStrictEqual([...delivered.flaky].sort(), [...made].sort())
          assert.deepStrictEqual([...delivered.steady].sort(), [...made].sort())
          assert.deepStrictEqual(delivered.steady, made, "one deliverer at a time delivers in order")
          assert.strictEqual((yield* store.statusCounts(T0)).alertsPending, 0)
        })))

    it.live("a notifier added later gets the alerts still unsent and every later one, not the history already sent", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const { id } = yield* store.addTarget(newTarget(1))
          // before any notifier: the first registration gets these
          const [early] = yield* store.recordObservations([ok(id, T0, money("1"))])
          yield* store.registerNotifiers(["stdout", "webhook"])
          yield* store.registerNotifiers(["stdout", "webhook", "stdout"])
          const results = yield* store.recordObservations([ok(id, T0 + MINUTE, money("2")), ok(id, T0 + 2 * MINUTE, money("3"))])
          const keys = [early!, ...results].flatMap((r) => r.alerts.map((a) => a.key))
          assert.strictEqual(keys.length, 3)
          assert.deepStrictEqual((yield* collect(store, "stdout")).alerts.map((a) => a.key), keys)
          // the webhook delivers the first only: it is sent everywhere, the others not yet
          assert.deepStrictEqual((yield* collect(store, "webhook", { limit: 1 })).alerts.map((a) => a.key), [keys[0]])
          assert.strictEqual((yield* store.statusCounts(T0)).alertsSent, 1)

          // a file notifier joins: it gets the two unsent ones, not the one sent before it came
          assert.deepStrictEqual((yield* collect(store, "jsonl ./alerts.jsonl")).alerts.map((a) => a.key), keys.slice(1))
          // registering it again changes nothing
          yield* store.registerNotifiers(["jsonl ./alerts.jsonl"])
          assert.deepStrictEqual((yield* collect(store, "jsonl ./alerts.jsonl")).alerts, [])
          const [later] = yield* store.recordObservations([ok(id, T0 + 3 * MINUTE, money("4"))])
          const laterKey = later!.alerts[0]!.key
          assert.deepStrictEqual((yield* collect(store, "jsonl ./alerts.jsonl")).alerts.map((a) => a.key), [laterKey])
          assert.deepStrictEqual((yield* collect(store, "stdout")).alerts.map((a) => a.key), [laterKey])
          assert.deepStrictEqual((yield* collect(store, "webhook")).alerts.map((a) => a.key), [...keys.slice(1), laterKey])
          const counts = yield* store.statusCounts(T0)
          assert.deepStrictEqual([counts.alertsSent, counts.alertsPending], [4, 0])

          // when nothing is pending, a new notifier starts after the newest alert
          assert.deepStrictEqual((yield* collect(store, "sms")).alerts, [])
          const [last] = yield* store.recordObservations([ok(id, T0 + 4 * MINUTE, money("5"))])
          assert.deepStrictEqual((yield* collect(store, "sms")).alerts.map((a) => a.key), last!.alerts.map((a) => a.key))
          assert.deepStrictEqual(
            (yield* store.notifierStatus()).map((n) => [n.name, n.pending, n.delivered]),
            [["jsonl ./alerts.jsonl", 1, 3], ["sms", 0, 1], ["stdout", 1, 4], ["webhook", 1, 4]]
          )

          // a notifier never registered is refused
          const unknown = yield* Effect.flip(store.deliver("pager", () => Effect.void))
          assert.strictEqual(unknown._tag, "StorageFailure")
          assert.match(unknown.message, /not registered/)
        })))

    it.live("migrates a database created at schema 2: its pending alert goes to each notifier of the next run, its sent one to none", () =>
      Effect.scoped(Effect.gen(function*() {
        const db = yield* backend.fresh
        const old = yield* Effect.provide(
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const applied = yield* Migrator.make({})({
              loader: Migrator.fromRecord({
                "1_initial": Migrations.all["1_initial"]!,
                "2_alert_product_name": Migrations.all["2_alert_product_name"]!
              }),
              table: Migrations.table
            })
            assert.deepStrictEqual(applied.map(([id]) => id), [1, 2])
            const [target] = yield* sql<{ id: unknown }>`INSERT INTO targets ${
              sql.insert({ url: "https://shop.example/p/1", host: "shop.example", interval_ms: 5 * MINUTE, next_due_at: T0, created_at: T0 })
            } RETURNING id`
            const targetId = Number(target!.id)
            const keys: Array<string> = []
            for (const [n, sentAt, claimedUntil] of [[0, T0, null], [1, null, T0 + MINUTE], [2, T0, null], [3, null, null]] as const) {
              const [observation] = yield* sql<{ id: unknown }>`INSERT INTO observations ${
                sql.insert({ target_id: targetId, observed_at: T0 + n, outcome: "ok", amount: `${n + 1}`, currency: "EUR", availability: "in_stock" })
              } RETURNING id`
              const key = `t${targetId}-o${Number(observation!.id)}-${n === 0 ? "first_seen" : "price_up"}`
              keys.push(key)
              yield* sql`INSERT INTO alerts ${
                sql.insert({
                  key,
                  target_id: targetId,
                  observation_id: Number(observation!.id),
                  kind: n === 0 ? "first_seen" : "price_up",
                  new_amount: `${n + 1}`,
                  new_currency: "EUR",
                  created_at: T0,
                  sent_at: sentAt,
                  claimed_until: claimedUntil,
                  product_name: `Lamp ${n}`
                })
              }`
            }
            return { keys }
          }),
          db.client
        )

        const after = yield* Effect.provide(
          Effect.gen(function*() {
            const store = yield* Store.Store
            yield* store.registerNotifiers(["stdout", "webhook https://hooks.example/x"])
            const before = yield* store.statusCounts(T0)
            const stdout = yield* collect(store, "stdout")
            const webhook = yield* collect(store, "webhook https://hooks.example/x")
            return { before, stdout, webhook, counts: yield* store.statusCounts(T0), version: yield* Migrations.currentVersion }
          }),
          db.layer()
        )
        assert.strictEqual(after.version, Migrations.latest)
        assert.deepStrictEqual([after.before.alertsPending, after.before.alertsSent], [2, 2])
        // the sent alert between the two pending ones stays sent: nobody gets it again
        assert.deepStrictEqual(after.stdout.alerts.map((a) => [a.key, a.productName]), [[old.keys[1]!, "Lamp 1"], [old.keys[3]!, "Lamp 3"]])
        assert.deepStrictEqual(after.webhook.alerts.map((a) => a.key), [old.keys[1], old.keys[3]])
        assert.deepStrictEqual([after.counts.alertsPending, after.counts.alertsSent], [0, 4])
      })))

    it.live("runs are recorded and observations point at them", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const run = yield* store.startRun()
          assert.strictEqual(run.status, "running")
          const { id } = yield* store.addTarget(newTarget(1))
          yield* store.recordObservations([ok(id, T0, money("1"), "in_stock", { runId: run.id })])
          const done = yield* store.finishRun(run.id, { status: "finished", observations: 1, failures: 0 })
          assert.strictEqual(done.status, "finished")
          assert.isNotNull(done.finishedAt)
          assert.strictEqual((yield* store.history(id))[0]!.runId, run.id)
          assert.strictEqual((yield* store.statusCounts(T0)).runs, 1)
          assert.strictEqual((yield* Effect.flip(store.finishRun(run.id + 100, { status: "aborted", observations: 0, failures: 0 })))._tag, "StorageFailure")
        })))

    it.live("the writer batches, and a full buffer makes callers wait (backpressure)", () =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const batches: Array<number> = []
        yield* withStore(
          backend,
          (store) =>
            Effect.scoped(Effect.gen(function*() {
              const { id } = yield* store.addTarget(newTarget(1))
              const writer = yield* Writer.make({ capacity: 4, maxBatch: 2 })
              const producers = yield* Effect.forEach(
                Array.from({ length: 12 }, (_, i) => i),
                (i) => Effect.forkChild(writer.record(ok(id, T0 + i * MINUTE, money(`${10 + (i % 2)}`))))
              )
              // the first batch is held inside its transaction; the buffer fills up, and stays full
              yield* Effect.gen(function*() {
                while ((yield* writer.buffered) < 4) yield* Effect.sleep("10 millis")
              }).pipe(Effect.timeout("10 seconds"))
              yield* Effect.sleep("100 millis")
              assert.strictEqual(yield* writer.buffered, 4, "buffer full")
              const waiting = producers.filter((fiber) => fiber.pollUnsafe() === undefined).length
              assert.strictEqual(waiting, 12, "nobody acknowledged while the writer is blocked")
              yield* Deferred.succeed(gate, undefined)
              const results = yield* Effect.forEach(producers, (fiber) => Fiber.join(fiber)).pipe(Effect.timeout("20 seconds"))
              assert.strictEqual(results.length, 12)
              assert.isTrue(results.every((r) => r.inserted))
              assert.strictEqual(yield* count("observations"), 12)
              // an unknown target fails alone; its batch neighbours are written
              const [bad, good] = yield* Effect.all([
                Effect.flip(writer.record(ok(4242, T0, null))),
                writer.record(ok(id, T0 + 100 * MINUTE, money("10")))
              ], { concurrency: "unbounded" })
              assert.strictEqual(bad._tag, "TargetNotFound")
              assert.isTrue(good.inserted)
            })),
          {
            betweenStatements: (at) =>
              at === "targets-read" ? Effect.andThen(Effect.sync(() => batches.push(1)), Deferred.await(gate)) : Effect.void
          }
        )
        assert.isTrue(batches.length <= 12 / 2 + 3, `batched: ${batches.length} transactions`)
      }))

    it.live("closing the writer drains its buffer: every accepted observation is written", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const { id } = yield* store.addTarget(newTarget(1))
          const producers = yield* Effect.scoped(Effect.gen(function*() {
            const writer = yield* Writer.make({ capacity: 100, maxBatch: 7 })
            const fibers = yield* Effect.forEach(
              Array.from({ length: 50 }, (_, i) => i),
              (i) => Effect.forkDetach(writer.record(ok(id, T0 + i, money(`${i % 3}`))))
            )
            yield* Effect.yieldNow
            return fibers
          }))
          const results = yield* Effect.forEach(producers, Fiber.join).pipe(Effect.timeout("20 seconds"))
          assert.strictEqual(results.filter((r) => r.inserted).length, 50)
          assert.strictEqual(yield* count("observations"), 50)
        })))

    it.live("CSV export quotes fields holding commas, quotes and newlines", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const { id } = yield* store.addTarget(new Model.NewTarget({ url: "https://shop.example/p?a=1,2", intervalMillis: MINUTE }))
          yield* store.recordObservations([
            new Model.ObservationInput({ targetId: id, observedAt: T0, outcome: "error", errorTag: "Bad \"quote\", comma\nline" })
          ])
          const lines = yield* store.exportObservations("csv").pipe(Stream.runCollect)
          assert.strictEqual(lines.length, 2)
          assert.include(lines[1]!, `,"https://shop.example/p?a=1,2",`)
          assert.include(lines[1]!, `"Bad ""quote"", comma\nline"`)
          const json = yield* store.exportObservations("jsonl").pipe(Stream.runCollect)
          assert.strictEqual(JSON.parse(json[0]!).errorTag, "Bad \"quote\", comma\nline")
        })))

    it.live("exports 100,000 observations as JSONL and CSV streams, page by page", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const targets = 100
          yield* store.addTargets(Array.from({ length: targets }, (_, i) => newTarget(i)))
          const ids = (yield* store.dueTargets({ now: T0, limit: targets })).map((t) => t.id)
          const total = 100_000
          for (let start = 0; start < total; start += 2000) {
            const batch = Array.from({ length: 2000 }, (_, k) => {
              const n = start + k
              return ok(ids[n % targets]!, T0 + Math.floor(n / targets) * MINUTE, money(`${(n % 7) + 10}.${n % 100}`), "in_stock")
            })
            yield* store.recordObservations(batch)
          }
          // Retained heap, measured after a full collection (vitest runs with --expose-gc).
          const retained = () => {
            global.gc?.()
            return process.memoryUsage().heapUsed
          }
          const heapBefore = retained()
          let peak = -Infinity
          let lines = 0
          let last = ""
          yield* store.exportObservations("jsonl", { pageSize: 500 }).pipe(
            Stream.runForEach((line) =>
              Effect.sync(() => {
                lines++
                last = line
                if ((lines & 16383) === 0) peak = Math.max(peak, retained())
              })
            )
          )
          assert.strictEqual(lines, total)
          const record = JSON.parse(last)
          assert.strictEqual(record.amount, `${((total - 1) % 7) + 10}.${(total - 1) % 100}`)
          assert.match(record.url, /^https:\/\/shop\d+\.example\/p\/\d+$/)
          assert.isTrue(last.endsWith("\n"))
          // 100,000 decoded observations held at once take ~50 MB; a page of 500, a few hundred kB.
          const grew = (peak - heapBefore) / 1e6
          console.log(`[${backend.name}] export of ${total} observations: retained heap at most ${grew.toFixed(2)} MB above its start (gc exposed: ${global.gc !== undefined})`)
          if (global.gc !== undefined) assert.isBelow(grew, 16)

          const csv = yield* store.exportObservations("csv", { targetId: ids[0]!, since: T0 + 10 * MINUTE }).pipe(Stream.runCollect)
          assert.strictEqual(csv[0], "id,key,targetId,url,observedAt,outcome,amount,currency,availability,httpStatus,errorTag,source,confidence,contentHash,group\n")
          assert.strictEqual(csv.length, 1 + (total / targets - 10))
          assert.match(csv[1]!, /^\d+,\d+@\d+,\d+,https:\/\/shop0\.example\/p\/0,\d{4}-\d\d-\d\dT[\d:.]+Z,ok,\d+\.\d+,EUR,in_stock,200,,json-ld,,h\d+,\n$/)

          // a stream read only in part reads only the pages it needs
          const firstTen = yield* store.observations({ pageSize: 10 }).pipe(Stream.take(10), Stream.runCollect)
          assert.deepStrictEqual(firstTen.map((o) => o.id), Array.from({ length: 10 }, (_, i) => firstTen[0]!.id + i))
        })), 120_000)
  })
}

let armed = false
let parked: Deferred.Deferred<void> | undefined

const kill = (how: "interrupt" | "die") =>
  how === "interrupt" ? Effect.interrupt : Effect.die(new Error("writer killed between statements"))
