/**
 * The pool's machinery: plain callbacks over `node:worker_threads` (no fiber
 * per worker, no fiber per task) so the per-task overhead stays close to a
 * bare `postMessage`. `WorkerPool.ts` wraps it in Effect.
 *
 * Invariants:
 * - a task is settled exactly once (`settle`), and its timers are cleared then;
 * - a slot runs at most one task; a slot in `stopping` is never given a task;
 * - every thread this pool created is in `slots` or `stopping` until its `exit` event.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { type ResourceLimits, type Transferable, Worker } from "node:worker_threads"
import { ActorError } from "@trawl/actor"
import * as WorkerError from "../WorkerError.ts"
import type { Codec } from "./codec.ts"
import { Deque } from "./deque.ts"
import type { PoolMetrics } from "./metrics.ts"
import * as Wire from "./wire.ts"

export interface ResolvedOptions {
  readonly name: string
  readonly runner: URL
  readonly handler: string
  readonly minSize: number
  readonly maxSize: number
  readonly queueCapacity: number
  readonly overflow: "backpressure" | "fail"
  readonly idleTimeoutMillis: number
  readonly taskDeadlineMillis: number
  readonly interruptGraceMillis: number
  readonly enqueueTimeoutMillis: number
  readonly retry: "never" | "once"
  readonly maxCrashes: number
  readonly crashWindowMillis: number
  readonly breakerCooldownMillis: number
  readonly maxTasksPerWorker: number
  readonly maxHeapUsedBytes: number
  readonly prefetch: number
  readonly resourceLimits: ResourceLimits | undefined
  readonly shutdown: "drain" | "interrupt"
  readonly drainTimeoutMillis: number
}

type Resume = (outcome: Effect.Effect<any, any>) => void

const TaskState = {
  /** Waiting for room in the queue (backpressure). */
  Blocked: 0,
  Queued: 1,
  Running: 2,
  /** The caller gave up while it ran: its reply will be dropped; the thread gets a grace period. */
  Abandoned: 3,
  Settled: 4
} as const
type TaskState = typeof TaskState[keyof typeof TaskState]

export interface Task {
  readonly id: number
  readonly codec: Codec
  readonly payload: unknown
  readonly transfer: ReadonlyArray<Transferable>
  readonly deadlineMillis: number
  readonly retry: boolean
  readonly resume: Resume
  /** Called once when a blocked task enters the queue (used by `tell`). */
  readonly onAccepted: (() => void) | undefined
  state: TaskState
  attempt: number
  enqueuedAt: number
  startedAt: number
  slot: Slot | undefined
  /** When its deadline passes (set when it starts running). */
  expiresAt: number
  /** The ask-timeout list watching this task, while its caller waits. */
  askList: AskTimeouts | undefined
  askExpiresAt: number
  /** The grace-period timer of an abandoned task. */
  timer: ReturnType<typeof setTimeout> | undefined
}

const SlotState = { Starting: 0, Ready: 1, Stopping: 2 } as const
type SlotState = typeof SlotState[keyof typeof SlotState]

interface Slot {
  readonly id: number
  readonly worker: Worker
  state: SlotState
  /** Tasks sent to this worker, in order: the first runs, the others wait in its inbox (`prefetch`). */
  inflight: Array<Task>
  dispatched: number
  tasksRun: number
  /** Over the heap limit: no new tasks; terminated once its in-flight tasks are done. */
  retiring: boolean
  lastError: string
  timer: ReturnType<typeof setTimeout> | undefined
  /** The thread's event-loop active time when last read (an exited thread's reads as 0). */
  activeMillis: number
}

/**
 * The asks waiting with one timeout duration, in submission order, which is
 * also expiry order: one timer serves them all (a timer per ask costs more
 * than the rest of an ask on tiny tasks). Settled asks leave lazily.
 */
interface AskTimeouts {
  readonly millis: number
  readonly entries: Deque<Task>
  live: number
  timer: ReturnType<typeof setTimeout> | undefined
}

export interface Stats {
  /** Threads alive right now, including ones being terminated. */
  readonly threads: number
  readonly starting: number
  readonly idle: number
  readonly busy: number
  /** Tasks in the queue. */
  readonly queued: number
  /** Callers waiting for room in a full queue (backpressure). */
  readonly blocked: number
  readonly breaker: "closed" | "open" | "halfOpen"
  readonly crashes: number
  readonly recycled: number
  readonly timedOut: number
  readonly completed: number
  /**
   * Event-loop active time of the pool's threads, summed over every thread it
   * ran (ms; a crashed thread's time since it was last read is lost):
   * time they spent running tasks (and their GC), not waiting for one. Its
   * growth over an interval, divided by the interval and the threads, is
   * their CPU utilisation.
   */
  readonly activeMillis: number
}

