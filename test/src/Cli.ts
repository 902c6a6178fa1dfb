/**
 * Command-line flags of `sim-web`, parsed into `SimServer.Options` or a
 * one-line `UsageError`. `SimWeb.start` turns options back into flags.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import * as SimServer from "./SimServer.ts"
import * as World from "./World.ts"

/**
 * The command line is wrong; `message` is one line, fit for stderr.
 *
 * @example
 * ```ts
 * import { Cli } from "@trawl/harness"
 * new Cli.UsageError({ message: "--shops is required" })
 * ```
 * @since 0.1.0
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/**
 * A parsed command line.
 *
 * @example
 * ```ts
 * import { Cli } from "@trawl/harness"
 * import { Result } from "effect"
 * const parsed = Cli.parse(["--shops", "10", "--parent-pid", "1"])
 * if (Result.isSuccess(parsed)) parsed.success.parentPid // 1
 * ```
 * @since 0.1.0
 */
export interface Parsed {
  readonly options: SimServer.Options
  /** Exit when this process is gone (checked every 500 ms). */
  readonly parentPid: number | undefined
  /** Exit when standard input closes (the parent's end of a pipe). */
  readonly exitOnStdinClose: boolean
  readonly help: boolean
}

/**
 * One line per flag, for `--help` and the README.
 *
 * @example
 * ```ts
 * import { Cli } from "@trawl/harness"
 * Cli.usage.includes("--shops") // true
 * ```
 * @since 0.1.0
 */
export const usage = `usage: sim-web --shops N [options]
  --shops N                      number of shops, shop-00000.sim.test … (required, 1–1000000)
  --port P                       TCP port on 127.0.0.1, 0 = any free port (default 0)
  --seed S                       integer seed of every random choice (default 1)
  --products N                   products per shop (default ${World.defaults.products})
  --hostile-fraction F           share of hostile shops, 0–1 (default ${World.defaults.hostileFraction})
  --change-fraction F            share of products whose price moves, 0–1 (default ${World.defaults.changeFraction})
  --step-millis MS               sim-time between price steps (default ${World.defaults.stepMillis})
  --clock-speed X                sim-time runs X times faster than wall time (default 1)
  --epoch T                      sim-time at start: ISO date or epoch milliseconds (default now)
  --latency-scale X              multiply response delays, 0 = none (default 1)
  --error-scale X                multiply injected 5xx/429/reset rates, 0 = none (default 1)
  --cache-mb N                   rendered-page cache size in MiB (default 32)
  --slowloris-interval-millis MS pause between slowloris bytes (default 500)
  --endless-max-mb N             cut an endless body after N MiB (default 1024)
  --max-connections N            open connections at most (default 10000)
  --parent-pid PID               exit when process PID is gone
  --exit-on-stdin-close          exit when standard input closes
  --help                         print this text`

const valued = new Set([
  "shops",
  "port",
  "seed",
  "products",
  "hostile-fraction",
  "change-fraction",
  "step-millis",
  "clock-speed",
  "epoch",
  "latency-scale",
  "error-scale",
  "cache-mb",
  "slowloris-interval-millis",
  "endless-max-mb",
  "max-connections",
  "parent-pid"
])
const switches = new Set(["exit-on-stdin-close", "help"])

/**
 * Parse `process.argv.slice(2)`.
 *
 * @example
 * ```ts
 * import { Cli } from "@trawl/harness"
 * import { Result } from "effect"
 * const parsed = Cli.parse(["--shops", "10", "--port", "0"])
 * Result.isSuccess(parsed) // true
 * ```
 * @since 0.1.0
 */
