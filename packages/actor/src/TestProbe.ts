/**
 * A test probe: an actor that records what it receives, with expectations
 * that wait for a message within a window, for silence over a window, or for
 * another actor's termination.
 *
 * Windows follow the current `Clock`: under `TestClock` the probe advances
 * the clock itself, in tenths of the window, so a test needs no
 * `TestClock.adjust` of its own; with the live clock it waits in real time.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Actor from "./Actor.ts"
import * as Behavior from "./Behavior.ts"
import * as Mailbox from "./Mailbox.ts"

/**
 * No message (or no termination) arrived within the window.
 *
 * @since 0.1.0
 */
export class ProbeTimeout extends Data.TaggedError("ProbeTimeout")<{
  readonly expected: string
  readonly withinMillis: number
}> {
  override get message(): string {
    return `expected ${this.expected} within ${this.withinMillis} ms, got nothing`
  }
}

/**
 * A message arrived when none was expected, or not the one expected.
 *
 * @since 0.1.0
 */
export class UnexpectedMessage extends Data.TaggedError("UnexpectedMessage")<{
  readonly expected: string
  readonly received: unknown
}> {
  override get message(): string {
    return `expected ${this.expected}, received ${JSON.stringify(this.received)}`
  }
}

/**
 * A probe accepting `Msg` messages.
 *
 * @since 0.1.0
 */
export interface TestProbe<Msg> {
  readonly ref: Actor.ActorRef<Msg>
  /** Everything received and not yet expected. */
  readonly received: Mailbox.Mailbox<Msg>
}

/**
 * Spawns a probe in the current Scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Actor, TestProbe } from "@trawl/actor"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const probe = yield* TestProbe.make<string>()
 *   yield* Actor.tell(probe.ref, "ping")
 *   const message = yield* TestProbe.expectMessage(probe, "1 second") // "ping"
 * }))
 * ```
 * @since 0.1.0
 */
export const make = <Msg>(options?: { readonly name?: string; readonly capacity?: number }): Effect.Effect<TestProbe<Msg>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const received = yield* Effect.orDie(Mailbox.make<Msg>({ capacity: options?.capacity ?? 10_000, overflow: "fail", name: "probe" }))
    const ref = yield* Effect.orDie(Actor.spawn(
      Behavior.stateless((message: Msg) => Effect.orDie(Mailbox.offer(received, message))),
      { name: options?.name ?? "probe", capacity: options?.capacity ?? 10_000 }
    ))
    return { ref, received }
  })

const isTestClock = (clock: Clock.Clock): clock is Clock.Clock & { adjust(duration: Duration.Input): Effect.Effect<void> } =>
  "adjust" in clock && typeof (clock as any).adjust === "function"

/** Polls `check` over `within`; under TestClock, advances the clock in ten steps. */
const within = <A>(check: Effect.Effect<Option.Option<A>>, window: Duration.Duration, wait: Effect.Effect<A>): Effect.Effect<Option.Option<A>> =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    if (!isTestClock(clock)) {
      return yield* Effect.timeoutOption(wait, window)
    }
    const step = Duration.millis(Duration.toMillis(window) / 10)
    for (let i = 0; i <= 10; i++) {
      for (let j = 0; j < 10; j++) yield* Effect.yieldNow
      const found = yield* check
      if (Option.isSome(found)) return found
      if (i < 10) yield* clock.adjust(step)
    }
    return Option.none()
  })

/**
 * Expects a message within the window and returns it.
 *
 * @example
 * ```ts
 * import { TestProbe } from "@trawl/actor"
 *
 * declare const probe: TestProbe.TestProbe<string>
 * const program = TestProbe.expectMessage(probe, "500 millis")
 * ```
 * @since 0.1.0
 */
export const expectMessage = <Msg>(self: TestProbe<Msg>, window: Duration.Input): Effect.Effect<Msg, ProbeTimeout> =>
  Effect.flatMap(
    within(Mailbox.poll(self.received), Duration.fromInputUnsafe(window), Effect.orDie(Mailbox.take(self.received))),
    Option.match({
      onNone: () => Effect.fail(new ProbeTimeout({ expected: "a message", withinMillis: Duration.toMillis(window) })),
      onSome: Effect.succeed
    })
  )

/**
 * Expects a message equal (by `predicate`) to what the test wants.
 *
 * @example
 * ```ts
 * import { TestProbe } from "@trawl/actor"
 *
 * declare const probe: TestProbe.TestProbe<number>
 * const program = TestProbe.expectMessageMatching(probe, "even number", (n) => n % 2 === 0, "1 second")
 * ```
 * @since 0.1.0
 */
export const expectMessageMatching = <Msg>(
  self: TestProbe<Msg>,
  description: string,
  predicate: (message: Msg) => boolean,
  window: Duration.Input
): Effect.Effect<Msg, ProbeTimeout | UnexpectedMessage> =>
  Effect.flatMap(expectMessage(self, window), (message) =>
    predicate(message) ? Effect.succeed(message) : Effect.fail(new UnexpectedMessage({ expected: description, received: message })))

/**
 * Expects silence: no message over the whole window.
 *
 * @example
 * ```ts
 * import { TestProbe } from "@trawl/actor"
 *
 * declare const probe: TestProbe.TestProbe<string>
 * const program = TestProbe.expectNoMessage(probe, "200 millis")
 * ```
 * @since 0.1.0
 */
export const expectNoMessage = <Msg>(self: TestProbe<Msg>, window: Duration.Input): Effect.Effect<void, UnexpectedMessage> =>
  Effect.flatMap(
    within(Mailbox.poll(self.received), Duration.fromInputUnsafe(window), Effect.orDie(Mailbox.take(self.received))),
    Option.match({
      onNone: () => Effect.void,
      onSome: (received) => Effect.fail(new UnexpectedMessage({ expected: "no message", received }))
    })
  )

/**
 * Expects `target` to stop within the window; returns how it stopped.
 *
 * @example
 * ```ts
 * import { Actor, TestProbe } from "@trawl/actor"
 *
 * declare const probe: TestProbe.TestProbe<string>
 * declare const target: Actor.ActorRef<string>
 * const program = TestProbe.expectTerminated(probe, target, "1 second")
 * ```
 * @since 0.1.0
 */
export const expectTerminated = <Msg, M>(
  _self: TestProbe<Msg>,
  target: Actor.ActorRef<M>,
  window: Duration.Input
): Effect.Effect<Actor.Terminated, ProbeTimeout> =>
  Effect.gen(function*() {
    let terminated: Actor.Terminated | undefined
    const check = Effect.sync(() => Option.fromUndefinedOr(terminated))
    const wait = Effect.tap(Actor.awaitTermination(target), (t) => Effect.sync(() => (terminated = t)))
    const fiber = yield* Effect.forkChild(wait)
    const result = yield* within(check, Duration.fromInputUnsafe(window), wait)
    yield* Fiber.interrupt(fiber)
    return yield* Option.match(result, {
      onNone: () => Effect.fail(new ProbeTimeout({ expected: `${target.name} to stop`, withinMillis: Duration.toMillis(window) })),
      onSome: Effect.succeed
    })
  })
