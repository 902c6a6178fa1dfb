/**
 * One `fetchPage` call (or one robots.txt attempt) as one object driven step
 * by step: robots verdict, host gate (circuit, permits, start spacing),
 * exchange, settling the response, the gate's verdict, retries and
 * redirects.
 *
 * Why not nested `Effect.gen`: a crawl keeps thousands of requests waiting on
 * their responses at once, and every suspended generator, continuation frame
 * and closure of the pipeline is held by each of them for the whole wait
 * (measured: ~6 KB a request). Here the steps that need no waiting run as
 * plain calls; while a response is awaited the fiber holds only the job's
 * one exit frame and the exchange's callback, and the exchange resumes the
 * fiber with the job's next step directly (`Dispatch.Owner`). Waits that can
 * take a while (robots lookups, permits, start spacing, retry backoff) are
 * ordinary Effects (`Clock`, `Random`), so a `TestClock` drives them.
 *
 * Every resource the job takes (gate user, permits, exchange, a reservation
 * handed to the call) is recorded on it the moment it is taken, and the exit
 * frame gives back whatever is still held — that is how interruption at any
 * wait is cleaned up. A reservation (`reserve` in hostGates.ts) is a first
 * attempt's gate admission done ahead: its attempt skips the permit wait and
 * the spacing sleep and goes straight to the global permit.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Decode from "../Decode.ts"
import * as FetchError from "../FetchError.ts"
import * as FetchMetrics from "../FetchMetrics.ts"
import type { Options } from "../Fetcher.ts"
import * as Page from "../Page.ts"
import * as Robots from "../Robots.ts"
import * as Throttle from "../Throttle.ts"
import * as Body from "./body.ts"
import * as Dispatch from "./dispatch.ts"
import {
  admit,
  delayOf,
  giveBack,
  Held,
  type HostGate,
  type HostGates,
  HostReservation,
  Taken
} from "./hostGates.ts"
import type { Permits } from "./permits.ts"

/** The result of one HTTP exchange that did not fail. */
export interface Exchanged {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly location: URL | undefined
  readonly body: Uint8Array
  readonly charset: string
  /** Set when `body` is as received (`decodeBody: false`): the response's `Content-Encoding`. */
  readonly contentEncoding?: string | undefined
  readonly headersMillis: number
}

/** What robots.txt says about a URL: the crawl delay to apply (ms), or why not. */
export type Verdict = number | undefined | FetchError.ForbiddenAddress | FetchError.RobotsDisallowed

/** The synchronous robots cache has no answer (absent or expired). */
export const miss: unique symbol = Symbol("miss")

/** The fetcher's shared state and settings, built once by `Fetcher.make`. */
export interface Core {
  readonly options: Options
  readonly gates: HostGates
  readonly global: Permits
  readonly settings: Dispatch.Settings
  readonly baseHeaders: Readonly<Record<string, string>>
  readonly throttle: Throttle.Options
  readonly robotsHit: (url: URL, now: number) => Verdict | typeof miss
  readonly robotsLookup: (url: URL) => Effect.Effect<Verdict>
  inFlight: number
}

const redirectStatuses = new Set([301, 302, 303, 307, 308])
const robotsDecompressedLimit = 2 * 1024 * 1024

/** An absolute http(s) URL without fragment, or why not. */
export const parseUrl = (input: string, base?: URL): URL | FetchError.InvalidUrl => {
  const shown = base === undefined ? input : `${input} (from ${base.href})`
  if (input.length > 8192) return new FetchError.InvalidUrl({ url: shown.slice(0, 200), reason: "longer than 8192 characters" })
  let url: URL
  try {
    url = new URL(input, base)
  } catch {
    return new FetchError.InvalidUrl({ url: shown, reason: "not a valid absolute URL" })
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return new FetchError.InvalidUrl({ url: shown, reason: `scheme must be http or https, got ${url.protocol}` })
  }
  if (url.hostname === "") return new FetchError.InvalidUrl({ url: shown, reason: "no host" })
  url.hash = ""
  return url
}

