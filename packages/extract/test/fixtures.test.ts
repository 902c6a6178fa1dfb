import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Extract, Rules } from "../src/index.ts"

interface Expected {
  readonly name?: string
  readonly price?: string | null
  readonly minor?: string
  readonly high?: string
  readonly regular?: string
  readonly currency?: string | null
  readonly currencyCandidates?: ReadonlyArray<string>
  readonly availability?: string
  readonly sku?: string
  readonly gtin?: string
  readonly source?: string
  readonly notes?: number
  readonly candidates?: number
  /** Absent or null: the price was decided. Else the reason and the prices in contention, in order. */
  readonly ambiguity?: {
    readonly reason: string
    readonly candidates: ReadonlyArray<{ readonly source: string; readonly price: string; readonly currency?: string | null }>
  } | null
}

interface Fixture {
  readonly url: string
  readonly options?: {
    readonly rules?: Record<string, { selector?: string; attribute?: string; pattern?: string }>
    readonly currency?: string
    readonly locale?: string
    readonly charset?: string
    readonly bytes?: boolean
  }
  readonly expected: Expected
}

const dir = Path.join(import.meta.dirname, "fixtures")
const names = Fs.readdirSync(dir).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort()

const toRules = (raw: NonNullable<Fixture["options"]>["rules"]) => {
  if (raw === undefined) return undefined
  const fields: Record<string, Rules.Rule> = {}
  for (const [field, rule] of Object.entries(raw)) fields[field] = new Rules.Rule(rule)
  return new Rules.Rules(fields)
}

describe("fixture corpus", () => {
  it("has at least 40 pages, each with an expected product", () => {
    expect(names.length).toBeGreaterThanOrEqual(40)
    for (const name of names) expect(Fs.existsSync(Path.join(dir, `${name}.html`))).toBe(true)
  })

  for (const name of names) {
    it(name, () => {
      const fixture = JSON.parse(Fs.readFileSync(Path.join(dir, `${name}.json`), "utf8")) as Fixture
      const bytes = Fs.readFileSync(Path.join(dir, `${name}.html`))
      const options = fixture.options ?? {}
      const input = options.bytes === true ? new Uint8Array(bytes) : bytes.toString("utf8")
      const result = Extract.extractProductResult(input, {
        url: fixture.url,
        rules: toRules(options.rules),
        currency: options.currency,
        locale: options.locale,
        charset: options.charset
      })
      if (Result.isFailure(result)) throw new Error(`unexpected failure: ${result.failure.message}`)
      const product = result.success
      const e = fixture.expected
      if (e.name !== undefined) expect(product.name).toBe(e.name)
      if (e.price === null) {
        expect(product.price).toBeUndefined()
        expect(product.confidence).toBe(0)
      } else if (e.price !== undefined) {
        expect(product.price?.amount).toBe(e.price)
        expect(product.confidence).toBeGreaterThan(0)
      }
      if (e.minor !== undefined) expect(product.price?.minor).toBe(BigInt(e.minor))
      expect(product.high?.amount).toBe(e.high)
      expect(product.regular?.amount).toBe(e.regular)
      if (e.currency === null) expect(product.currency).toBeUndefined()
      else if (e.currency !== undefined) expect(product.currency).toBe(e.currency)
      if (e.currencyCandidates !== undefined) expect(product.currencyCandidates).toEqual(e.currencyCandidates)
      if (e.availability !== undefined) expect(product.availability).toBe(e.availability)
      if (e.sku !== undefined) expect(product.sku).toBe(e.sku)
      if (e.gtin !== undefined) expect(product.gtin).toBe(e.gtin)
      if (e.source !== undefined) expect(product.source).toBe(e.source)
      expect(product.notes.length).toBe(e.notes ?? 0)
      if (e.candidates !== undefined) expect(product.candidates.length).toBe(e.candidates)
      if (e.ambiguity === undefined || e.ambiguity === null) expect(product.ambiguity).toBeNull()
      else {
        expect(product.ambiguity?.reason).toBe(e.ambiguity.reason)
        expect(product.ambiguity?.candidates.map((c) => ({ source: c.source, price: c.price?.amount, currency: c.currency ?? null })))
          .toEqual(e.ambiguity.candidates.map((c) => ({ ...c, currency: c.currency ?? null })))
      }
      if (product.price !== undefined) {
        // the winner is listed first, and minor units are exactly amount × 10^scale
        expect(product.candidates[0]?.source).toBe(product.source)
        expect(product.price.minor).toBe(BigInt(product.price.amount.replace(".", "")))
      }
    })
  }
})
