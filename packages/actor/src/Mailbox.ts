/**
 * A bounded mailbox: the queue in front of every actor.
 *
 * The capacity is fixed at creation and an overflow policy says what happens
 * when a message arrives at a full mailbox:
 *
 * - `backpressure` — the sender waits until there is room (the default);
 * - `fail` — the sender gets a typed `MailboxFull`;
 * - `dropNewest` — the arriving message is dropped and counted;
 * - `dropOldest` — the oldest queued message is dropped and counted.
 *
 * Storage is a ring buffer that grows on demand up to the capacity, so an idle
 * mailbox costs a few dozen bytes whatever its capacity. Consumers drain it in
 * batches (`takeBatch`), never one suspension per message.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InvalidOptions, MailboxClosed, MailboxFull } from "./ActorError.ts"

/**
 * What a full mailbox does with an arriving message.
 *
 * @since 0.1.0
 */
export type OverflowPolicy = "backpressure" | "fail" | "dropNewest" | "dropOldest"

/**
 * Options of a mailbox.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Maximum number of queued messages; a positive integer. Default 1024. */
  readonly capacity?: number | undefined
  /** What a full mailbox does with an arriving message. Default `backpressure`. */
  readonly overflow?: OverflowPolicy | undefined
  /** Name used in error messages. Default `mailbox`. */
  readonly name?: string | undefined
}

/**
 * The default capacity of a mailbox.
 *
 * @since 0.1.0
 */
export const defaultCapacity = 1024

const TypeId = "~@trawl/actor/Mailbox" as const

/**
 * A bounded mailbox of `A` messages.
 *
 * @since 0.1.0
 */
export interface Mailbox<in out A> {
  readonly [TypeId]: typeof TypeId
  /** Phantom: the message type. */
  readonly "~message"?: ((_: A) => A) | undefined
  readonly name: string
  readonly capacity: number
  readonly overflow: OverflowPolicy
  /** Messages queued right now. */
  readonly size: number
  /** Messages dropped so far by `dropNewest` / `dropOldest`. */
  readonly dropped: number
  /** `open`, `ended` (no new messages; the queued ones can still be taken) or `shutdown`. */
  readonly status: "open" | "ended" | "shutdown"
}

/**
 * The result of a synchronous offer.
 *
 * @since 0.1.0
 */
export type OfferResult = "accepted" | "dropped" | "full" | "closed"

interface Putter<A> {
  readonly message: A
  resume: ((accepted: boolean) => void) | undefined
}

const EMPTY: unique symbol = Symbol.for("@trawl/actor/Mailbox/empty") as never

/**
 * The buffer of every empty mailbox that has not grown yet, or that gave its
 * storage back when its actor went idle (`release`). Never written: a push
 * into it finds it full (`size === length === 0`) and grows a buffer of its own.
 */
const emptyBuffer: Array<any> = []

/** @internal */
export class MailboxImpl<A> implements Mailbox<A> {
  /** On the prototype: a field per mailbox would cost 8 bytes each. */
  declare readonly [TypeId]: typeof TypeId
  buffer: Array<A | undefined> = emptyBuffer
  head = 0
  size = 0
  dropped = 0
  status: "open" | "ended" | "shutdown" = "open"
  putters: Array<Putter<A>> | undefined = undefined
  takers: Array<() => void> | undefined = undefined
  readonly name: string
  readonly capacity: number
  readonly overflow: OverflowPolicy
  constructor(name: string, capacity: number, overflow: OverflowPolicy) {
    this.name = name
    this.capacity = capacity
    this.overflow = overflow
  }

  private push(message: A): void {
    if (this.size === this.buffer.length) this.grow()
    const buffer = this.buffer
    let index = this.head + this.size
    if (index >= buffer.length) index -= buffer.length
    buffer[index] = message
    this.size++
  }

  private grow(): void {
    const old = this.buffer
    // at least one more slot: a restart may put messages back into a full
    // mailbox (redelivery), briefly holding more than the capacity
    const next: Array<A | undefined> = new Array(Math.max(this.size + 1, Math.min(this.capacity, Math.max(4, old.length * 2))))
    for (let i = 0; i < this.size; i++) {
      next[i] = old[(this.head + i) % old.length]
    }
    this.buffer = next
    this.head = 0
  }

