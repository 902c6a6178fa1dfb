/**
 * The actor cell: one object per actor holding its mailbox, state and
 * lifecycle. An idle actor has no fiber: a fiber is forked into the actor's
 * scope when a message arrives at an idle mailbox and ends when the mailbox is
 * empty again, so a million idle actors cost a million small objects and no
 * fibers.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { ActorStopped, MailboxFull } from "../ActorError.ts"
import * as Mailbox from "../Mailbox.ts"
import * as metrics from "./metrics.ts"

/** How an actor ended. */
export interface Terminated {
  readonly _tag: "Terminated"
  readonly actor: string
  readonly exit: Exit.Exit<void, unknown>
}

export interface Behavior<Msg, S, E, R> {
  readonly init: Effect.Effect<S, E, R | Scope.Scope>
  readonly receive: (state: S, message: Msg, context: any) => Effect.Effect<S, E, R>
  readonly reduce?: ((state: S, message: Msg, context: any) => S) | undefined
  readonly redeliverOnRestart?: boolean | undefined
  readonly batch?: {
    readonly maxBatch: number
    readonly receive: (state: S, batch: ReadonlyArray<Msg>, context: any) => Effect.Effect<S, E, R>
  } | undefined
  readonly concurrent?: {
    readonly concurrency: number
    readonly handle: (message: Msg, context: any) => Effect.Effect<void, E, R>
  } | undefined
}

/** The parent a supervised cell reports its exits to. */
export interface Parent {
  readonly childExited: (cell: Cell<any, any, any, any>, exit: Exit.Exit<void, unknown>, selfStopped: boolean) => Effect.Effect<void>
}

type Status = "idle" | "active" | "suspended" | "stopped"

let nextId = 0

/** Messages a fast (synchronous) behaviour processes before letting other fibers run. */
const yieldEvery = 1024

// Completed effects (`Effect.succeed(x)`, `Effect.fail(e)`) are Exit values;
// their prototypes identify them without a property lookup on the hot path.
const successProto = Object.getPrototypeOf(Exit.succeed(undefined))
const failureProto = Object.getPrototypeOf(Exit.fail(undefined))

export const TypeId = "~@trawl/actor/ActorRef" as const

let makeContext: (cell: Cell<any, any, any, any>) => unknown = () => undefined

/** Installed by the Actor module: builds the `ActorContext` a behaviour receives. */
export const setContextFactory = (factory: (cell: Cell<any, any, any, any>) => unknown): void => {
  makeContext = factory
}

/** Made per drain (and per worker), not kept: an idle actor holds no context object. */
const contextOf = (cell: Cell<any, any, any, any>): unknown => makeContext(cell)

// Bits of `Cell.flags`.
/** Set while a restart closes the old incarnation, so its finalizer does not terminate the actor. */
const RESTARTING = 1
/** Set by an explicit `stop`/`interrupt` from outside: a supervisor never restarts it. */
const STOP_REQUESTED = 2
/** Reports its mailbox depth (named actors). */
const NAMED = 4
/** Watchers have been told: `exit` is final. */
const TERMINATED = 8

/**
 * What few actors need — concurrent and batched behaviours, watchers, asks,
 * depth gauges, owners' hooks, the final exit — kept apart from the cell and
 * made on first need, so an idle plain actor does not carry a dozen empty fields.
 */
class Extras<Msg> {
  /** The batch being processed by a batched behaviour. */
  currentBatch: ReadonlyArray<Msg> | undefined = undefined
  /**
   * Concurrent behaviours: the messages whose handlers are running, by take
   * order (a Map iterates in insertion order, so this is mailbox order).
   */
  inFlight: Map<number, Msg> | undefined = undefined
  /** Concurrent behaviours: worker fibers alive, and those forked but not yet taking. */
  workers = 0
  starting = 0
  taken = 0
  /** Bumped when an incarnation closes for a restart: exits of its workers are then ignored. */
  incarnation = 0
  exit: Exit.Exit<void, unknown> | undefined = undefined
  watchers: Array<(terminated: Terminated) => void> | undefined = undefined
  /** Pending asks, failed with `ActorStopped` when the actor stops. */
  asks: Set<{ complete(exit: Exit.Exit<any, any>): boolean }> | undefined = undefined
  depthGauge: ReturnType<typeof metrics.depthOf> | undefined = undefined
  onTerminate: ((exit: Exit.Exit<void, unknown>) => Effect.Effect<void>) | undefined = undefined
}

