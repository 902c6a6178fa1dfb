/**
 * Start a `sim-web` server in its own process for the life of a scope: for
 * tests, load runs and the app's demo command. The child watches this
 * process (`--parent-pid`) and its stdin pipe, so it never outlives it, even
 * when this process is killed.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Readline from "node:readline"
import { fileURLToPath } from "node:url"
import * as Cli from "./Cli.ts"
import type * as SimServer from "./SimServer.ts"
import * as Truth from "./Truth.ts"
import * as World from "./World.ts"

/**
 * Starting or talking to a sim-web process failed.
 *
 * @example
 * ```ts
 * import { SimWeb } from "@trawl/harness"
 * new SimWeb.SimWebError({ message: "sim-web exited with code 2: --shops must be …" })
 * ```
 * @since 0.1.0
 */
export class SimWebError extends Data.TaggedError("SimWebError")<{ readonly message: string }> {}

/**
 * Settings of `start`: the world (`shops` required, the rest defaulted as in
 * `World.make`) and the server settings of `SimServer.Options`.
 *
 * - `readyTimeoutMillis`: how long to wait for the ready line. Default 30 s.
 * - `execPath`: the Node binary (must strip TypeScript: Node ≥ 22.18). Default this process's.
 *
 * @example
 * ```ts
 * import { SimWeb } from "@trawl/harness"
 * const options: SimWeb.StartOptions = { shops: 500, seed: 7, latencyScale: 0, clockSpeed: 60 }
 * ```
 * @since 0.1.0
 */
export interface StartOptions extends Omit<SimServer.Options, "world">, Partial<Omit<World.World, "shops">> {
  readonly shops: number
  readonly readyTimeoutMillis?: number | undefined
  readonly execPath?: string | undefined
}

/**
 * The JSON of `/__clock`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SimWeb } from "@trawl/harness"
 * declare const web: SimWeb.SimWeb
 * const step = Effect.map(web.clock, (clock: SimWeb.ClockView) => clock.step)
 * ```
 * @since 0.1.0
 */
export interface ClockView {
  readonly nowMillis: number
  readonly now: string
  readonly epochMillis: number
  readonly clockSpeed: number
  readonly offsetMillis: number
  readonly wallMillis: number
  readonly startWallMillis: number
  readonly stepMillis: number
  readonly step: number
}

/**
 * Per-host politeness counters of `/__stats`.
 *
 * @example
 * ```ts
 * import { SimWeb } from "@trawl/harness"
 * const polite = (host: SimWeb.HostStatsView) => host.maxInFlight <= 2
 * ```
 * @since 0.1.0
 */
export interface HostStatsView {
  readonly requests: number
  readonly inFlight: number
  readonly maxInFlight: number
  readonly connections: number
  readonly maxConnections: number
  readonly notModified: number
  readonly injectedErrors: number
  readonly disallowedRequests: number
  readonly minGapMillis: number | null
  readonly maxRequestsPerSecond: number
}

/**
 * The JSON of `/__stats`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SimWeb } from "@trawl/harness"
 * declare const web: SimWeb.SimWeb
 * const worst = Effect.map(web.stats(), (stats: SimWeb.StatsView) => stats.totals.maxInFlightPerHost)
 * ```
 * @since 0.1.0
 */
export interface StatsView {
  readonly clock: ClockView
  readonly totals: {
    readonly requests: number
    readonly inFlight: number
    readonly maxInFlight: number
    readonly openConnections: number
    readonly maxOpenConnections: number
    readonly hosts: number
    readonly maxInFlightPerHost: number
    readonly disallowedRequests: number
  }
  readonly hosts: Readonly<Record<string, HostStatsView>>
}

/**
 * A running sim-web process.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SimWeb } from "@trawl/harness"
 * const url = Effect.scoped(Effect.map(SimWeb.start({ shops: 10 }), (web: SimWeb.SimWeb) => web.productUrl(3, 0)))
 * ```
 * @since 0.1.0
 */