// What to read of a body, decided from the head (see dispatch.ts).
const discardPlan: Dispatch.Plan = { _tag: "Discard" }
const stopPlan: Dispatch.Plan = { _tag: "Stop" }
const keepRobots: Dispatch.Plan = { _tag: "Keep", limit: Robots.maxBytes, truncate: true }
const discards = (status: number) => status >= 400 || status < 200 || status === 304 || redirectStatuses.has(status)
const planRobots = (status: number): Dispatch.Plan => discards(status) ? discardPlan : keepRobots
const pagePlans = new WeakMap<Core, (status: number, headers: Readonly<Record<string, string>>) => Dispatch.Plan>()
const planPage = (core: Core) => {
  let plan = pagePlans.get(core)
  if (plan === undefined) {
    const maxBodyBytes = core.options.maxBodyBytes
    const keepPage: Dispatch.Plan = { _tag: "Keep", limit: maxBodyBytes, truncate: false }
    // A declared length over the limit is refused before reading (BodyTooLarge).
    plan = (status, headers) =>
      discards(status) ? discardPlan : Number(headers["content-length"]) > maxBodyBytes ? stopPlan : keepPage
    pagePlans.set(core, plan)
  }
  return plan
}

/** `metric` with an `outcome` attribute, one instance per outcome made once (a hot path). */
export const byOutcome = (metric: Metric.Metric<number, unknown>) => {
  const counters = new Map<string, Metric.Metric<number, unknown>>()
  return (outcome: string): Metric.Metric<number, unknown> => {
    let counter = counters.get(outcome)
    if (counter === undefined) {
      counter = metric.pipe(Metric.withAttributes({ outcome }))
      counters.set(outcome, counter)
    }
    return counter
  }
}

const outcomeCounter = byOutcome(FetchMetrics.requests)

const isError = (value: object): value is FetchError.FetchError => "_tag" in value

type Mode = "page" | "robots"

export class Job implements Dispatch.Owner {
  private readonly core: Core
  private readonly context: Context.Context<never>
  private readonly clock: Clock.Clock
  private readonly mode: Mode
  private readonly headers: Readonly<Record<string, string>>
  private readonly validators: Page.Validators | undefined
  private readonly started = performance.now()
  private readonly startedAt: number
  private first: URL | undefined = undefined
  private url: URL | undefined = undefined
  /** Retries left for the whole call (all hops share them). */
  private left: number
  /** Attempts of the current hop. */
  private attempts = 0
  private redirects: Array<Page.Redirect> | undefined = undefined
  private visited: Set<string> | undefined = undefined
  private queuedMillis = 0
  private attemptQueuedMillis = 0
  private crawlDelay: number | undefined = undefined
  private gate: HostGate | undefined = undefined
  private hostPermit = false
  private globalPermit = false
  private probe = false
  /** A reservation handed to the call; `begin` (under the exit frame) takes it over. */
  handed: unknown = undefined
  /** `false`: the page's body is handed back as received (`FetchPageOptions.decodeBody`). */
  decodeBody = true
  /** The reservation taken over, until the first attempt uses it or it is given back. */
  private reservation: HostReservation | undefined = undefined
  /** The current attempt started on a reservation: no permit wait, no spacing sleep. */
  private reserved = false
  private reservedNext = 0
  private waitStarted = 0
  /**
   * When the call times out, whatever attempt or hop it is at (`performance.now()` time): set by
   * its first request, `totalTimeoutMillis` later. Its attempts share it, so a slow host costs a
   * call at most one total timeout, not one per attempt.
   */
  private deadline = Infinity
  private exchange: Dispatch.Exchange | undefined = undefined
  // What the current attempt saw, for the gate's verdict.
  private status: number | undefined = undefined
  private latencyMillis = 0
  private retryAfterMillis: number | undefined = undefined

  constructor(
    core: Core,
    fiber: Fiber.Fiber<unknown, unknown>,
    mode: Mode,
    headers: Readonly<Record<string, string>>,
    validators: Page.Validators | undefined
  ) {
    this.core = core
    this.context = fiber.context
    this.clock = fiber.getRef(Clock.Clock)
    this.mode = mode
    this.headers = headers
    this.validators = validators
    this.startedAt = this.clock.currentTimeMillisUnsafe()
    this.left = mode === "page" ? core.options.maxRetries : 0
  }

