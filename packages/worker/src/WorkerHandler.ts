/**
 * The worker side of a protocol: one function per request `_tag`. A handler
 * module (`.ts` or `.js`) default-exports `WorkerHandler.make(protocol, handlers)`;
 * the pool's runner thread loads it by URL.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as WorkerProtocol from "./WorkerProtocol.ts"

/**
 * The brand of a `WorkerHandler` value (a global symbol, shared by every copy of the package).
 *
 * @example
 * ```ts
 * import { WorkerHandler } from "@trawl/worker"
 * const branded = (u: object) => WorkerHandler.TypeId in u
 * ```
 * @since 0.1.0
 */
export const TypeId: unique symbol = Symbol.for("@trawl/worker/WorkerHandler") as never

type Proc<W, K extends keyof WorkerProtocol.ProceduresOf<W>> = WorkerProtocol.ProceduresOf<W>[K]
type ErrorOf<P> = P extends { readonly error: { readonly Type: infer E } } ? E : never

/**
 * A handler: gets the decoded request and returns the success value, a
 * Promise of it, or an Effect that may fail with the procedure's typed error.
 * A throw or a defect is reported to the caller as `TaskDefect`; the worker
 * survives it.
 *
 * @since 0.1.0
 */
export type Handlers<W> = {
  readonly [K in keyof WorkerProtocol.ProceduresOf<W>]: (
    request: Proc<W, K>["request"]["Type"]
  ) =>
    | Proc<W, K>["success"]["Type"]
    | Promise<Proc<W, K>["success"]["Type"]>
    | Effect.Effect<Proc<W, K>["success"]["Type"], ErrorOf<Proc<W, K>>>
}

/**
 * A protocol with its handlers: what a handler module exports.
 *
 * @since 0.1.0
 */
export interface WorkerHandler<W extends WorkerProtocol.Any> {
  readonly [TypeId]: typeof TypeId
  readonly protocol: W
  readonly handlers: Handlers<W>
}

/**
 * Binds handlers to a protocol. Default-export the result from the module
 * passed to `WorkerPool.make({ handler })`.
 *
 * @example
 * ```ts
 * // digest-handler.ts
 * import { createHash } from "node:crypto"
 * import { WorkerHandler } from "@trawl/worker"
 * import { Protocol } from "./protocol.ts"
 *
 * export default WorkerHandler.make(Protocol, {
 *   Digest: (request) => createHash("sha256").update(request.text).digest("hex")
 * })
 * ```
 * @since 0.1.0
 */
export const make = <W extends WorkerProtocol.Any>(protocol: W, handlers: Handlers<W>): WorkerHandler<W> => ({
  [TypeId]: TypeId,
  protocol,
  handlers
})

/**
 * Is this value a `WorkerHandler`? (Checked by a global symbol, so a handler
 * built by another copy of this package is recognised too.)
 *
 * @example
 * ```ts
 * import { WorkerHandler } from "@trawl/worker"
 * WorkerHandler.isWorkerHandler({}) // false
 * ```
 * @since 0.1.0
 */
export const isWorkerHandler = (u: unknown): u is WorkerHandler<WorkerProtocol.Any> =>
  typeof u === "object" && u !== null && (u as any)[TypeId] === TypeId
