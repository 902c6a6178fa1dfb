/**
 * Test seams, not part of the package's API (nothing in `index.ts` exports
 * them): the tests reach the worker thread of a `SqliteWorkerClient` here to
 * terminate it under a transaction.
 */
import type { Worker } from "node:worker_threads"

/** The worker thread a `SqliteWorkerClient` runs on now (none before it starts one, or once it is closed). */
export const workerOf = new WeakMap<object, () => Worker | undefined>()
