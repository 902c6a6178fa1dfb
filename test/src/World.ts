/**
 * The parameters that fix a simulated web: with the same `World`, every shop,
 * product page, price and expected outcome is the same in every process.
 *
 * @since 0.1.0
 */

/**
 * What decides the simulated web (the ground truth depends on these only).
 *
 * - `seed`: any integer; every random choice is a hash of it.
 * - `shops`: number of shops, `shop-00000.sim.test` … (1 – 1,000,000).
 * - `products`: products per shop (1 – 10,000). Default 20.
 * - `hostileFraction`: share of shops whose product pages misbehave (0 – 1). Default 0.02.
 * - `changeFraction`: share of products whose price moves over time (0 – 1). Default 0.3.
 * - `stepMillis`: sim-time between two price steps. Default 5 minutes.
 *
 * @example
 * ```ts
 * import { World } from "@trawl/harness"
 * const world: World.World = { seed: 1, shops: 500, products: 20, hostileFraction: 0, changeFraction: 0.3, stepMillis: 300_000 }
 * ```
 * @since 0.1.0
 */
export interface World {
  readonly seed: number
  readonly shops: number
  readonly products: number
  readonly hostileFraction: number
  readonly changeFraction: number
  readonly stepMillis: number
}

/**
 * Defaults of the optional world parameters.
 *
 * @example
 * ```ts
 * import { World } from "@trawl/harness"
 * World.defaults.products // 20
 * ```
 * @since 0.1.0
 */
export const defaults = {
  products: 20,
  hostileFraction: 0.02,
  changeFraction: 0.3,
  stepMillis: 5 * 60_000
} as const

/**
 * A world from its seed and shop count, other parameters defaulted.
 *
 * @example
 * ```ts
 * import { World } from "@trawl/harness"
 * const world = World.make({ seed: 7, shops: 500 })
 * world.stepMillis // 300000
 * ```
 * @since 0.1.0
 */
export const make = (input: Pick<World, "seed" | "shops"> & Partial<World>): World => ({
  seed: input.seed,
  shops: input.shops,
  products: input.products ?? defaults.products,
  hostileFraction: input.hostileFraction ?? defaults.hostileFraction,
  changeFraction: input.changeFraction ?? defaults.changeFraction,
  stepMillis: input.stepMillis ?? defaults.stepMillis
})

/**
 * The first thing wrong with a world, as a one-line message, or `undefined`.
 *
 * @example
 * ```ts
 * import { World } from "@trawl/harness"
 * World.check(World.make({ seed: 1, shops: 0 })) // "--shops must be an integer from 1 to 1000000 (got 0)"
 * ```
 * @since 0.1.0
 */
export const check = (world: World): string | undefined => {
  const integer = (name: string, value: number, min: number, max: number) =>
    Number.isSafeInteger(value) && value >= min && value <= max
      ? undefined
      : `--${name} must be an integer from ${min} to ${max} (got ${value})`
  const fraction = (name: string, value: number) =>
    Number.isFinite(value) && value >= 0 && value <= 1 ? undefined : `--${name} must be a number from 0 to 1 (got ${value})`
  return integer("seed", world.seed, -2147483648, 4294967295) ??
    integer("shops", world.shops, 1, 1_000_000) ??
    integer("products", world.products, 1, 10_000) ??
    fraction("hostile-fraction", world.hostileFraction) ??
    fraction("change-fraction", world.changeFraction) ??
    integer("step-millis", world.stepMillis, 1, 7 * 24 * 3_600_000)
}
