/**
 * The `Fetcher` service: polite, bounded, retrying HTTP for many hosts.
 *
 * One `fetchPage(request)` is one fiber. It goes through, in order:
 *
 * 1. **URL check** — absolute http(s) URLs only (`InvalidUrl`).
 * 2. **robots.txt** — fetched once per origin (through the same gates),
 *    cached with a TTL; see `Robots` for the rules (`RobotsDisallowed`).
 * 3. **Host gate** — at most `perHostConcurrency` requests in flight per
 *    host, starts spaced by the host delay (the largest of the configured
 *    minimum, robots `Crawl-delay` and the adaptive `Throttle` delay, and
 *    pushed back by `Retry-After`); then one of `globalConcurrency` global
 *    permits. Gates are plain records made on demand and swept when idle.
 * 4. **Circuit breaker** — after `circuitFailureThreshold` consecutive host
 *    failures the host is refused (`CircuitOpen`) for a cooldown, then one
 *    probe is let through (half-open); its outcome closes or re-opens it.
 * 5. **Exchange** — straight on the undici dispatcher with our own dispatch
 *    handler (Effect's `HttpClient` costs a stream, a promise and an abort
 *    signal per request, and cannot pause a response), with connect,
 *    headers and total timeouts (`Timeout`), body size cap (`BodyTooLarge`,
 *    checked on `Content-Length` before reading and while streaming), a
 *    budget of body bytes held in memory (`maxBufferedBodyBytes`: past it
 *    connections stop reading new responses and responses pause),
 *    decompression with an output cap (`DecompressionBomb`), charset
 *    sniffing (`BadCharset`), conditional GET (`notModified`). Network
 *    timeouts run on real timers; politeness waits (delays, backoff, robots
 *    TTLs, idle sweeps) use the Effect `Clock`, so a `TestClock` drives them.
 * 6. **Retries** — retryable failures (see `FetchError.isRetryable`) are
 *    retried with jittered exponential backoff (`Schedule`), at most
 *    `maxRetries` times per request (all hops together); a `Retry-After` longer than
 *    `maxRetryAfterMillis` is not waited for.
 * 7. **Redirects** — followed by hand, each hop through steps 2–6, up to
 *    `maxRedirects`, a revisited URL is a loop (`TooManyRedirects`).
 *
 * The undici connector resolves names (the `resolve` map first, then DNS),
 * and refuses forbidden resolved addresses (`ForbiddenAddress`) — see
 * `AddressGuard`.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Cache from "effect/Cache"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { Agent } from "undici"
import * as AddressGuard from "./AddressGuard.ts"
import * as Charset from "./Charset.ts"
import * as FetchError from "./FetchError.ts"
import * as FetchMetrics from "./FetchMetrics.ts"
import * as Body from "./internal/body.ts"
import { BodyBudget } from "./internal/budget.ts"
import * as Connector from "./internal/connector.ts"
import * as Dispatch from "./internal/dispatch.ts"
import { type HostGate, HostGates } from "./internal/hostGates.ts"
import { Permits } from "./internal/permits.ts"
import * as Page from "./Page.ts"
import * as Robots from "./Robots.ts"
import * as Throttle from "./Throttle.ts"

/**
 * Every setting of the fetcher. Times are milliseconds, sizes bytes.
 *
 * @example
 * ```ts
 * import { Fetcher } from "@trawl/fetch"
 * const options: Fetcher.Options = { ...Fetcher.defaults, perHostConcurrency: 4 }
 * ```
 * @since 0.1.0
 */
export interface Options {
  /** Sent as `User-Agent`; its product token (before `/`) selects our robots.txt group. */
  readonly userAgent: string
  /** Requests in flight across all hosts. Default 256. */
  readonly globalConcurrency: number
  /** Requests in flight per host (`host:port`). Default 2. */
  readonly perHostConcurrency: number
  /** Minimum time between two request starts on one host. Default 250. */
  readonly perHostMinDelayMillis: number
  /** Adaptive throttle (see `Throttle`); `minDelayMillis` is `perHostMinDelayMillis`. */
  readonly throttle: Omit<Throttle.Options, "minDelayMillis">
  /** Check robots.txt before every fetch. Default `true`. */
  readonly robots: boolean
  /** How long fetched robots.txt rules are kept. Default 24 h (RFC 9309 maximum). */
  readonly robotsTtlMillis: number
  /** How long an unreachable robots.txt (5xx, timeout) disallows the host. Default 60 s. */
  readonly robotsErrorTtlMillis: number
  /** Origins whose robots.txt rules are cached at most. Default 100,000. */
  readonly robotsCacheCapacity: number
  /** `Crawl-delay` values above this are capped. Default 30 s. */
  readonly maxCrawlDelayMillis: number
  /** Retries per `fetchPage` call (shared by its redirect hops) for retryable failures. Default 2. */
  readonly maxRetries: number
  /** First backoff delay; doubles per retry, ±20 % jitter. Default 250. */
  readonly retryBaseMillis: number
  /** Largest backoff delay. Default 10 s. */
  readonly retryMaxDelayMillis: number
  /** A `Retry-After` longer than this is not waited for: the fetch fails. Default 60 s. */
  readonly maxRetryAfterMillis: number
  /** Consecutive host failures that open the circuit. Default 5. */
  readonly circuitFailureThreshold: number
  /** How long an open circuit refuses before a probe; doubles on a failed probe. Default 30 s. */
  readonly circuitCooldownMillis: number
  /** DNS + TCP (+ TLS) connect timeout. Default 10 s. */
  readonly connectTimeoutMillis: number
  /** Time from sending a request to its response head. Default 15 s. */
  readonly headersTimeoutMillis: number
  /** Time for one whole attempt, body included. Default 30 s. */
  readonly totalTimeoutMillis: number
  /** Largest body read from the wire. Default 8 MiB. */
  readonly maxBodyBytes: number
  /** Largest body after decompression. Default 32 MiB. */
  readonly maxDecompressedBytes: number
  /**
   * Response body bytes held in memory at once, all requests together (read from the wire, not
   * yet handed to the caller). Past it, connections stop reading new responses and responses under
   * way pause, so a burst waits in the kernel's socket buffers. Default 32 MiB.
   */
  readonly maxBufferedBodyBytes: number
  /** Redirects followed at most. Default 5. */
  readonly maxRedirects: number
  /** Host → IP overrides, `*.suffix` wildcards allowed (see `AddressGuard.resolveMap`). */
  readonly resolve: Readonly<Record<string, string>>
  /** Address ranges the SSRF guard lets through. Default none. */
  readonly allowRanges: ReadonlyArray<AddressGuard.Range>
  /** A host gate idle this long is dropped from memory. Default 120 s. */
  readonly hostIdleMillis: number
  /** undici connections kept per origin. Default `perHostConcurrency`. */
  readonly connectionsPerOrigin: number
  /** How long an idle keep-alive connection is kept. Default 30 s. */
  readonly keepAliveTimeoutMillis: number
}