export const parse = (argv: ReadonlyArray<string>): Result.Result<Parsed, UsageError> => {
  const values = new Map<string, string>()
  const flags = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith("--")) return Result.fail(new UsageError({ message: `unexpected argument "${arg}" (see --help)` }))
    const eq = arg.indexOf("=")
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    if (switches.has(name)) {
      if (eq !== -1) return Result.fail(new UsageError({ message: `--${name} takes no value` }))
      flags.add(name)
      continue
    }
    if (!valued.has(name)) return Result.fail(new UsageError({ message: `unknown option --${name} (see --help)` }))
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
    if (value === undefined || value === "") return Result.fail(new UsageError({ message: `--${name} needs a value` }))
    values.set(name, value)
  }
  if (flags.has("help")) {
    return Result.succeed({ options: { world: World.make({ seed: 1, shops: 1 }) }, parentPid: undefined, exitOnStdinClose: false, help: true })
  }
  let bad: string | undefined
  const number = (name: string): number | undefined => {
    const raw = values.get(name)
    if (raw === undefined) return undefined
    const value = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw.trim()) ? Number(raw) : Number.NaN
    if (Number.isNaN(value)) bad ??= `--${name} must be a number (got "${raw}")`
    return value
  }
  const shops = number("shops")
  if (shops === undefined && bad === undefined) return Result.fail(new UsageError({ message: "--shops is required (see --help)" }))
  let epochMillis: number | undefined
  const epoch = values.get("epoch")
  if (epoch !== undefined) {
    epochMillis = /^\d+$/.test(epoch) ? Number(epoch) : Date.parse(epoch)
    if (Number.isNaN(epochMillis)) bad ??= `--epoch must be an ISO date or epoch milliseconds (got "${epoch}")`
  }
  const mib = (name: string) => {
    const value = number(name)
    return value === undefined ? undefined : Math.round(value * 1024 * 1024)
  }
  const world = World.make({
    seed: number("seed") ?? 1,
    shops: shops ?? 0,
    products: number("products") ?? World.defaults.products,
    hostileFraction: number("hostile-fraction") ?? World.defaults.hostileFraction,
    changeFraction: number("change-fraction") ?? World.defaults.changeFraction,
    stepMillis: number("step-millis") ?? World.defaults.stepMillis
  })
  const options: SimServer.Options = {
    world,
    port: number("port"),
    clockSpeed: number("clock-speed"),
    epochMillis,
    latencyScale: number("latency-scale"),
    errorScale: number("error-scale"),
    cacheBytes: mib("cache-mb"),
    slowlorisIntervalMillis: number("slowloris-interval-millis"),
    endlessMaxBytes: mib("endless-max-mb"),
    maxConnections: number("max-connections")
  }
  const parentPid = number("parent-pid")
  bad ??= SimServer.check(options)
  if (parentPid !== undefined && !(Number.isSafeInteger(parentPid) && parentPid > 0)) {
    bad ??= `--parent-pid must be a positive integer (got ${parentPid})`
  }
  if (bad !== undefined) return Result.fail(new UsageError({ message: bad }))
  return Result.succeed({ options, parentPid, exitOnStdinClose: flags.has("exit-on-stdin-close"), help: false })
}

/**
 * The flags that reproduce `options` (for starting a `sim-web` process).
 *
 * @example
 * ```ts
 * import { Cli, World } from "@trawl/harness"
 * Cli.toArgs({ world: World.make({ seed: 3, shops: 10 }), port: 0 })
 * // ["--shops", "10", "--seed", "3", "--products", "20", …, "--port", "0"]
 * ```
 * @since 0.1.0
 */
export const toArgs = (options: SimServer.Options): Array<string> => {
  const { world } = options
  const args = [
    "--shops", String(world.shops),
    "--seed", String(world.seed),
    "--products", String(world.products),
    "--hostile-fraction", String(world.hostileFraction),
    "--change-fraction", String(world.changeFraction),
    "--step-millis", String(world.stepMillis)
  ]
  const add = (name: string, value: number | undefined) => {
    if (value !== undefined) args.push(`--${name}`, String(value))
  }
  add("port", options.port)
  add("clock-speed", options.clockSpeed)
  add("epoch", options.epochMillis)
  add("latency-scale", options.latencyScale)
  add("error-scale", options.errorScale)
  add("cache-mb", options.cacheBytes === undefined ? undefined : options.cacheBytes / 1024 / 1024)
  add("slowloris-interval-millis", options.slowlorisIntervalMillis)
  add("endless-max-mb", options.endlessMaxBytes === undefined ? undefined : options.endlessMaxBytes / 1024 / 1024)
  add("max-connections", options.maxConnections)
  return args
}
