/**
 * Actor benchmark cases, each beside its raw-Effect baseline measured in the
 * same process. One JSON line per measurement.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import { Actor, Behavior, Keyed, Reply } from "@trawl/actor"

const emit = (line: Record<string, unknown>) => console.log(JSON.stringify(line))

const gc = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("run with --expose-gc")
  for (let i = 0; i < 3; i++) collect()
}

const heapUsed = (): number => {
  gc()
  return process.memoryUsage().heapUsed
}

const SPAWN_COUNT = 1_000_000
const TELL_COUNT = 5_000_000
const ASK_SEQUENTIAL = 200_000
const ASK_CONCURRENT_ASKERS = 1_000
const ASK_PER_ASKER = 200

// -----------------------------------------------------------------------------
// spawn 1,000,000 idle actors; baseline: 1,000,000 fibers parked on Queue.take
// -----------------------------------------------------------------------------
const spawnCase = Effect.gen(function*() {
  const idle = Behavior.stateless((_: number) => Effect.void)
  // baseline: the cheapest "actor" raw Effect gives: a bounded queue and a fiber waiting on it
  const baseline = yield* Effect.scoped(Effect.gen(function*() {
    const before = heapUsed()
    const start = performance.now()
    const fibers: Array<Fiber.Fiber<never, unknown>> = new Array(SPAWN_COUNT)
    const queues: Array<Queue.Queue<number>> = new Array(SPAWN_COUNT)
    for (let i = 0; i < SPAWN_COUNT; i++) {
      const queue = yield* Queue.bounded<number>(1024)
      queues[i] = queue
      fibers[i] = yield* Effect.forkScoped(Effect.forever(Queue.take(queue)))
    }
    yield* Effect.yieldNow
    const seconds = (performance.now() - start) / 1000
    const bytes = (heapUsed() - before) / SPAWN_COUNT
    return { seconds, bytes, alive: fibers.length + queues.length }
  }))
  const trawl = yield* Effect.scoped(Effect.gen(function*() {
    const before = heapUsed()
    const start = performance.now()
    const refs: Array<Actor.ActorRef<number>> = new Array(SPAWN_COUNT)
    for (let i = 0; i < SPAWN_COUNT; i++) {
      refs[i] = yield* Actor.spawn(idle)
    }
    const seconds = (performance.now() - start) / 1000
    const bytes = (heapUsed() - before) / SPAWN_COUNT
    // every actor is alive and answers: tell the last one
    yield* Actor.tell(refs[SPAWN_COUNT - 1]!, 1)
    return { seconds, bytes, alive: refs.length }
  }))
  emit({
    bench: "actor",
    case: "spawn 1M idle actors: seconds",
    value: round(trawl.seconds),
    unit: "s",
    baseline: round(baseline.seconds),
    ratio: round(baseline.seconds / trawl.seconds),
    target: "<= 3 s"
  })
  emit({
    bench: "actor",
    case: "spawn 1M idle actors: heap bytes per actor after GC",
    value: Math.round(trawl.bytes),
    unit: "bytes",
    baseline: Math.round(baseline.bytes),
    ratio: round(baseline.bytes / trawl.bytes),
    target: "<= 1024 bytes"
  })
})

// -----------------------------------------------------------------------------
// tell throughput: one producer -> one actor; baseline: Queue.bounded + takeAll consumer
// -----------------------------------------------------------------------------
const CAPACITY = 1024

interface Timing {
  readonly wall: number
  readonly cpu: number
}

/** Runs `body` and measures its wall-clock and CPU seconds (CPU time is what other processes on the machine cannot take away). */
const timed = <E, R>(body: Effect.Effect<void, E, R>): Effect.Effect<Timing, E, R> =>
  Effect.suspend(() => {
    const cpu = process.cpuUsage()
    const started = performance.now()
    return Effect.map(body, () => {
      const used = process.cpuUsage(cpu)
      return { wall: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 }
    })
  })