export class Pool {
  readonly name: string
  private readonly slots = new Set<Slot>()
  /** `activeMillis` of the threads that exited. */
  private exitedActiveMillis = 0
  private readonly stopping = new Set<Slot>()
  private readonly queue = new Deque<Task>()
  private readonly blocked = new Deque<Task>()
  private queued = 0
  private waiting = 0
  private starting = 0
  private nextTaskId = 1
  private nextSlotId = 1
  private state: "running" | "draining" | "closed" = "running"
  private breaker: "closed" | "open" | "halfOpen" = "closed"
  private breakerTimer: ReturnType<typeof setTimeout> | undefined
  private watchdog: ReturnType<typeof setTimeout> | undefined
  private readonly askTimeouts = new Map<number, AskTimeouts>()
  private watchdogAt = Infinity
  private crashTimes: Array<number> = []
  private lastCrash = ""
  private openedAfter = 0
  private crashes = 0
  private recycled = 0
  private timedOut = 0
  private completed = 0
  private readonly onThreadsChanged = new Set<() => void>()

  readonly options: ResolvedOptions
  private readonly metrics: PoolMetrics
  private readonly context: Context.Context<never>

  /** A worker is sent more tasks once its in-flight count is down to this: refills come in batches. */
  private readonly refillAt: number

  constructor(options: ResolvedOptions, metrics: PoolMetrics, context: Context.Context<never>) {
    this.options = options
    this.refillAt = Math.max(1, Math.floor(options.prefetch / 2))
    this.metrics = metrics
    this.context = context
    this.name = options.name
  }

  // ---- submission ---------------------------------------------------------

  /**
   * Admits a task, or settles it at once (closed pool, open breaker, full
   * queue under `fail`). Returns the task so the caller can cancel it.
   */
  submit(
    codec: Codec,
    payload: unknown,
    transfer: ReadonlyArray<Transferable>,
    deadlineMillis: number | undefined,
    retry: "never" | "once" | undefined,
    timeoutMillis: number,
    resume: Resume,
    onAccepted?: () => void
  ): Task | undefined {
    if (this.state !== "running") {
      resume(Effect.fail(new ActorError.ActorStopped({ actor: this.name })))
      return undefined
    }
    if (this.breaker === "open") {
      resume(Effect.fail(this.unavailable()))
      return undefined
    }
    const task: Task = {
      id: this.nextTaskId++,
      codec,
      payload,
      transfer,
      deadlineMillis: deadlineMillis ?? this.options.taskDeadlineMillis,
      // a transferred buffer is gone after the first attempt: such a task cannot be re-run
      retry: (retry ?? this.options.retry) === "once" && transfer.length === 0,
      resume,
      onAccepted,
      state: TaskState.Queued,
      attempt: 0,
      enqueuedAt: performance.now(),
      startedAt: 0,
      slot: undefined,
      expiresAt: Infinity,
      askList: undefined,
      askExpiresAt: Infinity,
      timer: undefined
    }
    if (timeoutMillis < Infinity) this.watchAsk(task, timeoutMillis)
    // fast path: a worker with room and nobody ahead in the queue
    if (this.queued === 0) {
      const slot = this.pickSlot()
      if (slot !== undefined) {
        this.run(slot, task)
        return task
      }
    }
    if (this.queued < this.options.queueCapacity) {
      this.enqueue(task)
    } else if (this.options.overflow === "fail") {
      this.unwatchAsk(task)
      task.state = TaskState.Settled
      resume(Effect.fail(new WorkerError.PoolSaturated({ pool: this.name, capacity: this.options.queueCapacity })))
      return undefined
    } else {
      task.state = TaskState.Blocked
      this.blocked.push(task)
      this.waiting++
      return task
    }
    this.pump()
    return task
  }

  isBlocked(task: Task): boolean {
    return task.state === TaskState.Blocked
  }

  /** The asker timed out: its task leaves the queue, or its thread gets a grace period. */
  timeout(task: Task, timeoutMillis: number): void {
    if (task.state === TaskState.Settled || task.state === TaskState.Abandoned) return
    // the pool lets go of the task first: the resumed caller may run at once and look at the pool
    this.cancel(task)
    task.resume(Effect.fail(new ActorError.AskTimeout({ actor: this.name, timeoutMillis })))
  }

