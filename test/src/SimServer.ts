/**
 * The sim-web server inside the current process, as a scoped Effect. The
 * `sim-web` command runs it in its own process; tests and the app's demo use
 * `SimWeb.start`, which starts that process.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Net from "node:net"
import * as Server from "./internal/server.ts"
import * as World from "./World.ts"

/**
 * Settings of a sim-web server (the CLI flags, see the package README).
 *
 * - `world`: what the web contains (see `World`).
 * - `port`: TCP port on 127.0.0.1; 0 picks a free one. Default 0.
 * - `clockSpeed`: sim-time runs this many times faster than wall time. Default 1.
 * - `epochMillis`: sim-time at start. Default: the wall time at start.
 * - `latencyScale`: multiplies every shop's response delays; 0 answers at once. Default 1.
 * - `errorScale`: multiplies every shop's injected error rate (capped at 0.5); 0 disables. Default 1.
 * - `cacheBytes`: bound of the rendered-page cache. Default 32 MiB.
 * - `slowlorisIntervalMillis`: pause between two bytes of a slowloris head. Default 500.
 * - `slowlorisMaxMillis`: a slowloris connection is cut after this long. Default 120 s.
 * - `endlessMaxBytes`: an endless body is cut after this many bytes. Default 1 GiB.
 * - `maxConnections`: open connections at most. Default 10,000.
 *
 * @example
 * ```ts
 * import { SimServer, World } from "@trawl/harness"
 * const options: SimServer.Options = { world: World.make({ seed: 7, shops: 500 }), port: 0, clockSpeed: 60 }
 * ```
 * @since 0.1.0
 */
export interface Options {
  readonly world: World.World
  readonly port?: number | undefined
  readonly clockSpeed?: number | undefined
  readonly epochMillis?: number | undefined
  readonly latencyScale?: number | undefined
  readonly errorScale?: number | undefined
  readonly cacheBytes?: number | undefined
  readonly slowlorisIntervalMillis?: number | undefined
  readonly slowlorisMaxMillis?: number | undefined
  readonly endlessMaxBytes?: number | undefined
  readonly maxConnections?: number | undefined
}

/**
 * Defaults of the server settings.
 *
 * @example
 * ```ts
 * import { SimServer } from "@trawl/harness"
 * SimServer.defaults.clockSpeed // 1
 * ```
 * @since 0.1.0
 */
export const defaults = {
  port: 0,
  clockSpeed: 1,
  latencyScale: 1,
  errorScale: 1,
  cacheBytes: 32 * 1024 * 1024,
  slowlorisIntervalMillis: 500,
  slowlorisMaxMillis: 120_000,
  endlessMaxBytes: 1024 * 1024 * 1024,
  maxConnections: 10_000
} as const

/**
 * The settings are invalid.
 *
 * @example
 * ```ts
 * import { SimServer } from "@trawl/harness"
 * new SimServer.InvalidOptions({ message: "--shops must be an integer from 1 to 1000000 (got 0)" })
 * ```
 * @since 0.1.0
 */
export class InvalidOptions extends Data.TaggedError("InvalidOptions")<{ readonly message: string }> {}

/**
 * The port is taken by another process.
 *
 * @example
 * ```ts
 * import { SimServer } from "@trawl/harness"
 * new SimServer.PortInUse({ port: 8080 }).message // "port 8080 on 127.0.0.1 is already in use"
 * ```
 * @since 0.1.0
 */
export class PortInUse extends Data.TaggedError("PortInUse")<{ readonly port: number }> {
  override get message(): string {
    return `port ${this.port} on 127.0.0.1 is already in use`
  }
}

/**
 * Listening failed for another reason (e.g. a privileged port).
 *
 * @example
 * ```ts
 * import { SimServer } from "@trawl/harness"
 * new SimServer.ListenFailed({ port: 80, reason: "EACCES" }).message
 * ```
 * @since 0.1.0
 */
export class ListenFailed extends Data.TaggedError("ListenFailed")<{ readonly port: number; readonly reason: string }> {
  override get message(): string {
    return `cannot listen on 127.0.0.1:${this.port}: ${this.reason}`
  }
}

/**
 * A running server.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SimServer, World } from "@trawl/harness"
 * const port = SimServer.serve({ world: World.make({ seed: 1, shops: 5 }) }).pipe(Effect.map((running) => running.port))
 * ```
 * @since 0.1.0
 */
