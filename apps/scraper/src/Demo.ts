/**
 * `trawl demo`: trawl monitoring prices on a fresh machine, offline.
 *
 * Starts the harness's simulated web (`sim-web`) as a child process on a
 * free loopback port, with a fast clock so prices and stock move every few
 * seconds; imports every product as a target into an embedded SQLite file
 * (recreated unless `keep`); then runs the real monitor (`trawl run`'s code
 * path) against it through the resolve map, with loopback allowed. Alerts go
 * to stdout and to a JSONL file. When the run ends (Ctrl-C or `duration`),
 * the summary is printed and the simulated web is stopped with it.
 *
 * @since 0.1.0
 */
import { SimWeb } from "@trawl/harness"
import { Model, Store, type StoreError } from "@trawl/store"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { InputError } from "./Errors.ts"
import { ensureDir } from "./internal/files.ts"
import * as StoreAdapter from "./StoreAdapter.ts"

/**
 * Options of the demo.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly shops: number
  readonly products: number
  readonly db: string
  readonly keep: boolean
  /** Simulated seconds per wall second: the sim-web steps prices every 5 simulated minutes. */
  readonly clockSpeed: number
  readonly seed: number
  readonly hostileFraction: number
  readonly intervalMillis: number
  /** Port for the simulated web (0 = any free port). */
  readonly simPort: number
}

/**
 * Checks the demo's options; every mistake is an `InputError` naming the flag.
 *
 * @since 0.1.0
 */
export const check = (options: Options): Effect.Effect<void, InputError> => {
  const problems: Array<[string, string]> = []
  if (!Number.isSafeInteger(options.shops) || options.shops < 1 || options.shops > 50_000) problems.push(["--shops", `must be 1 to 50000, got ${options.shops}`])
  if (!Number.isSafeInteger(options.products) || options.products < 1 || options.products > 100) problems.push(["--products", `must be 1 to 100, got ${options.products}`])
  if (!Number.isSafeInteger(options.simPort) || options.simPort < 0 || options.simPort > 65535) problems.push(["--sim-port", `must be a port number, got ${options.simPort}`])
  const [first] = problems
  return first === undefined ? Effect.void : Effect.fail(new InputError({ input: first[0], reason: first[1] }))
}

/**
 * Prepares the demo database: removed first unless `keep`; a path that
 * cannot be written is an `InputError`.
 *
 * @since 0.1.0
 */
export const prepareDatabase = (db: string, keep: boolean): Effect.Effect<void, InputError> =>
  Effect.tryPromise({
    try: async () => {
      await ensureDir(path.dirname(db))
      if (!keep) {
        for (const suffix of ["", "-wal", "-shm"]) await fs.rm(db + suffix, { force: true })
      }
      // fail early, with the path, when the database cannot be created there
      const handle = await fs.open(db, "a")
      await handle.close()
    },
    catch: (error) => new InputError({ input: db, reason: `cannot write the demo database: ${(error as Error).message}` })
  })

/**
 * Starts the simulated web and imports its products as targets. Returns the
 * resolve map and a line describing the simulation (printed on stderr, and
 * read by tests to compute the ground truth).
 *
 * @since 0.1.0
 */
export const setUp = (options: Options): Effect.Effect<
  { readonly sim: SimWeb.SimWeb; readonly resolve: Record<string, string>; readonly description: Record<string, unknown> },
  InputError | StoreError.StoreError,
  Store.Store | Scope.Scope
> =>
  Effect.gen(function*() {
    const sim = yield* SimWeb.start({
      shops: options.shops,
      products: options.products,
      seed: options.seed,
      hostileFraction: options.hostileFraction,
      clockSpeed: options.clockSpeed,
      port: options.simPort
    }).pipe(Effect.mapError((error) => new InputError({ input: "sim-web", reason: error.message })))
    const clock = yield* sim.clock.pipe(Effect.mapError((error) => new InputError({ input: "sim-web", reason: error.message })))
    const store = yield* Store.Store
    const stored = yield* StoreAdapter.allTargets(store)
    // with --keep, targets of an earlier demo's sim-web (another port) are retired
    for (const target of stored) {
      if (target.host.endsWith(".sim.test") && new URL(target.url).port !== String(sim.port)) yield* store.setEnabled(target.id, false)
    }
    const existing = new Set(stored.map((t) => t.url))
    const targets: Array<Model.NewTarget> = []
    for (let shop = 0; shop < options.shops; shop++) {
      for (let product = 0; product < options.products; product++) {
        const url = sim.productUrl(shop, product)
        if (!existing.has(url)) targets.push(new Model.NewTarget({ url, intervalMillis: options.intervalMillis }))
      }
    }
    for (let i = 0; i < targets.length; i += 500) yield* store.addTargets(targets.slice(i, i + 500))
    const description = {
      event: "sim-web",
      pid: sim.pid,
      port: sim.port,
      world: sim.world,
      clock
    }
    return { sim, resolve: { "*.sim.test": "127.0.0.1" }, description }
  })
