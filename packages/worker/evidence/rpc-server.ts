import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { RpcServer } from "effect/rpc"
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Group } from "./rpc-group.ts"

const Handlers = Group.toLayer({
  Inc: ({ n }) => Effect.succeed(n + 1),
  Exit: ({ code }) => Effect.sync(() => process.exit(code)),
  Spin: ({ ms }) => Effect.sync(() => { const end = Date.now() + ms; while (Date.now() < end) {} return ms })
})

RpcServer.layer(Group).pipe(
  Layer.provide(Handlers),
  Layer.provide(RpcServer.layerProtocolWorkerRunner),
  Layer.provide(NodeWorkerRunner.layer),
  Layer.launch,
  NodeRuntime.runMain
)
