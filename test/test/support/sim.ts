/** One sim-web process shared by the tests of a file: started in beforeAll, stopped in afterAll. */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { SimWeb, Truth } from "@trawl/harness"

export const startShared = async (options: SimWeb.StartOptions) => {
  const scope = await Effect.runPromise(Scope.make())
  const web = await Effect.runPromise(SimWeb.start(options).pipe(Scope.provide(scope)))
  return { web, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

export const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect)

/** The first product (shop-major order) that satisfies `predicate` at `atMillis`. */
export const findProduct = (
  web: SimWeb.SimWeb,
  predicate: (truth: Truth.ProductTruth, shop: Truth.Shop) => boolean,
  atMillis: number
): Truth.ProductTruth | undefined => {
  for (let s = 0; s < web.world.shops; s++) {
    const shop = Truth.shop(web.world, s)
    for (let p = 0; p < web.world.products; p++) {
      const truth = Truth.productAt(web.world, s, p, atMillis)
      if (predicate(truth, shop)) return truth
    }
  }
  return undefined
}