export class Cell<Msg, S, E, R> {
  /** On the prototype: a field per actor would cost 8 bytes each. */
  declare readonly [TypeId]: typeof TypeId
  readonly id: number
  /** The name given at spawn; `name` derives the others on demand (no string kept per actor). */
  readonly givenName: string | undefined
  readonly mailbox: Mailbox.MailboxImpl<Msg>
  readonly behavior: Behavior<Msg, S, E, R>
  readonly context: Context.Context<any>
  readonly owner: Scope.Scope
  readonly parent: Parent | undefined
  state: S = undefined as S
  status: Status = "idle"
  scope: Scope.Closeable = undefined as never
  fiber: Fiber.Fiber<void, never> | undefined = undefined
  /** The message being processed by an effectful step (the one that failed, after a failure). */
  current: Msg | undefined = undefined
  processed = 0
  /** `RESTARTING`, `STOP_REQUESTED`, `NAMED`, `TERMINATED`: one small integer, not four fields. */
  private flags = 0
  /** Keyed entities: the key, and the sweep epoch of the last message. */
  key: unknown = undefined
  lastActive = 0
  private extras: Extras<Msg> | undefined = undefined

  private more(): Extras<Msg> {
    return this.extras ??= new Extras()
  }

  get restarting(): boolean {
    return (this.flags & RESTARTING) !== 0
  }
  set restarting(on: boolean) {
    this.flags = on ? this.flags | RESTARTING : this.flags & ~RESTARTING
  }
  get stopRequested(): boolean {
    return (this.flags & STOP_REQUESTED) !== 0
  }
  set stopRequested(on: boolean) {
    this.flags = on ? this.flags | STOP_REQUESTED : this.flags & ~STOP_REQUESTED
  }
  get named(): boolean {
    return (this.flags & NAMED) !== 0
  }

  get currentBatch(): ReadonlyArray<Msg> | undefined {
    return this.extras?.currentBatch
  }
  set currentBatch(batch: ReadonlyArray<Msg> | undefined) {
    if (batch !== undefined || this.extras !== undefined) this.more().currentBatch = batch
  }
  get inFlight(): Map<number, Msg> | undefined {
    return this.extras?.inFlight
  }
  get workers(): number {
    return this.extras?.workers ?? 0
  }
  set workers(n: number) {
    if (n !== 0 || this.extras !== undefined) this.more().workers = n
  }
  get starting(): number {
    return this.extras?.starting ?? 0
  }
  set starting(n: number) {
    if (n !== 0 || this.extras !== undefined) this.more().starting = n
  }
  private get incarnation(): number {
    return this.extras?.incarnation ?? 0
  }
  /** How the actor ended, once its watchers have been told; a plain stop is not stored (`Exit.void`). */
  get exit(): Exit.Exit<void, unknown> | undefined {
    return (this.flags & TERMINATED) === 0 ? undefined : this.extras?.exit ?? Exit.void
  }
  get watchers(): Array<(terminated: Terminated) => void> | undefined {
    return this.extras?.watchers
  }
  /** Pending asks, failed with `ActorStopped` when the actor stops. */
  get asks(): Set<{ complete(exit: Exit.Exit<any, any>): boolean }> | undefined {
    return this.extras?.asks
  }
  set asks(asks: Set<{ complete(exit: Exit.Exit<any, any>): boolean }> | undefined) {
    if (asks !== undefined || this.extras !== undefined) this.more().asks = asks
  }
  /**
   * Runs when the actor stops for good, before watchers learn of it, inside
   * the closing finalizer: an owner (a supervisor) closes what it owns here,
   * so it never needs a fiber of its own.
   */
  get onTerminate(): ((exit: Exit.Exit<void, unknown>) => Effect.Effect<void>) | undefined {
    return this.extras?.onTerminate
  }
  set onTerminate(hook: ((exit: Exit.Exit<void, unknown>) => Effect.Effect<void>) | undefined) {
    if (hook !== undefined || this.extras !== undefined) this.more().onTerminate = hook
  }

  constructor(
    name: string | undefined,
    mailbox: Mailbox.MailboxImpl<Msg>,
    behavior: Behavior<Msg, S, E, R>,
    context: Context.Context<R>,
    owner: Scope.Scope,
    parent: Parent | undefined,
    reportsDepth: boolean = name !== undefined
  ) {
    this.id = ++nextId
    this.givenName = name
    if (reportsDepth) this.flags = NAMED
    this.mailbox = mailbox
    this.behavior = behavior
    this.context = context
    this.owner = owner
    this.parent = parent
  }

