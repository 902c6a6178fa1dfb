/**
 * One HTTP exchange straight on an undici `Dispatcher`, with our own dispatch
 * handler: no stream object, promise or abort signal per request, a body
 * that came in one socket read kept as that read (no copy), other bodies
 * copied once into a buffer of the declared size, headers and total timeouts
 * on one plain timer, and the body budget applied as the chunks arrive
 * (undici's `controller.pause` / `resume`).
 *
 * Thousands of exchanges may wait for their responses at once, so what one
 * holds while it waits is kept small: one object, one timer that gets the
 * exchange as its argument (no closure), and the budget keeps the exchange
 * itself to resume it (no closure either).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { Dispatcher } from "undici"
import * as FetchError from "../FetchError.ts"
import { mapTransport } from "./body.ts"
import type { BodyBudget, Pausable } from "./budget.ts"

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

// The body of a response that is not kept (a `Discard` or `Stop` plan): never a page's body.
const discarded = new Uint8Array(0)
const discard: Plan = { _tag: "Discard" }

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

/** What a socket read may hold besides the body it is kept for: the response head (undici's limit is 16 KiB). */
export const maxAdoptSlack = 16 * 1024

/**
 * The chunk, when it can be the page's body as it is: Node gives every socket
 * read an ArrayBuffer of its own, so a body that arrived in one read needs no
 * copy — the page keeps that read (its response head in front, nothing else
 * in use). Copying it instead left one dead 60 KB read buffer per page for
 * V8 to find, and that external garbage is what set the peak memory of a
 * burst of responses (and forced full GCs). Refused: a chunk that may lie in
 * Node's shared pool (socket reads joined by the stream are pooled below half
 * of `Buffer.poolSize`, which a program may raise), and one in a much larger
 * buffer (it would pin it).
 */
const adopt = (chunk: Buffer): Uint8Array | undefined =>
  chunk.byteLength >= Buffer.poolSize >>> 1 && chunk.buffer instanceof ArrayBuffer &&
    chunk.buffer.byteLength - chunk.byteLength <= maxAdoptSlack
    ? new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    : undefined

class Aborted extends Error {}

/**
 * Who continues when an exchange ends: given the outcome, it returns what the
 * waiting fiber runs next, so no continuation frame of its own waits beside
 * the exchange. Without an owner, `run` succeeds or fails with the outcome.
 */
export interface Owner {
  readonly exchanged: (outcome: Response | FetchError.FetchError) => Effect.Effect<unknown, unknown>
}

// One timer per exchange: it fires at the headers deadline (or the total one, if sooner); a head
// already in by then re-arms it for what is left of the total time.
const onTimer = (exchange: Exchange): void => exchange.timerFired()

const isFailure = (outcome: Response | FetchError.FetchError): outcome is FetchError.FetchError => "_tag" in outcome

/**
 * The handler of one exchange. `run` dispatches and waits for the outcome;
 * `dispose` (always called, after the outcome was used, interruption
 * included) aborts an unfinished exchange, clears the timer and gives the
 * body bytes back to the budget.
 */
export class Exchange implements Dispatcher.DispatchHandler, Pausable {
  private readonly settings: Settings
  private readonly url: URL
  private readonly planOf: (status: number, headers: Readonly<Record<string, string>>) => Plan
  private readonly owner: Owner | undefined
  private controller: Dispatcher.DispatchController | undefined = undefined
  private resume: ((effect: Effect.Effect<any, any>) => void) | undefined = undefined
  private done = false
  /** The whole response was read (the connection may be reused). */
  complete = false
  private running = false
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private readonly started = performance.now()
  /** When the exchange times out whatever it is doing (`performance.now()` time): its visit's deadline. */
  private readonly endsAt: number
  private status = 0
  private responseHeaders: Record<string, string> = {}
  private headersMillis = 0
  private plan: Plan = discard
  private length = 0
  private buffer: Uint8Array | undefined = undefined
  private chunks: Array<Uint8Array> | undefined = undefined
  private charged = 0
  /** The declared length of a body to keep (0: unknown or over the limit). */
  private declared = 0
  /**
   * Dispatches the request and waits for its outcome (with an owner: runs what
   * the owner returns). It has no cancel action: the caller disposes the
   * exchange on every exit, which aborts it when it is not finished.
   */
  readonly run: Effect.Effect<Response, FetchError.FetchError>

