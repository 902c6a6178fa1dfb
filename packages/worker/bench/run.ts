/**
 * @trawl/worker benchmarks, each against baselines measured in the same run
 * with the same thread count (2): piscina 5.3.2 and tinypool 2.2.0, and, for
 * the CPU-bound case, the same work on one thread in-process.
 *
 *   npm run bench -w @trawl/worker            (all cases)
 *   npm run bench -w @trawl/worker -- tiny    (one case: tiny | cpu | latency)
 *
 * Every case runs ROUNDS rounds, each measuring the baseline and then every
 * contender back to back, and reports medians (the ratio is the median of the
 * per-round ratios): the machine has 2 cores shared with other work, so single
 * runs are noisy. One JSON line per figure on stdout.
 */
import * as Effect from "effect/Effect"
import { loadavg } from "node:os"
import { Piscina } from "piscina"
import Tinypool from "tinypool"
import { WorkerPool } from "@trawl/worker"
import { burn } from "./fixtures/burn.ts"
import { Burn, Inc, Protocol } from "./fixtures/protocol.ts"

const THREADS = 2
const ROUNDS = 5
const TINY_TASKS = 50_000
const CPU_TASKS = 2_000
const LATENCY_SAMPLES = 2_000

const handler = new URL("./fixtures/handler.ts", import.meta.url)
const poolTask = new URL("./fixtures/piscina-task.ts", import.meta.url).href
const note = "median of 5 rounds (ratio: median of per-round ratios); 2 cores shared with other processes, figures are noisy"

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

/**
 * Calibrates the burn so one task takes about 2 ms on an unloaded core: the
 * fastest of several measurements (others' load only ever slows one down).
 */
const calibrate = (): number => {
  let best = 0
  for (let attempt = 0; attempt < 7; attempt++) {
    let iterations = 100_000
    for (;;) {
      const started = performance.now()
      burn(iterations)
      const elapsed = performance.now() - started
      if (elapsed > 20) {
        best = Math.max(best, Math.round(iterations * (2 / elapsed)))
        break
      }
      iterations *= 2
    }
  }
  return best
}

const throughput = async (contender: Contender, count: number, kind: "inc" | "burn"): Promise<number> => {
  await contender.runAll(Math.min(1000, count), () => kind) // warm-up
  const started = performance.now()
  await contender.runAll(count, () => kind)
  return count / ((performance.now() - started) / 1000)
}

/**
 * Rounds of back-to-back runs, one per contender, with the pools kept alive:
 * the ratio of each round is taken between runs seconds apart (the load from
 * other processes drifts less within a round than across the whole case), and
 * the reported ratio is the median of the per-round ratios.
 */
const rounds = async (
  contenders: ReadonlyArray<Contender>,
  measure: (contender: Contender) => Promise<number>,
  baseline: () => Promise<number>
): Promise<{ readonly baseline: number; readonly values: Map<string, { values: Array<number>; ratios: Array<number> }> }> => {
  const baselines: Array<number> = []
  const values = new Map<string, { values: Array<number>; ratios: Array<number> }>()
  for (let r = 0; r < ROUNDS; r++) {
    const base = await baseline()
    baselines.push(base)
    for (const contender of contenders) {
      const value = await measure(contender)
      const entry = values.get(contender.name) ?? { values: [], ratios: [] }
      entry.values.push(value)
      entry.ratios.push(value / base)
      values.set(contender.name, entry)
    }
  }
  for (const contender of contenders) await contender.close()
  return { baseline: median(baselines), values }
}

const tiny = async (): Promise<void> => {
  const reference = await piscina("piscina", 1)
  const contenders = [
    await trawl("trawl", undefined),
    await trawl("trawl-prefetch-8", 8),
    await trawl("trawl-prefetch-1", 1),
    await tinypool("tinypool")
  ]
  const { baseline, values } = await rounds(
    contenders,
    (contender) => throughput(contender, TINY_TASKS, "inc"),
    () => throughput(reference, TINY_TASKS, "inc")
  )
  await reference.close()
  for (const [name, entry] of values) {
    emit({
      bench: "worker",
      case: `tiny task x+1, ${TINY_TASKS} tasks, ${THREADS} threads: ${name} vs piscina`,
      value: round(median(entry.values)),
      unit: "tasks/s",
      baseline: round(baseline),
      baselineName: "piscina 5.3.2 (default concurrentTasksPerWorker 1)",
      ratio: round(median(entry.ratios)),
      target: name.startsWith("trawl") ? "ratio >= 0.9" : undefined,
      prefetch: name === "trawl" ? 4 : name.startsWith("trawl-prefetch-") ? Number(name.slice(15)) : undefined,
      note
    })
  }
}

const cpu = async (): Promise<void> => {
  burnIterations = calibrate()
  const contenders = [await trawl("trawl", undefined), await trawl("trawl-prefetch-1", 1), await piscina("piscina", 1)]
  const { baseline, values } = await rounds(
    contenders,
    (contender) => throughput(contender, CPU_TASKS, "burn"),
    async () => {
      const started = performance.now()
      for (let i = 0; i < CPU_TASKS; i++) burn(burnIterations)
      return CPU_TASKS / ((performance.now() - started) / 1000)
    }
  )
  for (const [name, entry] of values) {
    emit({
      bench: "worker",
      case: `~2 ms CPU task, ${CPU_TASKS} tasks: ${name} on ${THREADS} threads vs 1 thread in-process`,
      value: round(median(entry.values)),
      unit: "tasks/s",
      baseline: round(baseline),
      baselineName: "same work, one thread, in-process",
      ratio: round(median(entry.ratios)),
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
        note: note.replace("(ratio: median of per-round ratios)", "(ratio of the medians)")
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
