/**
 * The `Fetcher` service: polite, bounded, retrying HTTP for many hosts.
 *
 * One `fetchPage(request)` is one fiber. It goes through, in order:
 *
 * 1. **URL check** — absolute http(s) URLs only (`InvalidUrl`).
 * 2. **robots.txt** — fetched once per origin (through the same gates),
 *    cached with a TTL; see `Robots` for the rules (`RobotsDisallowed`).
 * 3. **Host gate** — at most `perHostConcurrency` requests in flight per
 *    host (a host is the URL's hostname, without the port: the ports of one
 *    machine share its politeness; robots.txt stays per origin, as RFC 9309
 *    says), starts spaced by the host delay (the largest of the configured
 *    minimum, robots `Crawl-delay` and the adaptive `Throttle` delay, and
 *    pushed back by `Retry-After`); then one of `globalConcurrency` global
 *    permits. Gates are plain records made on demand and swept when idle.
 * 4. **Circuit breaker** — after `circuitFailureThreshold` consecutive host
 *    failures, or one timeout, the host is refused (`CircuitOpen`) for a
 *    cooldown, then one probe is let through (half-open); its outcome closes
 *    or re-opens it.
 * 5. **Exchange** — straight on the undici dispatcher with our own dispatch
 *    handler (Effect's `HttpClient` costs a stream, a promise and an abort
 *    signal per request, and cannot pause a response), with connect,
 *    headers and total timeouts (`Timeout`), body size cap (`BodyTooLarge`,
 *    checked on `Content-Length` before reading and while streaming), a
 *    budget of body bytes held in memory (`maxBufferedBodyBytes`: past it
 *    connections stop reading new responses and responses pause),
 *    decompression with an output cap (`DecompressionBomb`), charset
 *    sniffing (`BadCharset`) — unless the call asks for the body as received
 *    (`decodeBody: false`; then `Decode` does both where the consumer
 *    chooses) —, conditional GET (`notModified`). Network
 *    timeouts run on real timers; politeness waits (delays, backoff, robots
 *    TTLs, idle sweeps) use the Effect `Clock`, so a `TestClock` drives them.
 * 6. **Retries** — retryable failures (see `FetchError.isRetryable`) are
 *    retried with jittered exponential backoff (`Schedule`), at most
 *    `maxRetries` times per request (all hops together), all within one
 *    deadline (`totalTimeoutMillis` from the call's first request): a retry
 *    that could not start before it is not made, and a `Timeout` is not
 *    retried. A `Retry-After` longer than `maxRetryAfterMillis` is not waited for.
 * 7. **Redirects** — followed by hand, each hop through steps 2–6, up to
 *    `maxRedirects`, a revisited URL is a loop (`TooManyRedirects`).
 *
 * A caller that schedules hosts itself (one actor per host) asks the gate
 * first: `reserve(host)` takes a start without waiting or says when to ask
 * again, and `fetchPage(request, { reservation })` starts on it — see
 * `Reservation`.
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
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { Agent, type Pool } from "undici"
import * as AddressGuard from "./AddressGuard.ts"
import * as Charset from "./Charset.ts"
import * as FetchError from "./FetchError.ts"
import * as FetchMetrics from "./FetchMetrics.ts"
import { BodyBudget } from "./internal/budget.ts"
import * as Connector from "./internal/connector.ts"
import * as HostGates from "./internal/hostGates.ts"
import * as Job from "./internal/job.ts"
import { Permits } from "./internal/permits.ts"
import * as Pools from "./internal/pools.ts"
import * as Page from "./Page.ts"
import type * as Reservation from "./Reservation.ts"
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
  /** Requests in flight per host (the URL's hostname, without the port). Default 2. */
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
  /**
   * Time for a whole call from its first request: every attempt, retry backoff
   * and redirect hop, bodies included (waits in the host gate before the first
   * request do not count). Default 30 s.
   */
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
 * Options of one `fetchPage` call.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fetcher, Reservation } from "@trawl/fetch"
 * const fetchOn = (fetcher: Fetcher.Service, reservation: Reservation.Reservation) =>
 *   fetcher.fetchPage("https://shop.example/p/1", { reservation } satisfies Fetcher.FetchPageOptions)
 * ```
 * @since 0.2.0
 */
export interface FetchPageOptions {
  /**
   * A start taken by `reserve` for the URL's host: the call's first attempt starts on it (no
   * permit wait, no spacing sleep; robots.txt is checked first, the global permit taken as usual).
   * The call owns it from its start and gives it back on every exit; see `Service.fetchPage`.
   */
  readonly reservation?: Reservation.Reservation | undefined
  /**
   * `false`: the page's body is handed back as received — still compressed, its
   * `Content-Encoding` in `Page.contentEncoding`, its charset not chosen yet
   * (`Page.charset` is `""`) — so the consumer can decode it elsewhere, e.g. in
   * a worker thread, with `Decode.decode` (and `options.maxDecompressedBytes`),
   * which gives exactly the bytes, charset or typed error (`DecompressionBomb`,
   * `BadContentEncoding`, `BadCharset`) this call would have given. The body read
   * from the wire is still capped by `maxBodyBytes`. Default `true`: the call
   * decompresses and sniffs the charset itself.
   */
  readonly decodeBody?: boolean | undefined
}

/**
 * Hosts held back now (`Service.hostStates`).
 *
 * @since 0.3.0
 */
export interface HostStates {
  /** Host gates in memory (hosts with recent requests). */
  readonly held: number
  /** Hosts the adaptive throttle slows to at least `throttle.backoffFloorMillis` between starts, or that wait out a `Retry-After`. */
  readonly throttled: number
  /** Hosts whose circuit is open or half-open (refused until a probe succeeds). */
  readonly circuitOpen: number
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
  /**
   * Fetches one page (a URL string or a `FetchRequest` with validators).
   *
   * With `options.reservation` (from `reserve`), the call's **first attempt** uses the
   * reservation: no wait for a host permit, no sleep for the start spacing. robots.txt is still
   * checked first and the global permit still taken; retries and redirect hops go through the
   * gate as usual. The reservation is given back, and the call goes through the gate, when
   * robots.txt refuses the URL, when the origin's robots.txt is not cached yet (fetching it takes
   * the start), or when the URL's hostname is not the reservation's. If the wait for the global
   * permit outlasts the host's delay and another start on the host came in meanwhile, the attempt
   * waits for the spacing like any other (politeness first). A reservation already used or
   * released is ignored.
   *
   * The call owns the reservation from its first step and gives it back on every exit,
   * interruption included. A fiber interrupted before its first step never runs at all: when
   * that can happen (a fork interrupted at once), `Reservation.release` after it — a no-op on a
   * reservation a call has taken — or fork with `startImmediately: true`.
   */
  readonly fetchPage: (
    request: Page.FetchRequest | string,
    options?: FetchPageOptions
  ) => Effect.Effect<Page.Page, FetchError.FetchError>
  /**
   * Takes a start on `host` now, without waiting, if politeness allows one: a
   * per-host permit is free, the host's start spacing has elapsed, and its
   * circuit admits a request. Otherwise says when to ask again.
   *
   * `host` is a hostname, without the port (`new URL(url).hostname`). The decision is made on
   * the host's gate itself — the one `fetchPage` uses — so reserved and ordinary calls on a host
   * share its permits, spacing (min delay, `Crawl-delay`, throttle, `Retry-After`) and circuit.
   * A reservation holds the host permit and the start slot (the next start is spaced from now,
   * exactly as an attempt's admission does; a half-open circuit's probe is the reservation's)
   * until a `fetchPage` call uses it or `Reservation.release` gives it back. The refusals:
   * `Busy` — all the host's permits are in use (or its half-open probe is out), ask again after
   * one of its requests ends; `NotBefore` — not before `at` (epoch ms of the Effect `Clock`),
   * `reason` `"spacing"` or `"circuit"` (an open circuit's reopening).
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Fetcher, Reservation } from "@trawl/fetch"
   * const next = (fetcher: Fetcher.Service, url: string) =>
   *   Effect.flatMap(fetcher.reserve(new URL(url).hostname), (answer) =>
   *     Reservation.isReservation(answer)
   *       ? Effect.map(fetcher.fetchPage(url, { reservation: answer }), (page) => page.status)
   *       : Effect.succeed(answer._tag === "NotBefore" ? `again at ${answer.at}` : "again after a request ends"))
   * ```
   * @since 0.2.0
   */
  readonly reserve: (host: string) => Effect.Effect<Reservation.Reservation | Reservation.Refusal>
  /**
   * Gets ready to fetch `url`: looks up its origin's robots.txt now unless it
   * is cached (through the host's gate, as `fetchPage` would) and takes the
   * `Crawl-delay` it sets into the host's spacing. A caller that schedules
   * hosts itself (`reserve`) calls it before a host's first page, so it
   * learns the host's delay before that page's call, and no call waits in the
   * gate for a delay it did not know of. Never fails: a verdict that refuses
   * the URL is the page call's to report. Does nothing with `robots: false`
   * or an invalid URL.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Fetcher } from "@trawl/fetch"
   * const first = (fetcher: Fetcher.Service, url: string) =>
   *   Effect.andThen(fetcher.prepare(url), fetcher.reserve(new URL(url).hostname))
   * ```
   */
  readonly prepare: (url: string) => Effect.Effect<void>
  /** Host gates currently held in memory (idle hosts are swept). */
  readonly hostCount: Effect.Effect<number>
  /**
   * The hosts held back now, counted over the host gates in memory: throttled
   * (the adaptive throttle spaces starts by at least `throttle.backoffFloorMillis`,
   * beyond the configured minimum and `Crawl-delay`: backed off after 429/503 or
   * failures, or slowed for a slow server; or a `Retry-After` pushed the next start
   * past the usual spacing) and with an open (or half-open) circuit.
   * One pass over the gates: for a dashboard's once-a-second reading.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import type { Fetcher } from "@trawl/fetch"
   * const line = (fetcher: Fetcher.Service) =>
   *   Effect.map(fetcher.hostStates, (s) => `${s.throttled} throttled, ${s.circuitOpen} circuits open of ${s.held} hosts`)
   * ```
   * @since 0.3.0
   */
  readonly hostStates: Effect.Effect<HostStates>
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

