import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InvalidOptions } from "../ActorError.ts"

/** Decodes a duration option, refusing negative, NaN or unparsable values with `InvalidOptions`. */
export const validate = (option: string, input: Duration.Input): Effect.Effect<Duration.Duration, InvalidOptions> => {
  const decoded = Duration.fromInput(input)
  return Option.isSome(decoded) && !Duration.isNegative(decoded.value)
    ? Effect.succeed(decoded.value)
    : Effect.fail(new InvalidOptions({ option, reason: `must be a non-negative duration, got ${String(input)}` }))
}