  private shift(): A {
    const buffer = this.buffer
    const head = this.head
    const message = buffer[head] as A
    buffer[head] = undefined
    this.head = head + 1 === buffer.length ? 0 : head + 1
    this.size--
    return message
  }

  /** Offers without waiting. `full` means the sender must wait (backpressure) or fail. */
  offer(message: A): OfferResult {
    if (this.status !== "open") return "closed"
    if (this.size < this.capacity && (this.putters === undefined || this.putters.length === 0)) {
      this.push(message)
      if (this.takers !== undefined) this.wakeTakers()
      return "accepted"
    }
    switch (this.overflow) {
      case "dropNewest":
        this.dropped++
        return "dropped"
      case "dropOldest":
        this.shift()
        this.dropped++
        this.push(message)
        return "dropped"
      default:
        return "full"
    }
  }

  /** Registers a waiting sender; `resume(true)` once its message is queued, `resume(false)` if the mailbox closes. */
  addPutter(message: A, resume: (accepted: boolean) => void): Putter<A> {
    const putter: Putter<A> = { message, resume }
    ;(this.putters ??= []).push(putter)
    return putter
  }

  removePutter(putter: Putter<A>): void {
    putter.resume = undefined
    if (this.putters !== undefined) {
      const index = this.putters.indexOf(putter)
      if (index >= 0) this.putters.splice(index, 1)
    }
  }

  /**
   * Takes the oldest message, or `EMPTY`. Waiting senders are let in once the
   * mailbox is half empty, not one per message taken: a resumed sender then
   * has room for a batch instead of ping-ponging with the consumer.
   */
  poll(): A | typeof EMPTY {
    if (this.size === 0) return EMPTY
    const message = this.shift()
    if (this.putters !== undefined && this.size <= this.capacity >>> 1) this.admitPutters()
    return message
  }

  /** Takes up to `max` messages at once. */
  drain(max: number): Array<A> {
    const count = Math.min(max, this.size)
    const out: Array<A> = new Array(count)
    for (let i = 0; i < count; i++) out[i] = this.shift()
    if (count > 0) this.admitPutters()
    return out
  }

  private admitPutters(): void {
    const putters = this.putters
    if (putters === undefined) return
    let admitted = 0
    while (admitted < putters.length && this.size < this.capacity) {
      this.push(putters[admitted++]!.message)
    }
    if (admitted === 0) return
    // Settle the mailbox before resuming anyone: a resumed sender may run at
    // once and offer again.
    const resumed = putters.splice(0, admitted)
    if (putters.length === 0) this.putters = undefined
    this.wakeTakers()
    for (const putter of resumed) {
      const resume = putter.resume
      putter.resume = undefined
      resume?.(true)
    }
  }

  /**
   * Puts a message back at the head (a message redelivered after a restart),
   * even into a full mailbox: senders wait until it is below capacity again.
   */
  unshift(message: A): void {
    if (this.size === this.buffer.length) this.grow()
    this.head = (this.head - 1 + this.buffer.length) % this.buffer.length
    this.buffer[this.head] = message
    this.size++
  }

  /**
   * Gives the storage of an empty mailbox back (its actor went idle): an
   * idle mailbox then keeps no array of its own, and a mailbox that grew to
   * its capacity in a burst does not keep that array forever.
   */
  release(): void {
    if (this.size === 0 && this.buffer !== emptyBuffer) {
      this.buffer = emptyBuffer
      this.head = 0
    }
  }

  /** Reopens an ended mailbox (a supervised actor restarted after stopping itself). */
  reopen(): void {
    if (this.status === "ended") this.status = "open"
  }

  addTaker(wake: () => void): void {
    ;(this.takers ??= []).push(wake)
  }

  removeTaker(wake: () => void): void {
    if (this.takers === undefined) return
    const index = this.takers.indexOf(wake)
    if (index >= 0) this.takers.splice(index, 1)
  }

  private wakeTakers(): void {
    const takers = this.takers
    if (takers === undefined) return
    this.takers = undefined
    for (const wake of takers) wake()
  }

  /** No new messages; queued ones can still be taken. Waiting senders are refused. */
  end(): boolean {
    if (this.status !== "open") return false
    this.status = "ended"
    this.refusePutters()
    this.wakeTakers()
    return true
  }

