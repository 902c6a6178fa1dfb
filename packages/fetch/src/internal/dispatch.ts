/**
 * One HTTP exchange straight on an undici `Dispatcher`, with our own dispatch
 * handler: no stream object, promise or abort signal per request, bodies
 * copied once into a buffer of the declared size, headers and total timeouts
 * as two plain timers, and the body budget applied as the chunks arrive
 * (undici's `controller.pause` / `resume`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { Dispatcher } from "undici"
import * as FetchError from "../FetchError.ts"
import { mapTransport } from "./body.ts"
import type { BodyBudget } from "./budget.ts"

/** What to do with a response body, decided from the head. */
export type Plan =
  /** Read and throw away at most `drainLimit` bytes, so the connection can be reused. */
  | { readonly _tag: "Discard" }
  /** Keep up to `limit` bytes; past it stop (`overflow`), keeping the first `limit` bytes if `truncate`. */
  | { readonly _tag: "Keep"; readonly limit: number; readonly truncate: boolean }
  /** Do not read the body at all: the exchange ends with the head (connection closed). */
  | { readonly _tag: "Stop" }

/** A response as far as it was read. */
export interface Response {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly plan: Plan
  /** The kept body (empty unless the plan was `Keep`). */
  readonly body: Uint8Array
  /** The body was longer than the plan allowed (or than `drainLimit` for `Discard`). */
  readonly overflow: boolean
  readonly headersMillis: number
}

export interface Settings {
  readonly dispatcher: Dispatcher
  readonly budget: BodyBudget
  readonly connectTimeoutMillis: number
  readonly headersTimeoutMillis: number
  readonly totalTimeoutMillis: number
  readonly drainLimit: number
}

const empty = new Uint8Array(0)

/** undici joins nothing: repeated headers come as arrays. One string per name, like the Fetch API. */
const flatten = (headers: Record<string, string | Array<string> | undefined>): Record<string, string> => {
  for (const name in headers) {
    const value = headers[name]
    if (Array.isArray(value)) headers[name] = value.join(", ")
    else if (value === undefined) delete headers[name]
  }
  return headers as Record<string, string>
}

// A fresh, exactly sized buffer (not a slice of Node's pool): the page owns it and can transfer it.
const allocate = (size: number): Uint8Array => new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size)

class Aborted extends Error {}

