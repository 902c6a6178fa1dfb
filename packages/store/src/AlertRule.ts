/**
 * Alert rules: what makes a reading worth an alert, in a small language a
 * user types on the command line or in a targets file.
 *
 * | rule | fires when |
 * | --- | --- |
 * | `below 100 [EUR]` | the price becomes lower than 100 (in EUR, when a currency is given) |
 * | `above 100 [EUR]` | the price becomes higher than 100 |
 * | `drop 10%` | the price is at least 10 % below the reading this rule last alerted on (the first reading before that) |
 * | `rise 10%` | the price is at least 10 % above it |
 * | `change` | the price changes (the default of a target with no rules, with `back-in-stock` and `out-of-stock`) |
 * | `back-in-stock` | the product comes back in stock |
 * | `out-of-stock` | the product goes out of stock |
 *
 * Rules are edge-triggered: a rule fires when it **becomes** true and re-arms
 * when it becomes false again (`drop` and `rise` re-arm at once, measured
 * from the price they fired on). A target's `confirm N` makes a change count
 * only after N readings in a row agree; `cooldown` allows at most one alert
 * per rule in its window; a mute silences the target until a time. The
 * store evaluates them inside the transaction that records each reading
 * (`internal/rules.ts`).
 *
 * Amounts are exact decimals, kept as text; a rule's canonical text
 * (`format`) is how it is stored and shown.
 *
 * @since 0.4.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"

/**
 * A price threshold: `below` / `above` an amount, in a currency or in any.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@trawl/store"
 *
 * const rule: AlertRule.Rule = { _tag: "Below", amount: "100", currency: "EUR" }
 * ```
 * @since 0.4.0
 */
export interface Threshold {
  readonly _tag: "Below" | "Above"
  /** A non-negative decimal, as typed (`"99.90"`). */
  readonly amount: string
  /** ISO 4217, upper case; null: a reading in any currency is compared. */
  readonly currency: string | null
}

/**
 * A relative move: `drop` / `rise` by at least `percent`.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@trawl/store"
 *
 * const rule: AlertRule.Rule = { _tag: "Drop", percent: "10" }
 * ```
 * @since 0.4.0
 */
export interface Move {
  readonly _tag: "Drop" | "Rise"
  /** A positive decimal (`"12.5"` for 12.5 %). */
  readonly percent: string
}

/**
 * One alert rule.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@trawl/store"
 *
 * const rules: ReadonlyArray<AlertRule.Rule> = [{ _tag: "Change" }, { _tag: "BackInStock" }]
 * ```
 * @since 0.4.0
 */
export type Rule =
  | Threshold
  | Move
  | { readonly _tag: "Change" }
  | { readonly _tag: "BackInStock" }
  | { readonly _tag: "OutOfStock" }

/**
 * A rule that does not parse: the rule as typed and what is wrong with it.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@trawl/store"
 *
 * new AlertRule.InvalidRule({ rule: "below", reason: "expected an amount after below" }).message
 * // 'alert rule "below": expected an amount after below'
 * ```
 * @since 0.4.0
 */
export class InvalidRule extends Data.TaggedError("InvalidRule")<{
  readonly rule: string
  readonly reason: string
}> {
  override get message(): string {
    return `alert rule "${this.rule}": ${this.reason}`
  }
}

/**
 * The rules of a target with none of its own: today's alerts on every price
 * and stock change.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@trawl/store"
 *
 * AlertRule.defaults.map(AlertRule.format) // ["change", "back-in-stock", "out-of-stock"]
 * ```
 * @since 0.4.0
 */
export const defaults: ReadonlyArray<Rule> = [{ _tag: "Change" }, { _tag: "BackInStock" }, { _tag: "OutOfStock" }]

/**
 * The most rules one target or group may carry.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@trawl/store"
 *
 * AlertRule.maxRules // 16
 * ```
 * @since 0.4.0
 */
export const maxRules = 16

const amountPattern = /^\d{1,15}(?:\.\d{1,10})?$/
const currencyPattern = /^[A-Za-z]{3}$/

const invalid = (rule: string, reason: string) => Result.fail(new InvalidRule({ rule, reason }))

const threshold = (tag: "Below" | "Above", typed: string, words: ReadonlyArray<string>): Result.Result<Rule, InvalidRule> => {
  const word = tag === "Below" ? "below" : "above"
  if (words.length === 0) return invalid(typed, `expected an amount after ${word}, e.g. "${word} 100 EUR"`)
  // "100EUR" and "EUR 100" are read too; a price in the user's own notation is not guessed at
  let [amount, currency] = words.length === 1 ? splitGlued(words[0]!) : [words[0]!, words[1]]
  if (currency !== undefined && currencyPattern.test(amount) && amountPattern.test(currency)) [amount, currency] = [currency, amount]
  if (words.length > 2) return invalid(typed, `expected "${word} AMOUNT [CURRENCY]", got ${words.length} words after ${word}`)
  if (!amountPattern.test(amount)) {
    return invalid(typed, `"${amount}" is not an amount (digits with an optional "." and decimals, e.g. 99.90)`)
  }
  if (currency !== undefined && !currencyPattern.test(currency)) {
    return invalid(typed, `"${currency}" is not a currency code (three letters, e.g. EUR)`)
  }
  return Result.succeed({ _tag: tag, amount, currency: currency === undefined ? null : currency.toUpperCase() })
}

