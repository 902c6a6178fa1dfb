/**
 * The short chaos runs (CI): a worker thread killed mid-run, and the real
 * `trawl run` SIGKILLed mid-run and restarted on the same database, both
 * judged against the sim web's ground truth. `npm run chaos` runs them bigger.
 */
import { it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { describe, expect } from "vitest"
import { appKill, workerKill } from "../chaos/scenarios.ts"

describe("chaos", () => {
  it.live("worker threads killed mid-run: every target recorded, killed pages as errors, the rest equal the truth, the pool recovers", () =>
    Effect.gen(function*() {
      const report = yield* workerKill({ shops: 80, products: 2, kills: 3 })
      expect(report.failures).toEqual([])
      expect(report.observations).toBe(report.targets)
      expect(report.targets).toBeGreaterThan(120)
      // the killed pages failed, and only pages that were on a dying thread (at most a prefetch window each)
      expect(report.errorsByTag.ExtractorUnavailable).toBeGreaterThanOrEqual(3)
      expect(report.ok + (report.errorsByTag.ExtractorUnavailable ?? 0)).toBe(report.targets)
      expect(report.ok).toBeGreaterThan(report.targets - 3 * 4 - 1)
      expect(report.kills).toBeGreaterThanOrEqual(1)
      expect(report.threads).toBeGreaterThanOrEqual(2 + report.kills)
      expect(report.tasksAfterLastKill).toBeGreaterThan(0)
      expect(report.secondPassOk).toBe(report.targets)
      expect(report.secondPassThreads).toBeGreaterThanOrEqual(1)
    }).pipe(Effect.scoped), 60_000)

  it.live("trawl SIGKILLed mid-run and started again: no observation lost or wrong, every change alerted exactly once", () =>
    Effect.gen(function*() {
      const report = yield* appKill({ shops: 80, products: 2, killAfter: 0.4, resumeSeconds: 13 })
      expect(report.failures).toEqual([])
      expect(report.observedBeforeKill).toBeGreaterThan(0)
      expect(report.observedBeforeKill).toBeLessThan(report.targets)
      expect(report.observationsLost).toBe(0)
      expect(report.wrongObservations).toBe(0)
      expect(report.duplicateAlerts).toBe(0)
      expect(report.missingAlerts).toBe(0)
      // first sightings of every target plus the price moves of the clock step
      expect(report.alerts).toBeGreaterThan(report.targets)
      // every alert reached the webhook once, but those the killed run had claimed: they stay leased to it
      // for the lease's 60 s (`failures` checks they are exactly the unsent ones; `npm run chaos` waits them out)
      expect(report.webhookKeys).toBeGreaterThanOrEqual(report.alerts - report.heldByDeadLease)
      expect(report.webhookKeys).toBeLessThanOrEqual(report.alerts)
      expect(report.jsonlDuplicateKeys).toBe(0)
    }).pipe(Effect.scoped), 90_000)
})