export interface SimWeb {
  readonly port: number
  /** `http://127.0.0.1:<port>` (the admin endpoints answer on this host too). */
  readonly url: string
  readonly pid: number
  readonly world: World.World
  /** `http://shop-00042.sim.test:<port>` */
  readonly origin: (shopIndex: number) => string
  /** The product page URL, with the port. */
  readonly productUrl: (shopIndex: number, productIndex: number) => string
  /** The ground truth for a URL at a sim-time (pure, computed here). */
  readonly truthAt: (url: string, atMillis: number) => Truth.ProductTruth | undefined
  /** The server's clock now. */
  readonly clock: Effect.Effect<ClockView, SimWebError>
  /** Move the server's clock forward (prices move with it). */
  readonly advanceClock: (millis: number) => Effect.Effect<ClockView, SimWebError>
  /**
   * Politeness counters: totals, and per host (all hosts, only `host`, or the
   * `top` N by most requests in flight — with 50,000 shops, ask for less than all).
   */
  readonly stats: (filter?: { readonly host?: string | undefined; readonly top?: number | undefined }) => Effect.Effect<StatsView, SimWebError>
  readonly resetStats: Effect.Effect<void, SimWebError>
}

const binPath = (): string =>
  fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./bin/sim-web.ts" : "./bin/sim-web.js", import.meta.url))

interface Ready {
  readonly port: number
  readonly pid: number
}

const spawn = (options: StartOptions, serverOptions: SimServer.Options) =>
  Effect.callback<{ readonly child: ChildProcess.ChildProcess; readonly ready: Ready }, SimWebError>((resume) => {
    const child = ChildProcess.spawn(
      options.execPath ?? process.execPath,
      [
        "--conditions=@trawl/source",
        binPath(),
        ...Cli.toArgs(serverOptions),
        "--parent-pid",
        String(process.pid),
        "--exit-on-stdin-close"
      ],
      { stdio: ["pipe", "pipe", "pipe"] }
    )
    let stderr = ""
    let settled = false
    const settle = (effect: Effect.Effect<{ child: ChildProcess.ChildProcess; ready: Ready }, SimWebError>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(effect)
    }
    const failWith = (message: string) => {
      child.kill("SIGKILL")
      settle(Effect.fail(new SimWebError({ message })))
    }
    const timeout = options.readyTimeoutMillis ?? 30_000
    const timer = setTimeout(() => failWith(`sim-web was not ready within ${timeout} ms: ${stderr.trim()}`), timeout)
    child.stderr!.setEncoding("utf8")
    child.stderr!.on("data", (chunk: string) => {
      // Keep the tail only: the last line is the one-line reason of a failed start.
      stderr = (stderr + chunk).slice(-4096)
    })
    const lines = Readline.createInterface({ input: child.stdout! })
    lines.on("line", (line) => {
      if (settled) return
      try {
        const event = JSON.parse(line) as { event?: string; port?: number; pid?: number }
        if (event.event === "ready" && typeof event.port === "number") {
          settle(Effect.succeed({ child, ready: { port: event.port, pid: event.pid ?? child.pid ?? -1 } }))
        }
      } catch {
        // not an event line
      }
    })
    child.on("error", (error) => failWith(`cannot start sim-web: ${error.message}`))
    child.on("exit", (code, signal) =>
      failWith(`sim-web exited with ${signal ?? `code ${code}`} before it was ready: ${stderr.trim().split("\n").at(-1) ?? ""}`)
    )
    // The pipe stays open until the scope closes: closing it is the child's cue to leave.
    child.stdin!.on("error", () => undefined)
    return Effect.sync(() => failWith("interrupted"))
  })

const stop = (child: ChildProcess.ChildProcess) =>
  Effect.callback<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    const hard = setTimeout(() => child.kill("SIGKILL"), 5_000)
    child.once("exit", () => {
      clearTimeout(hard)
      resume(Effect.void)
    })
    child.kill("SIGTERM")
    child.stdin?.end()
  })

const request = <A>(base: string, path: string, method: "GET" | "POST" = "GET"): Effect.Effect<A, SimWebError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(`${base}${path}`, { method, signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) })
      const body = await response.text()
      if (!response.ok) throw new Error(`${response.status} ${body}`)
      return JSON.parse(body) as A
    },
    catch: (error) => new SimWebError({ message: `sim-web ${path}: ${error instanceof Error ? error.message : String(error)}` })
  })

/**
 * Start `sim-web` in a child process, wait for its ready line, and stop it
 * (SIGTERM, then SIGKILL after 5 s) when the scope closes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SimWeb } from "@trawl/harness"
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const web = yield* SimWeb.start({ shops: 500, seed: 7, latencyScale: 0 })
 *   const url = web.productUrl(42, 0)
 *   const clock = yield* web.clock
 *   return web.truthAt(url, clock.nowMillis)?.expected
 * }))
 * ```
 * @since 0.1.0
 */