  /** Named actors report their mailbox depth at the start and end of each activation. */
  private reportDepth(): void {
    if (!this.named) return
    const extras = this.more()
    ;(extras.depthGauge ??= metrics.depthOf(this.name)).updateUnsafe(this.mailbox.size, this.context)
  }

  get name(): string {
    return this.givenName ?? (this.key !== undefined && this.parent !== undefined
      ? `${(this.parent as { readonly name?: string }).name}[${String(this.key)}]`
      : `actor-${this.id}`)
  }

  toString(): string {
    return `ActorRef(${this.name})`
  }

  /** Opens a fresh incarnation scope in the owner's scope and runs `init` in it. */
  start(): Effect.Effect<void, E> {
    return Effect.suspend(() => {
      const scope = Scope.forkUnsafe(this.owner, "sequential")
      this.scope = scope
      // Registered first, so it runs last: after the fiber is interrupted and the
      // incarnation's resources and children are released.
      return Effect.andThen(
        Scope.addFinalizerExit(scope, (exit) => this.restarting ? Effect.void : this.terminate(exit)),
        this.init()
      )
    })
  }

  private init(): Effect.Effect<void, E> {
    return Effect.suspend(() => {
      const init = this.behavior.init
      if (Exit.isExit(init) && init._tag === "Success") {
        this.state = init.value as S
        return Effect.void
      }
      return Effect.map(
        Effect.provideContext(init, Context.add(this.context as Context.Context<any>, Scope.Scope, this.scope)),
        (state) => {
          this.state = state
        }
      )
    })
  }

  // ---------------------------------------------------------------------------
  // sending
  // ---------------------------------------------------------------------------

  tell(message: Msg): Effect.Effect<void, MailboxFull | ActorStopped> {
    return Effect.suspend(() => this.offerNow(message))
  }

  /** Offers at once (the caller is in a suspended effect); the effect that follows up on the offer. */
  offerNow(message: Msg): Effect.Effect<void, MailboxFull | ActorStopped> {
    {
      switch (this.mailbox.offer(message)) {
        case "accepted":
          return this.behavior.concurrent === undefined
            ? (this.status === "idle" ? this.activate() : Effect.void)
            : this.wakeWorkers()
        case "dropped":
          return metrics.dropped(this.context)
        case "closed":
          return Effect.fail(new ActorStopped({ actor: this.name }))
        case "full":
          if (this.mailbox.overflow === "fail") {
            return Effect.fail(new MailboxFull({ actor: this.name, capacity: this.mailbox.capacity }))
          }
          return Effect.flatMap(
            Mailbox.waitForRoom(this.mailbox, message, () => new ActorStopped({ actor: this.name })),
            () => this.wake()
          )
      }
    }
  }

  /** Starts processing queued messages, if nothing is processing them yet. */
  wake(): Effect.Effect<void> {
    if (this.behavior.concurrent !== undefined) return this.wakeWorkers()
    return this.status === "idle" && this.mailbox.size > 0 ? this.activate() : Effect.void
  }

  /** Forks a fiber that drains the mailbox; it ends when the mailbox is empty. */
  activate(): Effect.Effect<void> {
    this.status = "active"
    // the run effect is made per activation, not kept per actor: idle actors stay small
    return Effect.map(
      // Forked into the owner's scope, not the incarnation's: a second finalizer
      // would turn the incarnation scope's single finalizer into a Map (about
      // 230 bytes kept per actor for good). Every close the cell makes
      // interrupts the fiber first (`closeScope`); when the owner closes, this
      // fiber's finalizer, registered after the incarnation scope's, runs first.
      Effect.forkIn(Effect.provideContext(Effect.suspend(() => this.run()) as Effect.Effect<void>, this.context as Context.Context<never>), this.owner),
      (fiber) => {
        this.fiber = fiber
      }
    )
  }

  private run(): Effect.Effect<void, never, R> {
    this.processed = 0
    this.reportDepth()
    return Effect.flatMap(Effect.exit(this.drain()), (exit) => {
      const processed = this.processed
      this.reportDepth()
      return Effect.andThen(metrics.processed(this.context, processed), this.afterRun(exit))
    })
  }

