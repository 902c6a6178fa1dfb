import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { InvalidOptions } from "../ActorError.ts"

/** Decodes a duration option, refusing negative, NaN or unparsable values with `InvalidOptions`. */
export const validate = (option: string, input: Duration.Input): Effect.Effect<Duration.Duration, InvalidOptions> => {
  // asks repeat the same timeout: skip re-parsing it
  if (input === lastInput && lastDecoded !== undefined) return lastDecoded
  const result = decode(option, input)
  if (typeof input !== "object" && result._tag === "Success") {
    lastInput = input
    lastDecoded = result
  }
  return result
}

let lastInput: Duration.Input | undefined
let lastDecoded: Effect.Effect<Duration.Duration, InvalidOptions> | undefined

const decode = (option: string, input: Duration.Input): Effect.Effect<Duration.Duration, InvalidOptions> & { readonly _tag: string } => {
  const decoded = Duration.fromInput(input)
  return Option.isSome(decoded) && !Duration.isNegative(decoded.value)
    ? Exit.succeed(decoded.value)
    : Exit.fail(new InvalidOptions({ option, reason: `must be a non-negative duration, got ${String(input)}` }))
}