  /** Runs the whole call from `url`; `end` must see its exit. */
  begin(url: URL): Effect.Effect<unknown, FetchError.FetchError> {
    this.first = url
    this.url = url
    const handed = this.handed
    if (handed !== undefined) {
      // Taken over under the exit frame, which gives it back from now on. One taken by another
      // call, or already given back, is ignored (the call goes through the gate).
      this.handed = undefined
      if (handed instanceof HostReservation && handed.state === Held) {
        handed.state = Taken
        this.reservation = handed
        // For another host it is of no use: given back, and this host goes through its gate.
        if (handed.gate.host !== url.hostname) this.giveBackReservation()
      }
    }
    return this.mode === "page" ? this.hop() : this.attempt()
  }

  /** The exit frame: gives back whatever is still held (after an interruption), counts the outcome. */
  end(exit: Exit.Exit<unknown, FetchError.FetchError>): undefined {
    if (this.reservation !== undefined) this.giveBackReservation()
    // Handed but never taken over (the call ended before `begin`: an invalid URL, an interruption).
    if (this.handed instanceof HostReservation) giveBack(this.handed)
    this.handed = undefined
    const exchange = this.exchange
    if (exchange !== undefined) {
      this.exchange = undefined
      exchange.dispose()
      this.exchangeEnded()
    }
    const gate = this.gate
    if (gate !== undefined) {
      if (this.probe) {
        gate.probing = false
        this.probe = false
      }
      this.leaveGate()
    }
    if (this.mode === "page") {
      const outcome = Exit.isSuccess(exit)
        ? (exit.value as Page.Page).notModified ? "not_modified" : "ok"
        : Option.match(Exit.findErrorOption(exit), { onNone: () => "interrupted", onSome: (error) => error._tag })
      outcomeCounter(outcome).updateUnsafe(1, this.context)
      FetchMetrics.latency.updateUnsafe(performance.now() - this.started, this.context)
    }
    return undefined
  }

  // --- one hop: robots, then attempts ----------------------------------------------------------
  private hop(): Effect.Effect<unknown, FetchError.FetchError> {
    this.attempts = 0
    this.crawlDelay = undefined
    if (!this.core.options.robots) return this.attempt()
    const url = this.url!
    const verdict = this.core.robotsHit(url, this.clock.currentTimeMillisUnsafe())
    if (verdict === miss) {
      // robots.txt is fetched through this host's gate: a reservation held meanwhile could hold the
      // very permit that request needs. Its start is the robots.txt request's; the page then
      // goes through the gate.
      if (this.reservation !== undefined) this.giveBackReservation()
      return Effect.flatMap(this.core.robotsLookup(url), (looked) => this.robotsSaid(looked))
    }
    return this.robotsSaid(verdict)
  }

  private robotsSaid(verdict: Verdict): Effect.Effect<unknown, FetchError.FetchError> {
    if (verdict instanceof FetchError.ForbiddenAddress || verdict instanceof FetchError.RobotsDisallowed) {
      return Effect.fail(verdict)
    }
    this.crawlDelay = verdict
    return this.attempt()
  }

  private giveBackReservation(): void {
    const reservation = this.reservation!
    this.reservation = undefined
    reservation.state = Held
    giveBack(reservation)
  }

  // --- one attempt: the host gate --------------------------------------------------------------
  private attempt(): Effect.Effect<unknown, FetchError.FetchError> {
    this.attempts++
    if (this.reservation !== undefined) return this.reservedAttempt()
    const url = this.url!
    const options = this.core.options
    const now = this.clock.currentTimeMillisUnsafe()
    const gate = this.core.gates.enter(url.hostname, now)
    this.gate = gate
    if (this.crawlDelay !== undefined) gate.crawlDelayMillis = Math.min(this.crawlDelay, options.maxCrawlDelayMillis)
    this.waitStarted = performance.now()
    if (gate.circuit === "open" && now < gate.retryAt) {
      return this.attemptEnded(
        new FetchError.CircuitOpen({ url: url.href, host: url.hostname, retryAt: gate.retryAt }),
        false
      )
    }
    if (!gate.permits.tryTake()) {
      return Effect.flatMap(gate.permits.take, () => {
        this.hostPermit = true
        return this.startSlot()
      })
    }
    this.hostPermit = true
    return this.startSlot()
  }