/**
 * The handler of one exchange. `run` dispatches and waits for the outcome;
 * `dispose` (always called, after the outcome was used) aborts an unfinished
 * exchange, clears the timers and gives the body bytes back to the budget.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  private readonly settings: Settings
  private readonly url: URL
  private readonly headers: Readonly<Record<string, string>>
  private readonly planOf: (status: number, headers: Readonly<Record<string, string>>) => Plan
  private controller: Dispatcher.DispatchController | undefined = undefined
  private resume: ((effect: Effect.Effect<Response, FetchError.FetchError>) => void) | undefined = undefined
  private done = false
  /** The whole response was read (the connection may be reused). */
  complete = false
  private running = false
  private headersTimer: ReturnType<typeof setTimeout> | undefined = undefined
  private totalTimer: ReturnType<typeof setTimeout> | undefined = undefined
  private readonly started = performance.now()
  private status = 0
  private responseHeaders: Record<string, string> = {}
  private headersMillis = 0
  private plan: Plan = { _tag: "Discard" }
  private length = 0
  private buffer: Uint8Array | undefined = undefined
  private chunks: Array<Uint8Array> | undefined = undefined
  private charged = 0

  constructor(
    settings: Settings,
    url: URL,
    headers: Readonly<Record<string, string>>,
    planOf: (status: number, headers: Readonly<Record<string, string>>) => Plan
  ) {
    this.settings = settings
    this.url = url
    this.headers = headers
    this.planOf = planOf
  }

  readonly run: Effect.Effect<Response, FetchError.FetchError> = Effect.callback((resume) => {
    this.resume = resume
    const settings = this.settings
    this.totalTimer = setTimeout(this.expireTotal, settings.totalTimeoutMillis)
    this.headersTimer = setTimeout(this.expireHeaders, settings.headersTimeoutMillis)
    settings.dispatcher.dispatch({
      origin: this.url.origin,
      path: this.url.pathname + this.url.search,
      method: "GET",
      headers: this.headers,
      // Our own timers cover both.
      headersTimeout: 0,
      bodyTimeout: 0
    }, this)
    return Effect.sync(this.interrupt)
  })

  /** Aborts an unfinished exchange, clears the timers, gives the bytes back. Idempotent. */
  dispose(): void {
    if (!this.done) this.finish(undefined)
    if (!this.complete) this.controller?.abort(new Aborted("exchange ended before its response"))
    this.settings.budget.release(this.charged)
    this.charged = 0
    this.buffer = undefined
    this.chunks = undefined
  }

  private readonly interrupt = () => {
    this.dispose()
  }

  private readonly expireHeaders = () => this.expire("headers", this.settings.headersTimeoutMillis)
  private readonly expireTotal = () => this.expire("total", this.settings.totalTimeoutMillis)

  private expire(phase: "headers" | "total", millis: number): void {
    if (this.done) return
    this.finish(Effect.fail(new FetchError.Timeout({ url: this.url.href, phase, millis })))
    this.controller?.abort(new Aborted(`${phase} timeout`))
  }

  private finish(outcome: Effect.Effect<Response, FetchError.FetchError> | undefined): void {
    this.done = true
    clearTimeout(this.headersTimer)
    clearTimeout(this.totalTimer)
    if (this.running) {
      this.running = false
      if (!this.settings.budget.forgetPaused(this.onRoom)) this.settings.budget.stopped()
    }
    if (outcome !== undefined) this.resume!(outcome)
  }

  private succeed(overflow: boolean): void {
    const body = this.plan._tag === "Keep" ? this.takeBody() : empty
    this.finish(Effect.succeed({
      status: this.status,
      headers: this.responseHeaders,
      plan: this.plan,
      body,
      overflow,
      headersMillis: this.headersMillis
    }))
  }

  private takeBody(): Uint8Array {
    const size = Math.min(this.length, (this.plan as { readonly limit: number }).limit)
    const buffer = this.buffer
    if (buffer !== undefined) return size === buffer.byteLength ? buffer : buffer.subarray(0, size)
    const chunks = this.chunks
    if (chunks === undefined) return empty
    const out = allocate(size)
    let offset = 0
    for (const chunk of chunks) {
      const take = Math.min(chunk.byteLength, size - offset)
      out.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), offset)
      offset += take
      if (offset >= size) break
    }
    return out
  }

  // The budget has room again for this paused response.
  private readonly onRoom = () => {
    if (!this.done) this.controller?.resume()
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.done) controller.abort(new Aborted("exchange ended before the request was sent"))
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | Array<string> | undefined>
  ): void {
    if (statusCode < 200 || this.done) return
    clearTimeout(this.headersTimer)
    this.headersMillis = performance.now() - this.started
    this.status = statusCode
    this.responseHeaders = flatten(headers)
    const plan = this.planOf(statusCode, this.responseHeaders)
    this.plan = plan
    if (plan._tag === "Stop") {
      this.succeed(false)
      controller.abort(new Aborted("body refused"))
      return
    }
    this.running = true
    this.settings.budget.started()
    if (plan._tag === "Keep") {
      const declared = Number(this.responseHeaders["content-length"])
      // A declared length within the limit: one buffer of that size, chunks copied in as they come
      // (the socket's read buffers are not kept alive by the page).
      if (declared > 0 && declared <= plan.limit && Number.isSafeInteger(declared)) this.buffer = allocate(declared)
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return
    const before = this.length
    this.length += chunk.byteLength
    const plan = this.plan
    if (plan._tag === "Discard") {
      if (this.length > this.settings.drainLimit) {
        this.succeed(true)
        controller.abort(new Aborted("body too long to drain"))
      }
      return
    }
    if (plan._tag !== "Keep") return
    const room = plan.limit - before
    const take = Math.min(room, chunk.byteLength)
    if (take > 0) {
      const buffer = this.buffer
      if (buffer !== undefined && before + take <= buffer.byteLength) {
        buffer.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), before)
      } else {
        if (buffer !== undefined) {
          // More than declared (undici normally refuses that): fall back to chunks.
          this.chunks = [buffer.subarray(0, before)]
          this.buffer = undefined
        }
        ;(this.chunks ??= []).push(take === chunk.byteLength ? chunk : chunk.subarray(0, take))
      }
      this.charged += take
      this.settings.budget.charge(take)
    }
    if (this.length > plan.limit) {
      this.succeed(true)
      controller.abort(new Aborted("body over the limit"))
      return
    }
    if (this.settings.budget.shouldPause(this.onRoom)) controller.pause()
  }

  onResponseEnd(): void {
    if (this.done) return
    this.complete = true
    this.succeed(false)
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    if (this.done) return
    this.finish(Effect.fail(
      mapTransport(this.url.href, error, this.settings.connectTimeoutMillis, this.status === 0)
    ))
  }
}