const tellCase = Effect.gen(function*() {
  const runBaseline = Effect.scoped(Effect.gen(function*() {
    const queue = yield* Queue.bounded<number>(CAPACITY)
    let sum = 0
    let received = 0
    const done = yield* Deferred.make<void>()
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.takeAll(queue), (batch) =>
      Effect.sync(() => {
        for (const n of batch) sum += n
        received += batch.length
        if (received === TELL_COUNT) Deferred.doneUnsafe(done, Effect.void)
      }))))
    const timing = yield* timed(Effect.gen(function*() {
      for (let i = 0; i < TELL_COUNT; i++) yield* Queue.offer(queue, 1)
      yield* Deferred.await(done)
    }))
    if (sum !== TELL_COUNT) throw new Error("baseline lost messages")
    return timing
  }))
  // the same consumer as the baseline's: a pure step folded over the messages
  const reducer = (done: Deferred.Deferred<void>) =>
    Behavior.reducer(0, (sum: number, n: number) => {
      const next = sum + n
      if (next === TELL_COUNT) Deferred.doneUnsafe(done, Effect.void)
      return next
    })
  // an effectful step: one completed Effect per message
  const effectful = (done: Deferred.Deferred<void>) =>
    Behavior.stateful(0, (sum: number, n: number) => {
      const next = sum + n
      if (next === TELL_COUNT) Deferred.doneUnsafe(done, Effect.void)
      return Effect.succeed(next)
    })
  const runActor = (behavior: (done: Deferred.Deferred<void>) => Behavior.Behavior<number, number>) => Effect.scoped(Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const ref = yield* Actor.spawn(behavior(done), { capacity: CAPACITY })
    return yield* timed(Effect.gen(function*() {
      for (let i = 0; i < TELL_COUNT; i++) yield* Actor.tell(ref, 1)
      yield* Deferred.await(done)
    }))
  }))
  // a really effectful step: Effect.sync is a primitive the fiber has to run,
  // not a completed Exit the actor can step past
  const syncStep = (done: Deferred.Deferred<void>) => (sum: number, n: number) =>
    Effect.sync(() => {
      const next = sum + n
      if (next === TELL_COUNT) Deferred.doneUnsafe(done, Effect.void)
      return next
    })
  const effectfulSync = (done: Deferred.Deferred<void>) => Behavior.stateful(0, syncStep(done))
  // its baseline: Queue.bounded and a consumer taking in batches and running the same effect per item
  const runSyncBaseline = Effect.scoped(Effect.gen(function*() {
    const queue = yield* Queue.bounded<number>(CAPACITY)
    const done = yield* Deferred.make<void>()
    const step = syncStep(done)
    let sum = 0
    // a generator loop: the fastest of the plain ways tried (Effect.forEach over the batch is ~12% slower)
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.takeAll(queue), (batch) =>
      Effect.gen(function*() {
        for (const n of batch) sum = yield* step(sum, n)
      }))))
    const timing = yield* timed(Effect.gen(function*() {
      for (let i = 0; i < TELL_COUNT; i++) yield* Queue.offer(queue, 1)
      yield* Deferred.await(done)
    }))
    // `done` fires when the running sum reaches TELL_COUNT: every message was summed
    return timing
  }))
  const runTrawl = runActor(reducer)
  const runEffectful = runActor(effectful)
  const runEffectfulSync = runActor(effectfulSync)
  // warm every path, then measure alternately and keep the best of five each
  yield* runBaseline
  yield* runTrawl
  yield* runEffectful
  yield* runSyncBaseline
  yield* runEffectfulSync
  const baseline: Array<Timing> = []
  const trawl: Array<Timing> = []
  const effectfulTimings: Array<Timing> = []
  const syncBaseline: Array<Timing> = []
  const syncTimings: Array<Timing> = []
  for (let i = 0; i < 5; i++) {
    baseline.push(yield* runBaseline)
    trawl.push(yield* runTrawl)
    effectfulTimings.push(yield* runEffectful)
    syncBaseline.push(yield* runSyncBaseline)
    syncTimings.push(yield* runEffectfulSync)
  }
  const best = (xs: Array<Timing>, key: keyof Timing) => TELL_COUNT / Math.min(...xs.map((x) => x[key]))
  emit({
    bench: "actor",
    case: "tell 5M messages, 1 producer -> 1 actor, Behavior.reducer (per CPU second)",
    value: Math.round(best(trawl, "cpu")),
    unit: "msg/s",
    baseline: Math.round(best(baseline, "cpu")),
    ratio: round(best(trawl, "cpu") / best(baseline, "cpu")),
    target: "ratio >= 0.9"
  })
  emit({
    bench: "actor",
    case: "tell 5M messages, 1 producer -> 1 actor, Behavior.reducer (wall clock)",
    value: Math.round(best(trawl, "wall")),
    unit: "msg/s",
    baseline: Math.round(best(baseline, "wall")),
    ratio: round(best(trawl, "wall") / best(baseline, "wall")),
    target: "ratio >= 0.9"
  })
  emit({
    bench: "actor",
    case: "tell 5M messages, 1 producer -> 1 actor, effectful behaviour returning Effect.succeed (per CPU second)",
    value: Math.round(best(effectfulTimings, "cpu")),
    unit: "msg/s",
    baseline: Math.round(best(baseline, "cpu")),
    ratio: round(best(effectfulTimings, "cpu") / best(baseline, "cpu"))
  })
  emit({
    bench: "actor",
    case: "tell 5M messages, 1 producer -> 1 actor, effectful behaviour returning Effect.sync, vs Queue.takeAll consumer running the same effect (per CPU second)",
    value: Math.round(best(syncTimings, "cpu")),
    unit: "msg/s",
    baseline: Math.round(best(syncBaseline, "cpu")),
    ratio: round(best(syncTimings, "cpu") / best(syncBaseline, "cpu")),
    target: "ratio >= 0.9"
  })
  emit({
    bench: "actor",
    case: "tell 5M messages, 1 producer -> 1 actor, effectful behaviour returning Effect.sync, vs Queue.takeAll consumer running the same effect (wall clock)",
    value: Math.round(best(syncTimings, "wall")),
    unit: "msg/s",
    baseline: Math.round(best(syncBaseline, "wall")),
    ratio: round(best(syncTimings, "wall") / best(syncBaseline, "wall"))
  })
})