  /** The asking fiber was interrupted (or timed out): stop caring about `task`. */
  cancel(task: Task): void {
    this.unwatchAsk(task)
    switch (task.state) {
      case TaskState.Blocked:
        task.state = TaskState.Settled
        this.waiting--
        this.compact()
        return
      case TaskState.Queued:
        task.state = TaskState.Settled
        this.queued--
        this.compact()
        this.admitBlocked()
        return
      case TaskState.Running: {
        task.state = TaskState.Abandoned
        // the head task is running: give it a grace period; a prefetched one gets it when it starts
        if (task.slot!.inflight[0] === task) this.armGrace(task)
        return
      }
    }
  }

  private watchAsk(task: Task, millis: number): void {
    let list = this.askTimeouts.get(millis)
    if (list === undefined) {
      if (this.askTimeouts.size >= 64) {
        for (const [key, other] of this.askTimeouts) if (other.live === 0) this.dropAskList(key, other)
      }
      list = { millis, entries: new Deque<Task>(), live: 0, timer: undefined }
      this.askTimeouts.set(millis, list)
    }
    task.askList = list
    task.askExpiresAt = performance.now() + millis
    list.entries.push(task)
    list.live++
    if (list.timer === undefined) this.armAskList(list, millis)
    else if (list.entries.length > 2 * list.live + 64) list.entries.retain((t) => t.askList === list)
  }

  private unwatchAsk(task: Task): void {
    const list = task.askList
    if (list === undefined) return
    task.askList = undefined
    list.live--
  }

  private dropAskList(key: number, list: AskTimeouts): void {
    clearTimeout(list.timer)
    this.askTimeouts.delete(key)
  }

  private armAskList(list: AskTimeouts, delay: number): void {
    list.timer = setTimeout(() => this.fireAskList(list), Math.max(0, delay))
    list.timer.unref()
  }

  private fireAskList(list: AskTimeouts): void {
    list.timer = undefined
    const now = performance.now()
    for (let head = list.entries.peek(); head !== undefined; head = list.entries.peek()) {
      if (head.askList !== list) {
        list.entries.shift() // settled or cancelled since
      } else if (head.askExpiresAt <= now + 1) {
        list.entries.shift()
        this.unwatchAsk(head)
        this.timeout(head, list.millis)
      } else {
        return this.armAskList(list, head.askExpiresAt - now)
      }
    }
  }

  private armGrace(task: Task): void {
    const slot = task.slot!
    clearTimeout(task.timer)
    // a thread that does not finish the abandoned task within the grace period is terminated
    task.timer = setTimeout(() => {
      if (slot.inflight[0] === task) this.kill(slot, true)
    }, Math.min(this.options.interruptGraceMillis, task.deadlineMillis))
  }

  // ---- dispatch -----------------------------------------------------------

  private enqueue(task: Task): void {
    task.state = TaskState.Queued
    this.queue.push(task)
    this.queued++
  }

  /** Drops cancelled tasks from the deques once they would outnumber live ones (memory stays bounded). */
  private compact(): void {
    if (this.queue.length > 2 * this.queued + 16) this.queue.retain((task) => task.state === TaskState.Queued)
    if (this.blocked.length > 2 * this.waiting + 16) this.blocked.retain((task) => task.state === TaskState.Blocked)
  }

  private nextQueued(): Task | undefined {
    while (this.queue.length > 0) {
      const task = this.queue.shift()!
      if (task.state === TaskState.Queued) {
        this.queued--
        return task
      }
    }
    return undefined
  }

  private admitBlocked(): void {
    while (this.waiting > 0 && this.queued < this.options.queueCapacity) {
      const task = this.blocked.shift()!
      if (task.state !== TaskState.Blocked) continue
      this.waiting--
      this.enqueue(task)
      task.onAccepted?.()
    }
  }

  /** The ready worker with the fewest tasks in flight, if one has room. */
  private pickSlot(): Slot | undefined {
    let best: Slot | undefined
    for (const slot of this.slots) {
      if (slot.state !== SlotState.Ready || slot.inflight.length >= this.options.prefetch) continue
      if (slot.dispatched >= this.options.maxTasksPerWorker) continue
      if (best === undefined || slot.inflight.length < best.inflight.length) {
        best = slot
        if (slot.inflight.length === 0) break
      }
    }
    return best
  }

