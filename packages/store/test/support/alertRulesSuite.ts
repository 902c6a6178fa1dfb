/**
 * Alert rules through the store, on every backend: rules replace a target's
 * default price alerts, their state lives in the database between batches,
 * a replayed batch raises nothing twice, and `updateTarget` changes rules,
 * confirm, cooldown, mute and group.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Model from "../../src/Model.ts"
import * as Store from "../../src/Store.ts"
import type { Backend } from "./backends.ts"
import { failure, money, ok } from "./suite.ts"

const T0 = 1_700_000_000_000
const MINUTE = 60_000

const withStore = <A, E>(backend: Backend, f: (store: Store.Service) => Effect.Effect<A, E, Store.Store>) =>
  Effect.scoped(Effect.gen(function*() {
    const db = yield* backend.fresh
    return yield* Effect.provide(Effect.flatMap(Store.Store, f), db.layer())
  }))

const alertsOf = (results: ReadonlyArray<Model.RecordResult>) =>
  results.flatMap((result) => result.alerts.map((alert) => `${alert.kind}${alert.rule === null ? "" : ` (${alert.rule})`}`))

export const alertRulesSuite = (backend: Backend) => {
  describe(`alert rules on ${backend.name}`, () => {
    it.live("a target's rules replace its default price alerts; each alert names its rule; first_seen and extraction_broken stay", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const target = yield* store.addTarget(new Model.NewTarget({
            url: "https://shop.example/p/1",
            intervalMillis: MINUTE,
            alertRules: ["below 100 EUR", "drop 10%", "back-in-stock"]
          }))
          assert.deepStrictEqual(target.alertRules, ["below 100 EUR", "drop 10%", "back-in-stock"])
          const plain = yield* store.addTarget(new Model.NewTarget({ url: "https://shop.example/p/2", intervalMillis: MINUTE }))
          assert.deepStrictEqual(plain.alertRules, [])
          const readings = [
            ["120.00", "in_stock"],
            ["110.00", "in_stock"],
            ["99.00", "out_of_stock"],
            ["98.00", "in_stock"],
            ["101.00", "in_stock"],
            ["88.00", "in_stock"]
          ] as const
          const ruled = yield* store.recordObservations(readings.map(([price, stock], i) => ok(target.id, T0 + i * MINUTE, money(price), stock)))
          assert.deepStrictEqual(alertsOf(ruled), [
            "first_seen",
            "price_below (below 100 EUR)", // 99.00
            "price_drop (drop 10%)", // 99.00 is 17.5 % under 120.00
            "back_in_stock (back-in-stock)", // 98.00 in stock again
            "price_below (below 100 EUR)", // 88.00, after 101.00
            "price_drop (drop 10%)" // 88.00 is 11.1 % under 99.00
          ])
          const defaults = yield* store.recordObservations(readings.map(([price, stock], i) => ok(plain.id, T0 + i * MINUTE, money(price), stock)))
          assert.deepStrictEqual(alertsOf(defaults), [
            "first_seen", "price_down", "price_down", "out_of_stock", "price_down", "back_in_stock", "price_up", "price_down"
          ])
          const broken = yield* store.recordObservations([1, 2, 3].map((i) => failure(target.id, T0 + (10 + i) * MINUTE)))
          assert.deepStrictEqual(alertsOf(broken), ["extraction_broken"])
          const listed = yield* store.alerts({ targetId: target.id, limit: 100 })
          assert.strictEqual(new Set(listed.map((alert) => alert.key)).size, listed.length)
          assert.deepStrictEqual(listed.filter((alert) => alert.rule !== null).map((alert) => alert.rule).sort(), [
            "back-in-stock", "below 100 EUR", "below 100 EUR", "drop 10%", "drop 10%"
          ])
          // the same batch again: recorded before, nothing raised
          const replayed = yield* store.recordObservations(readings.map(([price, stock], i) => ok(target.id, T0 + i * MINUTE, money(price), stock)))
          assert.deepStrictEqual(alertsOf(replayed), [])
          assert.isTrue(replayed.every((result) => !result.inserted))
        })))

    it.live("confirm N counts readings across batches (the state is in the database); an unchanged visit repeats the last reading", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const target = yield* store.addTarget(new Model.NewTarget({
            url: "https://shop.example/p/1",
            intervalMillis: MINUTE,
            alertRules: ["below 50"],
            confirm: 3
          }))
          const at = (i: number) => T0 + i * MINUTE
          const batches = [
            [ok(target.id, at(0), money("60"))],
            [ok(target.id, at(1), money("45"))],
            [ok(target.id, at(2), money("44"))],
            [ok(target.id, at(3), money("70"))], // a flap of two: nothing
            [ok(target.id, at(4), money("40"))],
            [new Model.ObservationInput({ targetId: target.id, observedAt: at(5), outcome: "unchanged", httpStatus: 304 })],
            [failure(target.id, at(6))], // not a reading: neither breaks nor extends the streak
            [ok(target.id, at(7), money("39"))]
          ]
          const fired: Array<string> = []
          for (const batch of batches) {
            const results = yield* store.recordObservations(batch)
            for (const alert of results.flatMap((result) => result.alerts)) fired.push(`${alert.kind} ${alert.newPrice?.amount}`)
          }
          assert.deepStrictEqual(fired, ["first_seen 60", "price_below 39"])
        })))

    it.live("an ambiguous reading keeps its candidates, raises no price alert nor feeds a rule; a streak of 3 raises price_ambiguous once", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const target = yield* store.addTarget(new Model.NewTarget({ url: "https://shop.example/p/1", intervalMillis: MINUTE, alertRules: ["below 100 EUR", "change"] }))
          const ambiguity = new Model.Ambiguity({
            reason: "sources-disagree",
            detail: "sources trusted about equally disagree: 89.00 EUR (json-ld), 129.00 EUR (microdata)",
            candidates: [
              new Model.PriceCandidate({ amount: "89.00", currency: "EUR", source: "json-ld", detail: "JSON-LD block 1", confidence: 0.9 }),
              new Model.PriceCandidate({ amount: "129.00", currency: "EUR", source: "microdata", detail: "microdata item 1", confidence: 0.85 })
            ]
          })
          const ambiguous = (i: number) =>
            new Model.ObservationInput({ targetId: target.id, observedAt: T0 + i * MINUTE, outcome: "ambiguous", price: null, availability: "in_stock", httpStatus: 200, ambiguity })
          const results = yield* store.recordObservations([
            ok(target.id, T0, money("120.00")),
            ambiguous(1),
            ambiguous(2),
            ambiguous(3),
            ambiguous(4),
            ok(target.id, T0 + 5 * MINUTE, money("121.00")),
            ambiguous(6)
          ])
          assert.deepStrictEqual(alertsOf(results), ["first_seen", "price_ambiguous", "price_up (change)"])
          const raised = results[3]!.alerts[0]!
          assert.strictEqual(raised.oldPrice?.amount, "120.00")
          assert.isNull(raised.newPrice)
          const [latest, decided, fourth] = yield* store.history(target.id, { limit: 3 })
          assert.deepStrictEqual([latest!.outcome, decided!.outcome, fourth!.outcome], ["ambiguous", "ok", "ambiguous"])
          assert.deepStrictEqual(latest!.ambiguity?.candidates.map((c) => `${c.amount} ${c.source}`), ["89.00 json-ld", "129.00 microdata"])
          assert.strictEqual(latest!.ambiguity?.reason, "sources-disagree")
          assert.isNull(decided!.ambiguity)
          assert.strictEqual((yield* store.getTarget(target.id)).lastPrice?.amount, "121.00")
        })))

    it.live("updateTarget sets rules, confirm, cooldown, mute and group; a mute silences alerts until its time; null rules are the defaults again", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const { id } = yield* store.addTarget(new Model.NewTarget({ url: "https://shop.example/p/1", intervalMillis: MINUTE, group: "kettle-x" }))
          assert.strictEqual((yield* store.getTarget(id)).group, "kettle-x")
          const changed = yield* store.updateTarget(id, {
            alertRules: ["rise 5%", "change"],
            confirm: 2,
            cooldownMillis: 6 * 60 * MINUTE,
            mutedUntil: T0 + 3 * MINUTE,
            group: null
          })
          assert.deepStrictEqual(
            { rules: changed.alertRules, confirm: changed.confirm, cooldown: changed.cooldownMillis, muted: changed.mutedUntil, group: changed.group },
            { rules: ["rise 5%", "change"], confirm: 2, cooldown: 6 * 60 * MINUTE, muted: T0 + 3 * MINUTE, group: null }
          )
          const refused = yield* Effect.flip(store.updateTarget(id, { alertRules: ["below cheap"] }))
          assert.strictEqual(refused._tag, "InvalidAlertRule")
          assert.deepStrictEqual((yield* store.getTarget(id)).alertRules, ["rise 5%", "change"])
          yield* store.updateTarget(id, { confirm: 1, cooldownMillis: 0 })
          // muted until T0+3m: the first reading's first_seen and the moves at 1m are silenced (consumed: the
          // rise is measured from 11 after it), the ones at 3m are not
          const results = yield* store.recordObservations([
            ok(id, T0, money("10")),
            ok(id, T0 + MINUTE, money("11")),
            ok(id, T0 + 3 * MINUTE, money("12"))
          ])
          assert.deepStrictEqual(alertsOf(results), ["price_rise (rise 5%)", "price_up (change)"])
          assert.strictEqual(results[2]!.alerts[0]!.oldPrice?.amount, "11")
          yield* store.updateTarget(id, { alertRules: null, mutedUntil: null })
          assert.deepStrictEqual((yield* store.getTarget(id)).alertRules, [])
          const after = yield* store.recordObservations([ok(id, T0 + 4 * MINUTE, money("13"), "out_of_stock")])
          assert.deepStrictEqual(alertsOf(after), ["price_up", "out_of_stock"])
        })))
  })
}
