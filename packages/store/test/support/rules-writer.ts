/**
 * A writer process for the alert-rules crash test: records readings `from`
 * (argv[4]) up to `total` (argv[5]) of a seeded price and stock sequence
 * (argv[3]) into the SQLite store at argv[2], five per batch, for one target
 * with rules, confirm 2 and a cooldown; prints `acked <last index>` after each
 * commit and `done` at the end. The test kills it with SIGKILL and starts it
 * again from the last acknowledged reading, as a restarted pipeline would
 * replay the batch it had not seen acknowledged.
 */
import * as Effect from "effect/Effect"
import * as Model from "../../src/Model.ts"
import * as Store from "../../src/Store.ts"

const [filename, seedText, fromText, totalText] = process.argv.slice(2)
const T0 = 1_700_000_000_000
const MINUTE = 60_000

/** The sequence: a random walk of prices around 100 EUR, now and then out of stock. */
export const sequence = (seed: number, total: number) => {
  let state = seed >>> 0
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  let cents = 10_000
  return Array.from({ length: total }, (_, i) => {
    cents = Math.min(13_000, Math.max(7_000, cents + Math.round((random() - 0.5) * 1_600)))
    const availability: Model.Availability = random() < 0.15 ? "out_of_stock" : "in_stock"
    return { observedAt: T0 + i * MINUTE, amount: `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`, availability }
  })
}

if (filename !== undefined) {
  const from = Number(fromText)
  const readings = sequence(Number(seedText), Number(totalText))
  const program = Effect.gen(function*() {
    const store = yield* Store.Store
    const target = yield* store.addTarget(new Model.NewTarget({
      url: "https://shop.example/p/rules",
      intervalMillis: MINUTE,
      alertRules: ["below 95 EUR", "above 110 EUR", "drop 5%", "rise 5%", "back-in-stock", "out-of-stock"],
      confirm: 2,
      cooldownMillis: 3 * MINUTE
    })).pipe(Effect.catchTag("DuplicateTarget", () => store.getTarget(1)))
    for (let start = from; start < readings.length; start += 5) {
      const batch = readings.slice(start, start + 5).map((reading) =>
        new Model.ObservationInput({
          targetId: target.id,
          observedAt: reading.observedAt,
          outcome: "ok",
          price: new Model.Money({ amount: reading.amount, currency: "EUR" }),
          availability: reading.availability
        })
      )
      yield* store.recordObservations(batch)
      process.stdout.write(`acked ${start + batch.length - 1}\n`)
    }
    process.stdout.write("done\n")
  })
  Effect.runPromise(Effect.provide(program, Store.layerSqlite({ filename }))).catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
