import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { Progress } from "../src/index.ts"

const snapshot: Progress.Snapshot = {
  now: 10_000,
  workerUtilization: 0.74,
  restarts: 0,
  counters: {
    fetched: 900,
    notModified: 100,
    extracted: 790,
    recorded: 1000,
    errorsByTag: { Timeout: 7, HttpStatus: 3, TooManyRedirects: 1, BadCharset: 1 },
    inFlightFetches: 180,
    queueDepths: { jobs: 1024, pages: 12, outcomes: 0 },
    queueCapacities: { jobs: 1024, pages: 64, outcomes: 1024 },
    startedAt: 0
  },
  schedule: { targets: 5000, inFlight: 200, overdue: 3, lagP50Millis: 400, lagP99Millis: 2100, dispatched: 1200 }
}

describe("Progress", () => {
  it("status line shows rate, in-flight fetches, queue depths, worker utilization, errors by tag and lag", () => {
    const line = Progress.statusLine(snapshot)
    assert.include(line, "100.0 pages/s")
    assert.include(line, "in flight 180")
    assert.include(line, "queues jobs 1024 pages 12 out 0")
    assert.include(line, "extract cpu 74%")
    assert.include(line, "errors 12 (Timeout 7, HttpStatus 3, TooManyRedirects 1, …)")
    assert.include(line, "lag p50 0.4s p99 2.1s")
    assert.notInclude(line, "\n")
    // nothing held back, nothing restarted: not said
    assert.notInclude(line, "throttled")
    assert.notInclude(line, "restarts")
    assert.notInclude(line, "crashes")
    const troubled = Progress.statusLine({ ...snapshot, hosts: { held: 40, throttled: 3, circuitOpen: 2 }, restarts: 5, workerCrashes: 1 })
    assert.include(troubled, "extract crashes 1")
    assert.include(troubled, "hosts throttled 3 circuit open 2")
    assert.include(troubled, "restarts 5")
  })

  it("summary table aligns rows and lists every error tag", () => {
    const table = Progress.summaryTable(snapshot, [["alerts", 4]]).split("\n")
    const widths = new Set(table.map((row) => row.length))
    assert.strictEqual(widths.size, 1, "every row has the same width")
    assert.isTrue(table.some((row) => /\| pages recorded +\| +1000 \|/.test(row)))
    assert.isTrue(table.some((row) => /\| error BadCharset +\| +1 \|/.test(row)))
    assert.isTrue(table.some((row) => /\| alerts +\| +4 \|/.test(row)))
  })

  it.effect("on a TTY redraws the line every second and clears it when stopped", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const fiber = yield* Effect.forkChild(Progress.report(Effect.succeed(snapshot), { tty: true, write: (text) => written.push(text) }))
      yield* TestClock.adjust("3 seconds")
      assert.strictEqual(written.length, 3)
      assert.isTrue(written.every((text) => text.startsWith("\r\x1b[2Ktrawl ▸")))
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(written.at(-1), "\r\x1b[2K")
    }))
})
