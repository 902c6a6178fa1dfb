import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Rates from "../src/Rates.ts"

const reason = (text: string) => {
  const parsed = Rates.parse(text)
  assert.isTrue(Result.isFailure(parsed), text)
  const message = (parsed as Result.Failure<Rates.Rates, Rates.InvalidRates>).failure.message
  assert.notInclude(message, "\n")
  return message
}

describe("Rates", () => {
  it("reads JSON and CSV; the base is worth 1; amounts convert exactly", () => {
    const json = Result.getOrThrow(Rates.parse(`{"base":"eur","date":"2026-12-01","rates":{"usd":"0.92","GBP":1.17}}`))
    assert.deepStrictEqual(json, { base: "EUR", date: "2026-12-01", rates: { USD: "0.92", GBP: "1.17", EUR: "1" } })
    const csv = Result.getOrThrow(Rates.parse("\uFEFFcurrency,rate\n# from the bank\nbase,EUR\ndate,2026-12-01\nUSD,0.92\nGBP, 1.17\n"))
    assert.deepStrictEqual(csv, json)
    assert.strictEqual(Rates.toBase(json, "19.99", "USD"), "18.3908")
    assert.strictEqual(Rates.toBase(json, "10", "EUR"), "10")
    assert.isUndefined(Rates.toBase(json, "10", "JPY"))
  })

  it("a bad rates file is one line saying what is wrong", () => {
    assert.match(reason(`{"date":"2026-12-01","rates":{}}`), /^rates: the base currency is missing/)
    assert.match(reason(`{"base":"euro","date":"2026-12-01","rates":{}}`), /'euro' is not a currency code/)
    assert.match(reason(`{"base":"EUR","rates":{}}`), /the rates' date is missing/)
    assert.match(reason(`{"base":"EUR","date":"yesterday","rates":{}}`), /'yesterday' is not a date/)
    assert.match(reason(`{"base":"EUR","date":"2026-12-01","rates":{"USD":"-1"}}`), /the rate of USD '-1' is not a positive decimal/)
    assert.match(reason(`{"base":"EUR","date":"2026-12-01","rates":{"USD":0}}`), /the rate of USD '0' is not a positive decimal/)
    assert.match(reason(`{"base":"EUR","date":"2026-12-01","rates":[1]}`), /expected "rates": an object/)
    assert.match(reason(`{"base":`), /^rates: invalid JSON/)
    assert.match(reason("currency,value\nUSD,1"), /header currency,rate/)
    assert.match(reason("currency,rate\nbase,EUR\ndate,2026-12-01\nUSD,0.9,extra"), /row 4: expected currency,rate/)
    assert.match(reason("currency,rate\nbase,EUR\ndate,2026-12-01\nUSD,0.9\nusd,0.91"), /USD is given twice/)
  })
})
