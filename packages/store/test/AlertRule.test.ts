import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as AlertRule from "../src/AlertRule.ts"

const canonical = (text: string) => AlertRule.format(Result.getOrThrow(AlertRule.parse(text)))
const failure = (text: string) => {
  const parsed = AlertRule.parse(text)
  assert.isTrue(Result.isFailure(parsed), `${text} should not parse`)
  return (parsed as Result.Failure<AlertRule.Rule, AlertRule.InvalidRule>).failure.message
}

describe("AlertRule", () => {
  it("reads every rule, in any case and spacing, to one canonical text", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["below 100 EUR", "below 100 EUR"],
      ["  Below   99.90  eur ", "below 99.90 EUR"],
      ["below 100", "below 100"],
      ["below 100EUR", "below 100 EUR"],
      ["below EUR 100", "below 100 EUR"],
      ["above 1000.5 usd", "above 1000.5 USD"],
      ["drop 10%", "drop 10%"],
      ["DROP 12.5 %", "drop 12.5%"],
      ["rise 150%", "rise 150%"],
      ["change", "change"],
      ["back-in-stock", "back-in-stock"],
      ["back in stock", "back-in-stock"],
      ["Out-Of-Stock", "out-of-stock"]
    ]
    for (const [typed, expected] of cases) assert.strictEqual(canonical(typed), expected, typed)
    assert.deepStrictEqual(Result.getOrThrow(AlertRule.parse("below 99.90 eur")), { _tag: "Below", amount: "99.90", currency: "EUR" })
  })

  it("a bad rule gets one line naming the rule and what is wrong", () => {
    assert.strictEqual(failure("below"), `alert rule "below": expected an amount after below, e.g. "below 100 EUR"`)
    assert.strictEqual(failure("below cheap"), `alert rule "below cheap": "cheap" is not an amount (digits with an optional "." and decimals, e.g. 99.90)`)
    assert.strictEqual(failure("below 100 euros"), `alert rule "below 100 euros": "euros" is not a currency code (three letters, e.g. EUR)`)
    assert.strictEqual(failure("below -5"), `alert rule "below -5": "-5" is not an amount (digits with an optional "." and decimals, e.g. 99.90)`)
    assert.strictEqual(failure("below 1,5"), `alert rule "below 1,5": "1,5" is not an amount (digits with an optional "." and decimals, e.g. 99.90)`)
    assert.strictEqual(failure("drop ten"), `alert rule "drop ten": "ten" is not a percentage (a number and %, e.g. 10%)`)
    assert.strictEqual(failure("drop 10"), `alert rule "drop 10": "10" is not a percentage (a number and %, e.g. 10%)`)
    assert.strictEqual(failure("drop 0%"), `alert rule "drop 0%": the percentage must be above 0`)
    assert.strictEqual(failure("drop 101%"), `alert rule "drop 101%": a price cannot drop by more than 100%`)
    assert.strictEqual(failure("cheaper"), `alert rule "cheaper": unknown rule "cheaper": expected below, above, drop, rise, change, back-in-stock or out-of-stock`)
    assert.strictEqual(failure("  "), `alert rule "": the rule is empty`)
    for (const text of ["below 1 2 3", "above", "rise", "rise %"]) assert.notInclude(failure(text), "\n")
  })

  it("a list splits on ';', drops duplicates (by canonical text), keeps the order and is bounded", () => {
    const list = Result.getOrThrow(AlertRule.parseList(["below 100 EUR; drop 10%", "Drop 10 %", "change;;"]))
    assert.deepStrictEqual(list.map(AlertRule.format), ["below 100 EUR", "drop 10%", "change"])
    assert.deepStrictEqual(Result.getOrThrow(AlertRule.parseList("")), [])
    const many = Array.from({ length: AlertRule.maxRules + 1 }, (_, i) => `below ${i + 1}`).join(";")
    const tooMany = AlertRule.parseList(many)
    assert.isTrue(Result.isFailure(tooMany))
    assert.match((tooMany as Result.Failure<Array<AlertRule.Rule>, AlertRule.InvalidRule>).failure.message, /17 rules; at most 16/)
    const bad = AlertRule.parseList("below 100; drop x%")
    assert.strictEqual((bad as Result.Failure<Array<AlertRule.Rule>, AlertRule.InvalidRule>).failure.rule, "drop x%")
  })

  it("RuleText accepts canonical rules only", () => {
    const is = Schema.is(AlertRule.RuleText)
    assert.isTrue(is("below 100 EUR"))
    assert.isTrue(is("drop 10%"))
    assert.isFalse(is("Drop 10 %"))
    assert.isFalse(is("below cheap"))
    for (const rule of AlertRule.defaults) assert.isTrue(is(AlertRule.format(rule)))
  })
})