  /**
   * Processes messages until the mailbox is empty. A behaviour that answers
   * with an already-completed effect (`Effect.succeed(next)`) is stepped in a
   * plain loop, without a fiber round trip per message; it yields to other
   * fibers every `yieldEvery` messages.
   */
  private drain(): Effect.Effect<void, E, R> {
    if (this.behavior.batch !== undefined) return this.drainBatches(this.behavior.batch)
    const self = this
    const context = contextOf(self)
    let budget = yieldEvery
    let lingered = false
    const redeliver = self.behavior.redeliverOnRestart === true
    // One continuation per drain, not a closure and a suspend per message: it
    // runs inside the fiber's own flatMap, so calling `loop` directly is safe
    // (it returns at the next effect, the stack does not grow).
    const resume = (nextState: S): Effect.Effect<void, E, R> => {
      self.state = nextState
      self.current = undefined
      return loop()
    }
    const loop = (): Effect.Effect<void, E, R> => {
      const mailbox = self.mailbox
      const receive = self.behavior.receive
      const reduce = self.behavior.reduce
      let state = self.state
      let processed = 0
      try {
        while (true) {
          const message = mailbox.poll()
          if (message === Mailbox.empty) {
            self.current = undefined
            if (lingered) return Effect.void
            // Let the fibers we just answered run once before going idle: a
            // conversation (ask, reply, ask…) then costs a yield per message,
            // not a fiber fork.
            lingered = true
            return Effect.andThen(Effect.yieldNow, Effect.suspend(loop))
          }
          lingered = false
          processed++
          if (redeliver) self.current = message
          if (reduce !== undefined) {
            try {
              state = reduce(state, message, context)
            } catch (defect) {
              return Exit.die(defect)
            }
          } else {
            const next = receive(state, message, context)
            const proto = Object.getPrototypeOf(next)
            if (proto === successProto) {
              state = (next as Exit.Success<S, E>).value
            } else if (proto === failureProto) {
              self.current = message
              return next
            } else {
              self.current = message
              return Effect.flatMap(next, resume)
            }
          }
          if (--budget === 0) {
            budget = yieldEvery
            self.current = undefined
            return Effect.andThen(Effect.yieldNow, Effect.suspend(loop))
          }
        }
      } finally {
        self.state = state
        self.processed += processed
      }
    }
    return Effect.suspend(loop)
  }

  /**
   * A batched behaviour: takes up to `maxBatch` queued messages at once (which
   * lets waiting senders in as room frees) and hands them to `receive`
   * together; messages that arrive meanwhile make the next batch.
   */
  private drainBatches(batching: NonNullable<Behavior<Msg, S, E, R>["batch"]>): Effect.Effect<void, E, R> {
    const self = this
    const context = contextOf(self)
    const { maxBatch, receive } = batching
    let lingered = false
    const step = (next: S): Effect.Effect<void, E, R> => {
      self.state = next
      self.currentBatch = undefined
      return loop()
    }
    const loop = (): Effect.Effect<void, E, R> => {
      const batch = self.mailbox.drain(maxBatch)
      if (batch.length === 0) {
        if (lingered) return Effect.void
        // one yield before going idle: senders woken by the last take get to
        // refill the mailbox, and the next batch is a full one
        lingered = true
        return Effect.andThen(Effect.yieldNow, Effect.suspend(loop))
      }
      lingered = false
      self.currentBatch = batch
      self.processed += batch.length
      return Effect.flatMap(receive(self.state, batch, context), step)
    }
    return Effect.suspend(loop)
  }

  /**
   * A concurrent behaviour: forks workers (into the incarnation scope) up to
   * the concurrency, never more than there are messages for. Each worker takes
   * one message at a time and ends when the mailbox is empty, so an idle actor
   * holds no fiber; with every worker busy nothing takes from the mailbox, and
   * senders feel backpressure.
   */
  wakeWorkers(): Effect.Effect<void> {
    if (this.status !== "idle" && this.status !== "active") return Effect.void
    const wanted = Math.min(this.behavior.concurrent!.concurrency - this.workers, this.mailbox.size - this.starting)
    if (wanted <= 0) return Effect.void
    this.status = "active"
    this.workers += wanted
    this.starting += wanted
    const scope = this.scope
    const incarnation = this.incarnation
    const fork = () =>
      Effect.asVoid(Effect.forkIn(
        Effect.provideContext(this.worker(incarnation) as Effect.Effect<void>, this.context as Context.Context<never>),
        scope
      ))
    if (wanted === 1) return fork()
    return Effect.suspend(() => {
      let forks: Effect.Effect<void> = fork()
      for (let i = 1; i < wanted; i++) forks = Effect.andThen(forks, fork())
      return forks
    })
  }