  /** Gives queued tasks to workers with room, admits blocked callers, and sizes the pool. */
  private pump(): void {
    if (this.queued > 0) {
      let eligible = 0
      for (const slot of this.slots) {
        if (slot.state === SlotState.Ready && slot.inflight.length < this.options.prefetch) eligible++
      }
      while (this.queued > 0) {
        const slot = this.pickSlot()
        if (slot === undefined) break
        // share the queue among the workers with room, so two short queues never land on one worker
        this.fill(slot, Math.ceil(this.queued / Math.max(1, eligible)))
      }
    }
    this.admitBlocked()
    if (this.state === "closed" || this.breaker === "open") return
    // one new thread per queued task not already covered by a starting one
    let wanted = Math.max(this.queued - this.starting * this.options.prefetch, this.options.minSize - this.slots.size)
    if (this.breaker === "halfOpen") wanted = Math.min(wanted, 1 - this.starting)
    while (wanted > 0 && this.slots.size < this.options.maxSize) {
      this.spawn()
      wanted -= this.options.prefetch
    }
    this.metrics.queueDepth(this.queued)
  }

  private run(slot: Slot, task: Task): void {
    this.send(slot, [task])
  }

  /** Moves up to `count` queued tasks to `slot`, in one message. */
  private fill(slot: Slot, count: number): void {
    const room = Math.min(count, this.options.prefetch - slot.inflight.length, this.options.maxTasksPerWorker - slot.dispatched)
    const batch: Array<Task> = []
    while (batch.length < room) {
      const task = this.nextQueued()
      if (task === undefined) break
      batch.push(task)
    }
    if (batch.length > 0) this.send(slot, batch)
  }

  /**
   * Sends tasks to a worker in one message (`[id, payload, id, payload, …]`):
   * one wake-up of the thread for many tasks. A message structured clone
   * refuses is retried task by task, so only the guilty task fails.
   */
  private send(slot: Slot, tasks: Array<Task>): void {
    clearTimeout(slot.timer)
    slot.timer = undefined
    const now = performance.now()
    const message: Array<unknown> = []
    let transfer: Array<Transferable> | undefined
    for (const task of tasks) {
      message.push(task.id, task.payload)
      if (task.transfer.length > 0) (transfer ??= []).push(...task.transfer)
    }
    try {
      slot.worker.postMessage(message, transfer)
    } catch (error) {
      if (tasks.length > 1) {
        for (const task of tasks) this.send(slot, [task])
        return
      }
      // e.g. DataCloneError: a value structured clone cannot copy, or an untransferable buffer
      const task = tasks[0]!
      if (slot.inflight.length === 0) this.parkIfIdle(slot)
      this.settle(
        task,
        Effect.fail(
          new WorkerError.InvalidRequest({
            pool: this.name,
            task: task.codec.tag,
            reason: `cannot send to the worker: ${String((error as Error)?.message ?? error)}`
          })
        )
      )
      return
    }
    const wasIdle = slot.inflight.length === 0
    for (const task of tasks) {
      task.state = TaskState.Running
      task.slot = slot
      this.metrics.queueWait(now - task.enqueuedAt)
      slot.dispatched++
      slot.inflight.push(task)
      if (slot.inflight.length === 1) this.begin(task)
    }
    if (wasIdle) this.metrics.utilization(this.busy() / Math.max(1, this.slots.size))
  }

  /** `task` is now the one its worker runs: its deadline starts. */
  private begin(task: Task): void {
    task.startedAt = performance.now()
    if (task.state === TaskState.Abandoned) return this.armGrace(task)
    task.expiresAt = task.startedAt + task.deadlineMillis
    if (task.expiresAt < this.watchdogAt) this.armWatchdog(task.expiresAt)
  }

  /**
   * One timer watches every running task's deadline (at most one per worker):
   * it is re-armed only when a task expires sooner than the one it waits for,
   * so a task costs no timer of its own.
   */
  private armWatchdog(at: number): void {
    clearTimeout(this.watchdog)
    this.watchdogAt = at
    this.watchdog = setTimeout(this.sweep, Math.max(0, at - performance.now()))
    this.watchdog.unref()
  }