type RobotsEntry =
  | { readonly _tag: "Rules"; readonly rules: Robots.Rules; readonly ttlMillis: number; readonly fetchedAt: number }
  | {
    readonly _tag: "Forbidden"
    readonly error: FetchError.ForbiddenAddress
    readonly ttlMillis: number
    readonly fetchedAt: number
  }

const drainLimit = 64 * 1024
// The budget an agent made by makeAgent shares with its connector (its read gate).
const budgets = new WeakMap<object, BodyBudget>()

const productToken = (userAgent: string): string => userAgent.split(/[/\s]/)[0]!.trim() || "trawl"

const robotsCounter = Job.byOutcome(FetchMetrics.robots)

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
    const gates = new HostGates.HostGates({ perHostConcurrency: options.perHostConcurrency, idleMillis: options.hostIdleMillis })
    const global = new Permits(options.globalConcurrency)
    const throttleOptions: Throttle.Options = { ...options.throttle, minDelayMillis: 0 }
    const token = productToken(options.userAgent).toLowerCase()
    const baseHeaders: Readonly<Record<string, string>> = {
      "user-agent": options.userAgent,
      accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
      "accept-encoding": "gzip, deflate, br, zstd"
    }
    // The requests themselves are `Job`s (internal/job.ts) over this shared core.
    const core: Job.Core = {
      options,
      gates,
      global,
      settings: {
        dispatcher,
        budget,
        connectTimeoutMillis: options.connectTimeoutMillis,
        headersTimeoutMillis: options.headersTimeoutMillis,
        totalTimeoutMillis: options.totalTimeoutMillis,
        drainLimit
      },
      baseHeaders,
      throttle: throttleOptions,
      robotsHit: (url, now) => robotsHit(url, now),
      robotsLookup: (url) => robotsLookup(url),
      inFlight: 0
    }

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

    // --- robots.txt ---------------------------------------------------------------------------
    const fetchRobots = (origin: string): Effect.Effect<RobotsEntry> =>
      Effect.gen(function*() {
        let url = new URL("/robots.txt", origin)
        const ok = (rules: Robots.Rules, outcome: string, ttlMillis: number) =>
          Metric.update(robotsCounter(outcome), 1).pipe(
            Effect.andThen(Clock.currentTimeMillis),
            Effect.map((fetchedAt): RobotsEntry => ({ _tag: "Rules", rules, ttlMillis, fetchedAt }))
          )
        for (let hop = 0; hop <= 5; hop++) {
          const target = url
          const result = yield* Effect.exit(Job.robotsAttempt(core, target))
          if (Exit.isSuccess(result)) {
            const exchanged = result.value
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
    // Once the map has the verdict the Cache entry is dropped: it keeps its lookup's fiber, and
    // a monitor watching 50,000 shops kept ~25 MB of finished fibers that way.
    const robotsHits = new Map<string, { readonly entry: RobotsEntry; readonly expiresAt: number }>()
    const robotsVerdict = (entry: RobotsEntry, url: URL): Job.Verdict => {
      if (entry._tag === "Forbidden") return new FetchError.ForbiddenAddress({ ...entry.error, url: url.href })
      const verdict = Robots.isAllowed(entry.rules, url.pathname + url.search)
      if (!verdict.allowed) return new FetchError.RobotsDisallowed({ url: url.href, rule: verdict.rule })
      const delay = entry.rules.crawlDelaySeconds
      // 0, not undefined: a Crawl-delay removed from robots.txt must stop applying.
      return delay === undefined ? 0 : delay * 1000
    }
    const robotsHit = (url: URL, now: number): Job.Verdict | typeof Job.miss => {
      const hit = robotsHits.get(url.origin)
      if (hit === undefined) return Job.miss
      if (hit.expiresAt <= now) {
        robotsHits.delete(url.origin)
        return Job.miss
      }
      return robotsVerdict(hit.entry, url)
    }
    const robotsLookup = (url: URL) =>
      Effect.flatMap(Cache.get(robotsCache, url.origin), (entry) => {
        if (!robotsHits.has(url.origin)) {
          if (robotsHits.size >= options.robotsCacheCapacity) {
            robotsHits.delete(robotsHits.keys().next().value!)
          }
          robotsHits.set(url.origin, { entry, expiresAt: entry.fetchedAt + entry.ttlMillis })
        }
        return Effect.as(Cache.invalidate(robotsCache, url.origin), robotsVerdict(entry, url))
      })

    return {
      fetchPage: (input, fetchOptions) =>
        Job.fetchPage(core, input, fetchOptions?.reservation, fetchOptions?.decodeBody !== false),
      reserve: (host) =>
        Effect.withFiber((fiber) =>
          Effect.succeed(
            HostGates.reserve(gates, options.perHostMinDelayMillis, host, fiber.getRef(Clock.Clock)) as
              | Reservation.Reservation
              | Reservation.Refusal
          )
        ),
      prepare: (input) =>
        Effect.suspend(() => {
          const url = options.robots ? Job.parseUrl(input) : undefined
          if (url === undefined || url instanceof FetchError.InvalidUrl) return Effect.void
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const hit = robotsHit(url, now)
            return Effect.map(hit === Job.miss ? robotsLookup(url) : Effect.succeed(hit), (verdict) => {
              if (typeof verdict !== "number") return
              // the gate is made now if it is not there, so `reserve` sees the delay
              const gate = gates.enter(url.hostname, now)
              gate.crawlDelayMillis = Math.min(verdict, options.maxCrawlDelayMillis)
              gates.leave(gate, now)
            })
          })
        }),
      hostCount: Effect.sync(() => gates.gates.size),
      hostStates: Effect.map(Clock.currentTimeMillis, (now) => gates.states(now, options.perHostMinDelayMillis, options.throttle.backoffFloorMillis)),
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
        factory: (origin, poolOptions) => Pools.factory(origin, poolOptions as Pool.Options),
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