  // The first attempt on a reservation (host checked in `begin`): its permit, slot and probe become
  // the job's; the Crawl-delay just learned from robots.txt applies to its slot; then the global
  // permit as usual.
  private reservedAttempt(): Effect.Effect<unknown, FetchError.FetchError> {
    const reservation = this.reservation!
    this.reservation = undefined
    const gate = reservation.gate
    this.gate = gate
    this.hostPermit = true
    this.probe = reservation.probe
    this.reserved = true
    this.reservedNext = reservation.reservedNext
    // (`admitted` spaces the next start from this one with the delay this sets.)
    if (this.crawlDelay !== undefined) gate.crawlDelayMillis = Math.min(this.crawlDelay, this.core.options.maxCrawlDelayMillis)
    this.waitStarted = performance.now()
    return this.globalSlot()
  }

  // Waits for the host's start slot, then a global permit; re-checks the slot after the global
  // wait so two starts on a host are never closer than the host delay.
  private startSlot(): Effect.Effect<unknown, FetchError.FetchError> {
    const gate = this.gate!
    const now = this.clock.currentTimeMillisUnsafe()
    if (gate.nextAllowedAt > now) {
      return Effect.flatMap(Effect.sleep(gate.nextAllowedAt - now), () => this.startSlot())
    }
    return this.globalSlot()
  }

  private globalSlot(): Effect.Effect<unknown, FetchError.FetchError> {
    if (!this.core.global.tryTake()) {
      return Effect.flatMap(this.core.global.take, () => {
        this.globalPermit = true
        return this.admitted()
      })
    }
    this.globalPermit = true
    return this.admitted()
  }

  private admitted(): Effect.Effect<unknown, FetchError.FetchError> {
    const core = this.core
    const gate = this.gate!
    const url = this.url!
    const after = this.clock.currentTimeMillisUnsafe()
    const delay = delayOf(core.options.perHostMinDelayMillis, gate)
    if (this.reserved) {
      // The slot was taken at reservation. Only if the global wait outlasted it and another start
      // (or a Retry-After) moved the host's spacing since does this start wait like any other.
      this.reserved = false
      if (after < gate.nextAllowedAt && gate.nextAllowedAt !== this.reservedNext) {
        core.global.release()
        this.globalPermit = false
        return this.startSlot()
      }
      gate.nextAllowedAt = Math.max(gate.nextAllowedAt, after + delay)
    } else {
      if (after < gate.nextAllowedAt) {
        core.global.release()
        this.globalPermit = false
        return this.startSlot()
      }
      gate.nextAllowedAt = after + delay
    }
    const queued = performance.now() - this.waitStarted
    this.attemptQueuedMillis = queued
    FetchMetrics.gateWait.updateUnsafe(queued, this.context)
    // A probe already held (taken by the reservation) is this start's.
    const admission = this.probe ? "probe" : admit(gate, after)
    if (typeof admission === "number") {
      return this.attemptEnded(new FetchError.CircuitOpen({ url: url.href, host: url.hostname, retryAt: admission }), false)
    }
    this.probe = admission === "probe"
    this.status = undefined
    this.latencyMillis = 0
    this.retryAfterMillis = undefined
    // Straight on the undici dispatcher with our own handler; it resumes this fiber with
    // `exchanged`. Disposed on every exit: an unfinished exchange aborts its request.
    const exchange = new Dispatch.Exchange(
      core.settings,
      url,
      this.headers,
      this.mode === "page" ? planPage(core) : planRobots,
      this,
      this.deadline === Infinity ? (this.deadline = performance.now() + core.options.totalTimeoutMillis) : this.deadline
    )
    this.exchange = exchange
    core.inFlight++
    FetchMetrics.inFlight.updateUnsafe(core.inFlight, this.context)
    return exchange.run
  }