  private readonly sweep = (): void => {
    this.watchdog = undefined
    this.watchdogAt = Infinity
    const now = performance.now()
    let next = Infinity
    const expired: Array<Task> = []
    for (const slot of this.slots) {
      const head = slot.inflight[0]
      if (head === undefined || head.state !== TaskState.Running) continue
      if (head.expiresAt <= now + 1) expired.push(head)
      else if (head.expiresAt < next) next = head.expiresAt
    }
    for (const task of expired) this.deadline(task)
    if (next < this.watchdogAt) this.armWatchdog(next)
  }

  private settle(task: Task, outcome: Effect.Effect<any, any>): void {
    const state = task.state
    task.state = TaskState.Settled
    if (task.askList !== undefined) this.unwatchAsk(task)
    clearTimeout(task.timer)
    task.slot = undefined
    if (state !== TaskState.Abandoned && state !== TaskState.Settled) task.resume(outcome)
  }

  private deadline(task: Task): void {
    const slot = task.slot
    if (slot === undefined || slot.inflight[0] !== task) return
    this.timedOut++
    this.metrics.timeout()
    slot.inflight.shift()
    this.kill(slot, true)
    this.pump()
    this.settle(
      task,
      Effect.fail(new WorkerError.TaskTimeout({ pool: this.name, task: task.codec.tag, deadlineMillis: task.deadlineMillis }))
    )
  }

  // ---- worker lifecycle -------------------------------------------------------

  private spawn(): void {
    const id = this.nextSlotId++
    const worker = new Worker(this.options.runner, {
      name: `${this.name}-${id}`,
      workerData: { handler: this.options.handler, reportHeap: Number.isFinite(this.options.maxHeapUsedBytes) } satisfies Wire.RunnerData,
      ...(this.options.resourceLimits === undefined ? {} : { resourceLimits: this.options.resourceLimits })
    })
    const slot: Slot = {
      id,
      worker,
      state: SlotState.Starting,
      inflight: [],
      dispatched: 0,
      tasksRun: 0,
      retiring: false,
      lastError: "",
      timer: undefined,
      activeMillis: 0
    }
    this.slots.add(slot)
    this.starting++
    worker.on("message", (message: Array<any>) => this.onMessage(slot, message))
    // without an `error` listener an uncaught exception in the thread would crash this process
    worker.on("error", (error) => {
      slot.lastError = `${error.name}: ${error.message}`
    })
    worker.on("messageerror", (error) => {
      slot.lastError = `messageerror: ${error.message}`
    })
    worker.on("exit", (code) => this.onExit(slot, code))
    this.threadsChanged()
  }

  private onMessage(slot: Slot, message: Array<any>): void {
    if (message[0] === Wire.CONTROL) {
      if (message[1] === Wire.READY && slot.state === SlotState.Starting) {
        this.starting--
        slot.state = SlotState.Ready
        this.parkIfIdle(slot)
        this.pump()
        this.threadsChanged()
      } else if (message[1] === Wire.LOAD_FAILED) {
        slot.lastError = String(message[2])
      }
      return
    }
    if (slot.state !== SlotState.Ready) return // replies from a thread already given up
    // replies come in order, several per message: [id, kind, payload, heapBytes, runMillis, id, …]
    const settled: Array<Task | Effect.Effect<any, any>> = []
    for (let i = 0; i + 4 < message.length; i += 5) {
      const task = slot.inflight[0]
      if (task === undefined || task.id !== message[i]) break
      slot.inflight.shift()
      slot.tasksRun++
      this.completed++
      this.metrics.complete()
      // measured by the worker: with prefetch, a task may start there before this thread hears of it
      this.metrics.runTime(message[i + 4])
      settled.push(task, task.state === TaskState.Running ? this.decode(task, message[i + 1], message[i + 2]) : Effect.void)
      clearTimeout(task.timer)
      task.timer = undefined
      if (message[i + 3] > this.options.maxHeapUsedBytes) slot.retiring = true
      const next = slot.inflight[0]
      if (next !== undefined) this.begin(next)
    }
    if (settled.length === 0) return
    // the pool moves on before the callers resume: a resumed fiber may run synchronously and look at the pool
    if ((slot.retiring || slot.tasksRun >= this.options.maxTasksPerWorker) && slot.inflight.length === 0) {
      this.recycled++
      this.metrics.recycle()
      this.kill(slot, true)
      if (this.breaker === "halfOpen") this.breaker = "closed"
      this.pump()
    } else {
      if (!slot.retiring && this.queued > 0 && slot.inflight.length <= this.refillAt) {
        this.fill(slot, this.options.prefetch)
        this.admitBlocked()
      }
      if (slot.inflight.length === 0) this.parkIfIdle(slot)
      if (this.breaker === "halfOpen") this.closeBreaker()
    }
    for (let i = 0; i < settled.length; i += 2) this.settle(settled[i] as Task, settled[i + 1] as Effect.Effect<any, any>)
  }