// -----------------------------------------------------------------------------
// ask round trips; baseline: Queue of (value, Deferred) + consumer fiber
// -----------------------------------------------------------------------------
interface Ping {
  readonly n: number
  readonly reply: Reply.Reply<number>
}

const askCase = Effect.gen(function*() {
  const baselineRoundTrips = (askers: number, perAsker: number) =>
    Effect.scoped(Effect.gen(function*() {
      const queue = yield* Queue.bounded<{ readonly n: number; readonly deferred: Deferred.Deferred<number> }>(CAPACITY)
      yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.takeAll(queue), (batch) =>
        Effect.sync(() => {
          for (const request of batch) Deferred.doneUnsafe(request.deferred, Effect.succeed(request.n + 1))
        }))))
      const start = performance.now()
      yield* Effect.forEach(Array.from({ length: askers }), () =>
        Effect.gen(function*() {
          for (let i = 0; i < perAsker; i++) {
            const deferred = Deferred.makeUnsafe<number>()
            yield* Queue.offer(queue, { n: i, deferred })
            yield* Effect.timeout(Deferred.await(deferred), "5 seconds")
          }
        }), { concurrency: "unbounded", discard: true })
      return (askers * perAsker) / ((performance.now() - start) / 1000)
    }))
  const trawlRoundTrips = (askers: number, perAsker: number) =>
    Effect.scoped(Effect.gen(function*() {
      const ref = yield* Actor.spawn(Behavior.stateless((msg: Ping) => Effect.asVoid(Reply.succeed(msg.reply, msg.n + 1))), { capacity: CAPACITY })
      const start = performance.now()
      yield* Effect.forEach(Array.from({ length: askers }), () =>
        Effect.gen(function*() {
          for (let i = 0; i < perAsker; i++) {
            const answer = yield* Actor.ask(ref, (reply: Reply.Reply<number>) => ({ n: i, reply }), { timeout: "5 seconds" })
            if (answer !== i + 1) throw new Error("wrong reply")
          }
        }), { concurrency: "unbounded", discard: true })
      return (askers * perAsker) / ((performance.now() - start) / 1000)
    }))
  for (const [label, askers, perAsker] of [
    ["sequential", 1, ASK_SEQUENTIAL],
    ["1,000 concurrent askers", ASK_CONCURRENT_ASKERS, ASK_PER_ASKER]
  ] as const) {
    yield* baselineRoundTrips(askers, Math.min(perAsker, 1000))
    yield* trawlRoundTrips(askers, Math.min(perAsker, 1000))
    const baseline = Math.max(yield* baselineRoundTrips(askers, perAsker), yield* baselineRoundTrips(askers, perAsker))
    const trawl = Math.max(yield* trawlRoundTrips(askers, perAsker), yield* trawlRoundTrips(askers, perAsker))
    emit({
      bench: "actor",
      case: `ask round trips, ${label}`,
      value: Math.round(trawl),
      unit: "round trips/s",
      baseline: Math.round(baseline),
      ratio: round(trawl / baseline),
      target: ">= 200000 round trips/s"
    })
  }
})

// -----------------------------------------------------------------------------
// 100,000 idle keyed entities, each having processed one message; baselines: a
// Map of plain objects with a bounded Queue each (one message offered and
// taken), and 100,000 plain Actor.spawn actors told one message each
// -----------------------------------------------------------------------------
const KEYED_COUNT = 100_000