  /** The exchange ended (called by it, inside an undici callback). */
  exchanged(outcome: Dispatch.Response | FetchError.FetchError): Effect.Effect<unknown, FetchError.FetchError> {
    const exchange = this.exchange!
    let result: Exchanged | FetchError.FetchError
    if (isError(outcome)) {
      result = outcome
    } else {
      if (outcome.status === 429 || outcome.status === 503) {
        this.retryAfterMillis = Throttle.parseRetryAfter(
          outcome.headers["retry-after"],
          this.clock.currentTimeMillisUnsafe()
        )
      }
      result = this.settle(outcome)
    }
    // The body is ours now: its bytes go back to the budget.
    this.exchange = undefined
    exchange.dispose()
    this.exchangeEnded()
    return this.attemptEnded(result, true)
  }

  private exchangeEnded(): void {
    this.core.inFlight--
    FetchMetrics.inFlight.updateUnsafe(this.core.inFlight, this.context)
  }

  private settle(response: Dispatch.Response): Exchanged | FetchError.FetchError {
    const options = this.core.options
    const url = this.url!
    const { status, headers, headersMillis } = response
    const href = url.href
    this.status = status
    this.latencyMillis = headersMillis
    const location = headers["location"]
    if (redirectStatuses.has(status) && location !== undefined) {
      const target = parseUrl(location, url)
      if (target instanceof FetchError.InvalidUrl) return target
      return { status, headers, location: target, body: new Uint8Array(0), charset: "utf-8", headersMillis }
    }
    if (status === 304) {
      // A 304's page: empty, with a buffer of its own like every page body (it may be transferred).
      return { status, headers, location: undefined, body: new Uint8Array(0), charset: "utf-8", headersMillis }
    }
    if (status >= 400 || status < 200 || redirectStatuses.has(status)) {
      return new FetchError.HttpStatus({ url: href, status, retryAfterMillis: this.retryAfterMillis })
    }
    const robots = this.mode === "robots"
    const limit = robots ? Robots.maxBytes : options.maxBodyBytes
    if (response.plan._tag === "Stop") {
      return new FetchError.BodyTooLarge({ url: href, limit, contentLength: Number(headers["content-length"]) })
    }
    if (response.overflow && !robots) return new FetchError.BodyTooLarge({ url: href, limit })
    const raw = response.body
    FetchMetrics.bytes.updateUnsafe(raw.byteLength, this.context)
    const encoding = headers["content-encoding"]
    if (robots) {
      const body = encoding === undefined ? raw : Body.decompress(raw, encoding, href, robotsDecompressedLimit)
      if (!(body instanceof Uint8Array)) return body
      return { status, headers, location: undefined, body, charset: "utf-8", headersMillis }
    }
    // As received: decompression and the charset are the consumer's (`Decode`, e.g. in a worker).
    if (!this.decodeBody) {
      return { status, headers, location: undefined, body: raw, charset: "", contentEncoding: encoding, headersMillis }
    }
    const decoded = Decode.decode({
      url: href,
      body: raw,
      contentEncoding: encoding,
      contentType: headers["content-type"],
      maxDecompressedBytes: options.maxDecompressedBytes
    })
    if (Decode.isDecodeError(decoded)) return decoded
    return { status, headers, location: undefined, body: decoded.body, charset: decoded.charset, headersMillis }
  }

  // The attempt is over: the gate's verdict (when an exchange ran), the gate given back, then
  // the next step — the result, a retry, or the next hop.
  private attemptEnded(
    result: Exchanged | FetchError.FetchError,
    exchanged: boolean
  ): Effect.Effect<unknown, FetchError.FetchError> {
    const failed = isError(result)
    const warning = exchanged
      ? this.record(this.gate!, failed ? result : undefined, this.clock.currentTimeMillisUnsafe())
      : undefined
    this.probe = false
    this.leaveGate()
    const next = failed ? this.failed(result) : this.succeeded(result)
    return warning === undefined ? next : Effect.andThen(Effect.logWarning(warning), next)
  }

  private leaveGate(): void {
    const gate = this.gate
    if (gate === undefined) return
    this.gate = undefined
    if (this.globalPermit) {
      this.globalPermit = false
      this.core.global.release()
    }
    if (this.hostPermit) {
      this.hostPermit = false
      gate.permits.release()
    }
    this.core.gates.leave(gate, this.clock.currentTimeMillisUnsafe())
  }