  private decode(task: Task, kind: number, payload: unknown): Effect.Effect<any, any> {
    const codec = task.codec
    switch (kind) {
      case Wire.SUCCESS: {
        const decoded = codec.decodeSuccess(payload)
        return Exit.isSuccess(decoded)
          ? decoded
          : Effect.fail(new WorkerError.InvalidResponse({ pool: this.name, task: codec.tag, reason: reasonOf(decoded) }))
      }
      case Wire.FAILURE: {
        const decoded = codec.decodeError?.(payload)
        if (decoded === undefined) {
          return Effect.fail(
            new WorkerError.InvalidResponse({ pool: this.name, task: codec.tag, reason: "a typed error for a procedure without an error schema" })
          )
        }
        return Exit.isSuccess(decoded)
          ? Effect.fail(decoded.value)
          : Effect.fail(new WorkerError.InvalidResponse({ pool: this.name, task: codec.tag, reason: reasonOf(decoded) }))
      }
      case Wire.INVALID_REQUEST:
        return Effect.fail(new WorkerError.InvalidRequest({ pool: this.name, task: codec.tag, reason: String(payload) }))
      case Wire.INVALID_RESPONSE:
        return Effect.fail(new WorkerError.InvalidResponse({ pool: this.name, task: codec.tag, reason: String(payload) }))
      default:
        return Effect.fail(new WorkerError.TaskDefect({ pool: this.name, task: codec.tag, reason: String(payload) }))
    }
  }

  /** A worker has nothing in flight: arm its idle timer (or, draining or closed, act on it). */
  private parkIfIdle(slot: Slot): void {
    if (this.state === "closed") return this.kill(slot, false)
    if (this.state === "draining") return this.checkDrained()
    if (Number.isFinite(this.options.idleTimeoutMillis)) {
      clearTimeout(slot.timer)
      slot.timer = setTimeout(() => {
        slot.timer = undefined
        if (slot.state === SlotState.Ready && slot.inflight.length === 0 && this.slots.size > this.options.minSize) {
          this.kill(slot, false)
        }
      }, this.options.idleTimeoutMillis)
      slot.timer.unref()
    }
    this.metrics.utilization(this.busy() / Math.max(1, this.slots.size))
  }

  /**
   * Terminates a thread on purpose (deadline, grace expired, recycling, idle,
   * shutdown): not a crash. Its tasks that had not started go back to the head
   * of the queue when `requeue` (unless they transferred buffers, which the
   * thread took with it); otherwise they are settled with `ActorStopped`.
   */
  private kill(slot: Slot, requeue: boolean): void {
    if (slot.state === SlotState.Stopping) return
    if (slot.state === SlotState.Starting) this.starting--
    clearTimeout(slot.timer)
    // its running time so far, read while the thread is still there to ask
    slot.activeMillis = Math.max(slot.activeMillis, slot.worker.performance.eventLoopUtilization().active)
    slot.state = SlotState.Stopping
    this.slots.delete(slot)
    this.stopping.add(slot)
    const inflight = slot.inflight
    slot.inflight = []
    this.returnTasks(inflight, requeue && this.state !== "closed", (task) =>
      Effect.fail(
        requeue && task.transfer.length > 0
          ? new WorkerError.WorkerCrashed({
            pool: this.name,
            task: task.codec.tag,
            exitCode: 1,
            retried: false,
            reason: "its worker was terminated before the task started, with the transferred buffers"
          })
          : new ActorError.ActorStopped({ actor: this.name })
      ))
    void slot.worker.terminate()
    this.metrics.utilization(this.busy() / Math.max(1, this.slots.size))
  }

  /** Puts not-started tasks back at the head of the queue (in order), or settles them. */
  private returnTasks(tasks: Array<Task>, requeue: boolean, failure: (task: Task) => Effect.Effect<never, any>): void {
    for (let i = tasks.length - 1; i >= 0; i--) {
      const task = tasks[i]!
      clearTimeout(task.timer)
      task.timer = undefined
      if (requeue && task.state === TaskState.Running && task.transfer.length === 0) {
        task.state = TaskState.Queued
        task.slot = undefined
        this.queue.unshift(task)
        this.queued++
      } else {
        this.settle(task, failure(task))
      }
    }
  }