export interface Running {
  readonly port: number
  readonly world: World.World
  /** Current sim-time in milliseconds. */
  readonly now: () => number
  readonly epochMillis: number
  readonly clockSpeed: number
}

/**
 * The first thing wrong with the settings, as a one-line message, or `undefined`.
 *
 * @example
 * ```ts
 * import { SimServer, World } from "@trawl/harness"
 * SimServer.check({ world: World.make({ seed: 1, shops: 5 }), port: 70000 }) // "--port must be an integer from 0 to 65535 (got 70000)"
 * ```
 * @since 0.1.0
 */
export const check = (options: Options): string | undefined => {
  const range = (name: string, value: number | undefined, min: number, max: number, integer: boolean) =>
    value === undefined || (Number.isFinite(value) && value >= min && value <= max && (!integer || Number.isSafeInteger(value)))
      ? undefined
      : `--${name} must be ${integer ? "an integer" : "a number"} from ${min} to ${max} (got ${value})`
  return World.check(options.world) ??
    range("port", options.port, 0, 65535, true) ??
    (options.clockSpeed !== undefined && !(options.clockSpeed > 0)
      ? `--clock-speed must be a number above 0 (got ${options.clockSpeed})`
      : undefined) ??
    range("clock-speed", options.clockSpeed, 0, 1_000_000, false) ??
    range("epoch", options.epochMillis, 0, 8.64e15, true) ??
    range("latency-scale", options.latencyScale, 0, 100, false) ??
    range("error-scale", options.errorScale, 0, 100, false) ??
    range("cache-bytes", options.cacheBytes, 0, 16 * 1024 ** 3, true) ??
    range("slowloris-interval-millis", options.slowlorisIntervalMillis, 1, 60_000, true) ??
    range("slowloris-max-millis", options.slowlorisMaxMillis, 1, 3_600_000, true) ??
    range("endless-max-bytes", options.endlessMaxBytes, 1, 16 * 1024 ** 3, true) ??
    range("max-connections", options.maxConnections, 1, 1_000_000, true)
}

/**
 * Serve the simulated web on 127.0.0.1 for the life of the scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SimServer, World } from "@trawl/harness"
 * const program = Effect.scoped(
 *   SimServer.serve({ world: World.make({ seed: 1, shops: 10 }) }).pipe(
 *     Effect.map((running) => running.port)
 *   )
 * )
 * ```
 * @since 0.1.0
 */
export const serve = (
  options: Options
): Effect.Effect<Running, InvalidOptions | PortInUse | ListenFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const problem = check(options)
    if (problem !== undefined) return yield* new InvalidOptions({ message: problem })
    const port = options.port ?? defaults.port
    const running = yield* Effect.acquireRelease(
      Effect.callback<Server.Running, PortInUse | ListenFailed>((resume) => {
        const created = Server.create({
          world: options.world,
          clockSpeed: options.clockSpeed ?? defaults.clockSpeed,
          epochMillis: options.epochMillis ?? Date.now(),
          latencyScale: options.latencyScale ?? defaults.latencyScale,
          errorScale: options.errorScale ?? defaults.errorScale,
          cacheBytes: options.cacheBytes ?? defaults.cacheBytes,
          slowlorisIntervalMillis: options.slowlorisIntervalMillis ?? defaults.slowlorisIntervalMillis,
          slowlorisMaxMillis: options.slowlorisMaxMillis ?? defaults.slowlorisMaxMillis,
          endlessMaxBytes: options.endlessMaxBytes ?? defaults.endlessMaxBytes,
          maxConnections: options.maxConnections ?? defaults.maxConnections
        })
        const onError = (error: NodeJS.ErrnoException) => {
          void created.close()
          resume(Effect.fail(
            error.code === "EADDRINUSE"
              ? new PortInUse({ port })
              : new ListenFailed({ port, reason: error.code ?? error.message })
          ))
        }
        created.server.once("error", onError)
        created.server.listen({ port, host: "127.0.0.1", exclusive: true }, () => {
          created.server.off("error", onError)
          resume(Effect.succeed(created))
        })
      }),
      (created) => Effect.promise(() => created.close()).pipe(Effect.timeout("5 seconds"), Effect.ignore)
    )
    return {
      port: (running.server.address() as Net.AddressInfo).port,
      world: options.world,
      now: () => running.clock.now(),
      epochMillis: running.clock.epochMillis,
      clockSpeed: running.clock.speed
    }
  })