  /** The gate learns from the attempt: throttle, Retry-After, circuit. Returns a warning to log. */
  private record(gate: HostGate, error: FetchError.FetchError | undefined, now: number): string | undefined {
    const options = this.core.options
    if (this.probe) gate.probing = false
    const status = this.status
    const hostFailed = status !== undefined ? status >= 500 : error !== undefined && FetchError.isHostFailure(error)
    if (status !== undefined) {
      gate.throttleDelayMillis = Throttle.next(this.core.throttle, gate.throttleDelayMillis, {
        _tag: "Response",
        status,
        latencyMillis: this.latencyMillis
      })
    } else if (hostFailed) {
      gate.throttleDelayMillis = Throttle.next(this.core.throttle, gate.throttleDelayMillis, { _tag: "Failure" })
    }
    if (this.retryAfterMillis !== undefined) {
      gate.nextAllowedAt = Math.max(
        gate.nextAllowedAt,
        now + Math.min(this.retryAfterMillis, options.maxRetryAfterMillis)
      )
    }
    if (hostFailed) {
      gate.consecutiveFailures++
      // A timeout opens the circuit at once: each one held a request for a whole timeout, and the
      // host's other requests would each wait as long.
      if (
        gate.circuit === "halfOpen" || error?._tag === "Timeout" ||
        gate.consecutiveFailures >= options.circuitFailureThreshold
      ) {
        gate.cooldownMillis = gate.circuit === "halfOpen"
          ? Math.min(gate.cooldownMillis * 2, 16 * options.circuitCooldownMillis)
          : options.circuitCooldownMillis
        gate.circuit = "open"
        gate.retryAt = now + gate.cooldownMillis
        return `circuit open for ${gate.host} for ${gate.cooldownMillis} ms`
      }
    } else if (status !== undefined) {
      gate.consecutiveFailures = 0
      gate.circuit = "closed"
      gate.cooldownMillis = 0
    }
    return undefined
  }

  // --- retries -------------------------------------------------------------------------------
  // Retry n of a hop waits retryBase * 2^(n-1), jittered ±20 %, capped at retryMaxDelay; the
  // retries left are shared by every hop of the call, and so is its deadline: a retry that could
  // not start before it is not made. A timeout is not retried: it used the time a retry would
  // need, and it opened the host's circuit (`record`).
  private failed(error: FetchError.FetchError): Effect.Effect<never, FetchError.FetchError> {
    const options = this.core.options
    const retryAfter = error._tag === "HttpStatus" ? error.retryAfterMillis ?? 0 : 0
    if (
      this.left === 0 || !FetchError.isRetryable(error) ||
      retryAfter > options.maxRetryAfterMillis
    ) {
      return Effect.fail(error)
    }
    const backoff = options.retryBaseMillis * 2 ** (this.attempts - 1)
    return Effect.flatMap(Random.nextBetween(0.8, 1.2), (jitter) => {
      const wait = Math.min(backoff * jitter, options.retryMaxDelayMillis)
      // The retry starts after its backoff and when the host allows (spacing, Retry-After, the
      // throttle's backoff after a 503): not at all if that is past the deadline.
      const hostWait = (this.core.gates.gates.get(this.url!.hostname)?.nextAllowedAt ?? 0) -
        this.clock.currentTimeMillisUnsafe()
      if (performance.now() + Math.max(wait, retryAfter, hostWait) >= this.deadline) return Effect.fail(error)
      return Effect.andThen(
        Effect.sleep(wait),
        Effect.suspend(() => {
          this.left--
          FetchMetrics.retries.updateUnsafe(1, this.context)
          return Effect.flatMap(
            Effect.logDebug(`retry ${this.attempts} of ${this.url!.href}`),
            () => this.attempt()
          )
        })
      )
    }) as Effect.Effect<never, FetchError.FetchError>
  }