/**
 * Settings given by the caller: any subset of `Options`.
 *
 * @example
 * ```ts
 * import { Fetcher } from "@trawl/fetch"
 * const input: Fetcher.Input = { robots: false, throttle: { enabled: false } }
 * ```
 * @since 0.1.0
 */
export type Input = Partial<Omit<Options, "throttle">> & {
  readonly throttle?: Partial<Options["throttle"]> | undefined
}

/**
 * The default user agent: names trawl and where to reach its operators.
 *
 * @example
 * ```ts
 * import { Fetcher } from "@trawl/fetch"
 * Fetcher.defaultUserAgent.startsWith("trawl/") // true
 * ```
 * @since 0.1.0
 */
export const defaultUserAgent = "trawl/0.1 (+https://github.com/trawl-dev/trawl; price monitoring)"

/**
 * The defaults of every setting.
 *
 * @example
 * ```ts
 * import { Fetcher } from "@trawl/fetch"
 * Fetcher.defaults.perHostConcurrency // 2
 * ```
 * @since 0.1.0
 */
export const defaults: Options = {
  userAgent: defaultUserAgent,
  globalConcurrency: 256,
  perHostConcurrency: 2,
  perHostMinDelayMillis: 250,
  throttle: { enabled: true, maxDelayMillis: 60_000, targetConcurrency: 2, backoffFloorMillis: 1_000 },
  robots: true,
  robotsTtlMillis: 24 * 60 * 60 * 1000,
  robotsErrorTtlMillis: 60_000,
  robotsCacheCapacity: 100_000,
  maxCrawlDelayMillis: 30_000,
  maxRetries: 2,
  retryBaseMillis: 250,
  retryMaxDelayMillis: 10_000,
  maxRetryAfterMillis: 60_000,
  circuitFailureThreshold: 5,
  circuitCooldownMillis: 30_000,
  connectTimeoutMillis: 10_000,
  headersTimeoutMillis: 15_000,
  totalTimeoutMillis: 30_000,
  maxBodyBytes: 8 * 1024 * 1024,
  maxDecompressedBytes: 32 * 1024 * 1024,
  maxBufferedBodyBytes: 32 * 1024 * 1024,
  maxRedirects: 5,
  resolve: {},
  allowRanges: [],
  hostIdleMillis: 120_000,
  connectionsPerOrigin: 2,
  keepAliveTimeoutMillis: 30_000
}

/**
 * Fills in defaults.
 *
 * @example
 * ```ts
 * import { Fetcher } from "@trawl/fetch"
 * Fetcher.resolveOptions({ perHostConcurrency: 4 }).connectionsPerOrigin // 4
 * ```
 * @since 0.1.0
 */
export const resolveOptions = (input: Input = {}): Options => {
  const defined = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) as Input
  const perHostConcurrency = defined.perHostConcurrency ?? defaults.perHostConcurrency
  return {
    ...defaults,
    connectionsPerOrigin: perHostConcurrency,
    ...defined,
    throttle: { ...defaults.throttle, ...defined.throttle } as Options["throttle"]
  } as Options
}

/**
 * A setting is out of range (e.g. a concurrency of 0, a user agent with a line
 * break, a resolve map value that is not an IP address).
 *
 * @example
 * ```ts
 * import { Fetcher } from "@trawl/fetch"
 * const error = new Fetcher.InvalidOptions({ option: "perHostConcurrency", reason: "must be a positive integer, got 0" })
 * ```
 * @since 0.1.0
 */
export class InvalidOptions extends Data.TaggedError("InvalidOptions")<{
  readonly option: string
  readonly reason: string
}> {
  override get message(): string {
    return `invalid fetcher option ${this.option}: ${this.reason}`
  }
}

/**
 * Checks every setting; the first bad one is returned.
 *
 * @example
 * ```ts
 * import { Fetcher } from "@trawl/fetch"
 * Fetcher.validate(Fetcher.resolveOptions({ perHostConcurrency: 0 }))?.option // "perHostConcurrency"
 * ```
 * @since 0.1.0
 */
