/**
 * Alert rules through the store, on every backend: rules replace a target's
 * default price alerts, their state lives in the database between batches,
 * a replayed batch raises nothing twice, and `updateTarget` changes rules,
 * confirm, cooldown, mute, group and alert channels.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Model from "../../src/Model.ts"
import * as Rates from "../../src/Rates.ts"
import * as Store from "../../src/Store.ts"
import type { Backend } from "./backends.ts"
import { failure, money, ok } from "./suite.ts"

const T0 = 1_700_000_000_000
const MINUTE = 60_000

const withStore = <A, E>(backend: Backend, f: (store: Store.Service) => Effect.Effect<A, E, Store.Store>, options: Store.StoreOptions = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const db = yield* backend.fresh
    return yield* Effect.provide(Effect.flatMap(Store.Store, f), db.layer(options))
  }))

const rates: Rates.Rates = Result.getOrThrow(Rates.parse(JSON.stringify({ base: "EUR", date: "2026-12-01", rates: { USD: "0.90", GBP: "1.20" } })))

/** Three shops of one product: a (EUR), b (USD), c (GBP); the best in-stock offer in EUR after each step, by a reference written here. */
const shopsIn = (store: Store.Service, group: string) =>
  Effect.all([
    store.addTarget(new Model.NewTarget({ url: "https://a.example/kettle", intervalMillis: MINUTE, group })),
    store.addTarget(new Model.NewTarget({ url: "https://b.example/kettle", intervalMillis: MINUTE, group })),
    store.addTarget(new Model.NewTarget({ url: "https://c.example/kettle", intervalMillis: MINUTE, group }))
  ])

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

    it.live("a group of 3 shops in 3 currencies with rates: cheapest_changed exactly when the shop with the best in-stock offer changes", () =>
      Effect.gen(function*() {
        const currencies = ["EUR", "USD", "GBP"] as const
        const toEur = { EUR: 1, USD: 0.9, GBP: 1.2 } as const
        // random readings: which shop, its price in whole units (its own currency), in stock or not
        const sequences = fc.sample(
          fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 50, max: 150 }), fc.boolean()), { minLength: 5, maxLength: 40 }),
          { numRuns: 6 }
        )
        for (const sequence of sequences) {
          yield* withStore(backend, (store) =>
            Effect.gen(function*() {
              const shops = yield* shopsIn(store, "kettle-x")
              const expected: Array<string> = []
              const known: Array<{ price: number; inStock: boolean } | undefined> = [undefined, undefined, undefined]
              let best: number | undefined
              let current: number | undefined
              const seen = new Set<number>()
              const got: Array<string> = []
              for (const [i, [shop, price, inStock]] of sequence.entries()) {
                known[shop] = { price, inStock }
                // the reference: lowest price in EUR among shops in stock, ties to the older target (lower index)
                let now: number | undefined
                for (let k = 0; k < 3; k++) {
                  const offer = known[k]
                  if (offer === undefined || !offer.inStock) continue
                  if (now === undefined || offer.price * 100 * toEur[currencies[k]!] < known[now]!.price * 100 * toEur[currencies[now]!]) now = k
                }
                // a shop's first reading joins the comparison silently
                if (now !== undefined && best !== undefined && now !== best && seen.has(shop)) expected.push(`${i} ${shops[now]!.url}`)
                seen.add(shop)
                if (now !== undefined) best = now
                current = now
                const results = yield* store.recordObservations([
                  ok(shops[shop]!.id, T0 + i * MINUTE, money(`${price}.00`, currencies[shop]), inStock ? "in_stock" : "out_of_stock")
                ])
                for (const alert of results[0]!.alerts) if (alert.kind === "cheapest_changed") got.push(`${i} ${alert.url}`)
              }
              assert.deepStrictEqual(got, expected, JSON.stringify(sequence))
              const group = Option.getOrThrow(yield* store.group("kettle-x"))
              // the view's best is the best now (none when nothing is in stock); the writer's is the last there was
              assert.strictEqual(group.best, current === undefined ? null : shops[current]!.id)
              assert.strictEqual(group.currency, "EUR")
              assert.strictEqual(group.ratesDate, "2026-12-01")
            }), { rates })
        }
      }))

    it.live("a cheapest_changed alert is the new best shop's, with the old and new best prices in the base currency; the group's own rules fire on its best price", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const [a, b, c] = yield* shopsIn(store, "kettle-x")
          yield* store.updateGroup("kettle-x", { alertRules: ["below 80 EUR"] })
          yield* store.recordObservations([ok(a.id, T0, money("100.00", "EUR")), ok(b.id, T0, money("100.00", "USD")), ok(c.id, T0, money("100.00", "GBP"))])
          // b: 100 USD = 90 EUR is the best; then c drops to 60 GBP = 72 EUR: cheapest changes, and the group's best is below 80 EUR
          const results = yield* store.recordObservations([ok(c.id, T0 + MINUTE, money("60.00", "GBP"))])
          const alerts = results[0]!.alerts
          const changed = alerts.find((alert) => alert.kind === "cheapest_changed")!
          assert.deepStrictEqual(
            { url: changed.url, group: changed.group, old: changed.oldPrice, new: changed.newPrice, percent: changed.percent },
            { url: c.url, group: "kettle-x", old: money("90.00", "EUR"), new: money("72.00", "EUR"), percent: "-20.00" }
          )
          const below = alerts.find((alert) => alert.kind === "price_below" && alert.group === "kettle-x")!
          assert.deepStrictEqual({ rule: below.rule, url: below.url, price: below.newPrice }, { rule: "below 80 EUR", url: c.url, price: money("72.00", "EUR") })
          const group = Option.getOrThrow(yield* store.group("kettle-x"))
          assert.deepStrictEqual(group.offers.map((offer) => offer.compared), ["100.00", "90.00", "72.00"])
          assert.deepStrictEqual(group.alertRules, ["below 80 EUR"])
          // the same batch again raises nothing
          const replayed = yield* store.recordObservations([ok(c.id, T0 + MINUTE, money("60.00", "GBP"))])
          assert.deepStrictEqual(replayed[0]!.alerts, [])
        }), { rates }))

    it.live("without rates a group compares only offers in its usual currency", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const [a, b, c] = yield* shopsIn(store, "kettle-x")
          yield* store.addTarget(new Model.NewTarget({ url: "https://d.example/kettle", intervalMillis: MINUTE, group: "kettle-x" }))
          yield* store.recordObservations([
            ok(a.id, T0, money("100.00", "EUR")),
            ok(b.id, T0, money("10.00", "USD")),
            ok(c.id, T0, money("95.00", "EUR"))
          ])
          const group = Option.getOrThrow(yield* store.group("kettle-x"))
          assert.strictEqual(group.currency, "EUR")
          assert.isNull(group.ratesDate)
          assert.strictEqual(group.best, c.id)
          assert.deepStrictEqual(group.offers.map((offer) => offer.compared), ["100.00", null, "95.00", null])
          assert.isTrue(Option.isNone(yield* store.group("no-such-group")))
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

    it.live("alert channels named on targets and groups round-trip, opaque; channels lists each once; channelRoutes says whose alerts go where", () =>
      withStore(backend, (store) =>
        Effect.gen(function*() {
          const slack = "slack+https://hooks.slack.com/services/T0/B0/SECRET"
          const ntfy = "ntfy+https://ntfy.sh/kettle?token=tk_1"
          const file = "file:my alerts.jsonl"
          const a = yield* store.addTarget(new Model.NewTarget({ url: "https://a.example/kettle", intervalMillis: MINUTE, notify: [slack, ntfy, slack], group: "kettle-x" }))
          assert.deepStrictEqual(a.notify, [slack, ntfy])
          assert.deepStrictEqual((yield* store.getTarget(a.id)).notify, [slack, ntfy])
          const b = yield* store.addTarget(new Model.NewTarget({ url: "https://b.example/kettle", intervalMillis: MINUTE, group: "kettle-x" }))
          assert.deepStrictEqual(b.notify, [])
          const c = yield* store.addTarget(new Model.NewTarget({ url: "https://c.example/kettle", intervalMillis: MINUTE }))
          assert.deepStrictEqual(yield* store.channels, [ntfy, slack].sort())
          const changed = yield* store.updateTarget(c.id, { notify: [` ${file} `, ""] })
          assert.deepStrictEqual(changed.notify, [file])
          assert.deepStrictEqual(Option.getOrThrow(yield* store.targetByUrl(c.url)).notify, [file])
          // the other fields are kept when notify is not given
          assert.deepStrictEqual((yield* store.updateTarget(c.id, { confirm: 2 })).notify, [file])
          const group = yield* store.updateGroup("kettle-x", { notify: [ntfy, "telegram://123:ABC@42"] })
          assert.deepStrictEqual(group.notify, [ntfy, "telegram://123:ABC@42"])
          assert.deepStrictEqual(Option.getOrThrow(yield* store.group("kettle-x")).notify, [ntfy, "telegram://123:ABC@42"])
          // a group nobody is in yet keeps its channels too
          assert.deepStrictEqual((yield* store.updateGroup("toaster", { notify: [slack] })).notify, [slack])
          assert.deepStrictEqual(yield* store.channels, [file, ntfy, slack, "telegram://123:ABC@42"].sort())
          const routes = yield* store.channelRoutes
          assert.deepStrictEqual(Object.fromEntries(routes.targets), {
            [a.id]: [slack, ntfy, "telegram://123:ABC@42"],
            [b.id]: [ntfy, "telegram://123:ABC@42"],
            [c.id]: [file]
          })
          assert.deepStrictEqual(Object.fromEntries(routes.groups), { "kettle-x": [ntfy, "telegram://123:ABC@42"], toaster: [slack] })
          // null and [] clear them
          assert.deepStrictEqual((yield* store.updateTarget(a.id, { notify: null })).notify, [])
          assert.deepStrictEqual((yield* store.updateTarget(c.id, { notify: [] })).notify, [])
          assert.deepStrictEqual((yield* store.updateGroup("kettle-x", { notify: null })).notify, [])
          yield* store.updateGroup("toaster", { notify: [] })
          assert.deepStrictEqual(yield* store.channels, [])
          const cleared = yield* store.channelRoutes
          assert.strictEqual(cleared.targets.size + cleared.groups.size, 0)
        })))
  })
}
