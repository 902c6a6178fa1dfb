/**
 * The typed protocol between the app and its extraction workers: one
 * procedure, `Extract`, page bytes in (transferred, not copied), a `Product`
 * or a typed `ExtractError` out.
 *
 * @internal
 */
import { ExtractError, Product, Rules } from "@trawl/extract"
import { WorkerProtocol } from "@trawl/worker"
import * as Schema from "effect/Schema"
import * as Transferable from "effect/workers/Transferable"

export class ExtractPage extends Schema.TaggedClass<ExtractPage>()("ExtractPage", {
  url: Schema.String,
  body: Transferable.Uint8Array,
  charset: Schema.String,
  rules: Schema.optional(Rules.Rules)
}) {}

export const Protocol = WorkerProtocol.make({
  ExtractPage: { request: ExtractPage, success: Product.Product, error: ExtractError.ExtractError }
})