export const validate = (options: Options): InvalidOptions | undefined => {
  const positiveIntegers = [
    "globalConcurrency",
    "perHostConcurrency",
    "connectionsPerOrigin",
    "robotsCacheCapacity",
    "circuitFailureThreshold",
    "maxBodyBytes",
    "maxDecompressedBytes",
    "maxBufferedBodyBytes",
    "connectTimeoutMillis",
    "headersTimeoutMillis",
    "totalTimeoutMillis",
    "hostIdleMillis"
  ] as const
  for (const option of positiveIntegers) {
    const value = options[option]
    if (!Number.isSafeInteger(value) || value <= 0) {
      return new InvalidOptions({ option, reason: `must be a positive integer, got ${value}` })
    }
  }
  const nonNegative = [
    "perHostMinDelayMillis",
    "robotsTtlMillis",
    "robotsErrorTtlMillis",
    "maxCrawlDelayMillis",
    "maxRetries",
    "retryBaseMillis",
    "retryMaxDelayMillis",
    "maxRetryAfterMillis",
    "circuitCooldownMillis",
    "maxRedirects",
    "keepAliveTimeoutMillis"
  ] as const
  for (const option of nonNegative) {
    const value = options[option]
    if (!Number.isFinite(value) || value < 0) {
      return new InvalidOptions({ option, reason: `must be a finite number >= 0, got ${value}` })
    }
  }
  if (!Number.isInteger(options.maxRetries) || !Number.isInteger(options.maxRedirects)) {
    return new InvalidOptions({ option: "maxRetries/maxRedirects", reason: "must be integers" })
  }
  if (options.userAgent.trim() === "" || /[\r\n\0]/.test(options.userAgent)) {
    return new InvalidOptions({ option: "userAgent", reason: "must be non-empty and on one line" })
  }
  if (!(options.throttle.targetConcurrency > 0) || !(options.throttle.maxDelayMillis >= 0)) {
    return new InvalidOptions({ option: "throttle", reason: "targetConcurrency must be > 0 and maxDelayMillis >= 0" })
  }
  const unknown = options.allowRanges.filter((range) => !AddressGuard.allRanges.includes(range))
  if (unknown.length > 0) {
    return new InvalidOptions({ option: "allowRanges", reason: `unknown ranges ${unknown.join(", ")}` })
  }
  try {
    AddressGuard.resolveMap(options.resolve)
  } catch (error) {
    return new InvalidOptions({ option: "resolve", reason: (error as Error).message })
  }
  return undefined
}

/**
 * The fetcher's face.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fetcher } from "@trawl/fetch"
 * const hosts = (fetcher: Fetcher.Service) => Effect.map(fetcher.hostCount, (n) => `${n} hosts`)
 * ```
 * @since 0.1.0
 */
export interface Service {
  /** Fetches one page (a URL string or a `FetchRequest` with validators). */
  readonly fetchPage: (request: Page.FetchRequest | string) => Effect.Effect<Page.Page, FetchError.FetchError>
  /** Host gates currently held in memory (idle hosts are swept). */
  readonly hostCount: Effect.Effect<number>
  /** The settings in force. */
  readonly options: Options
}

/**
 * The `Fetcher` service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fetcher } from "@trawl/fetch"
 * const program = Effect.gen(function*() {
 *   const fetcher = yield* Fetcher.Fetcher
 *   const page = yield* fetcher.fetchPage("https://shop.example/p/1")
 *   return page.text.length
 * }).pipe(Effect.provide(Fetcher.layer()))
 * ```
 * @since 0.1.0
 */
export class Fetcher extends Context.Service<Fetcher, Service>()("@trawl/fetch/Fetcher") {}

/** The result of one HTTP exchange that did not fail. */
interface Exchanged {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly location: URL | undefined
  readonly body: Uint8Array
  readonly charset: string
  readonly headersMillis: number
}

/** Filled in during an exchange, read by the gate when it ends. */
interface Observation {
  status: number | undefined
  latencyMillis: number
  retryAfterMillis: number | undefined
}

type RobotsEntry =
  | { readonly _tag: "Rules"; readonly rules: Robots.Rules; readonly ttlMillis: number; readonly fetchedAt: number }
  | {
    readonly _tag: "Forbidden"
    readonly error: FetchError.ForbiddenAddress
    readonly ttlMillis: number
    readonly fetchedAt: number
  }

const miss: unique symbol = Symbol("miss")
const redirectStatuses = new Set([301, 302, 303, 307, 308])
const drainLimit = 64 * 1024
// The budget an agent made by makeAgent shares with its connector (its read gate).
const budgets = new WeakMap<object, BodyBudget>()
const empty = new Uint8Array(0)
const robotsDecompressedLimit = 2 * 1024 * 1024

