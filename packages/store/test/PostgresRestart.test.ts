/**
 * A Postgres server stopped and started under a running store: its calls
 * fail with `DatabaseUnavailable` (transient) quickly while the server is
 * down, and the same Store (same layer, same pool) works again once it is
 * back, with nothing recorded twice. Runs a throwaway server of its own
 * (`support/throwaway-postgres.ts`); skipped, saying why, without binaries.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as SqlClient from "effect/sql/SqlClient"
import * as Model from "../src/Model.ts"
import * as Store from "../src/Store.ts"
import * as StoreError from "../src/StoreError.ts"
import { money, ok } from "./support/suite.ts"
import { postgresBinaries, startPostgres } from "./support/throwaway-postgres.ts"

const binaries = postgresBinaries()
if ("reason" in binaries) console.log(`Postgres restart test skipped: ${binaries.reason}`)

const server = Effect.acquireRelease(
  Effect.promise(() => startPostgres()),
  (pg) => Effect.promise(() => pg.close())
)

let park: { readonly reached: Deferred.Deferred<void>; readonly resume: Deferred.Deferred<void> } | undefined

describe("Store on a Postgres server that restarts", () => {
  it.live.skipIf("reason" in binaries)(
    "calls fail with DatabaseUnavailable while it is down, and the same store works again after, nothing twice",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const pg = yield* server
        const program = Effect.gen(function*() {
          const store = yield* Store.Store
          const sql = yield* SqlClient.SqlClient
          const { id } = yield* store.addTarget(new Model.NewTarget({ url: "https://shop.example/p/1", intervalMillis: 60_000 }))
          yield* store.registerNotifiers(["stdout"])
          yield* store.recordObservations([ok(id, 1, money("1.00"))])

          // a write transaction in flight when the server goes: parked after its first insert
          park = { reached: yield* Deferred.make<void>(), resume: yield* Deferred.make<void>() }
          const inFlight = yield* Effect.forkChild(Effect.flip(store.recordObservations([ok(id, 2, money("2.00"))])))
          yield* Deferred.await(park.reached).pipe(Effect.timeout("5 seconds"))
          yield* Effect.promise(() => pg.stop("fast"))
          yield* Deferred.succeed(park.resume, undefined)
          const lost = yield* Fiber.join(inFlight).pipe(Effect.timeout("5 seconds"))
          park = undefined
          assert.strictEqual(lost._tag, "DatabaseUnavailable", lost.message)
          assert.isTrue(StoreError.isTransient(lost))

          // while it is down, every call fails fast and typed
          const started = Date.now()
          const write = yield* Effect.flip(store.recordObservations([ok(id, 3, money("3.00"))]))
          const read = yield* Effect.flip(store.statusCounts(0))
          const deliver = yield* Effect.flip(store.deliver("stdout", () => Effect.void))
          for (const error of [write, read, deliver]) {
            assert.strictEqual(error._tag, "DatabaseUnavailable", error.message)
            assert.isTrue(StoreError.isTransient(error))
            assert.match(error.message, /is unavailable \(.*ECONNREFUSED/)
          }
          assert.isBelow(Date.now() - started, 3000, "failing takes no connect timeout")

          // back up: the same store (same pool) works again; the writer's retry of both batches writes each once
          yield* Effect.promise(() => pg.start())
          const retried = yield* store.recordObservations([ok(id, 2, money("2.00")), ok(id, 3, money("3.00"))]).pipe(
            Effect.retry({ while: StoreError.isTransient, schedule: Schedule.spaced("100 millis"), times: 50 })
          )
          assert.deepStrictEqual(retried.map((r) => r.inserted), [true, true])
          const replay = yield* store.recordObservations([ok(id, 2, money("2.00")), ok(id, 3, money("3.00"))])
          assert.deepStrictEqual(replay.map((r) => r.inserted), [false, false])
          const [observations] = yield* sql<{ n: unknown }>`SELECT count(*) AS n FROM observations`
          const [alerts] = yield* sql<{ n: unknown }>`SELECT count(*) AS n FROM alerts`
          assert.deepStrictEqual([Number(observations!.n), Number(alerts!.n)], [3, 3])
          const delivered: Array<string> = []
          assert.deepStrictEqual(yield* store.deliver("stdout", (a) => Effect.sync(() => delivered.push(a.kind))), { delivered: 3, skipped: 0, failed: 0 })
          assert.deepStrictEqual(delivered, ["first_seen", "price_up", "price_up"])
        })
        yield* Effect.provide(
          program,
          Store.layerPostgres({
            url: pg.url,
            connectTimeout: 2000,
            betweenStatements: (step) =>
              park !== undefined && step === "observations-inserted"
                ? Effect.andThen(Deferred.succeed(park.reached, undefined), Deferred.await(park.resume))
                : Effect.void
          })
        )
      })),
    20_000
  )
})