  private worker(incarnation: number): Effect.Effect<void, never, R> {
    const self = this
    const handle = self.behavior.concurrent!.handle
    const context = contextOf(self)
    const extras = self.more()
    const inFlight = extras.inFlight ??= new Map()
    // one worker's own state: a worker effect is forked once and never shared
    let key = 0
    let processed = 0
    const done = () => {
      inFlight.delete(key)
      key = 0
      return next()
    }
    const next = (): Effect.Effect<void, E, R> => {
      // a failure elsewhere suspends the actor: take nothing more
      if (self.incarnation !== incarnation || self.status !== "active") return Effect.void
      const message = self.mailbox.poll()
      if (message === Mailbox.empty) return Effect.void
      key = ++extras.taken
      inFlight.set(key, message)
      processed++
      return Effect.flatMap(handle(message, context), done)
    }
    return Effect.flatMap(
      Effect.exit(Effect.suspend(() => {
        if (self.incarnation === incarnation) self.starting--
        return next()
      })),
      (exit) => Effect.andThen(metrics.processed(self.context, processed), self.workerExited(incarnation, key, exit))
    )
  }

  private workerExited(incarnation: number, key: number, exit: Exit.Exit<void, E>): Effect.Effect<void> {
    return Effect.suspend(() => {
      // the incarnation closed for a restart: the restart accounts for its messages
      if (this.incarnation !== incarnation) return Effect.void
      this.workers--
      if (this.status === "stopped") return Effect.void
      if (Exit.isSuccess(exit)) {
        if (this.status !== "active") return Effect.void
        if (this.mailbox.size > 0) return this.wakeWorkers()
        if (this.workers > 0) return Effect.void
        this.status = "idle"
        this.mailbox.release()
        // ended mailbox, drained, every handler done: a graceful stop completes here
        return this.mailbox.status === "open" ? Effect.void : this.exitWith(Exit.void, !this.stopRequested)
      }
      if (Cause.hasInterruptsOnly(exit.cause)) return Effect.void
      if (this.behavior.redeliverOnRestart !== true) this.inFlight?.delete(key)
      // only the first failure of an incarnation fails the actor
      if (this.status !== "active") return Effect.void
      return this.exitWith(exit as Exit.Exit<void, unknown>, false)
    })
  }