  // --- redirects and the page ----------------------------------------------------------------
  private succeeded(exchanged: Exchanged): Effect.Effect<unknown, FetchError.FetchError> {
    if (this.mode === "robots") return Effect.succeed(exchanged)
    const options = this.core.options
    const first = this.first!
    const hop = this.url!
    this.queuedMillis += this.attemptQueuedMillis
    const redirects = this.redirects ??= []
    if (exchanged.location !== undefined) {
      redirects.push(new Page.Redirect({ url: hop.href, status: exchanged.status }))
      const next = exchanged.location
      const chain = [...redirects.map((redirect) => redirect.url), next.href]
      const visited = this.visited ??= new Set([first.href])
      if (visited.has(next.href)) {
        return Effect.fail(
          new FetchError.TooManyRedirects({ url: first.href, limit: options.maxRedirects, chain, loop: true })
        )
      }
      if (redirects.length > options.maxRedirects) {
        return Effect.fail(
          new FetchError.TooManyRedirects({ url: first.href, limit: options.maxRedirects, chain, loop: false })
        )
      }
      visited.add(next.href)
      this.url = next
      return this.hop()
    }
    const notModified = exchanged.status === 304
    const etag = exchanged.headers["etag"] ?? (notModified ? this.validators?.etag : undefined)
    const lastModified = exchanged.headers["last-modified"] ??
      (notModified ? this.validators?.lastModified : undefined)
    return Effect.succeed(
      new Page.Page({
        url: hop.href,
        requestedUrl: first.href,
        status: exchanged.status,
        headers: exchanged.headers,
        body: exchanged.body,
        charset: exchanged.charset,
        ...(exchanged.contentEncoding === undefined ? {} : { contentEncoding: exchanged.contentEncoding }),
        notModified,
        redirects,
        validators: new Page.Validators({
          ...(etag === undefined ? {} : { etag }),
          ...(lastModified === undefined ? {} : { lastModified })
        }),
        timings: new Page.Timings({
          startedAt: this.startedAt,
          queuedMillis: this.queuedMillis,
          headersMillis: exchanged.headersMillis,
          totalMillis: performance.now() - this.started,
          attempts: this.attempts
        })
      })
    )
  }
}

/**
 * `fetchPage`: one job for the call, under one exit frame.
 */
export const fetchPage = (
  core: Core,
  input: Page.FetchRequest | string,
  reservation?: unknown,
  decodeBody = true
): Effect.Effect<Page.Page, FetchError.FetchError> =>
  Effect.withFiber((fiber) => {
    const request: Pick<Page.FetchRequest, "url" | "validators" | "headers"> = typeof input === "string"
      ? { url: input, validators: undefined, headers: undefined }
      : input
    const validators = request.validators
    // The shared base headers serve most requests as they are; copy only to add to them.
    let headers = core.baseHeaders
    if (request.headers !== undefined || validators?.etag !== undefined || validators?.lastModified !== undefined) {
      const own: Record<string, string> = { ...request.headers, ...core.baseHeaders }
      if (validators?.etag !== undefined) own["if-none-match"] = validators.etag
      if (validators?.lastModified !== undefined) own["if-modified-since"] = validators.lastModified
      headers = own
    }
    const job = new Job(core, fiber, "page", headers, validators)
    if (reservation !== undefined) job.handed = reservation
    if (!decodeBody) job.decodeBody = false
    const first = parseUrl(request.url)
    if (first instanceof FetchError.InvalidUrl) return Effect.onExitPrimitive(Effect.fail(first), (exit) => job.end(exit))
    // The exit frame keeps its effect for as long as the call runs: give it a thunk, not the first
    // step (which may be a robots lookup pipeline, held for the whole wait otherwise).
    return Effect.onExitPrimitive(Effect.suspend(() => job.begin(first)), (exit) => job.end(exit)) as Effect.Effect<
      Page.Page,
      FetchError.FetchError
    >
  })

/**
 * One robots.txt request through the host gate: no robots check, no retry,
 * a redirect is returned (its `location`), not followed.
 */
export const robotsAttempt = (core: Core, url: URL): Effect.Effect<Exchanged, FetchError.FetchError> =>
  Effect.withFiber((fiber) => {
    const job = new Job(core, fiber, "robots", core.baseHeaders, undefined)
    return Effect.onExitPrimitive(Effect.suspend(() => job.begin(url)), (exit) => job.end(exit)) as Effect.Effect<
      Exchanged,
      FetchError.FetchError
    >
  })