const splitGlued = (word: string): [string, string | undefined] => {
  const glued = /^(\d[\d.]*)([A-Za-z]{3})$/.exec(word)
  return glued === null ? [word, undefined] : [glued[1]!, glued[2]!]
}

const move = (tag: "Drop" | "Rise", typed: string, words: ReadonlyArray<string>): Result.Result<Rule, InvalidRule> => {
  const word = tag === "Drop" ? "drop" : "rise"
  const text = words.join("")
  if (text === "") return invalid(typed, `expected a percentage after ${word}, e.g. "${word} 10%"`)
  const match = /^(\d{1,6}(?:\.\d{1,4})?)%$/.exec(text)
  if (match === null) return invalid(typed, `"${words.join(" ")}" is not a percentage (a number and %, e.g. 10%)`)
  const percent = match[1]!
  if (Number(percent) <= 0) return invalid(typed, `the percentage must be above 0`)
  if (tag === "Drop" && Number(percent) > 100) return invalid(typed, `a price cannot drop by more than 100%`)
  return Result.succeed({ _tag: tag, percent })
}

/**
 * Reads one rule; words are case-insensitive and may be separated by any
 * spaces.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@trawl/store"
 * import { Result } from "effect"
 *
 * Result.getOrThrow(AlertRule.parse("Below 99.90 eur")) // { _tag: "Below", amount: "99.90", currency: "EUR" }
 * Result.isFailure(AlertRule.parse("below cheap")) // true
 * ```
 * @since 0.4.0
 */
export const parse = (text: string): Result.Result<Rule, InvalidRule> => {
  const typed = text.trim()
  const words = typed.split(/\s+/).filter((word) => word !== "")
  const head = words[0]?.toLowerCase()
  switch (head) {
    case undefined:
      return invalid(typed, "the rule is empty")
    case "below":
      return threshold("Below", typed, words.slice(1))
    case "above":
      return threshold("Above", typed, words.slice(1))
    case "drop":
      return move("Drop", typed, words.slice(1))
    case "rise":
      return move("Rise", typed, words.slice(1))
  }
  const phrase = words.join("-").toLowerCase()
  switch (phrase) {
    case "change":
      return Result.succeed({ _tag: "Change" })
    case "back-in-stock":
      return Result.succeed({ _tag: "BackInStock" })
    case "out-of-stock":
      return Result.succeed({ _tag: "OutOfStock" })
  }
  return invalid(
    typed,
    `unknown rule "${words[0]}": expected below, above, drop, rise, change, back-in-stock or out-of-stock`
  )
}

/**
 * Reads a list of rules separated by `;` (a targets file's `alert` column);
 * the empty list is fine. Duplicates are dropped, the order kept.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@trawl/store"
 * import { Result } from "effect"
 *
 * Result.getOrThrow(AlertRule.parseList("below 100 EUR; drop 10%")).map(AlertRule.format) // ["below 100 EUR", "drop 10%"]
 * ```
 * @since 0.4.0
 */
export const parseList = (text: string | ReadonlyArray<string>): Result.Result<Array<Rule>, InvalidRule> => {
  const parts = (typeof text === "string" ? [text] : text).flatMap((part) => part.split(";")).map((part) => part.trim())
    .filter((part) => part !== "")
  const rules: Array<Rule> = []
  const seen = new Set<string>()
  for (const part of parts) {
    const parsed = parse(part)
    if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
    const canonical = format(parsed.success)
    if (seen.has(canonical)) continue
    seen.add(canonical)
    rules.push(parsed.success)
  }
  if (rules.length > maxRules) {
    return invalid(parts.join("; "), `${rules.length} rules; at most ${maxRules} per target or group`)
  }
  return Result.succeed(rules)
}

/**
 * A rule's canonical text: how it is stored, shown and keyed.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@trawl/store"
 *
 * AlertRule.format({ _tag: "Drop", percent: "10" }) // "drop 10%"
 * ```
 * @since 0.4.0
 */
export const format = (rule: Rule): string => {
  switch (rule._tag) {
    case "Below":
    case "Above":
      return `${rule._tag === "Below" ? "below" : "above"} ${rule.amount}${rule.currency === null ? "" : ` ${rule.currency}`}`
    case "Drop":
    case "Rise":
      return `${rule._tag === "Drop" ? "drop" : "rise"} ${rule.percent}%`
    case "Change":
      return "change"
    case "BackInStock":
      return "back-in-stock"
    case "OutOfStock":
      return "out-of-stock"
  }
}

/**
 * A rule's canonical text as a Schema: a string that parses and is already
 * in its canonical form (`format(parse(text))`), so what the store keeps is
 * always a rule it can evaluate, spelled one way.
 *
 * @example
 * ```ts
 * import { AlertRule } from "@trawl/store"
 * import { Schema } from "effect"
 *
 * Schema.is(AlertRule.RuleText)("drop 10%") // true
 * Schema.is(AlertRule.RuleText)("Drop 10 %") // false: canonical is "drop 10%"
 * ```
 * @since 0.4.0
 */
export const RuleText = Schema.String.check(Schema.makeFilter((text: string) => {
  const parsed = parse(text)
  if (Result.isFailure(parsed)) return parsed.failure.message
  const canonical = format(parsed.success)
  return canonical === text || `alert rule "${text}" is not in canonical form ("${canonical}")`
}))
