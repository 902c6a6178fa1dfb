/**
 * @trawl/worker benchmarks, each against baselines measured in the same run
 * with the same thread count (2): piscina 5.3.2 and tinypool 2.2.0, and, for
 * the CPU-bound case, the same work on one thread in-process.
 *
 *   npm run bench -w @trawl/worker            (all cases)
 *   npm run bench -w @trawl/worker -- tiny    (one case: tiny | cpu | latency)
 *
 * Every case runs ROUNDS rounds, alternating the contenders, and reports the
 * median round: the machine has 2 cores shared with other work, so single
 * rounds are noisy. One JSON line per figure on stdout.
 */
import * as Effect from "effect/Effect"
import { loadavg } from "node:os"
import { Piscina } from "piscina"
import Tinypool from "tinypool"
import { WorkerPool } from "@trawl/worker"
import { burn } from "./fixtures/burn.ts"
import { Burn, Inc, Protocol } from "./fixtures/protocol.ts"

const THREADS = 2
const ROUNDS = 3
const TINY_TASKS = 50_000
const CPU_TASKS = 2_000
const LATENCY_SAMPLES = 2_000

const handler = new URL("./fixtures/handler.ts", import.meta.url)
const poolTask = new URL("./fixtures/piscina-task.ts", import.meta.url).href
const note = "median of 3 rounds; 2 cores shared with other processes, figures are noisy"

const emit = (line: Record<string, unknown>): void => {
  // the 1-minute load average shows how much of the 2 cores others were using meanwhile
  process.stdout.write(`${JSON.stringify({ ...line, loadavg1m: round(loadavg()[0]!, 2) })}\n`)
}
const round = (n: number, digits = 3): number => Number(n.toPrecision(digits + 2))
const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}
const quantile = (sorted: ReadonlyArray<number>, q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

interface Contender {
  readonly name: string
  /** Runs `count` requests made by `make`, all submitted at once; resolves when all replied. */
  readonly runAll: (count: number, make: (i: number) => "inc" | "burn") => Promise<void>
  /** One request at a time; returns each round-trip latency in ms. */
  readonly sequential: (count: number) => Promise<Array<number>>
  readonly close: () => Promise<void>
}

let burnIterations = 0

const trawl = async (name: string, prefetch: number | undefined): Promise<Contender> => {
  // the pool lives in a scope held open until `close`
  let release: (() => void) | undefined
  let closed: Promise<void> = Promise.resolve()
  const ready = new Promise<WorkerPool.WorkerPool<typeof Protocol>>((resolve, reject) => {
    closed = Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const pool = yield* WorkerPool.make(Protocol, {
        handler,
        name,
        minSize: THREADS,
        maxSize: THREADS,
        ...(prefetch === undefined ? {} : { prefetch }),
        queueCapacity: TINY_TASKS
      })
      resolve(pool)
      yield* Effect.callback<void>((resume) => {
        release = () => resume(Effect.void)
      })
    })))
    closed.catch(reject)
  })
  const pool = await ready
  const request = (kind: "inc" | "burn", i: number) =>
    kind === "inc"
      ? WorkerPool.ask(pool, new Inc({ n: i }), { timeout: "5 minutes" })
      : WorkerPool.ask(pool, new Burn({ iterations: burnIterations }), { timeout: "5 minutes" })
  return {
    name,
    runAll: (count, make) =>
      Effect.runPromise(Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) => request(make(i), i), {
        concurrency: "unbounded",
        discard: true
      })),
    sequential: (count) =>
      Effect.runPromise(Effect.gen(function*() {
        const samples: Array<number> = []
        for (let i = 0; i < count; i++) {
          const started = performance.now()
          yield* request("inc", i)
          samples.push(performance.now() - started)
        }
        return samples
      })),
    close: async () => {
      release?.()
      await closed
    }
  }
}

const piscina = async (name: string, concurrentTasksPerWorker: number): Promise<Contender> => {
  const pool = new Piscina({ filename: poolTask, minThreads: THREADS, maxThreads: THREADS, concurrentTasksPerWorker })
  await Promise.all(Array.from({ length: THREADS }, (_, i) => pool.run({ kind: "inc", n: i })))
  return {
    name,
    runAll: async (count, make) => {
      await Promise.all(Array.from({ length: count }, (_, i) =>
        pool.run(make(i) === "inc" ? { kind: "inc", n: i } : { kind: "burn", iterations: burnIterations })))
    },
    sequential: async (count) => {
      const samples: Array<number> = []
      for (let i = 0; i < count; i++) {
        const started = performance.now()
        await pool.run({ kind: "inc", n: i })
        samples.push(performance.now() - started)
      }
      return samples
    },
    close: () => pool.destroy()
  }
}

const tinypool = async (name: string): Promise<Contender> => {
  const pool = new Tinypool({ filename: poolTask, minThreads: THREADS, maxThreads: THREADS })
  await Promise.all(Array.from({ length: THREADS }, (_, i) => pool.run({ kind: "inc", n: i })))
  return {
    name,
    runAll: async (count, make) => {
      await Promise.all(Array.from({ length: count }, (_, i) =>
        pool.run(make(i) === "inc" ? { kind: "inc", n: i } : { kind: "burn", iterations: burnIterations })))
    },
    sequential: async (count) => {
      const samples: Array<number> = []
      for (let i = 0; i < count; i++) {
        const started = performance.now()
        await pool.run({ kind: "inc", n: i })
        samples.push(performance.now() - started)
      }
      return samples
    },
    close: () => pool.destroy()
  }
}

