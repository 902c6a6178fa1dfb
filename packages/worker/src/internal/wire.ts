/**
 * The message format between a pool and a runner thread. Arrays, not objects:
 * the structured clone of a short array is the cheapest message there is.
 *
 * Pool → runner: `[taskId, encodedRequest, taskId, encodedRequest, …]` (a batch), or `CLOSE`.
 * Runner → pool: `[taskId, kind, payload, heapUsedBytes, runMillis, taskId, …]` (a batch), or `[CONTROL, READY | LOAD_FAILED, reason]`.
 *
 * @internal
 */
export const CLOSE = -1
export const CONTROL = -1
export const READY = 0
export const LOAD_FAILED = 1

export const SUCCESS = 0
export const FAILURE = 1
export const DEFECT = 2
export const INVALID_REQUEST = 3
export const INVALID_RESPONSE = 4

export interface RunnerData {
  readonly handler: string
  readonly reportHeap: boolean
}
