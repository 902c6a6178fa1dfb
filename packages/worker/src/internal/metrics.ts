/**
 * Metrics of worker pools, one series per pool (attribute `pool`).
 *
 * @internal
 */
import * as Metric from "effect/Metric"

const boundaries = Metric.exponentialBoundaries({ start: 0.01, factor: 4, count: 12 })

export const make = (pool: string) => {
  const attributes = { pool }
  return {
    queueWait: Metric.withAttributes(
      Metric.histogram("trawl_worker_queue_wait_ms", { description: "Time tasks waited for a worker, in milliseconds", boundaries }),
      attributes
    ),
    runTime: Metric.withAttributes(
      Metric.histogram("trawl_worker_run_ms", { description: "Time a task ran in its worker, in milliseconds", boundaries }),
      attributes
    ),
    utilization: Metric.withAttributes(
      Metric.gauge("trawl_worker_utilization", { description: "Busy workers / live workers (0..1)" }),
      attributes
    ),
    threads: Metric.withAttributes(
      Metric.gauge("trawl_worker_threads", { description: "Live worker threads, including ones being terminated" }),
      attributes
    ),
    queueDepth: Metric.withAttributes(
      Metric.gauge("trawl_worker_queue_depth", { description: "Tasks waiting for a worker" }),
      attributes
    ),
    crashes: Metric.withAttributes(
      Metric.counter("trawl_worker_crashes", { description: "Worker threads that died unexpectedly", incremental: true }),
      attributes
    ),
    recycles: Metric.withAttributes(
      Metric.counter("trawl_worker_recycles", { description: "Workers replaced after N tasks or above the heap limit", incremental: true }),
      attributes
    ),
    timeouts: Metric.withAttributes(
      Metric.counter("trawl_worker_task_timeouts", { description: "Tasks past their deadline (thread terminated)", incremental: true }),
      attributes
    ),
    completed: Metric.withAttributes(
      Metric.counter("trawl_worker_tasks_completed", { description: "Tasks that got a reply from a worker", incremental: true }),
      attributes
    )
  }
}

export type PoolMetrics = ReturnType<typeof make>
