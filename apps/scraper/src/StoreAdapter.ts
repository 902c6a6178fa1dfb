/**
 * Between the pipeline's types and the store's: targets loaded for the
 * scheduler, outcomes written as observations (prices as exact decimals,
 * availability folded to the store's three states).
 *
 * @since 0.1.0
 */
import { type Product, Rules } from "@trawl/extract"
import { Model, type Store, type StoreError } from "@trawl/store"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Pipeline from "./Pipeline.ts"

const decodeRules = Schema.decodeUnknownOption(Rules.Rules)
const encodeRules = Schema.encodeSync(Rules.Rules)

/**
 * A target's rules as the store keeps them (JSON).
 *
 * @since 0.1.0
 */
export const rulesToJson = (rules: Rules.Rules): Schema.Json => encodeRules(rules) as Schema.Json

/**
 * A stored target as the pipeline sees it.
 *
 * @since 0.1.0
 */
export const toPipelineTarget = (target: Model.Target): Pipeline.Target => {
  const rules = target.rules === null ? undefined : decodeRules(target.rules)
  return {
    id: target.id,
    host: target.host,
    url: target.url,
    intervalMillis: target.intervalMillis,
    dueAt: target.nextDueAt,
    failureStreak: target.failureStreak,
    ...(rules !== undefined && rules._tag === "Some" ? { rules: rules.value } : {}),
    ...(target.etag === null ? {} : { etag: target.etag }),
    ...(target.lastModified === null ? {} : { lastModified: target.lastModified })
  }
}

/**
 * The store's availability for an extracted one: orderable (in stock, pre-
 * and back-order) or not (out of stock, discontinued).
 *
 * @since 0.1.0
 */
export const availabilityOf = (availability: Product.Availability): Model.Availability => {
  switch (availability) {
    case "InStock":
    case "PreOrder":
    case "BackOrder":
      return "in_stock"
    case "OutOfStock":
    case "Discontinued":
      return "out_of_stock"
    default:
      return "unknown"
  }
}

/** ISO 4217's code for "no currency": a price whose currency the page does not say. */
const noCurrency = "XXX"

/**
 * An outcome as an observation.
 *
 * @since 0.1.0
 */
export const toObservation = (outcome: Pipeline.Outcome): Model.ObservationInput => {
  const common = {
    targetId: outcome.target.id,
    observedAt: Math.round(outcome.at),
    key: `${outcome.target.id}@${Math.round(outcome.at)}`,
    httpStatus: outcome.status ?? null,
    ...(outcome.nextDueAt === undefined ? {} : { nextDueAt: Math.max(0, Math.round(outcome.nextDueAt)) }),
    ...(outcome.etag === undefined ? {} : { etag: outcome.etag }),
    ...(outcome.lastModified === undefined ? {} : { lastModified: outcome.lastModified }),
    // kept by the store with the alerts this visit raises, for their notifications
    ...(outcome.product?.name === undefined ? {} : { productName: outcome.product.name })
  }
  if (outcome.error !== undefined) {
    return new Model.ObservationInput({ ...common, outcome: "error", errorTag: outcome.error.tag })
  }
  if (outcome.notModified || outcome.product === undefined) {
    return new Model.ObservationInput({ ...common, outcome: "unchanged" })
  }
  const product = outcome.product
  const availability = availabilityOf(product.availability)
  if (product.ambiguity !== null) {
    // the page disagrees with itself: its prices are kept, none is taken (the store raises no price alert)
    return new Model.ObservationInput({
      ...common,
      outcome: "ambiguous",
      price: null,
      availability,
      confidence: product.confidence,
      ambiguity: new Model.Ambiguity({
        reason: product.ambiguity.reason,
        detail: product.ambiguity.detail,
        candidates: product.ambiguity.candidates.flatMap((candidate) =>
          candidate.price === undefined
            ? []
            : [new Model.PriceCandidate({
              amount: candidate.price.amount,
              currency: candidate.currency ?? null,
              source: candidate.source,
              detail: candidate.detail,
              confidence: candidate.confidence
            })]
        )
      })
    })
  }
  if (product.price === undefined) {
    return availability === "out_of_stock"
      ? new Model.ObservationInput({ ...common, outcome: "ok", price: null, availability, source: product.source ?? null, confidence: product.confidence })
      : new Model.ObservationInput({ ...common, outcome: "error", errorTag: "NoPrice", source: product.source ?? null, confidence: product.confidence })
  }
  return new Model.ObservationInput({
    ...common,
    outcome: "ok",
    price: new Model.Money({ amount: product.price.amount, currency: product.currency ?? noCurrency }),
    availability,
    source: product.source ?? null,
    confidence: product.confidence
  })
}

/**
 * The pipeline's writer over the store: one transaction per batch.
 *
 * @since 0.1.0
 */
export const writer = (
  store: Store.Service,
  onRecorded?: (results: ReadonlyArray<Model.RecordResult>, batch: ReadonlyArray<Pipeline.Outcome>) => void
): Pipeline.Writer<StoreError.TargetNotFound | StoreError.DatabaseError> => ({
  record: (batch) =>
    Effect.map(store.recordObservations(batch.map(toObservation)), (results) => {
      onRecorded?.(results, batch)
    })
})

/**
 * Every enabled target, earliest due first (for the scheduler).
 *
 * @since 0.1.0
 */
export const allTargets = (store: Store.Service): Effect.Effect<ReadonlyArray<Model.Target>, StoreError.DatabaseError> =>
  store.dueTargets({ now: Number.MAX_SAFE_INTEGER, limit: 10_000_000 })
