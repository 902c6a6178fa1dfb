import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Agent, Client, errors, Pool } from "undici"
import { factory, GrowingQueue, lighten, quiet } from "../src/internal/pools.ts"
import * as TestServer from "./support/server.ts"

describe("lightened undici pools", () => {
  it("the growing queue is first in, first out, across its compactions", () => {
    const queue = new GrowingQueue<number>()
    expect(queue.isEmpty()).toBe(true)
    expect(queue.shift()).toBeNull()
    const out: Array<number> = []
    let next = 0
    // Interleaved pushes and shifts that keep a backlog of ~1,500: compactions happen mid-stream.
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 100; i++) queue.push(next++)
      for (let i = 0; i < (round < 15 ? 0 : 60); i++) out.push(queue.shift()!)
    }
    while (!queue.isEmpty()) out.push(queue.shift()!)
    expect(out).toEqual(Array.from({ length: next }, (_, i) => i))
    expect(queue.shift()).toBeNull()
  })

  it("swaps undici's fixed 2,048-slot queue of a new Pool (fails if undici's internals change)", () => {
    const pool = new Pool("http://127.0.0.1:9")
    expect(lighten(pool)).toBe(true)
    expect(lighten(pool)).toBe(true)
    void pool.destroy()
  })

  it.live("a dispatcher closed when idle is destroyed with one shared error, made once; a given error still wins", () =>
    Effect.gen(function*() {
      const seen: Array<unknown> = []
      const watch = <D extends Pool>(pool: D) => {
        const destroy = pool.destroy.bind(pool) as (err?: unknown, callback?: unknown) => unknown
        ;(pool as unknown as { destroy: unknown }).destroy = (err?: unknown, callback?: unknown) => {
          seen.push(err)
          return destroy(err, callback)
        }
        return quiet(pool)
      }
      const first = watch(new Pool("http://127.0.0.1:9"))
      const second = watch(new Pool("http://127.0.0.1:9"))
      yield* Effect.promise(() => first.close())
      yield* Effect.promise(() => second.close())
      // (undici's destroy calls itself once more with a callback)
      expect(seen.length).toBeGreaterThanOrEqual(2)
      expect(seen[0]).toBeInstanceOf(errors.ClientDestroyedError)
      expect(new Set(seen).size).toBe(1)
      const own = new Error("mine")
      const before = seen.length
      const third = watch(new Pool("http://127.0.0.1:9"))
      yield* Effect.promise(() => third.destroy(own))
      expect(new Set(seen.slice(before))).toEqual(new Set([own]))
    }))

  it.live("an origin's pool closed when idle closes its connections with the same shared error (none made per connection)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((_req, res) => void res.end("ok"))
      const seen: Array<unknown> = []
      const destroy = Client.prototype.destroy as (this: Client, err?: unknown, callback?: unknown) => unknown
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          ;(Client.prototype as unknown as { destroy: unknown }).destroy = function(this: Client, err?: unknown, callback?: unknown) {
            seen.push(typeof err === "function" ? undefined : err)
            return destroy.call(this, err, callback)
          }
        }),
        () => Effect.sync(() => void ((Client.prototype as unknown as { destroy: unknown }).destroy = destroy))
      )
      const pool = factory(server.url("127.0.0.1"), { connections: 2 } as Pool.Options)
      expect(pool).toBeInstanceOf(Pool)
      // two requests at once: two connections
      yield* Effect.promise(() =>
        Promise.all([1, 2].map(async (i) => (await pool.request({ path: `/${i}`, method: "GET" })).body.text()))
      )
      yield* Effect.promise(() => pool.close())
      const errorsGiven = seen.filter((err) => err !== null)
      expect(errorsGiven.length).toBeGreaterThanOrEqual(2)
      expect(new Set(errorsGiven).size).toBe(1)
      expect(errorsGiven[0]).toBeInstanceOf(errors.ClientDestroyedError)
    }))

  it.live("requests queued in a lightened pool all complete, at most `connections` at a time", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.start((req, res) => {
        setTimeout(() => res.end(`body of ${req.url}`), 20)
      })
      const agent = yield* Effect.acquireRelease(
        Effect.sync(() => new Agent({ connections: 2, pipelining: 1, factory })),
        (agent) => Effect.promise(() => agent.destroy())
      )
      const bodies = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => `/q/${i}`),
        (path) =>
          Effect.promise(async () => {
            const response = await agent.request({ origin: server.url("127.0.0.1"), path, method: "GET" })
            return response.body.text()
          }),
        { concurrency: "unbounded" }
      )
      expect(bodies).toEqual(Array.from({ length: 20 }, (_, i) => `body of /q/${i}`))
      expect(server.maxConcurrent.get("127.0.0.1")).toBe(2)
    }))
})
