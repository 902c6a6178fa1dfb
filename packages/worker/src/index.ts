/**
 * @trawl/worker — worker-backed CPU actors: a typed `effect/Schema` protocol,
 * a pool of `worker_threads` with a bounded queue, crash recovery, deadlines,
 * recycling and metrics, asked like a local actor.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as WorkerError from "./WorkerError.ts"

/**
 * @since 0.1.0
 */
export * as WorkerHandler from "./WorkerHandler.ts"

/**
 * @since 0.1.0
 */
export * as WorkerPool from "./WorkerPool.ts"

/**
 * @since 0.1.0
 */
export * as WorkerProtocol from "./WorkerProtocol.ts"