const keyedCase = Effect.gen(function*() {
  const key = (i: number) => `host-${i}.example`
  // warm the code paths on a small run of each
  const baseline = (count: number) =>
    Effect.scoped(Effect.gen(function*() {
      const keys = Array.from({ length: count }, (_, i) => key(i))
      const before = heapUsed()
      const start = performance.now()
      const map = new Map<string, { state: number; queue: Queue.Queue<number> }>()
      for (const k of keys) {
        const entry = { state: 0, queue: yield* Queue.bounded<number>(CAPACITY) }
        map.set(k, entry)
        yield* Queue.offer(entry.queue, 1)
        entry.state += yield* Queue.take(entry.queue)
      }
      const seconds = (performance.now() - start) / 1000
      const bytes = (heapUsed() - before) / count
      if (map.size !== count) throw new Error("baseline lost entries")
      return { seconds, bytes }
    }))
  const spawned = (count: number) =>
    Effect.scoped(Effect.gen(function*() {
      let processed = 0
      const done = yield* Deferred.make<void>()
      const behavior = Behavior.reducer(0, (n: number, m: number) => {
        if (++processed === count) Deferred.doneUnsafe(done, Effect.void)
        return n + m
      })
      const keys = Array.from({ length: count }, (_, i) => key(i))
      const before = heapUsed()
      const start = performance.now()
      const map = new Map<string, Actor.ActorRef<number>>()
      for (const k of keys) {
        const ref = yield* Actor.spawn(behavior)
        map.set(k, ref)
        yield* Actor.tell(ref, 1)
      }
      yield* Deferred.await(done)
      const seconds = (performance.now() - start) / 1000
      const bytes = (heapUsed() - before) / count
      return { seconds, bytes }
    }))
  const keyed = (count: number) =>
    Effect.scoped(Effect.gen(function*() {
      let processed = 0
      const done = yield* Deferred.make<void>()
      const behavior = Behavior.reducer(0, (n: number, m: number) => {
        if (++processed === count) Deferred.doneUnsafe(done, Effect.void)
        return n + m
      })
      const keys = Array.from({ length: count }, (_, i) => key(i))
      const before = heapUsed()
      const start = performance.now()
      const registry = yield* Keyed.make({ name: "hosts", behavior: (_: string) => behavior, idleTimeout: "1 hour" })
      for (const k of keys) yield* Keyed.tell(registry, k, 1)
      yield* Deferred.await(done)
      const seconds = (performance.now() - start) / 1000
      const bytes = (heapUsed() - before) / count
      if ((yield* Keyed.size(registry)) !== count) throw new Error("keyed lost entities")
      return { seconds, bytes }
    }))
  yield* baseline(10_000)
  yield* spawned(10_000)
  yield* keyed(10_000)
  const b = yield* baseline(KEYED_COUNT)
  const a = yield* spawned(KEYED_COUNT)
  const k = yield* keyed(KEYED_COUNT)
  emit({
    bench: "actor",
    case: "100k keyed entities (one message each): heap bytes per entity after GC, vs Map + Queue.bounded",
    value: Math.round(k.bytes),
    unit: "bytes",
    baseline: Math.round(b.bytes),
    ratio: round(b.bytes / k.bytes),
    target: "<= 1024 bytes"
  })
  emit({
    bench: "actor",
    case: "100k keyed entities (one message each): heap bytes per entity after GC, vs Actor.spawn in a Map",
    value: Math.round(k.bytes),
    unit: "bytes",
    baseline: Math.round(a.bytes),
    ratio: round(a.bytes / k.bytes)
  })
  emit({
    bench: "actor",
    case: "100k keyed entities (one message each): seconds to create and process, vs Map + Queue.bounded",
    value: round(k.seconds),
    unit: "s",
    baseline: round(b.seconds),
    ratio: round(b.seconds / k.seconds)
  })
  emit({
    bench: "actor",
    case: "100k keyed entities (one message each): seconds to create and process, vs Actor.spawn in a Map",
    value: round(k.seconds),
    unit: "s",
    baseline: round(a.seconds),
    ratio: round(a.seconds / k.seconds)
  })
})

const round = (n: number) => Math.round(n * 1000) / 1000

const cases: Record<string, Effect.Effect<void>> = {
  spawn: Effect.orDie(spawnCase),
  tell: Effect.orDie(tellCase),
  ask: Effect.orDie(askCase),
  keyed: Effect.orDie(keyedCase)
}
const name = process.argv[2] ?? ""
const selected = cases[name]
if (selected === undefined) {
  console.error(`unknown case ${name}; one of ${Object.keys(cases).join(", ")}`)
  process.exit(2)
}
await Effect.runPromise(selected)
