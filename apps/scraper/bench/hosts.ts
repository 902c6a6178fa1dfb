/**
 * Host actors (`Hosts`): what they cost.
 *
 *   npm run bench:hosts -w @trawl/scraper     (node --expose-gc)
 *
 * - overhead: CPU per page that the host actor adds to a start — the `Due`
 *   message, its pump, the fetcher's reservation, the hand-off and the
 *   `Finished` message — against the same reservations taken in a plain loop
 *   in the same run (no HTTP: the fetcher's gate is the real one, the fetch
 *   stage a sink that gives each reservation back).
 * - idle: heap bytes per host actor after GC, for 100,000 hosts that each
 *   handled one target and went idle, before passivation and after it; and
 *   the host actor alone: the same figure minus what the fetcher's own host
 *   gates cost for as many hosts (measured first, in the same run, by taking
 *   and giving back one reservation per host without actors).
 */
import { Fetcher, Reservation } from "@trawl/fetch"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { Hosts } from "../src/index.ts"

const emit = (line: Record<string, unknown>) => console.log(JSON.stringify({ bench: "hosts", ...line }))
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

const gc = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("run with --expose-gc")
  for (let i = 0; i < 3; i++) collect()
}
const heapUsed = () => {
  gc()
  return process.memoryUsage().heapUsed
}
const cpuMicros = () => {
  const usage = process.threadCpuUsage()
  return usage.user + usage.system
}

const PAGES = Number(process.env["BENCH_PAGES"] ?? 200_000)
const HOSTS = Number(process.env["BENCH_HOSTS"] ?? 2_000)
const IDLE_HOSTS = Number(process.env["BENCH_IDLE_HOSTS"] ?? 100_000)

const hostOf = (i: number) => `h${i % HOSTS}.bench.test`

const overhead = Effect.gen(function*() {
  const fetcher = yield* Fetcher.Fetcher
  // baseline: the same reservations in a plain loop
  const baselineStart = cpuMicros()
  for (let i = 0; i < PAGES; i++) {
    const reserved = yield* fetcher.reserve(hostOf(i))
    if (!Reservation.isReservation(reserved)) throw new Error(`refused: ${reserved._tag}`)
    yield* Reservation.release(reserved)
  }
  const baseline = (cpuMicros() - baselineStart) / PAGES

  let started = 0
  let done: () => void = () => {}
  const allStarted = new Promise<void>((resolve) => (done = resolve))
  const hosts: Hosts.Hosts<number> = yield* Hosts.make<number>({
    reserve: fetcher.reserve,
    start: (i, reservation) =>
      Effect.andThen(reservation === undefined ? Effect.void : Reservation.release(reservation), Effect.suspend(() => {
        if (++started === PAGES) done()
        return hosts.finished(hostOf(i))
      }))
  })
  const actorStart = cpuMicros()
  for (let i = 0; i < PAGES; i++) yield* hosts.due(hostOf(i), i)
  yield* Effect.promise(() => allStarted)
  const withActors = (cpuMicros() - actorStart) / PAGES
  emit({
    case: `host-actor overhead: CPU per page added by the host actor (${PAGES} pages, ${HOSTS} hosts)`,
    value: round(withActors - baseline),
    unit: "µs/page",
    baseline: round(baseline),
    withHostActors: round(withActors),
    target: "<= 20 µs/page"
  })
}).pipe(Effect.scoped)

const idle = Effect.gen(function*() {
  const fetcher = yield* Fetcher.Fetcher
  let started = 0
  let done: () => void = () => {}
  const allStarted = new Promise<void>((resolve) => (done = resolve))
  // baseline: the fetcher's gates for as many other hosts, without actors (the
  // gates stay for the fetcher's idle time, 120 s: past the end of this case)
  const gatesBefore = heapUsed()
  for (let i = 0; i < IDLE_HOSTS; i++) {
    const reserved = yield* fetcher.reserve(`gate-${i}.bench.test`)
    if (!Reservation.isReservation(reserved)) throw new Error(`refused: ${reserved._tag}`)
    yield* Reservation.release(reserved)
  }
  const before = heapUsed()
  const gateBytes = (before - gatesBefore) / IDLE_HOSTS
  const spawnStart = performance.now()
  const hosts: Hosts.Hosts<number> = yield* Hosts.make<number>({
    reserve: fetcher.reserve,
    start: (i, reservation) =>
      Effect.andThen(reservation === undefined ? Effect.void : Reservation.release(reservation), Effect.sync(() => {
        if (++started === IDLE_HOSTS) done()
        void i
      })),
    idleTimeout: "3 seconds"
  })
  for (let i = 0; i < IDLE_HOSTS; i++) yield* hosts.due(`idle-${i}.bench.test`, i)
  yield* Effect.promise(() => allStarted)
  const seconds = (performance.now() - spawnStart) / 1000
  const alive = yield* hosts.size
  // the fetcher's own gates for these hosts are measured apart: they are the fetcher's, not the actors'
  const idleBytes = (heapUsed() - before) / IDLE_HOSTS
  yield* Effect.sleep("5 seconds")
  const passivated = yield* hosts.size
  const afterBytes = (heapUsed() - before) / IDLE_HOSTS
  emit({
    case: `${IDLE_HOSTS} idle host actors (one target each): heap bytes per host after GC, before passivation (incl. the fetcher's gate)`,
    value: Math.round(idleBytes),
    unit: "bytes",
    alive,
    target: "<= 1024 bytes"
  })
  emit({
    case: `${IDLE_HOSTS} idle host actors: heap bytes per host actor alone, before passivation (minus the fetcher's gate, measured for as many hosts in the same run)`,
    value: Math.round(idleBytes - gateBytes),
    unit: "bytes",
    baseline: Math.round(gateBytes),
    withGate: Math.round(idleBytes),
    target: "<= 1024 bytes"
  })
  emit({
    case: `${IDLE_HOSTS} idle host actors: spawn and first target, seconds`,
    value: round(seconds, 3),
    unit: "s"
  })
  emit({
    case: `${IDLE_HOSTS} idle host actors: heap bytes per host after passivation (incl. the fetcher's gate)`,
    value: Math.round(afterBytes),
    unit: "bytes",
    alive: passivated
  })
}).pipe(Effect.scoped)

const layer = Fetcher.layer({ perHostConcurrency: 1_000_000, perHostMinDelayMillis: 0, throttle: { enabled: false }, robots: false })

await Effect.runPromise(Effect.andThen(overhead, idle).pipe(Effect.provide(Layer.merge(layer, Logger.layer([])))))
