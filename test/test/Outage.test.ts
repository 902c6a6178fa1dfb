/**
 * Outages with real parts (CI): the real `trawl run` (child process) against
 * the sim web with moving prices and three notifiers, while the SQLite write
 * lock is held by another process (15 s and 60 s), its own Postgres is
 * stopped and started, the lock outlasts the outage budget, or the webhook
 * answers 500 for 30 s (with and without a SIGKILL of trawl mid-outage).
 * `chaos/outage.ts` holds the scenarios and their checks; each check that
 * fails is a line of `failures`, with its figures.
 *
 * The scenarios of each group run at the same time (each has its own sim
 * web, database, receiver and Postgres), so the file takes about as long as
 * its longest case per group: ≈ 65 s + ≈ 90 s.
 */
import { it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { describe, expect } from "vitest"
import { outageBudget, postgresMissing, postgresRestart, storeLock, webhookOutage } from "../chaos/outage.ts"

const show = (report: object) => console.log(JSON.stringify(report, (key, value) => key === "summary" || key === "stderrHead" ? undefined : value))

// (two concurrent suites side by side would run together: each sits in a sequential one)
describe("outages, shorter cases", () => {
  describe.concurrent("at once (≈ 65 s)", () => {
    it.live("SQLite write lock held by another process for 15 s: nothing lost or doubled, observations go on after it", () =>
      Effect.gen(function*() {
        const report = yield* storeLock({ outageSeconds: 15 })
        show({ case: "lock 15 s", ...report })
        expect(report.failures).toEqual([])
        expect(report.exitCode).toBe(0)
        expect(report.runStatus).toBe("finished")
        expect(report.writtenDuringOutage).toBe(0)
        expect(report.heldObservations).toBeGreaterThan(0)
        expect(report.duplicateObservations).toBe(0)
        expect(report.missingAlerts + report.extraAlerts).toBe(0)
        expect(report.webhookKeys).toBe(report.alerts)
        expect(report.fileKeys).toBe(report.alerts)
      }).pipe(Effect.scoped), 120_000)

    it.live("Postgres stopped for 10 s and started again mid-run: nothing lost or doubled", () =>
      Effect.gen(function*() {
        const missing = postgresMissing()
        if (missing !== undefined) {
          console.log(`skipped: ${missing}`)
          return
        }
        const report = yield* postgresRestart({ outageSeconds: 10 })
        show({ case: "postgres down 10 s", ...report })
        expect(report.failures).toEqual([])
        expect(report.exitCode).toBe(0)
        expect(report.runStatus).toBe("finished")
        expect(report.heldObservations).toBeGreaterThan(0)
        expect(report.webhookKeys).toBe(report.alerts)
      }).pipe(Effect.scoped), 120_000)

    it.live("a lock outlasting --store-outage-budget 3s: exit 4, one line naming the store, run aborted; --once then visits every target", () =>
      Effect.gen(function*() {
        const report = yield* outageBudget({ lockSeconds: 15, budget: "3s" })
        show({ case: "past the budget", ...report })
        expect(report.failures).toEqual([])
        expect(report.exitCode).toBe(4)
        expect(report.runStatus).toBe("aborted")
        expect(report.observedByOnce).toBe(report.targets)
      }).pipe(Effect.scoped), 150_000)

    it.live("webhook answering 500 for 30 s: stdout and the file at once, the webhook every alert after it recovers, each once", () =>
      Effect.gen(function*() {
        const report = yield* webhookOutage({ failSeconds: 30 })
        show({ case: "webhook 500 for 30 s", ...report })
        expect(report.failures).toEqual([])
        expect(report.alertsDuringOutage).toBeGreaterThan(0)
        expect(report.stdoutDuringOutage).toBeGreaterThan(0)
        expect(report.webhookKeys).toBe(report.alerts)
        expect(report.webhookResends).toBe(0)
        expect(report.fileDuplicates).toBe(0)
      }).pipe(Effect.scoped), 150_000)
  })
})

describe("outages, longer cases", () => {
  describe.concurrent("at once (≈ 90 s)", () => {
    it.live("SQLite write lock held by another process for 60 s: within the 5-minute budget, the run rides it out", () =>
      Effect.gen(function*() {
        const report = yield* storeLock({ outageSeconds: 60 })
        show({ case: "lock 60 s", ...report })
        expect(report.failures).toEqual([])
        expect(report.exitCode).toBe(0)
        expect(report.runStatus).toBe("finished")
        expect(report.heldObservations).toBeGreaterThan(0)
        expect(report.webhookKeys).toBe(report.alerts)
        expect(report.fileKeys).toBe(report.alerts)
      }).pipe(Effect.scoped), 180_000)

    it.live("trawl SIGKILLed mid webhook outage and started again: each key once in the file and the webhook, status pending reaches 0", () =>
      Effect.gen(function*() {
        const report = yield* webhookOutage({ failSeconds: 30, killAfterSeconds: 12 })
        show({ case: "webhook 500, trawl killed", ...report })
        expect(report.failures).toEqual([])
        expect(report.webhookKeys).toBe(report.alerts)
        expect(report.fileDuplicates).toBe(0)
        expect(report.statusReadings.at(-1)?.pending).toBe(0)
      }).pipe(Effect.scoped), 180_000)
  })
})
