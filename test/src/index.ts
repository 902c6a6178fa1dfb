/**
 * `@trawl/harness`: a simulated web of shops with ground truth (`sim-web`),
 * for end-to-end, load and fault tests of trawl.
 *
 * @since 0.1.0
 */

/**
 * @example
 * ```ts
 * import { World } from "@trawl/harness"
 * const world = World.make({ seed: 1, shops: 500 })
 * ```
 * @since 0.1.0
 */
export * as World from "./World.ts"

/**
 * @example
 * ```ts
 * import { Truth, World } from "@trawl/harness"
 * Truth.productAt(World.make({ seed: 1, shops: 500 }), 42, 0, Date.now()).expected
 * ```
 * @since 0.1.0
 */
export * as Truth from "./Truth.ts"

/**
 * @example
 * ```ts
 * import { SimServer } from "@trawl/harness"
 * SimServer.defaults.port // 0
 * ```
 * @since 0.1.0
 */
export * as SimServer from "./SimServer.ts"

/**
 * @example
 * ```ts
 * import { Cli } from "@trawl/harness"
 * Cli.parse(["--shops", "10"])
 * ```
 * @since 0.1.0
 */
export * as Cli from "./Cli.ts"

/**
 * @example
 * ```ts
 * import { SimWeb } from "@trawl/harness"
 * // Effect.scoped(SimWeb.start({ shops: 500, seed: 7 }))
 * ```
 * @since 0.1.0
 */
export * as SimWeb from "./SimWeb.ts"
