/**
 * What only Postgres can show: a server that does not answer, and a lock
 * another session holds past the lock timeout.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Model from "../src/Model.ts"
import * as Store from "../src/Store.ts"
import * as StoreError from "../src/StoreError.ts"
import { postgres, postgresServer } from "./support/backends.ts"

const server = postgresServer()
if (!("url" in server)) console.log(`Postgres lock test skipped: ${server.reason}`)

describe("Store on Postgres", () => {
  it.live("a server that does not answer is a typed error, quickly", () =>
    Effect.gen(function*() {
      const started = Date.now()
      // 127.0.0.1:1 — loopback, nothing listens there
      const exit = yield* Effect.exit(
        Effect.provide(Effect.void, Store.layerPostgres({ url: "postgres://postgres@127.0.0.1:1/trawl", connectTimeout: 2000 }))
      )
      assert.isTrue(Exit.isFailure(exit))
      const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      assert.strictEqual(reason?._tag, "Fail")
      const error = (reason as { error: { _tag: string; message: string } }).error
      assert.strictEqual(error._tag, "DatabaseUnavailable")
      assert.match(error.message, /is unavailable \(connect ECONNREFUSED 127\.0\.0\.1:1\)/)
      assert.isTrue(StoreError.isTransient(error as StoreError.StoreError))
      assert.isBelow(Date.now() - started, 10_000)
    }))

  it.live.skipIf(!("url" in server))("a lock held by another session past lockTimeout is DatabaseLocked", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = (server as { url: string }).url
      const db = yield* postgres(url).fresh
      const schema = db.name
      yield* Effect.provide(Effect.void, db.layer())
      yield* Effect.provide(
        Effect.gen(function*() {
          const store = yield* Store.Store
          const { id } = yield* store.addTarget(new Model.NewTarget({ url: "https://shop.example/p/1", intervalMillis: 60_000 }))
          // another session takes the targets table and keeps it
          const holding = yield* Deferred.make<void>()
          const holder = yield* Effect.forkChild(Effect.scoped(Effect.gen(function*() {
            const other = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 })
            yield* other.withTransaction(Effect.gen(function*() {
              yield* other`LOCK TABLE ${other(schema)}.targets IN ACCESS EXCLUSIVE MODE`
              yield* Deferred.succeed(holding, undefined)
              yield* Effect.never
            }))
          })).pipe(Effect.provide(Reactivity.layer)))
          yield* Deferred.await(holding).pipe(Effect.timeout("10 seconds"))
          const locked = yield* Effect.flip(store.recordObservations([
            new Model.ObservationInput({ targetId: id, observedAt: 1, outcome: "unchanged" })
          ]))
          assert.strictEqual(locked._tag, "DatabaseLocked")
          assert.isTrue(StoreError.isTransient(locked))
          yield* Fiber.interrupt(holder)
          const after = yield* store.recordObservations([
            new Model.ObservationInput({ targetId: id, observedAt: 1, outcome: "unchanged" })
          ])
          assert.isTrue(after[0]!.inserted)
        }),
        Store.layerPostgres({ url, schema, lockTimeout: 200 })
      )
    })))
})