/** Calibrates the burn so one task takes about 2 ms on this thread. */
const calibrate = (): number => {
  let iterations = 100_000
  for (;;) {
    const started = performance.now()
    burn(iterations)
    const elapsed = performance.now() - started
    if (elapsed > 20) return Math.round(iterations * (2 / elapsed))
    iterations *= 2
  }
}

const throughput = async (contender: Contender, count: number, kind: "inc" | "burn"): Promise<number> => {
  await contender.runAll(Math.min(1000, count), () => kind) // warm-up
  const started = performance.now()
  await contender.runAll(count, () => kind)
  return count / ((performance.now() - started) / 1000)
}

const tiny = async (): Promise<void> => {
  const results = new Map<string, Array<number>>()
  for (let r = 0; r < ROUNDS; r++) {
    for (const make of [
      () => trawl("trawl", undefined),
      () => trawl("trawl-prefetch-8", 8),
      () => trawl("trawl-prefetch-1", 1),
      () => piscina("piscina", 1),
      () => tinypool("tinypool")
    ]) {
      const contender = await make()
      const value = await throughput(contender, TINY_TASKS, "inc")
      await contender.close()
      results.set(contender.name, [...(results.get(contender.name) ?? []), value])
    }
  }
  const baseline = median(results.get("piscina")!)
  for (const [name, values] of results) {
    if (name === "piscina") continue
    emit({
      bench: "worker",
      case: `tiny task x+1, ${TINY_TASKS} tasks, ${THREADS} threads: ${name} vs piscina`,
      value: round(median(values)),
      unit: "tasks/s",
      baseline: round(baseline),
      baselineName: "piscina 5.3.2 (default concurrentTasksPerWorker 1)",
      ratio: round(median(values) / baseline),
      target: name.startsWith("trawl") ? "ratio >= 0.9" : undefined,
      prefetch: name === "trawl" ? 4 : name.startsWith("trawl-prefetch-") ? Number(name.slice(15)) : undefined,
      note
    })
  }
}

const cpu = async (): Promise<void> => {
  burnIterations = calibrate()
  const inProcess: Array<number> = []
  const pooled = new Map<string, Array<number>>()
  for (let r = 0; r < ROUNDS; r++) {
    const started = performance.now()
    for (let i = 0; i < CPU_TASKS; i++) burn(burnIterations)
    inProcess.push(CPU_TASKS / ((performance.now() - started) / 1000))
    for (const make of [() => trawl("trawl", undefined), () => trawl("trawl-prefetch-1", 1), () => piscina("piscina", 1)]) {
      const contender = await make()
      const value = await throughput(contender, CPU_TASKS, "burn")
      await contender.close()
      pooled.set(contender.name, [...(pooled.get(contender.name) ?? []), value])
    }
  }
  const baseline = median(inProcess)
  for (const [name, values] of pooled) {
    emit({
      bench: "worker",
      case: `~2 ms CPU task, ${CPU_TASKS} tasks: ${name} on ${THREADS} threads vs 1 thread in-process`,
      value: round(median(values)),
      unit: "tasks/s",
      baseline: round(baseline),
      baselineName: "same work, one thread, in-process",
      ratio: round(median(values) / baseline),
      target: name.startsWith("trawl") ? "ratio >= 1.8" : undefined,
      burnIterations,
      note
    })
  }
}

const latency = async (): Promise<void> => {
  const samples = new Map<string, { p50: Array<number>; p99: Array<number> }>()
  for (let r = 0; r < ROUNDS; r++) {
    for (const make of [() => trawl("trawl", undefined), () => piscina("piscina", 1), () => tinypool("tinypool")]) {
      const contender = await make()
      await contender.sequential(200) // warm-up
      const sorted = (await contender.sequential(LATENCY_SAMPLES)).sort((a, b) => a - b)
      await contender.close()
      const entry = samples.get(contender.name) ?? { p50: [], p99: [] }
      entry.p50.push(quantile(sorted, 0.5))
      entry.p99.push(quantile(sorted, 0.99))
      samples.set(contender.name, entry)
    }
  }
  const base = samples.get("piscina")!
  for (const [name, entry] of samples) {
    if (name === "piscina") continue
    for (const q of ["p50", "p99"] as const) {
      const value = median(entry[q])
      const baseline = median(base[q])
      emit({
        bench: "worker",
        case: `round-trip latency, tiny task, one at a time: ${name} ${q}`,
        value: round(value * 1000),
        unit: "µs",
        baseline: round(baseline * 1000),
        baselineName: "piscina 5.3.2",
        ratio: round(value / baseline),
        note
      })
    }
  }
}

const cases: Record<string, () => Promise<void>> = { tiny, cpu, latency }
const only = process.argv.slice(2)
for (const [name, run] of Object.entries(cases)) {
  if (only.length > 0 && !only.includes(name)) continue
  await run()
}