  constructor(
    settings: Settings,
    url: URL,
    headers: Readonly<Record<string, string>>,
    planOf: (status: number, headers: Readonly<Record<string, string>>) => Plan,
    owner?: Owner,
    endsAt?: number
  ) {
    this.settings = settings
    this.url = url
    this.planOf = planOf
    this.owner = owner
    this.endsAt = Math.min(endsAt ?? Infinity, this.started + settings.totalTimeoutMillis)
    this.run = Effect.callback((resume) => {
      this.resume = resume
      this.timer = setTimeout(onTimer, Math.min(settings.headersTimeoutMillis, this.endsAt - this.started), this)
      settings.dispatcher.dispatch({
        origin: url.origin,
        path: url.pathname + url.search,
        method: "GET",
        headers,
        // Our own timer covers both.
        headersTimeout: 0,
        bodyTimeout: 0
      }, this)
    })
  }

  /** Aborts an unfinished exchange, clears the timer, gives the bytes back. Idempotent. */
  dispose(): void {
    if (!this.done) this.finish(undefined)
    if (!this.complete) this.controller?.abort(new Aborted("exchange ended before its response"))
    this.settings.budget.release(this.charged)
    this.charged = 0
    this.buffer = undefined
    this.chunks = undefined
  }

  /** The timer's callback. */
  timerFired(): void {
    this.timer = undefined
    if (this.done) return
    const { headersTimeoutMillis, totalTimeoutMillis } = this.settings
    // Timers fire on whole milliseconds of the loop clock: within 1 ms counts as due.
    const left = this.endsAt - performance.now()
    if (this.status === 0 && left > 1) {
      this.expire("headers", headersTimeoutMillis)
      return
    }
    if (left > 1) this.timer = setTimeout(onTimer, left, this)
    else this.expire("total", totalTimeoutMillis)
  }

  private expire(phase: "headers" | "total", millis: number): void {
    this.finish(new FetchError.Timeout({ url: this.url.href, phase, millis }))
    this.controller?.abort(new Aborted(`${phase} timeout`))
  }

  private finish(outcome: Response | FetchError.FetchError | undefined): void {
    this.done = true
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.running) {
      this.running = false
      if (!this.settings.budget.forgetPaused(this)) this.settings.budget.stopped()
    }
    if (outcome === undefined) return
    const owner = this.owner
    if (owner === undefined) {
      this.resume!(isFailure(outcome) ? Effect.fail(outcome) : Effect.succeed(outcome))
      return
    }
    // The owner's step runs inside an undici callback: a throw must reach the fiber, not undici.
    let next: Effect.Effect<unknown, unknown>
    try {
      next = owner.exchanged(outcome)
    } catch (defect) {
      next = Effect.die(defect)
    }
    this.resume!(next)
  }

  private succeed(overflow: boolean): void {
    const body = this.plan._tag === "Keep" ? this.takeBody() : discarded
    this.finish({
      status: this.status,
      headers: this.responseHeaders,
      plan: this.plan,
      body,
      overflow,
      headersMillis: this.headersMillis
    })
  }

  private takeBody(): Uint8Array {
    const size = Math.min(this.length, (this.plan as { readonly limit: number }).limit)
    const buffer = this.buffer
    if (buffer !== undefined) return size === buffer.byteLength ? buffer : buffer.subarray(0, size)
    const chunks = this.chunks
    // Empty, but a buffer of its own all the same: a page's buffer may be transferred.
    if (chunks === undefined) return new Uint8Array(0)
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

  /** The budget has room again for this paused response. */
  resumeReading(): void {
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
      if (declared > 0 && declared <= plan.limit && Number.isSafeInteger(declared)) this.declared = declared
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
      const piece = take === chunk.byteLength ? chunk : chunk.subarray(0, take)
      const buffer = this.buffer
      if (before === 0 && take <= this.declared) {
        // The declared body whole in its first chunk is kept as it is; else one buffer of the
        // declared size, the chunks copied in as they come.
        const adopted = take === this.declared ? adopt(piece) : undefined
        if (adopted !== undefined) this.buffer = adopted
        else (this.buffer = allocate(this.declared)).set(piece, 0)
      } else if (buffer !== undefined && before + take <= buffer.byteLength) {
        buffer.set(piece, before)
      } else {
        if (buffer !== undefined) {
          // More than declared (undici normally refuses that): fall back to chunks.
          this.chunks = [buffer.subarray(0, before)]
          this.buffer = undefined
        }
        ;(this.chunks ??= []).push(piece)
      }
      this.charged += take
      this.settings.budget.charge(take)
    }
    if (this.length > plan.limit) {
      this.succeed(true)
      controller.abort(new Aborted("body over the limit"))
      return
    }
    if (this.settings.budget.shouldPause(this)) controller.pause()
  }

  onResponseEnd(): void {
    if (this.done) return
    this.complete = true
    this.succeed(false)
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    if (this.done) return
    this.finish(mapTransport(this.url.href, error, this.settings.connectTimeoutMillis, this.status === 0))
  }
}
