/**
 * Compiled encoders and decoders of a protocol, shared by the pool (caller
 * side) and the runner (worker side). Encoding collects transferables through
 * `effect/workers/Transferable`'s `Collector`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Transferable from "effect/workers/Transferable"
import type { Transferable as TransferableValue } from "node:worker_threads"
import type * as WorkerProtocol from "../WorkerProtocol.ts"

export type Encoded =
  | { readonly _tag: "Ok"; readonly value: unknown; readonly transfer: ReadonlyArray<TransferableValue> }
  | { readonly _tag: "Err"; readonly reason: string }

export interface Codec {
  readonly tag: string
  readonly encodeRequest: (value: unknown) => Encoded
  readonly decodeRequest: (value: unknown) => Exit.Exit<unknown, string>
  readonly encodeSuccess: (value: unknown) => Encoded
  readonly decodeSuccess: (value: unknown) => Exit.Exit<unknown, string>
  readonly encodeError: ((value: unknown) => Encoded) | undefined
  readonly decodeError: ((value: unknown) => Exit.Exit<unknown, string>) | undefined
}

const noTransfer: ReadonlyArray<TransferableValue> = []

/**
 * A primitive, or an object whose own fields are all primitives: nothing in it
 * can be transferable (transferables are objects), so it can skip the
 * collecting (Effect-run) encoder.
 */
const isFlat = (value: unknown): boolean => {
  if (typeof value !== "object" || value === null) return typeof value !== "function"
  for (const key in value) {
    const field = (value as Record<string, unknown>)[key]
    if ((typeof field === "object" && field !== null) || typeof field === "function") return false
  }
  return true
}

const makeEncoder = (schema: Schema.Top): (value: unknown) => Encoded => {
  const encode = Schema.encodeUnknownEffect(schema as Schema.Codec<unknown, unknown>)
  const encodeFlat = Schema.encodeUnknownExit(schema as Schema.Codec<unknown, unknown>)
  return (value) => {
    if (isFlat(value)) {
      const exit = encodeFlat(value)
      return Exit.isSuccess(exit)
        ? { _tag: "Ok", value: exit.value, transfer: noTransfer }
        : { _tag: "Err", reason: describeCause(exit.cause) }
    }
    const collector = Transferable.makeCollectorUnsafe()
    const exit = Effect.runSyncExit(Effect.provideService(encode(value), Transferable.Collector, collector))
    if (Exit.isSuccess(exit)) {
      const transfer = collector.clearUnsafe()
      return { _tag: "Ok", value: exit.value, transfer: transfer.length === 0 ? noTransfer : transfer }
    }
    return { _tag: "Err", reason: describeCause(exit.cause) }
  }
}

const makeDecoder = (schema: Schema.Top): (value: unknown) => Exit.Exit<unknown, string> => {
  const decode = Schema.decodeUnknownExit(schema as Schema.Codec<unknown, unknown>)
  return (value) => {
    const exit = decode(value)
    return Exit.isSuccess(exit) ? Exit.succeed(exit.value) : Exit.fail(describeCause(exit.cause))
  }
}

/** A one-paragraph description of a failure, bounded so a huge error cannot flood a log or a message. */
export const describeCause = (cause: Cause.Cause<unknown>): string => describe(Cause.squash(cause))

export const describe = (error: unknown): string => {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text
}

export const compile = (protocol: WorkerProtocol.Any): Map<string, Codec> => {
  const codecs = new Map<string, Codec>()
  for (const [tag, procedure] of Object.entries(protocol.procedures as WorkerProtocol.Procedures)) {
    codecs.set(tag, {
      tag,
      encodeRequest: makeEncoder(procedure.request),
      decodeRequest: makeDecoder(procedure.request),
      encodeSuccess: makeEncoder(procedure.success),
      decodeSuccess: makeDecoder(procedure.success),
      encodeError: procedure.error === undefined ? undefined : makeEncoder(procedure.error),
      decodeError: procedure.error === undefined ? undefined : makeDecoder(procedure.error)
    })
  }
  return codecs
}
