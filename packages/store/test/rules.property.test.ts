/**
 * The rule engine against specifications written another way: over random
 * price and stock sequences (prices in whole cents, compared as integers
 * here, as exact decimals by the engine), each rule fires exactly at its
 * crossings; `confirm N` suppresses flaps shorter than N; `cooldown` and
 * mutes hold on the readings' own clock.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Result from "effect/Result"
import * as AlertRule from "../src/AlertRule.ts"
import type * as Model from "../src/Model.ts"
import * as Rules from "../src/internal/rules.ts"

const T0 = 1_700_000_000_000
const MINUTE = 60_000

const cents = (n: number) => `${Math.floor(n / 100)}.${String(n % 100).padStart(2, "0")}`

interface Step {
  readonly price: number | null
  readonly availability: Model.Availability
  readonly at: number
}

/** Runs readings through one policy; the indices and kinds of the alerts. */
const run = (rules: string, steps: ReadonlyArray<Step>, options: Partial<Omit<Rules.Policy, "rules">> = {}) => {
  const policy: Rules.Policy = {
    rules: Result.getOrThrow(AlertRule.parseList(rules)),
    confirm: options.confirm ?? 1,
    cooldownMillis: options.cooldownMillis ?? 0,
    mutedUntil: options.mutedUntil ?? null
  }
  let states: Rules.States = {}
  let last: Rules.Reading | null = null
  const fired: Array<{ readonly index: number; readonly kind: Model.AlertKind; readonly rule: string }> = []
  steps.forEach((step, index) => {
    const reading: Rules.Reading = {
      observedAt: step.at,
      amount: step.price === null ? null : cents(step.price),
      currency: step.price === null ? null : "EUR",
      availability: step.availability
    }
    const result = Rules.evaluate(policy, states, reading, last)
    // states cross a database column as JSON
    states = Rules.decodeStates(Rules.encodeStates(result.states))
    for (const alert of result.fired) fired.push({ index, kind: alert.kind, rule: alert.rule })
    last = reading
  })
  return fired
}

const prices = (min = 1, max = 20_000) =>
  fc.array(fc.integer({ min, max }), { minLength: 1, maxLength: 60 }).map((list) =>
    list.map((price, i): Step => ({ price, availability: "in_stock", at: T0 + i * MINUTE }))
  )

/** Run-length view of a boolean series: [value, start, length]. */
const runs = (values: ReadonlyArray<boolean>) => {
  const out: Array<readonly [boolean, number, number]> = []
  values.forEach((value, i) => {
    const current = out.at(-1)
    if (current !== undefined && current[0] === value) out[out.length - 1] = [value, current[1], current[2] + 1]
    else out.push([value, i, 1])
  })
  return out
}

/** Where a debounced threshold fires: a run of `true` at least `confirm` long that flips the accepted value to true. */
const expectedCrossings = (values: ReadonlyArray<boolean>, confirm: number) => {
  const at: Array<number> = []
  let accepted = false
  for (const [value, start, length] of runs(values)) {
    if (value === accepted || length < confirm) continue
    accepted = value
    if (value) at.push(start + confirm - 1)
  }
  return at
}

