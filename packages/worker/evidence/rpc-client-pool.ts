/**
 * Evidence: what the effect/rpc worker pool (RpcClient.layerProtocolWorker over
 * NodeWorker) does on a crash and on a stuck task. Run:
 *   node --conditions=@trawl/source evidence/rpc-client-pool.ts
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Duration from "effect/Duration"
import * as Fiber from "effect/Fiber"
import { RpcClient } from "effect/rpc"
import * as NodeWorker from "@effect/platform-node/NodeWorker"
import { Worker } from "node:worker_threads"
import { readFileSync } from "node:fs"
import { Group } from "./rpc-group.ts"

const threads = () => Number(/Threads:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1])
const ProtocolLive = RpcClient.layerProtocolWorker({ size: 2 }).pipe(
  Layer.provide(NodeWorker.layer(() => new Worker(new URL("./rpc-server.ts", import.meta.url))))
)

const program = Effect.gen(function*() {
  const client = yield* RpcClient.make(Group)
  console.log("inc", yield* client.Inc({ n: 1 }))
  // 1. crash one worker while 6 other calls (sleeping 300 ms) run on the pool
  const others = yield* Effect.forkChild(Effect.forEach([1, 2, 3, 4, 5, 6], () => Effect.result(client.Spin({ ms: 300 })), { concurrency: "unbounded" }))
  yield* Effect.sleep("20 millis")
  const crash = yield* Effect.result(client.Exit({ code: 7 }))
  console.log("crash result:", JSON.stringify(crash).slice(0, 300))
  const othersResult = yield* Fiber.join(others)
  console.log("other calls:", othersResult.map((r) => r._tag).join(","))
  // 2. after the crash: how long until the pool serves again?
  const t0 = Date.now()
  const after = yield* Effect.result(Effect.timeout(client.Inc({ n: 2 }), "5 seconds"))
  console.log("first call after crash:", after._tag, Date.now() - t0, "ms")
  // 3. stuck task (busy loop 3 s) with a 200 ms caller timeout: is the thread freed?
  const before = threads()
  const stuck = yield* Effect.result(Effect.timeout(client.Spin({ ms: 3000 }), "200 millis"))
  console.log("stuck call:", stuck._tag, "threads before/after:", before, threads())
  const t1 = Date.now()
  const r = yield* Effect.forEach([1, 2, 3, 4], (n) => client.Spin({ ms: 1 + n }), { concurrency: "unbounded" })
  console.log("4 calls after timeout took", Date.now() - t1, "ms (the stuck thread was not terminated if ≈3 s)", r)
})

const t = Date.now()
Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(ProtocolLive), Effect.timeout(Duration.seconds(30)))).then(
  () => console.log("done in", Date.now() - t, "ms"),
  (e) => console.log("failed", e)
)