export const start = (options: StartOptions): Effect.Effect<SimWeb, SimWebError, Scope.Scope> =>
  Effect.gen(function*() {
    const { execPath: _execPath, readyTimeoutMillis: _timeout, shops, seed, products, hostileFraction, changeFraction, stepMillis, ...server } =
      options
    const world = World.make({
      seed: seed ?? 1,
      shops,
      ...(products === undefined ? {} : { products }),
      ...(hostileFraction === undefined ? {} : { hostileFraction }),
      ...(changeFraction === undefined ? {} : { changeFraction }),
      ...(stepMillis === undefined ? {} : { stepMillis })
    })
    const serverOptions: SimServer.Options = { ...server, world }
    const { child, ready } = yield* Effect.acquireRelease(spawn(options, serverOptions), ({ child }) => stop(child))
    // Drain the pipes so the child never blocks on a full one.
    child.stdout!.resume()
    child.stderr!.resume()
    const base = `http://127.0.0.1:${ready.port}`
    const origin = (shopIndex: number) => `http://${Truth.shopHost(shopIndex)}:${ready.port}`
    return {
      port: ready.port,
      url: base,
      pid: ready.pid,
      world,
      origin,
      productUrl: (shopIndex, productIndex) => `${origin(shopIndex)}${Truth.product(world, shopIndex, productIndex).path}`,
      truthAt: (url, atMillis) => Truth.lookup(world, url, atMillis),
      clock: request<ClockView>(base, "/__clock"),
      advanceClock: (millis) => request<ClockView>(base, `/__clock/advance?millis=${millis}`, "POST"),
      stats: (filter) => {
        const query = new URLSearchParams()
        if (filter?.host !== undefined) query.set("host", filter.host)
        if (filter?.top !== undefined) query.set("top", String(filter.top))
        return request<StatsView>(base, `/__stats?${query}`)
      },
      resetStats: Effect.asVoid(request(base, "/__stats/reset", "POST"))
    } satisfies SimWeb
  })

/**
 * Sim-time at a wall-clock instant, from one `/__clock` reading (valid until
 * the clock is next advanced).
 *
 * @example
 * ```ts
 * import { SimWeb } from "@trawl/harness"
 * declare const clock: SimWeb.ClockView
 * SimWeb.simTimeAt(clock, Date.now())
 * ```
 * @since 0.1.0
 */
export const simTimeAt = (clock: ClockView, wallMillis: number): number =>
  Math.floor(clock.epochMillis + (wallMillis - clock.startWallMillis) * clock.clockSpeed + clock.offsetMillis)

/**
 * `start` options read through Effect `Config` (environment variables by
 * default), for demo and load commands: `SIM_WEB_SHOPS` (default 500),
 * `SIM_WEB_SEED` (1), `SIM_WEB_PRODUCTS`, `SIM_WEB_HOSTILE_FRACTION`,
 * `SIM_WEB_CLOCK_SPEED` (1), `SIM_WEB_LATENCY_SCALE` (1), `SIM_WEB_ERROR_SCALE` (1),
 * `SIM_WEB_PORT` (0).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SimWeb } from "@trawl/harness"
 * const web = Effect.flatMap(SimWeb.config, SimWeb.start)
 * ```
 * @since 0.1.0
 */
export const config: Config.Config<StartOptions> = Config.all({
  shops: Config.Int("SIM_WEB_SHOPS").pipe(Config.withDefault(500)),
  seed: Config.Int("SIM_WEB_SEED").pipe(Config.withDefault(1)),
  products: Config.Int("SIM_WEB_PRODUCTS").pipe(Config.withDefault(World.defaults.products)),
  hostileFraction: Config.Number("SIM_WEB_HOSTILE_FRACTION").pipe(Config.withDefault(World.defaults.hostileFraction)),
  clockSpeed: Config.Number("SIM_WEB_CLOCK_SPEED").pipe(Config.withDefault(1)),
  latencyScale: Config.Number("SIM_WEB_LATENCY_SCALE").pipe(Config.withDefault(1)),
  errorScale: Config.Number("SIM_WEB_ERROR_SCALE").pipe(Config.withDefault(1)),
  port: Config.Int("SIM_WEB_PORT").pipe(Config.withDefault(0))
})