const parseUrl = (input: string, base?: URL): URL | FetchError.InvalidUrl => {
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

const productToken = (userAgent: string): string => userAgent.split(/[/\s]/)[0]!.trim() || "trawl"

const outcomeCounters = new Map<string, Metric.Metric<number, unknown>>()
const outcomeCounter = (outcome: string) => {
  let counter = outcomeCounters.get(outcome)
  if (counter === undefined) {
    counter = FetchMetrics.requests.pipe(Metric.withAttributes({ outcome }))
    outcomeCounters.set(outcome, counter)
  }
  return counter
}
const robotsCounters = new Map<string, Metric.Metric<number, unknown>>()
const robotsCounter = (outcome: string) => {
  let counter = robotsCounters.get(outcome)
  if (counter === undefined) {
    counter = FetchMetrics.robots.pipe(Metric.withAttributes({ outcome }))
    robotsCounters.set(outcome, counter)
  }
  return counter
}

/**
 * Builds a fetcher over the undici `Dispatcher` in context. The SSRF guard,
 * the resolve map and the read gate of the body budget live in the undici
 * connector, so use `layer` (or `layerDispatcher`) unless you bring your own
 * guarded dispatcher (then the budget can only pause responses under way).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fetcher } from "@trawl/fetch"
 * const options = Fetcher.resolveOptions({ allowRanges: ["loopback"] })
 * const fetcher = Fetcher.make(options).pipe(Effect.provide(Fetcher.layerDispatcher(options)))
 * ```
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Service, never, NodeHttpClient.Dispatcher | Scope.Scope> =>
  Effect.gen(function*() {
    const dispatcher = yield* NodeHttpClient.Dispatcher
    const budget = budgets.get(dispatcher) ?? new BodyBudget(options.maxBufferedBodyBytes)
    const gates = new HostGates({ perHostConcurrency: options.perHostConcurrency, idleMillis: options.hostIdleMillis })
    const global = new Permits(options.globalConcurrency)
    const throttleOptions: Throttle.Options = { ...options.throttle, minDelayMillis: 0 }
    const token = productToken(options.userAgent).toLowerCase()
    const baseHeaders: Readonly<Record<string, string>> = {
      "user-agent": options.userAgent,
      accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
      "accept-encoding": "gzip, deflate, br, zstd"
    }
    let inFlight = 0
    // What to read of a body, decided from the head (see internal/dispatch.ts).
    const discard: Dispatch.Plan = { _tag: "Discard" }
    const stop: Dispatch.Plan = { _tag: "Stop" }
    const keepPage: Dispatch.Plan = { _tag: "Keep", limit: options.maxBodyBytes, truncate: false }
    const keepRobots: Dispatch.Plan = { _tag: "Keep", limit: Robots.maxBytes, truncate: true }
    const discards = (status: number) => status >= 400 || status < 200 || status === 304 || redirectStatuses.has(status)
    // A declared length over the limit is refused before reading (BodyTooLarge).
    const planPage = (status: number, headers: Readonly<Record<string, string>>): Dispatch.Plan =>
      discards(status) ? discard : Number(headers["content-length"]) > options.maxBodyBytes ? stop : keepPage
    const planRobots = (status: number): Dispatch.Plan => discards(status) ? discard : keepRobots

    // --- sweeper: one fiber for all hosts --------------------------------------------------
    const sweepEvery = Math.max(1_000, Math.floor(options.hostIdleMillis / 2))
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.sleep(sweepEvery).pipe(
          Effect.andThen(Clock.currentTimeMillis),
          Effect.flatMap((now) => {
            const removed = gates.sweep(now)
            return Metric.update(FetchMetrics.hosts, gates.gates.size).pipe(
              Effect.andThen(removed > 0 ? Effect.logDebug(`swept ${removed} idle host gates`) : Effect.void)
            )
          })
        )
      )
    )

    // --- gate ---------------------------------------------------------------------------------
    const delayOf = (gate: HostGate) =>
      Math.max(options.perHostMinDelayMillis, gate.crawlDelayMillis, gate.throttleDelayMillis)

    // Returns the admission: "go", "probe" (half-open), or the time the circuit reopens.
    const admit = (gate: HostGate, now: number): "go" | "probe" | number => {
      switch (gate.circuit) {
        case "closed":
          return "go"
        case "open":
          if (now < gate.retryAt) return gate.retryAt
          gate.circuit = "halfOpen"
          gate.probing = true
          return "probe"
        case "halfOpen":
          if (gate.probing) return Math.max(gate.retryAt, now)
          gate.probing = true
          return "probe"
      }
    }

    const record = (
      gate: HostGate,
      observation: Observation,
      exit: Exit.Exit<unknown, FetchError.FetchError>,
      probe: boolean,
      now: number
    ) => {
      if (probe) gate.probing = false
      const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
      if (Exit.isFailure(exit) && error === undefined) return Effect.void // interrupted or defect: no verdict
      const status = observation.status
      const hostFailed = status !== undefined ? status >= 500 : error !== undefined && FetchError.isHostFailure(error)
      if (status !== undefined) {
        gate.throttleDelayMillis = Throttle.next(throttleOptions, gate.throttleDelayMillis, {
          _tag: "Response",
          status,
          latencyMillis: observation.latencyMillis
        })
      } else if (hostFailed) {
        gate.throttleDelayMillis = Throttle.next(throttleOptions, gate.throttleDelayMillis, { _tag: "Failure" })
      }
      if (observation.retryAfterMillis !== undefined) {
        gate.nextAllowedAt = Math.max(
          gate.nextAllowedAt,
          now + Math.min(observation.retryAfterMillis, options.maxRetryAfterMillis)
        )
      }
      if (hostFailed) {
        gate.consecutiveFailures++
        if (gate.circuit === "halfOpen" || gate.consecutiveFailures >= options.circuitFailureThreshold) {
          gate.cooldownMillis = gate.circuit === "halfOpen"
            ? Math.min(gate.cooldownMillis * 2, 16 * options.circuitCooldownMillis)
            : options.circuitCooldownMillis
          gate.circuit = "open"
          gate.retryAt = now + gate.cooldownMillis
          return Effect.logWarning(`circuit open for ${gate.host} for ${gate.cooldownMillis} ms`)
        }
      } else if (status !== undefined) {
        gate.consecutiveFailures = 0
        gate.circuit = "closed"
        gate.cooldownMillis = 0
      }
      return Effect.void
    }

    // One uninterruptible region per gated call: waits (permits, start slot, use) are the only
    // interruptible parts, so permits and the gate's user count are always given back.
    const gated = <A>(
      clock: Clock.Clock,
      url: URL,
      crawlDelayMillis: number | undefined,
      use: (observation: Observation) => Effect.Effect<A, FetchError.FetchError>
    ): Effect.Effect<readonly [A, number], FetchError.FetchError> =>
      Effect.uninterruptibleMask((restore) => {
        const gate = gates.enter(url.host, clock.currentTimeMillisUnsafe())
        if (crawlDelayMillis !== undefined) {
          gate.crawlDelayMillis = Math.min(crawlDelayMillis, options.maxCrawlDelayMillis)
        }
        let hostPermit = false
        let globalPermit = false
        const waitStarted = performance.now()
        return Effect.gen(function*() {
          if (gate.circuit === "open" && clock.currentTimeMillisUnsafe() < gate.retryAt) {
            return yield* new FetchError.CircuitOpen({ url: url.href, host: url.host, retryAt: gate.retryAt })
          }
          if (!gate.permits.tryTake()) yield* restore(gate.permits.take)
          hostPermit = true
          // Wait for the host's start slot, then a global permit; re-check the slot after the
          // global wait so two starts on a host are never closer than the host delay.
          for (;;) {
            const now = clock.currentTimeMillisUnsafe()
            if (gate.nextAllowedAt > now) {
              yield* restore(Effect.sleep(gate.nextAllowedAt - now))
              continue
            }
            if (!global.tryTake()) yield* restore(global.take)
            globalPermit = true
            const after = clock.currentTimeMillisUnsafe()
            if (after >= gate.nextAllowedAt) {
              gate.nextAllowedAt = after + delayOf(gate)
              break
            }
            global.release()
            globalPermit = false
          }
          const queuedMillis = performance.now() - waitStarted
          yield* Metric.update(FetchMetrics.gateWait, queuedMillis)
          const admission = admit(gate, clock.currentTimeMillisUnsafe())
          if (typeof admission === "number") {
            return yield* new FetchError.CircuitOpen({ url: url.href, host: url.host, retryAt: admission })
          }
          const observation: Observation = { status: undefined, latencyMillis: 0, retryAfterMillis: undefined }
          const exit = yield* Effect.exit(restore(use(observation)))
          yield* record(gate, observation, exit, admission === "probe", clock.currentTimeMillisUnsafe())
          const value = yield* exit
          return [value, queuedMillis] as const
        }).pipe(
          Effect.ensuring(Effect.sync(() => {
            if (globalPermit) global.release()
            if (hostPermit) gate.permits.release()
            gates.leave(gate, clock.currentTimeMillisUnsafe())
          }))
        )
      })

    // --- one HTTP exchange ---------------------------------------------------------------------
    // Straight on the undici dispatcher with our own handler (see internal/dispatch.ts). The
    // exchange is disposed on every exit: an unfinished one aborts its request (and connection),
    // a finished one leaves the connection alive; its body bytes go back to the budget once this
    // fiber has the result.
    const dispatchSettings: Dispatch.Settings = {
      dispatcher,
      budget,
      connectTimeoutMillis: options.connectTimeoutMillis,
      headersTimeoutMillis: options.headersTimeoutMillis,
      totalTimeoutMillis: options.totalTimeoutMillis,
      drainLimit
    }
    const exchange = (
      url: URL,
      headers: Readonly<Record<string, string>>,
      mode: "page" | "robots",
      observation: Observation
    ): Effect.Effect<Exchanged, FetchError.FetchError> =>
      Effect.suspend(() => {
        const ongoing = new Dispatch.Exchange(dispatchSettings, url, headers, mode === "page" ? planPage : planRobots)
        inFlight++
        return Metric.update(FetchMetrics.inFlight, inFlight).pipe(
          Effect.andThen(ongoing.run),
          Effect.flatMap((response) =>
            response.status === 429 || response.status === 503
              ? Effect.flatMap(Clock.currentTimeMillis, (now) => {
                observation.retryAfterMillis = Throttle.parseRetryAfter(response.headers["retry-after"], now)
                return settle(url, mode, observation, response)
              })
              : settle(url, mode, observation, response)
          ),
          Effect.onExit(() => {
            ongoing.dispose()
            inFlight--
            return Metric.update(FetchMetrics.inFlight, inFlight)
          })
        )
      })

    const settle = (
      url: URL,
      mode: "page" | "robots",
      observation: Observation,
      response: Dispatch.Response
    ): Effect.Effect<Exchanged, FetchError.FetchError> => {
      const { status, headers: responseHeaders, headersMillis } = response
      const href = url.href
      observation.status = status
      observation.latencyMillis = headersMillis
      const location = responseHeaders["location"]
      if (redirectStatuses.has(status) && location !== undefined) {
        const target = parseUrl(location, url)
        if (target instanceof FetchError.InvalidUrl) return Effect.fail(target)
        return Effect.succeed({ status, headers: responseHeaders, location: target, body: empty, charset: "utf-8", headersMillis })
      }
      if (status === 304) {
        return Effect.succeed({ status, headers: responseHeaders, location: undefined, body: empty, charset: "utf-8", headersMillis })
      }
      if (status >= 400 || status < 200 || redirectStatuses.has(status)) {
        return Effect.fail(new FetchError.HttpStatus({ url: href, status, retryAfterMillis: observation.retryAfterMillis }))
      }
      const limit = mode === "robots" ? Robots.maxBytes : options.maxBodyBytes
      if (response.plan._tag === "Stop") {
        return Effect.fail(new FetchError.BodyTooLarge({ url: href, limit, contentLength: Number(responseHeaders["content-length"]) }))
      }
      if (response.overflow && mode === "page") return Effect.fail(new FetchError.BodyTooLarge({ url: href, limit }))
      const raw = response.body
      const encoding = responseHeaders["content-encoding"]
      const decoded = encoding === undefined
        ? Effect.as(Metric.update(FetchMetrics.bytes, raw.byteLength), raw)
        : Effect.andThen(
          Metric.update(FetchMetrics.bytes, raw.byteLength),
          Body.decompress(raw, encoding, href, mode === "robots" ? robotsDecompressedLimit : options.maxDecompressedBytes)
        )
      return Effect.flatMap(decoded, (body): Effect.Effect<Exchanged, FetchError.FetchError> => {
        if (mode === "robots") {
          return Effect.succeed({ status, headers: responseHeaders, location: undefined, body, charset: "utf-8", headersMillis })
        }
        const sniffed = Charset.sniff(responseHeaders["content-type"], body)
        if (sniffed._tag === "Unknown") return Effect.fail(new FetchError.BadCharset({ url: href, charset: sniffed.label }))
        return Effect.succeed({ status, headers: responseHeaders, location: undefined, body, charset: sniffed.charset, headersMillis })
      })
    }

    // --- retries ------------------------------------------------------------------------------
    // Retry n waits retryBase * 2^(n-1), jittered ±20 %, capped at retryMaxDelay.
    const firstRetryDelay = Effect.map(
      Random.nextBetween(0.8, 1.2),
      (jitter) => Math.min(options.retryBaseMillis * jitter, options.retryMaxDelayMillis)
    )
    const laterRetries = Schedule.exponential(Duration.millis(options.retryBaseMillis * 2), 2).pipe(
      Schedule.jittered,
      Schedule.modifyDelay(({ duration }) =>
        Effect.succeed(Duration.min(Duration.fromInputUnsafe(duration), Duration.millis(options.retryMaxDelayMillis)))
      ),
      Schedule.upTo({ times: Math.max(0, options.maxRetries - 1) })
    )
    const shouldRetry = (error: FetchError.FetchError) =>
      FetchError.isRetryable(error) &&
      !(error._tag === "HttpStatus" && (error.retryAfterMillis ?? 0) > options.maxRetryAfterMillis)

    // The first attempt runs bare; the Schedule is only engaged after a retryable failure.
    // `budget.left` is shared by every hop of one fetchPage call: the retry budget is per request.
    // `budget.attempts` counts the attempts of the current hop.
    const withRetries = <A>(
      url: URL,
      budget: { left: number; attempts: number },
      attempt: () => Effect.Effect<A, FetchError.FetchError>
    ): Effect.Effect<A, FetchError.FetchError> => {
      budget.attempts = 1
      const canRetry = (error: FetchError.FetchError) => budget.left > 0 && shouldRetry(error)
      return Effect.catch(attempt(), (error: FetchError.FetchError) =>
        !canRetry(error)
          ? Effect.fail(error)
          : Effect.andThen(
            Effect.flatMap(firstRetryDelay, Effect.sleep),
            Effect.retry(
              Effect.suspend(() => {
                budget.attempts++
                budget.left--
                return Metric.update(FetchMetrics.retries, 1).pipe(
                  Effect.andThen(Effect.logDebug(`retry ${budget.attempts - 1} of ${url.href}`)),
                  Effect.andThen(attempt())
                )
              }),
              { schedule: laterRetries, while: canRetry }
            )
          ))
    }

    // --- robots.txt ---------------------------------------------------------------------------
    const fetchRobots = (origin: string): Effect.Effect<RobotsEntry> =>
      Effect.gen(function*() {
        const clock = yield* Effect.clockWith(Effect.succeed)
        let url = new URL("/robots.txt", origin)
        const ok = (rules: Robots.Rules, outcome: string, ttlMillis: number) =>
          Metric.update(robotsCounter(outcome), 1).pipe(
            Effect.andThen(Clock.currentTimeMillis),
            Effect.map((fetchedAt): RobotsEntry => ({ _tag: "Rules", rules, ttlMillis, fetchedAt }))
          )
        for (let hop = 0; hop <= 5; hop++) {
          const target = url
          const result = yield* Effect.exit(
            gated(clock, target, undefined, (observation) => exchange(target, baseHeaders, "robots", observation))
          )
          if (Exit.isSuccess(result)) {
            const [exchanged] = result.value
            if (exchanged.location !== undefined) {
              url = exchanged.location
              continue
            }
            const text = Charset.decode(exchanged.body, "utf-8")
            return yield* ok(Robots.parse(text, token), "rules", options.robotsTtlMillis)
          }
          const error = Option.getOrUndefined(Exit.findErrorOption(result))
          if (error === undefined) return yield* Effect.failCause(result.cause) as Effect.Effect<never>
          switch (error._tag) {
            case "HttpStatus":
              return error.status >= 400 && error.status < 500 && error.status !== 429
                ? yield* ok(Robots.allowAll, "allow_all", options.robotsTtlMillis)
                : yield* ok(Robots.disallowAll, "unreachable", options.robotsErrorTtlMillis)
            case "Timeout":
            case "ConnectFailed":
            case "ConnectionLost":
            case "CircuitOpen":
              return yield* ok(Robots.disallowAll, "unreachable", options.robotsErrorTtlMillis)
            case "ForbiddenAddress":
              yield* Metric.update(robotsCounter("forbidden"), 1)
              return {
                _tag: "Forbidden",
                error,
                ttlMillis: options.robotsErrorTtlMillis,
                fetchedAt: yield* Clock.currentTimeMillis
              } as const
            default:
              // Unparseable robots.txt (bad encoding, bomb, bad redirect): treat as absent.
              return yield* ok(Robots.allowAll, "allow_all", options.robotsTtlMillis)
          }
        }
        return yield* ok(Robots.allowAll, "allow_all", options.robotsTtlMillis)
      })

    const robotsCache = yield* Cache.makeWith(fetchRobots, {
      capacity: options.robotsCacheCapacity,
      timeToLive: (exit) => Exit.isSuccess(exit) ? exit.value.ttlMillis : options.robotsErrorTtlMillis
    })

    // Hits are answered synchronously from a bounded map (insertion order = age); misses and
    // expired entries go through the Effect Cache, which dedupes concurrent fetches per origin.
    const robotsHits = new Map<string, { readonly entry: RobotsEntry; readonly expiresAt: number }>()
    const robotsVerdict = (entry: RobotsEntry, url: URL): number | undefined | FetchError.FetchError => {
      if (entry._tag === "Forbidden") return new FetchError.ForbiddenAddress({ ...entry.error, url: url.href })
      const verdict = Robots.isAllowed(entry.rules, url.pathname + url.search)
      if (!verdict.allowed) return new FetchError.RobotsDisallowed({ url: url.href, rule: verdict.rule })
      const delay = entry.rules.crawlDelaySeconds
      // 0, not undefined: a Crawl-delay removed from robots.txt must stop applying.
      return delay === undefined ? 0 : delay * 1000
    }
    const robotsHit = (url: URL, now: number): number | undefined | FetchError.FetchError | typeof miss => {
      const hit = robotsHits.get(url.origin)
      if (hit === undefined) return miss
      if (hit.expiresAt <= now) {
        robotsHits.delete(url.origin)
        return miss
      }
      return robotsVerdict(hit.entry, url)
    }
    const robotsLookup = (url: URL) =>
      Effect.map(Cache.get(robotsCache, url.origin), (entry) => {
        if (!robotsHits.has(url.origin)) {
          if (robotsHits.size >= options.robotsCacheCapacity) {
            robotsHits.delete(robotsHits.keys().next().value!)
          }
          robotsHits.set(url.origin, { entry, expiresAt: entry.fetchedAt + entry.ttlMillis })
        }
        return robotsVerdict(entry, url)
      })

    // --- fetchPage ----------------------------------------------------------------------------
    const fetchPage = (input: Page.FetchRequest | string): Effect.Effect<Page.Page, FetchError.FetchError> =>
      Effect.suspend(() => {
        const request: Pick<Page.FetchRequest, "url" | "validators" | "headers"> = typeof input === "string"
          ? { url: input, validators: undefined, headers: undefined }
          : input
        const started = performance.now()
        return Effect.gen(function*() {
          const clock = yield* Effect.clockWith(Effect.succeed)
          const startedAt = clock.currentTimeMillisUnsafe()
          const first = parseUrl(request.url)
          if (first instanceof FetchError.InvalidUrl) return yield* first
          const validators = request.validators
          // The shared base headers serve most requests as they are; copy only to add to them.
          let headers = baseHeaders
          if (request.headers !== undefined || validators?.etag !== undefined || validators?.lastModified !== undefined) {
            const own: Record<string, string> = { ...request.headers, ...baseHeaders }
            if (validators?.etag !== undefined) own["if-none-match"] = validators.etag
            if (validators?.lastModified !== undefined) own["if-modified-since"] = validators.lastModified
            headers = own
          }
          const budget = { left: options.maxRetries, attempts: 0 }
          const redirects: Array<Page.Redirect> = []
          let visited: Set<string> | undefined
          let url = first
          let queuedMillis = 0
          for (;;) {
            let crawlDelay: number | undefined = undefined
            if (options.robots) {
              let verdict = robotsHit(url, clock.currentTimeMillisUnsafe())
              if (verdict === miss) verdict = yield* robotsLookup(url)
              if (verdict instanceof FetchError.ForbiddenAddress || verdict instanceof FetchError.RobotsDisallowed) {
                return yield* verdict
              }
              crawlDelay = verdict as number | undefined
            }
            const hop = url
            const [exchanged, queued] = yield* withRetries(hop, budget, () =>
              gated(clock, hop, crawlDelay, (observation) => exchange(hop, headers, "page", observation))
            )
            const attempts = budget.attempts
            queuedMillis += queued
            if (exchanged.location !== undefined) {
              redirects.push(new Page.Redirect({ url: hop.href, status: exchanged.status }))
              const next = exchanged.location
              const chain = [...redirects.map((redirect) => redirect.url), next.href]
              visited ??= new Set([first.href])
              if (visited.has(next.href)) {
                return yield* new FetchError.TooManyRedirects({
                  url: first.href,
                  limit: options.maxRedirects,
                  chain,
                  loop: true
                })
              }
              if (redirects.length > options.maxRedirects) {
                return yield* new FetchError.TooManyRedirects({
                  url: first.href,
                  limit: options.maxRedirects,
                  chain,
                  loop: false
                })
              }
              visited.add(next.href)
              url = next
              continue
            }
            const notModified = exchanged.status === 304
            const etag = exchanged.headers["etag"] ?? (notModified ? request.validators?.etag : undefined)
            const lastModified = exchanged.headers["last-modified"] ??
              (notModified ? request.validators?.lastModified : undefined)
            return new Page.Page({
              url: hop.href,
              requestedUrl: first.href,
              status: exchanged.status,
              headers: exchanged.headers,
              body: exchanged.body,
              charset: exchanged.charset,
              notModified,
              redirects,
              validators: new Page.Validators({
                ...(etag === undefined ? {} : { etag }),
                ...(lastModified === undefined ? {} : { lastModified })
              }),
              timings: new Page.Timings({
                startedAt,
                queuedMillis,
                headersMillis: exchanged.headersMillis,
                totalMillis: performance.now() - started,
                attempts
              })
            })
          }
        }).pipe(
          Effect.onExit((exit) => {
            const outcome = Exit.isSuccess(exit)
              ? exit.value.notModified ? "not_modified" : "ok"
              : Option.match(Exit.findErrorOption(exit), { onNone: () => "interrupted", onSome: (error) => error._tag })
            return Metric.update(outcomeCounter(outcome), 1).pipe(
              Effect.andThen(Metric.update(FetchMetrics.latency, performance.now() - started))
            )
          })
        )
      })

    return {
      fetchPage,
      hostCount: Effect.sync(() => gates.gates.size),
      options
    } satisfies Service
  })

/**
 * Acquires the tuned undici `Agent` (keep-alive, `connectionsPerOrigin`
 * connections per origin, no pipelining) whose connector applies the resolve
 * map and the SSRF guard; destroyed with the scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fetcher } from "@trawl/fetch"
 * const program = Effect.scoped(Fetcher.makeAgent(Fetcher.resolveOptions()))
 * ```
 * @since 0.1.0
 */
export const makeAgent = (options: Options): Effect.Effect<Agent, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const budget = new BodyBudget(options.maxBufferedBodyBytes)
      const agent = new Agent({
        connections: options.connectionsPerOrigin,
        pipelining: 1,
        keepAliveTimeout: options.keepAliveTimeoutMillis,
        keepAliveMaxTimeout: Math.max(options.keepAliveTimeoutMillis, 60_000),
        connect: Connector.make({
          connectTimeoutMillis: options.connectTimeoutMillis,
          resolve: AddressGuard.resolveMap(options.resolve),
          allowedRanges: options.allowRanges,
          budget
        })
      })
      budgets.set(agent, budget)
      return agent
    }),
    (agent) => Effect.promise(() => agent.destroy())
  )