describe("alert rules (property)", () => {
  it("below X fires exactly where the price goes under X, confirm N after N readings in a row", () =>
    fc.assert(fc.property(prices(), fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: 4 }), (steps, threshold, confirm) => {
      const fired = run(`below ${cents(threshold)} EUR`, steps, { confirm })
      assert.deepStrictEqual(fired.map((f) => f.index), expectedCrossings(steps.map((s) => s.price! < threshold), confirm))
      assert.isTrue(fired.every((f) => f.kind === "price_below" && f.rule === `below ${cents(threshold)} EUR`))
    }), { numRuns: 300 }))

  it("above X in another currency never fires; without a currency it compares any", () =>
    fc.assert(fc.property(prices(), fc.integer({ min: 1, max: 20_000 }), (steps, threshold) => {
      assert.deepStrictEqual(run(`above ${cents(threshold)} USD`, steps), [])
      assert.deepStrictEqual(
        run(`above ${cents(threshold)}`, steps).map((f) => f.index),
        expectedCrossings(steps.map((s) => s.price! > threshold), 1)
      )
    }), { numRuns: 200 }))

  it("confirm N suppresses every flap shorter than N", () =>
    fc.assert(fc.property(
      fc.integer({ min: 2, max: 5 }),
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 20 }),
      (confirm, flaps) => {
        // 100.00 steady, dipping to 50.00 for flaps of 1..confirm-1 readings between runs of `confirm` steady ones
        const series: Array<number> = []
        for (const flap of flaps) {
          for (let i = 0; i < confirm; i++) series.push(10_000)
          for (let i = 0; i < Math.min(flap, confirm - 1); i++) series.push(5_000)
        }
        const steps = series.map((price, i): Step => ({ price, availability: "in_stock", at: T0 + i * MINUTE }))
        assert.deepStrictEqual(run("below 80 EUR; change; drop 10%", steps, { confirm }), [])
      }
    ), { numRuns: 200 }))

  it("drop P% fires where the price is P% under the reading it last fired on (the first before that), and re-arms from there", () =>
    fc.assert(fc.property(prices(), fc.integer({ min: 1, max: 60 }), (steps, percent) => {
      const expected: Array<number> = []
      let reference = steps[0]!.price!
      steps.forEach((step, i) => {
        if (i === 0) return
        // price ≤ reference × (100 - P) / 100, in integers
        if (step.price! * 100 <= reference * (100 - percent)) {
          expected.push(i)
          reference = step.price!
        }
      })
      const fired = run(`drop ${percent}%`, steps)
      assert.deepStrictEqual(fired.map((f) => f.index), expected)
      assert.isTrue(fired.every((f) => f.kind === "price_drop"))
    }), { numRuns: 300 }))

  it("rise P% mirrors it", () =>
    fc.assert(fc.property(prices(), fc.integer({ min: 1, max: 200 }), (steps, percent) => {
      const expected: Array<number> = []
      let reference = steps[0]!.price!
      steps.forEach((step, i) => {
        if (i > 0 && step.price! * 100 >= reference * (100 + percent)) {
          expected.push(i)
          reference = step.price!
        }
      })
      assert.deepStrictEqual(run(`rise ${percent}%`, steps).map((f) => f.index), expected)
    }), { numRuns: 300 }))

  it("change fires at every price change, up or down; a price missing from a reading changes nothing", () =>
    fc.assert(fc.property(
      fc.array(fc.option(fc.integer({ min: 1, max: 5 }), { nil: null }), { minLength: 1, maxLength: 60 }),
      (list) => {
        const steps = list.map((price, i): Step => ({ price: price === null ? null : price * 100, availability: "in_stock", at: T0 + i * MINUTE }))
        const expected: Array<{ index: number; kind: Model.AlertKind }> = []
        let previous: number | null = null
        steps.forEach((step, index) => {
          if (step.price === null) return
          if (previous !== null && step.price !== previous) expected.push({ index, kind: step.price > previous ? "price_up" : "price_down" })
          previous = step.price
        })
        assert.deepStrictEqual(run("change", steps).map(({ index, kind }) => ({ index, kind })), expected)
      }
    ), { numRuns: 300 }))

  it("stock rules fire on the change from the last known availability, never on the first reading", () =>
    fc.assert(fc.property(
      fc.array(fc.constantFrom<Model.Availability>("in_stock", "out_of_stock", "unknown"), { minLength: 1, maxLength: 60 }),
      (list) => {
        const steps = list.map((availability, i): Step => ({ price: 1000, availability, at: T0 + i * MINUTE }))
        const expected: Array<{ index: number; kind: Model.AlertKind }> = []
        let known: Model.Availability | null = null
        steps.forEach((step, index) => {
          if (step.availability === "unknown") return
          if (known !== null && known !== step.availability) {
            expected.push({ index, kind: step.availability === "in_stock" ? "back_in_stock" : "out_of_stock" })
          }
          known = step.availability
        })
        assert.deepStrictEqual(run("back-in-stock; out-of-stock", steps).map(({ index, kind }) => ({ index, kind })), expected)
      }
    ), { numRuns: 300 }))

  it("cooldown: at most one alert per rule in its window, on the readings' clock; a crossing inside it is consumed", () =>
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 90 })), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1, max: 240 }),
      (list, cooldownMinutes) => {
        let at = T0
        const steps = list.map(([price, gap]): Step => ({ price: price * 100, availability: "in_stock", at: (at += gap * MINUTE) }))
        const cooldownMillis = cooldownMinutes * MINUTE
        const expected: Array<number> = []
        let lastFired: number | null = null
        steps.forEach((step, i) => {
          if (i === 0 || step.price === steps[i - 1]!.price) return
          if (lastFired !== null && step.at - lastFired < cooldownMillis) return
          expected.push(i)
          lastFired = step.at
        })
        assert.deepStrictEqual(run("change", steps, { cooldownMillis }).map((f) => f.index), expected)
      }
    ), { numRuns: 300 }))

  it("a mute silences every rule until its time; the rules' states move on meanwhile", () =>
    fc.assert(fc.property(prices(1, 5).map((steps) => steps.map((s) => ({ ...s, price: s.price! * 100 }))), fc.integer({ min: 0, max: 60 }), (steps, mutedFor) => {
      const mutedUntil = T0 + mutedFor * MINUTE
      const all = run("change", steps)
      const muted = run("change", steps, { mutedUntil })
      assert.deepStrictEqual(muted, all.filter((f) => steps[f.index]!.at >= mutedUntil))
    }), { numRuns: 200 }))

  it("several rules fire independently, each keyed by its own text", () => {
    const steps = [12_000, 9_500, 9_400, 7_000, 11_000].map((price, i): Step => ({ price, availability: "in_stock", at: T0 + i * MINUTE }))
    assert.deepStrictEqual(run("below 100 EUR; below 80 EUR; drop 20%; above 105", steps), [
      { index: 0, kind: "price_above", rule: "above 105" },
      { index: 1, kind: "price_below", rule: "below 100 EUR" },
      // 95.00 is 20.8 % under 120.00; then 70.00 is 26 % under 95.00
      { index: 1, kind: "price_drop", rule: "drop 20%" },
      { index: 3, kind: "price_below", rule: "below 80 EUR" },
      { index: 3, kind: "price_drop", rule: "drop 20%" },
      { index: 4, kind: "price_above", rule: "above 105" }
    ])
  })
})