  private onExit(slot: Slot, exitCode: number): void {
    clearTimeout(slot.timer)
    this.exitedActiveMillis += slot.activeMillis
    if (this.stopping.delete(slot)) {
      this.threadsChanged()
      if (this.state !== "closed") this.pump()
      return
    }
    // an exit we did not ask for: a crash. Bookkeeping first, callers last (a resumed fiber may run at once).
    this.slots.delete(slot)
    if (slot.state === SlotState.Starting) this.starting--
    slot.state = SlotState.Stopping
    this.crashes++
    this.metrics.crash()
    const reason = slot.lastError === "" ? `exit code ${exitCode}` : slot.lastError
    this.lastCrash = reason
    const now = performance.now()
    this.crashTimes.push(now)
    this.crashTimes = this.crashTimes.filter((t) => now - t <= this.options.crashWindowMillis)
    const opens = this.state === "running" && (this.breaker === "halfOpen" || this.crashTimes.length >= this.options.maxCrashes)
    const inflight = slot.inflight
    slot.inflight = []
    const running = inflight.shift()
    this.log(`worker ${this.name}-${slot.id} crashed: ${reason}`)
    this.threadsChanged()
    // the tasks behind the running one never started: back to the queue, unless the breaker opens
    this.returnTasks(inflight, this.state === "running" && !opens, (task) =>
      Effect.fail(
        opens && task.transfer.length === 0
          ? this.unavailable()
          : new WorkerError.WorkerCrashed({ pool: this.name, task: task.codec.tag, exitCode, retried: false, reason: `waiting on a crashed worker: ${reason}` })
      ))
    let failed: Task | undefined
    if (running !== undefined) {
      if (running.state === TaskState.Running && running.retry && running.attempt === 0 && this.state === "running" && !opens) {
        clearTimeout(running.timer)
        running.attempt = 1
        running.state = TaskState.Queued
        running.slot = undefined
        this.queue.unshift(running)
        this.queued++
      } else {
        failed = running
      }
    }
    if (opens) this.openBreaker()
    else if (this.state === "draining") this.checkDrained()
    else if (this.state === "running") this.pump()
    if (failed !== undefined) {
      this.settle(
        failed,
        Effect.fail(new WorkerError.WorkerCrashed({ pool: this.name, task: failed.codec.tag, exitCode, retried: failed.attempt > 0, reason }))
      )
    }
  }

  // ---- crash-loop breaker ---------------------------------------------------------

  private unavailable(): WorkerError.PoolUnavailable {
    return new WorkerError.PoolUnavailable({
      pool: this.name,
      crashes: this.breaker === "open" ? this.openedAfter : this.crashTimes.length,
      withinMillis: this.options.crashWindowMillis,
      lastError: this.lastCrash
    })
  }

  private openBreaker(): void {
    this.breaker = "open"
    this.openedAfter = this.crashTimes.length
    const error = Effect.fail(this.unavailable())
    this.log(`${this.name}: ${this.crashTimes.length} crashes within ${this.options.crashWindowMillis} ms, failing tasks fast for ${this.options.breakerCooldownMillis} ms`)
    this.crashTimes = []
    for (let task = this.nextQueued(); task !== undefined; task = this.nextQueued()) this.settle(task, error)
    for (let task = this.blocked.shift(); task !== undefined; task = this.blocked.shift()) {
      if (task.state === TaskState.Blocked) this.settle(task, error)
    }
    this.waiting = 0
    clearTimeout(this.breakerTimer)
    this.breakerTimer = setTimeout(() => {
      this.breakerTimer = undefined
      if (this.state !== "running") return
      // half-open: one fresh worker; its first success closes the breaker, a crash reopens it
      this.breaker = "halfOpen"
      this.pump()
    }, this.options.breakerCooldownMillis)
  }

  private closeBreaker(): void {
    this.breaker = "closed"
    this.pump()
  }

  // ---- start and shutdown -------------------------------------------------------

  /** Spawns `minSize` threads and calls back once they are all ready, or with the first failure. */
  start(onDone: (error: WorkerError.WorkerSpawnFailed | undefined) => void, timeoutMillis: number): () => void {
    this.pump()
    let done = false
    const finish = (error: WorkerError.WorkerSpawnFailed | undefined) => {
      if (done) return
      done = true
      clearTimeout(timer)
      this.onThreadsChanged.delete(check)
      onDone(error)
    }
    const check = () => {
      if (done) return
      if (this.crashes > 0) finish(new WorkerError.WorkerSpawnFailed({ pool: this.name, reason: this.lastCrash }))
      else if (this.starting === 0) finish(undefined)
    }
    const timer = setTimeout(
      () => finish(new WorkerError.WorkerSpawnFailed({ pool: this.name, reason: `not ready within ${timeoutMillis} ms` })),
      timeoutMillis
    )
    this.onThreadsChanged.add(check)
    check()
    return () => finish(undefined)
  }