  private afterRun(exit: Exit.Exit<void, E>): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.fiber = undefined
      if (Exit.isSuccess(exit)) {
        if (this.mailbox.status === "open") {
          this.status = "idle"
          // A message may have arrived between the last poll and now.
          if (this.mailbox.size > 0) return this.activate()
          // going idle: the mailbox keeps no buffer of its own
          this.mailbox.release()
          return Effect.void
        }
        // ended mailbox, drained: a graceful stop completes here
        return this.exitWith(Exit.void, !this.stopRequested)
      }
      if (Cause.hasInterruptsOnly(exit.cause)) return Effect.void
      return this.exitWith(exit as Exit.Exit<void, unknown>, false)
    })
  }

  /** The actor's run ended (failure, or graceful end): report to the parent, or terminate. */
  private exitWith(exit: Exit.Exit<void, unknown>, selfStopped: boolean): Effect.Effect<void> {
    if (this.parent !== undefined && !this.stopRequested) {
      this.status = "suspended"
      return this.parent.childExited(this, exit, selfStopped)
    }
    return this.close(exit)
  }

  // ---------------------------------------------------------------------------
  // lifecycle
  // ---------------------------------------------------------------------------

  /** Closes the current incarnation and with it the actor. */
  close(exit: Exit.Exit<void, unknown>): Effect.Effect<void> {
    return this.closeScope(exit)
  }

  /** Interrupts the drain fiber (unless it is the one closing), then closes the incarnation scope. */
  private closeScope(exit: Exit.Exit<void, unknown>): Effect.Effect<void> {
    return Effect.withFiber((current) => {
      const fiber = this.fiber
      const close = Scope.close(this.scope, exit)
      return fiber === undefined || fiber === current ? close : Effect.andThen(Fiber.interrupt(fiber), close)
    })
  }

  /** Graceful stop: no new messages, process what is queued, then stop. */
  stop(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.stopRequested = true
      if (this.status === "stopped") return Effect.void
      this.mailbox.end()
      if (this.status === "idle") return this.close(Exit.void)
      if (this.status === "suspended") return this.close(Exit.void)
      return Effect.void
    })
  }

  /** Immediate stop: interrupt the current message; queued messages are discarded. */
  interrupt(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.stopRequested = true
      return this.close(Exit.interrupt())
    })
  }

  /** Closes the incarnation without terminating: the mailbox (and its messages) survive. */
  suspend(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.status === "stopped") return Effect.void
      this.status = "suspended"
      if (this.scope.state._tag === "Closed") return Effect.void
      this.restarting = true
      if (this.extras !== undefined) this.extras.incarnation++
      return Effect.ensuring(
        this.closeScope(Exit.interrupt()),
        Effect.sync(() => {
          this.restarting = false
          this.fiber = undefined
        })
      )
    })
  }

  /** Starts a new incarnation on the same mailbox. */
  restart(): Effect.Effect<void, E> {
    return Effect.andThen(this.suspend(), Effect.suspend(() => {
      if (this.status === "stopped") return Effect.void
      const redeliver = this.takeRedelivery()
      for (let i = redeliver.length - 1; i >= 0; i--) this.mailbox.unshift(redeliver[i]!)
      if (this.mailbox.status === "ended") this.mailbox.reopen()
      return Effect.andThen(this.start(), Effect.suspend(() => {
        this.status = "idle"
        return this.wake()
      }))
    }))
  }

  /**
   * What a restart puts back at the head of the mailbox, oldest first: the
   * messages of interrupted concurrent handlers (and of the failed one with
   * `redeliverOnRestart`), or the failed message or batch with `redeliverOnRestart`.
   */
  private takeRedelivery(): ReadonlyArray<Msg> {
    const redeliver = this.behavior.redeliverOnRestart === true
    const current = this.current
    const batch = this.currentBatch
    const inFlight = this.inFlight
    this.current = undefined
    this.currentBatch = undefined
    this.workers = 0
    this.starting = 0
    if (inFlight !== undefined && inFlight.size > 0) {
      const messages = [...inFlight.values()]
      inFlight.clear()
      return messages
    }
    if (!redeliver) return []
    if (batch !== undefined) return batch
    return current === undefined ? [] : [current]
  }

  /** Messages being handled right now. */
  get inProgress(): number {
    if (this.inFlight !== undefined) return this.inFlight.size
    if (this.status !== "active") return 0
    if (this.currentBatch !== undefined) return this.currentBatch.length
    return this.current === undefined ? 0 : 1
  }

  /** Fibers the actor holds right now (none when idle). */
  get fiberCount(): number {
    return this.behavior.concurrent !== undefined ? this.workers : this.fiber === undefined ? 0 : 1
  }

  /** Runs once, as the last finalizer of the last incarnation. */
  private terminate(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.status === "stopped") return Effect.void
      this.status = "stopped"
      this.fiber = undefined
      this.workers = 0
      this.starting = 0
      this.mailbox.shutdown()
      const terminatedExit: Exit.Exit<void, unknown> = Exit.isSuccess(exit) ? Exit.void : exit as Exit.Exit<never, unknown>
      const notify = Effect.sync(() => {
        this.flags |= TERMINATED
        // an actor that stopped normally (passivated, say) makes no extras just to say so
        if (terminatedExit !== Exit.void) this.more().exit = terminatedExit
        const extras = this.extras
        if (extras === undefined) return
        const asks = extras.asks
        extras.asks = undefined
        if (asks !== undefined) {
          const error = Exit.fail(new ActorStopped({ actor: this.name }))
          for (const ask of asks) ask.complete(error)
        }
        const watchers = extras.watchers
        extras.watchers = undefined
        if (watchers !== undefined) {
          const terminated: Terminated = { _tag: "Terminated", actor: this.name, exit: terminatedExit }
          for (const watcher of watchers) watcher(terminated)
        }
      })
      const onTerminate = this.onTerminate
      return onTerminate === undefined ? notify : Effect.ensuring(onTerminate(terminatedExit), notify)
    })
  }

  addWatcher(watcher: (terminated: Terminated) => void): () => void {
    if (this.exit !== undefined) {
      watcher({ _tag: "Terminated", actor: this.name, exit: this.exit })
      return () => {}
    }
    ;(this.more().watchers ??= []).push(watcher)
    return () => {
      const index = this.watchers?.indexOf(watcher) ?? -1
      if (index >= 0) this.watchers!.splice(index, 1)
    }
  }
}