/**
 * The undici `Dispatcher` layer used by `layer`.
 *
 * @example
 * ```ts
 * import { Fetcher } from "@trawl/fetch"
 * const dispatcher = Fetcher.layerDispatcher(Fetcher.resolveOptions({ allowRanges: ["loopback"] }))
 * ```
 * @since 0.1.0
 */
export const layerDispatcher = (options: Options): Layer.Layer<NodeHttpClient.Dispatcher> =>
  Layer.effect(NodeHttpClient.Dispatcher)(makeAgent(options))

/**
 * The fetcher with its own undici agent, resolve map and SSRF guard.
 *
 * @example
 * ```ts
 * import { Fetcher } from "@trawl/fetch"
 * const live = Fetcher.layer({ perHostConcurrency: 2, resolve: { "*.shop.test": "127.0.0.1" }, allowRanges: ["loopback"] })
 * ```
 * @since 0.1.0
 */
export const layer = (input: Input = {}): Layer.Layer<Fetcher, InvalidOptions> => {
  const options = resolveOptions(input)
  return Layer.effect(Fetcher)(
    Effect.gen(function*() {
      const invalid = validate(options)
      if (invalid !== undefined) return yield* invalid
      const agent = yield* makeAgent(options)
      return yield* Effect.provideService(make(options), NodeHttpClient.Dispatcher, agent)
    })
  )
}