  /** Closes and empties the mailbox, returning what was queued. */
  shutdown(): Array<A> {
    if (this.status === "shutdown") return []
    this.status = "shutdown"
    this.refusePutters()
    const rest = this.drain(this.size)
    this.buffer = emptyBuffer
    this.head = 0
    this.wakeTakers()
    return rest
  }

  private refusePutters(): void {
    const putters = this.putters
    this.putters = undefined
    if (putters === undefined) return
    for (const putter of putters) {
      const resume = putter.resume
      putter.resume = undefined
      resume?.(false)
    }
  }
}

Object.defineProperty(MailboxImpl.prototype, TypeId, { value: TypeId })

/** @internal */
export const empty: typeof EMPTY = EMPTY

/** @internal */
export const validateCapacity = (capacity: number | undefined): Effect.Effect<number, InvalidOptions> =>
  capacity === undefined
    ? Effect.succeed(defaultCapacity)
    : Number.isSafeInteger(capacity) && capacity > 0
    ? Effect.succeed(capacity)
    : Effect.fail(new InvalidOptions({ option: "capacity", reason: `must be a positive integer, got ${capacity}` }))

const policies: ReadonlyArray<OverflowPolicy> = ["backpressure", "fail", "dropNewest", "dropOldest"]

/** @internal */
export const validateOptions = (options: Options | undefined): Effect.Effect<{
  readonly capacity: number
  readonly overflow: OverflowPolicy
}, InvalidOptions> =>
  Effect.flatMap(validateCapacity(options?.capacity), (capacity) => {
    const overflow = options?.overflow ?? "backpressure"
    return policies.includes(overflow)
      ? Effect.succeed({ capacity, overflow })
      : Effect.fail(new InvalidOptions({ option: "overflow", reason: `must be one of ${policies.join(", ")}, got ${String(overflow)}` }))
  })

/**
 * Creates a bounded mailbox. Invalid options (capacity ≤ 0, unknown policy)
 * fail with `InvalidOptions`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@trawl/actor"
 *
 * const program = Effect.gen(function*() {
 *   const mailbox = yield* Mailbox.make<string>({ capacity: 2, overflow: "dropOldest" })
 *   yield* Mailbox.offer(mailbox, "a")
 *   yield* Mailbox.offer(mailbox, "b")
 *   yield* Mailbox.offer(mailbox, "c") // drops "a"
 *   return yield* Mailbox.takeBatch(mailbox, 10) // ["b", "c"]
 * })
 * ```
 * @since 0.1.0
 */
export const make = <A>(options?: Options): Effect.Effect<Mailbox<A>, InvalidOptions> =>
  Effect.map(validateOptions(options), ({ capacity, overflow }) =>
    new MailboxImpl<A>(options?.name ?? "mailbox", capacity, overflow))

const closedError = (self: MailboxImpl<any>) => new MailboxClosed({ mailbox: self.name })

/**
 * Offers a message, applying the mailbox's overflow policy. Succeeds with
 * `true` when the message was queued, `false` when a drop policy dropped a
 * message; fails with `MailboxFull` under `fail`, and `MailboxClosed` once the
 * mailbox is ended or shut down. Under `backpressure` it waits for room.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@trawl/actor"
 *
 * const program = Effect.gen(function*() {
 *   const mailbox = yield* Mailbox.make<number>({ capacity: 1, overflow: "fail" })
 *   yield* Mailbox.offer(mailbox, 1)
 *   return yield* Effect.flip(Mailbox.offer(mailbox, 2)) // MailboxFull
 * })
 * ```
 * @since 0.1.0
 */
export const offer = <A>(self: Mailbox<A>, message: A): Effect.Effect<boolean, MailboxFull | MailboxClosed> =>
  Effect.suspend((): Effect.Effect<boolean, MailboxFull | MailboxClosed> => {
    const impl = self as MailboxImpl<A>
    switch (impl.offer(message)) {
      case "accepted":
        return Effect.succeed(true)
      case "dropped":
        return Effect.succeed(false)
      case "closed":
        return Effect.fail(closedError(impl))
      case "full":
        return impl.overflow === "fail"
          ? Effect.fail(new MailboxFull({ actor: impl.name, capacity: impl.capacity }))
          : waitForRoom(impl, message, () => closedError(impl))
    }
  })

