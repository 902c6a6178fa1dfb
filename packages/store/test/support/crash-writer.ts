/**
 * A writer process for the crash test: records batches of observations into
 * the SQLite store at argv[2] (its connection on the thread argv[3] names:
 * "worker", the default, or "main") and prints `acked <n>` after each commit, until
 * it is killed. Every observation changes the price, so each one raises
 * exactly one alert.
 */
import * as Effect from "effect/Effect"
import * as Model from "../../src/Model.ts"
import * as Store from "../../src/Store.ts"

const filename = process.argv[2]!
const thread = process.argv[3] === "main" ? "main" : "worker"
const program = Effect.gen(function*() {
  const store = yield* Store.Store
  const target = yield* store.addTarget(new Model.NewTarget({ url: "https://shop.example/p/crash", intervalMillis: 60_000 }))
  for (let batch = 0;; batch++) {
    const inputs = Array.from({ length: 50 }, (_, i) => {
      const n = batch * 50 + i
      return new Model.ObservationInput({
        targetId: target.id,
        observedAt: 1_700_000_000_000 + n,
        outcome: "ok",
        price: new Model.Money({ amount: `${10 + (n % 2)}.00`, currency: "EUR" }),
        availability: "in_stock"
      })
    })
    yield* store.recordObservations(inputs)
    process.stdout.write(`acked ${batch * 50 + 49}\n`)
  }
})
Effect.runPromise(Effect.provide(program, Store.layerSqlite({ filename, thread }))).catch((error) => {
  console.error(error)
  process.exit(1)
})