const parseList = (text: string): ReadonlyArray<string> =>
  text.split(",").map((part) => part.trim()).filter((part) => part !== "")

/**
 * Settings read through Effect `Config` (environment variables by default):
 *
 * - `TRAWL_FETCH_USER_AGENT`, `TRAWL_FETCH_GLOBAL_CONCURRENCY`, `TRAWL_FETCH_PER_HOST_CONCURRENCY`,
 *   `TRAWL_FETCH_PER_HOST_DELAY_MS`, `TRAWL_FETCH_ROBOTS` (`true`/`false`), `TRAWL_FETCH_MAX_RETRIES`,
 *   `TRAWL_FETCH_MAX_BODY_BYTES`, `TRAWL_FETCH_TIMEOUT_MS` (total),
 * - `TRAWL_FETCH_RESOLVE` — `pattern=ip` pairs, comma separated (`*.shop.test=127.0.0.1`),
 * - `TRAWL_FETCH_ALLOW_RANGES` — comma separated `AddressGuard.Range` names (`loopback`).
 *
 * Unset values keep the defaults.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fetcher } from "@trawl/fetch"
 * const options = Effect.runSync(Effect.gen(function*() { return yield* Fetcher.config }))
 * ```
 * @since 0.1.0
 */
export const config: Config.Config<Input> = Config.all({
  userAgent: Config.String("TRAWL_FETCH_USER_AGENT").pipe(Config.withDefault(defaults.userAgent)),
  globalConcurrency: Config.Int("TRAWL_FETCH_GLOBAL_CONCURRENCY").pipe(Config.withDefault(defaults.globalConcurrency)),
  perHostConcurrency: Config.Int("TRAWL_FETCH_PER_HOST_CONCURRENCY").pipe(
    Config.withDefault(defaults.perHostConcurrency)
  ),
  perHostMinDelayMillis: Config.Int("TRAWL_FETCH_PER_HOST_DELAY_MS").pipe(
    Config.withDefault(defaults.perHostMinDelayMillis)
  ),
  robots: Config.Boolean("TRAWL_FETCH_ROBOTS").pipe(Config.withDefault(defaults.robots)),
  maxRetries: Config.Int("TRAWL_FETCH_MAX_RETRIES").pipe(Config.withDefault(defaults.maxRetries)),
  maxBodyBytes: Config.Int("TRAWL_FETCH_MAX_BODY_BYTES").pipe(Config.withDefault(defaults.maxBodyBytes)),
  totalTimeoutMillis: Config.Int("TRAWL_FETCH_TIMEOUT_MS").pipe(Config.withDefault(defaults.totalTimeoutMillis)),
  resolve: Config.String("TRAWL_FETCH_RESOLVE").pipe(
    Config.withDefault(""),
    Config.map((text) =>
      Object.fromEntries(parseList(text).map((pair) => {
        const at = pair.lastIndexOf("=")
        return [pair.slice(0, at), pair.slice(at + 1)] as const
      }))
    )
  ),
  allowRanges: Config.String("TRAWL_FETCH_ALLOW_RANGES").pipe(
    Config.withDefault(""),
    Config.mapEffect((text) => {
      const names = parseList(text)
      const unknown = names.filter((name) => !(AddressGuard.allRanges as ReadonlyArray<string>).includes(name))
      return unknown.length === 0
        ? Effect.succeed(names as ReadonlyArray<AddressGuard.Range>)
        : Effect.fail(
          new Config.ConfigError(
            new ConfigProvider.SourceError({
              message: `TRAWL_FETCH_ALLOW_RANGES: unknown ranges ${unknown.join(", ")}; known: ${
                AddressGuard.allRanges.join(", ")
              }`
            })
          )
        )
    })
  )
})

/**
 * `layer` with settings from `config`.
 *
 * @example
 * ```ts
 * import { Fetcher } from "@trawl/fetch"
 * const live = Fetcher.layerConfig
 * ```
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<Fetcher, Config.ConfigError | InvalidOptions> = Layer.unwrap(
  Effect.gen(function*() {
    return layer(yield* config)
  })
)
