/**
 * A typed protocol between a pool and its worker threads: for each request
 * `_tag`, the schemas of the request (an `effect/Schema` tagged class), of the
 * success and, optionally, of the typed error. Both sides encode and decode
 * through these schemas, so a bad message gives a typed error, never a crash.
 *
 * Fields built with `Transferable.Uint8Array` (from `effect/workers`) are moved
 * to the other thread, not copied.
 *
 * @since 0.1.0
 */
import type * as Schema from "effect/Schema"

/**
 * The brand of a `WorkerProtocol` value (a global symbol, shared by every copy of the package).
 *
 * @example
 * ```ts
 * import { WorkerProtocol } from "@trawl/worker"
 * const branded = (u: object) => WorkerProtocol.TypeId in u
 * ```
 * @since 0.1.0
 */
export const TypeId: unique symbol = Symbol.for("@trawl/worker/WorkerProtocol") as never

/**
 * The schemas of one request kind.
 *
 * @since 0.1.0
 */
export interface Procedure {
  /** The request: a tagged class (or tagged struct) whose `_tag` is the procedure's key. */
  readonly request: Schema.Top
  /** The handler's success value. */
  readonly success: Schema.Top
  /** The handler's typed error (a union for several); omit when the handler cannot fail. */
  readonly error?: Schema.Top
}

/**
 * Procedures by request `_tag`.
 *
 * @since 0.1.0
 */
export type Procedures = { readonly [tag: string]: Procedure }

/**
 * A protocol: its procedures by request `_tag`.
 *
 * @since 0.1.0
 */
export interface WorkerProtocol<P extends Procedures> {
  readonly [TypeId]: typeof TypeId
  readonly procedures: P
}

/**
 * Any protocol.
 *
 * @since 0.1.0
 */
export type Any = WorkerProtocol<any>

/**
 * The procedures of a protocol.
 *
 * @since 0.1.0
 */
export type ProceduresOf<W> = W extends WorkerProtocol<infer P> ? P : never

/**
 * Every request a protocol accepts.
 *
 * @since 0.1.0
 */
export type Request<W> = { [K in keyof ProceduresOf<W>]: ProceduresOf<W>[K]["request"]["Type"] }[keyof ProceduresOf<W>]

type TagOf<R> = R extends { readonly _tag: infer T extends string } ? T : never

/**
 * The success type of request `R`.
 *
 * @since 0.1.0
 */
export type Success<W, R> = ProceduresOf<W>[TagOf<R>]["success"]["Type"]

/**
 * The typed error of request `R` (`never` when its procedure has none).
 *
 * @since 0.1.0
 */
export type Failure<W, R> = ProceduresOf<W>[TagOf<R>] extends { readonly error: infer E extends Schema.Top } ? E["Type"]
  : never

type Checked<P> = { readonly [K in keyof P]: Procedure & { readonly request: { readonly Type: { readonly _tag: K } } } }

/**
 * Defines a protocol. Each key must equal its request's `_tag`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { WorkerProtocol } from "@trawl/worker"
 *
 * class Digest extends Schema.TaggedClass<Digest>()("Digest", { text: Schema.String }) {}
 * class TooLong extends Schema.TaggedError<TooLong>()("TooLong", { length: Schema.Number }) {}
 *
 * export const Protocol = WorkerProtocol.make({
 *   Digest: { request: Digest, success: Schema.String, error: TooLong }
 * })
 * ```
 * @since 0.1.0
 */
export const make = <const P extends Procedures & Checked<P>>(procedures: P): WorkerProtocol<P> => ({
  [TypeId]: TypeId,
  procedures
})

/**
 * Is this value a protocol?
 *
 * @example
 * ```ts
 * import { WorkerProtocol } from "@trawl/worker"
 * WorkerProtocol.isWorkerProtocol({}) // false
 * ```
 * @since 0.1.0
 */
export const isWorkerProtocol = (u: unknown): u is Any =>
  typeof u === "object" && u !== null && (u as any)[TypeId] === TypeId