/** @internal */
export const waitForRoom = <A, E>(
  self: MailboxImpl<A>,
  message: A,
  onClosed: () => E
): Effect.Effect<boolean, E> =>
  Effect.callback<boolean, E>((resume) => {
    const putter = self.addPutter(message, (accepted) =>
      resume(accepted ? Effect.succeed(true) : Effect.fail(onClosed())))
    return Effect.sync(() => self.removePutter(putter))
  })

/**
 * Waits until at least one message is queued, then takes up to `max` of them
 * in one go. Fails with `MailboxClosed` once the mailbox is closed and empty.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@trawl/actor"
 *
 * const program = Effect.gen(function*() {
 *   const mailbox = yield* Mailbox.make<number>()
 *   yield* Mailbox.offer(mailbox, 1)
 *   yield* Mailbox.offer(mailbox, 2)
 *   return yield* Mailbox.takeBatch(mailbox, 100) // [1, 2]
 * })
 * ```
 * @since 0.1.0
 */
export const takeBatch = <A>(self: Mailbox<A>, max: number): Effect.Effect<ReadonlyArray<A>, MailboxClosed> =>
  Effect.suspend(function loop(): Effect.Effect<ReadonlyArray<A>, MailboxClosed> {
    const impl = self as MailboxImpl<A>
    if (impl.size > 0) return Effect.succeed(impl.drain(Math.max(1, max)))
    if (impl.status !== "open") return Effect.fail(closedError(impl))
    return Effect.flatMap(
      Effect.callback<void>((resume) => {
        const wake = () => resume(Effect.void)
        impl.addTaker(wake)
        return Effect.sync(() => impl.removeTaker(wake))
      }),
      () => Effect.suspend(loop)
    )
  })

/**
 * Takes one message, waiting for it if need be.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@trawl/actor"
 *
 * const program = Effect.gen(function*() {
 *   const mailbox = yield* Mailbox.make<string>()
 *   yield* Mailbox.offer(mailbox, "hello")
 *   return yield* Mailbox.take(mailbox) // "hello"
 * })
 * ```
 * @since 0.1.0
 */
export const take = <A>(self: Mailbox<A>): Effect.Effect<A, MailboxClosed> =>
  Effect.map(takeBatch(self, 1), (batch) => batch[0]!)

/**
 * Takes one message if one is queued.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@trawl/actor"
 *
 * const program = Effect.gen(function*() {
 *   const mailbox = yield* Mailbox.make<string>()
 *   return yield* Mailbox.poll(mailbox) // Option.none()
 * })
 * ```
 * @since 0.1.0
 */
export const poll = <A>(self: Mailbox<A>): Effect.Effect<Option.Option<A>> =>
  Effect.sync(() => {
    const message = (self as MailboxImpl<A>).poll()
    return message === EMPTY ? Option.none() : Option.some(message)
  })

/**
 * Stops accepting messages; queued messages can still be taken, waiting
 * senders fail with `MailboxClosed`. Returns `false` if already closed.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@trawl/actor"
 *
 * const program = Effect.gen(function*() {
 *   const mailbox = yield* Mailbox.make<string>()
 *   yield* Mailbox.offer(mailbox, "last")
 *   yield* Mailbox.end(mailbox)
 *   return yield* Mailbox.take(mailbox) // "last"
 * })
 * ```
 * @since 0.1.0
 */
export const end = <A>(self: Mailbox<A>): Effect.Effect<boolean> =>
  Effect.sync(() => (self as MailboxImpl<A>).end())

/**
 * Closes the mailbox and discards what is queued, returning the discarded
 * messages so the caller can account for them.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@trawl/actor"
 *
 * const program = Effect.gen(function*() {
 *   const mailbox = yield* Mailbox.make<string>()
 *   yield* Mailbox.offer(mailbox, "unread")
 *   return yield* Mailbox.shutdown(mailbox) // ["unread"]
 * })
 * ```
 * @since 0.1.0
 */
export const shutdown = <A>(self: Mailbox<A>): Effect.Effect<ReadonlyArray<A>> =>
  Effect.sync(() => (self as MailboxImpl<A>).shutdown())