  /**
   * Closes the pool: refuses new tasks; with `drain`, lets queued and running
   * tasks finish (up to `drainTimeout`); then settles what is left with
   * `ActorStopped`, terminates every thread, and calls back when none is left.
   */
  shutdown(mode: "drain" | "interrupt", onDone: () => void): void {
    // refuse new tasks before any caller resumes (a resumed fiber may run at once and ask again)
    this.state = "draining"
    const blockedError = Effect.fail(new ActorError.ActorStopped({ actor: this.name }))
    for (let task = this.blocked.shift(); task !== undefined; task = this.blocked.shift()) {
      if (task.state === TaskState.Blocked) this.settle(task, blockedError)
    }
    this.waiting = 0
    clearTimeout(this.breakerTimer)
    const finish = () => {
      this.state = "closed"
      this.drained = undefined
      for (let task = this.nextQueued(); task !== undefined; task = this.nextQueued()) this.settle(task, blockedError)
      for (const slot of [...this.slots]) this.kill(slot, false)
      const check = () => {
        if (this.slots.size + this.stopping.size === 0) {
          clearTimeout(this.watchdog)
          for (const [key, list] of this.askTimeouts) this.dropAskList(key, list)
          this.onThreadsChanged.delete(check)
          onDone()
        }
      }
      this.onThreadsChanged.add(check)
      check()
    }
    if (mode === "interrupt" || (this.queued === 0 && this.busy() === 0)) return finish()
    const timer = setTimeout(finish, this.options.drainTimeoutMillis)
    this.drained = () => {
      clearTimeout(timer)
      finish()
    }
    this.checkDrained()
  }

  private drained: (() => void) | undefined

  private checkDrained(): void {
    if (this.state !== "draining" || this.drained === undefined) return
    if (this.queued === 0 && this.busy() === 0) {
      const drained = this.drained
      this.drained = undefined
      drained()
    } else if (this.slots.size < this.options.maxSize && this.queued > this.starting) {
      this.pump()
    }
  }

  // ---- helpers ---------------------------------------------------------

  private busy(): number {
    let busy = 0
    for (const slot of this.slots) if (slot.inflight.length > 0) busy++
    return busy
  }

  private idleCount(): number {
    let idle = 0
    for (const slot of this.slots) if (slot.state === SlotState.Ready && slot.inflight.length === 0) idle++
    return idle
  }

  private threadsChanged(): void {
    this.metrics.threads(this.slots.size + this.stopping.size)
    for (const listener of [...this.onThreadsChanged]) listener()
  }

  private log(message: string): void {
    Effect.runForkWith(this.context)(Effect.logWarning(message))
  }

  /** Logs the failure of a task nobody waits for (a `tell`), in the pool's context. */
  reportUnwatched(tag: string, outcome: Effect.Effect<unknown, unknown>): void {
    Effect.runForkWith(this.context)(
      Effect.catchCause(Effect.asVoid(outcome), (cause) => Effect.logWarning(`${tag} told to ${this.name} failed`, cause))
    )
  }

  stats(): Stats {
    let activeMillis = this.exitedActiveMillis
    for (const slots of [this.slots, this.stopping]) {
      for (const slot of slots) {
        slot.activeMillis = Math.max(slot.activeMillis, slot.worker.performance.eventLoopUtilization().active)
        activeMillis += slot.activeMillis
      }
    }
    return {
      activeMillis,
      threads: this.slots.size + this.stopping.size,
      starting: this.starting,
      idle: this.idleCount(),
      busy: this.busy(),
      queued: this.queued,
      blocked: this.waiting,
      breaker: this.breaker,
      crashes: this.crashes,
      recycled: this.recycled,
      timedOut: this.timedOut,
      completed: this.completed
    }
  }
}

const reasonOf = (exit: Exit.Exit<unknown, string>): string =>
  Exit.isFailure(exit) ? String(exit.cause.reasons.map((r) => (r._tag === "Fail" ? r.error : String(r))).join("; ")) : ""
