import { describe, expect, it } from "@effect/vitest"
import { Throttle } from "@trawl/fetch"

const options: Throttle.Options = {
  enabled: true,
  minDelayMillis: 0,
  maxDelayMillis: 10_000,
  targetConcurrency: 2,
  backoffFloorMillis: 1_000
}
const ok = (latencyMillis: number, status = 200) => ({ _tag: "Response", status, latencyMillis }) as const

describe("Throttle.next (AutoThrottle)", () => {
  it("backs off at once on slow responses and recovers gradually", () => {
    let delay = 0
    delay = Throttle.next(options, delay, ok(2_000))
    expect(delay).toBe(1_000)
    delay = Throttle.next(options, delay, ok(20))
    expect(delay).toBe(505)
    delay = Throttle.next(options, delay, ok(20))
    expect(delay).toBeCloseTo(257.5)
  })

  it("never lowers the delay on an error response", () => {
    expect(Throttle.next(options, 800, ok(10, 500))).toBe(800)
    expect(Throttle.next(options, 800, ok(4_000, 500))).toBe(2_000)
  })

  it("doubles on 429/503 with a floor, and on failures; clamps to the bounds", () => {
    expect(Throttle.next(options, 0, ok(1, 429))).toBe(1_000)
    expect(Throttle.next(options, 3_000, ok(1, 503))).toBe(6_000)
    expect(Throttle.next(options, 8_000, ok(1, 503))).toBe(10_000)
    expect(Throttle.next(options, 0, { _tag: "Failure" })).toBe(1_000)
    expect(Throttle.next({ ...options, minDelayMillis: 300 }, 0, ok(1))).toBe(300)
  })

  it("when disabled only 429/503 move the delay", () => {
    const off = { ...options, enabled: false }
    expect(Throttle.next(off, 0, ok(5_000))).toBe(0)
    expect(Throttle.next(off, 0, ok(1, 429))).toBe(1_000)
  })
})

describe("Throttle.parseRetryAfter", () => {
  it("parses seconds and HTTP-dates relative to now; rejects garbage", () => {
    expect(Throttle.parseRetryAfter("0", 0)).toBe(0)
    expect(Throttle.parseRetryAfter(" 30 ", 0)).toBe(30_000)
    const now = Date.parse("Tue, 24 Nov 2026 08:00:00 GMT")
    expect(Throttle.parseRetryAfter("Tue, 24 Nov 2026 08:00:45 GMT", now)).toBe(45_000)
    expect(Throttle.parseRetryAfter("Tue, 24 Nov 2026 07:00:00 GMT", now)).toBe(0)
    expect(Throttle.parseRetryAfter("soon", now)).toBeUndefined()
    expect(Throttle.parseRetryAfter("-5", now)).toBeUndefined()
    expect(Throttle.parseRetryAfter(undefined, now)).toBeUndefined()
  })
})
