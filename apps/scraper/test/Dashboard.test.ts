import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as net from "node:net"
import { Dashboard, type Progress } from "../src/index.ts"

const snapshot: Progress.Snapshot = {
  now: 5_000,
  counters: {
    fetched: 10, notModified: 2, extracted: 8, recorded: 10, errorsByTag: { Timeout: 1 },
    inFlightFetches: 3, queueDepths: { jobs: 1, pages: 0, outcomes: 0 }, startedAt: 0
  },
  schedule: { targets: 20, inFlight: 3, overdue: 0, lagP50Millis: 10, lagP99Millis: 20, dispatched: 13 }
}

describe("Dashboard", () => {
  it.live("serves the status as JSON and HTML on loopback, and closes with its scope", () =>
    Effect.gen(function*() {
      const port = yield* Effect.scoped(Effect.gen(function*() {
        const port = yield* Dashboard.serve(Effect.succeed(snapshot), 0)
        const json = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/status.json`).then((r) => r.json() as Promise<Progress.Snapshot>))
        assert.strictEqual(json.counters.recorded, 10)
        const html = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()))
        assert.include(html, "pages/s")
        const missing = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/nope`))
        assert.strictEqual(missing.status, 404)
        return port
      }))
      const refused = yield* Effect.promise(() =>
        new Promise<boolean>((resolve) => {
          const socket = net.connect(port, "127.0.0.1")
          socket.on("connect", () => (socket.destroy(), resolve(false)))
          socket.on("error", () => resolve(true))
        }))
      assert.isTrue(refused, "the server is closed")
    }))

  it.live("a port already taken is a clear InputError", () =>
    Effect.scoped(Effect.gen(function*() {
      const port = yield* Dashboard.serve(Effect.succeed(snapshot), 0)
      const error = yield* Effect.flip(Dashboard.serve(Effect.succeed(snapshot), port))
      assert.strictEqual(error._tag, "InputError")
      assert.match(error.message, /EADDRINUSE/)
    })))
})
