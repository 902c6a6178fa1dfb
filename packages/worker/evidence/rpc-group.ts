import * as Schema from "effect/Schema"
import { Rpc, RpcGroup } from "effect/rpc"

export class Group extends RpcGroup.make(
  Rpc.make("Inc", { payload: { n: Schema.Number }, success: Schema.Number }),
  Rpc.make("Exit", { payload: { code: Schema.Number }, success: Schema.Number }),
  Rpc.make("Spin", { payload: { ms: Schema.Number }, success: Schema.Number })
) {}
