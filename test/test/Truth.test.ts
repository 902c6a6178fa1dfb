import { describe, expect, it } from "vitest"
import * as fc from "fast-check"
import { Truth, World } from "@trawl/harness"

const world = World.make({ seed: 42, shops: 5_000, hostileFraction: 0.05 })
const t0 = Date.UTC(2026, 5, 1, 12, 0, 0)

describe("Truth", () => {
  it("is a pure function of (world, shop, product, time)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: world.shops - 1 }),
        fc.integer({ min: 0, max: world.products - 1 }),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        (s, p, at) => {
          const a = Truth.productAt(world, s, p, at)
          const b = Truth.productAt(World.make({ seed: 42, shops: 5_000, hostileFraction: 0.05 }), s, p, at)
          expect(b).toEqual(a)
          expect(a.url).toBe(`http://${Truth.shopHost(s)}${a.path}`)
          expect(Truth.locate(world, a.url)).toEqual({ shop: s, product: p })
          const decimals = Truth.currencyDecimals(a.currency)
          expect(a.price).toMatch(decimals === 0 ? /^\d+$/ : /^\d+\.\d{2}$/)
          expect(Number(a.price) * 10 ** decimals).toBeCloseTo(a.priceMinor, 6)
          expect(a.lastModifiedMillis).toBeLessThanOrEqual(Math.max(at, Date.UTC(2025, 11, 31)))
        }
      ),
      { numRuns: 300 }
    )
  })

  it("depends on the seed", () => {
    const other = World.make({ ...world, seed: 43 })
    let differ = 0
    for (let s = 0; s < 50; s++) if (Truth.productAt(world, s, 0, t0).price !== Truth.productAt(other, s, 0, t0).price) differ++
    expect(differ).toBeGreaterThan(40)
  })

  it("moves the prices of about changeFraction of products, every change a real change", () => {
    let volatile = 0
    let total = 0
    const hour = 3_600_000
    for (let s = 0; s < 200; s++) {
      for (let p = 0; p < world.products; p++) {
        total++
        const item = Truth.product(world, s, p)
        const changes = Truth.changes(world, s, p, t0, t0 + hour)
        if (!item.volatile) {
          expect(changes).toEqual([])
          expect(Truth.productAt(world, s, p, t0 + hour).price).toBe(Truth.productAt(world, s, p, t0).price)
          continue
        }
        volatile++
        // One change per period: the steps k (5 minutes each) with (k + phase) divisible by the period.
        const firstStep = t0 / world.stepMillis
        let expected = 0
        for (let k = firstStep + 1; k <= firstStep + 12; k++) if ((k + item.phase) % item.periodSteps === 0) expected++
        expect(changes.length).toBe(expected)
        let before = Truth.productAt(world, s, p, t0)
        for (const change of changes) {
          expect(change.price).not.toBe(before.price)
          expect(change.version).toBe(before.version + 1)
          // The state holds until the next change, and differed just before it.
          expect(Truth.productAt(world, s, p, change.atMillis - 1).price).toBe(before.price)
          expect(Truth.productAt(world, s, p, change.atMillis + world.stepMillis * item.periodSteps - 1).price).toBe(change.price)
          before = change
        }
      }
    }
    expect(volatile / total).toBeGreaterThan(0.25)
    expect(volatile / total).toBeLessThan(0.35)
  })

  it("has stock-outs and back-in-stock over time", () => {
    let outs = 0
    let backs = 0
    for (let s = 0; s < 100; s++) {
      for (let p = 0; p < world.products; p++) {
        let previous = Truth.productAt(world, s, p, t0).availability
        for (const change of Truth.changes(world, s, p, t0, t0 + 6 * 3_600_000)) {
          if (previous === "InStock" && change.availability === "OutOfStock") outs++
          if (previous === "OutOfStock" && change.availability === "InStock") backs++
          previous = change.availability
        }
      }
    }
    expect(outs).toBeGreaterThan(10)
    expect(backs).toBeGreaterThan(10)
  })

  it("declares hostile shops at the configured fraction with the error a fetcher should produce", () => {
    const kinds = new Map<string, number>()
    for (let s = 0; s < world.shops; s++) {
      const shop = Truth.shop(world, s)
      if (shop.hostile === undefined) continue
      kinds.set(shop.hostile, (kinds.get(shop.hostile) ?? 0) + 1)
      const p = [...Array(world.products).keys()].find((i) => !Truth.product(world, s, i).outlet)!
      const expected = Truth.productAt(world, s, p, t0).expected
      const tag = expected._tag === "Error" ? expected.error : "Price"
      expect(tag).toBe({
        slowloris: "Timeout",
        "endless-body": "BodyTooLarge",
        "gzip-bomb": "DecompressionBomb",
        "redirect-loop": "TooManyRedirects",
        "huge-jsonld": "Price",
        "wrong-charset": "BadCharset"
      }[shop.hostile])
    }
    const hostile = [...kinds.values()].reduce((a, b) => a + b, 0)
    expect(hostile / world.shops).toBeGreaterThan(0.04)
    expect(hostile / world.shops).toBeLessThan(0.06)
    expect([...kinds.keys()].sort()).toEqual([...Truth.hostileKinds].sort())
  })

  it("uses every markup style, charset and robots rule", () => {
    const styles = new Set<string>()
    const charsets = new Set<string>()
    let outlet = 0
    let crawlDelay = 0
    for (let s = 0; s < 300; s++) {
      const shop = Truth.shop(world, s)
      charsets.add(shop.charset)
      if (shop.crawlDelaySeconds !== undefined) crawlDelay++
      for (let p = 0; p < world.products; p++) {
        const truth = Truth.productAt(world, s, p, t0)
        styles.add(truth.style)
        if (truth.outlet) {
          outlet++
          expect(shop.disallowOutlet).toBe(true)
          expect(truth.expected).toMatchObject({ _tag: "Error", error: "RobotsDisallowed" })
        }
        expect(truth.sizeBytes).toBeGreaterThanOrEqual(20_480)
        expect(truth.sizeBytes).toBeLessThanOrEqual(307_200)
      }
    }
    expect([...styles].sort()).toEqual([...Truth.styles].sort())
    expect([...charsets].sort()).toEqual(["iso-8859-1", "utf-8", "windows-1252"])
    expect(outlet).toBeGreaterThan(0)
    expect(crawlDelay).toBeGreaterThan(0)
  })

  it("gives shops different latency medians (5–150 ms) and error rates (most none)", () => {
    const all = Array.from({ length: 1_000 }, (_, s) => Truth.shop(world, s))
    const medians = all.map((shop) => shop.latencyMedianMillis)
    expect(Math.min(...medians)).toBeGreaterThanOrEqual(5)
    expect(Math.max(...medians)).toBeLessThanOrEqual(150)
    expect(medians.filter((m) => m < 15).length).toBeGreaterThan(100)
    expect(medians.filter((m) => m > 80).length).toBeGreaterThan(100)
    const failing = all.filter((shop) => shop.errorRate > 0)
    expect(failing.length / all.length).toBeGreaterThan(0.2)
    expect(failing.length / all.length).toBeLessThan(0.4)
    for (const shop of failing) {
      expect(shop.errorRate).toBeGreaterThanOrEqual(0.02)
      expect(shop.errorRate).toBeLessThanOrEqual(0.15)
    }
  })

  it("rejects URLs that are not product pages of the world", () => {
    const { url, path } = Truth.product(world, 3, 4)
    expect(Truth.lookup(world, url, t0)?.index).toBe(4)
    expect(Truth.locate(world, url.replace("shop-00003", "shop-99999"))).toBeUndefined()
    expect(Truth.locate(world, url.replace(/-4$/, "-5"))).toBeUndefined()
    expect(Truth.locate(world, `http://shop-00003.sim.test:8080${path}`)).toEqual({ shop: 3, product: 4 })
    expect(Truth.locate(world, "not a url")).toBeUndefined()
    expect(() => Truth.productAt(world, world.shops, 0, t0)).toThrow(RangeError)
    expect(() => Truth.productAt(world, 0, -1, t0)).toThrow(RangeError)
  })

  it("formats exact decimal strings", () => {
    expect(Truth.formatMinor(1299, "EUR")).toBe("12.99")
    expect(Truth.formatMinor(5, "USD")).toBe("0.05")
    expect(Truth.formatMinor(1500, "JPY")).toBe("1500")
  })
})

describe("World.check", () => {
  it("gives one line for each bad parameter", () => {
    expect(World.check(World.make({ seed: 1, shops: 10 }))).toBeUndefined()
    expect(World.check(World.make({ seed: 1, shops: 0 }))).toMatch(/^--shops must be an integer/)
    expect(World.check(World.make({ seed: 1, shops: 1, hostileFraction: 2 }))).toMatch(/^--hostile-fraction/)
    expect(World.check(World.make({ seed: 1.5, shops: 1 }))).toMatch(/^--seed/)
  })
})
