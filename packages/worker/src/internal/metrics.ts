/**
 * Metrics of worker pools, one series per pool (attribute `pool`).
 *
 * The attribute is put in the metric context once, at pool creation: updating
 * through `Metric.withAttributes` would build a new Context on every update,
 * several times per task.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Metric from "effect/Metric"

const boundaries = Metric.exponentialBoundaries({ start: 0.01, factor: 4, count: 12 })

const queueWait = Metric.histogram("trawl_worker_queue_wait_ms", { description: "Time tasks waited for a worker, in milliseconds", boundaries })
const runTime = Metric.histogram("trawl_worker_run_ms", { description: "Time a task ran in its worker, in milliseconds", boundaries })
const utilization = Metric.gauge("trawl_worker_utilization", { description: "Busy workers / live workers (0..1)" })
const threads = Metric.gauge("trawl_worker_threads", { description: "Live worker threads, including ones being terminated" })
const queueDepth = Metric.gauge("trawl_worker_queue_depth", { description: "Tasks waiting for a worker" })
const crashes = Metric.counter("trawl_worker_crashes", { description: "Worker threads that died unexpectedly", incremental: true })
const recycles = Metric.counter("trawl_worker_recycles", { description: "Workers replaced after N tasks or above the heap limit", incremental: true })
const timeouts = Metric.counter("trawl_worker_task_timeouts", { description: "Tasks past their deadline (thread terminated)", incremental: true })
const completed = Metric.counter("trawl_worker_tasks_completed", { description: "Tasks that got a reply from a worker", incremental: true })

export interface PoolMetrics {
  readonly queueWait: (millis: number) => void
  readonly runTime: (millis: number) => void
  readonly utilization: (fraction: number) => void
  readonly threads: (count: number) => void
  readonly queueDepth: (count: number) => void
  readonly crash: () => void
  readonly recycle: () => void
  readonly timeout: () => void
  readonly complete: () => void
}

export const make = (pool: string, context: Context.Context<never>): PoolMetrics => {
  const attributes = { ...Context.get(context, Metric.CurrentMetricAttributes), pool }
  const tagged = Context.add(context, Metric.CurrentMetricAttributes, attributes)
  return {
    queueWait: (millis) => queueWait.updateUnsafe(millis, tagged),
    runTime: (millis) => runTime.updateUnsafe(millis, tagged),
    utilization: (fraction) => utilization.updateUnsafe(fraction, tagged),
    threads: (count) => threads.updateUnsafe(count, tagged),
    queueDepth: (count) => queueDepth.updateUnsafe(count, tagged),
    crash: () => crashes.updateUnsafe(1, tagged),
    recycle: () => recycles.updateUnsafe(1, tagged),
    timeout: () => timeouts.updateUnsafe(1, tagged),
    complete: () => completed.updateUnsafe(1, tagged)
  }
}
