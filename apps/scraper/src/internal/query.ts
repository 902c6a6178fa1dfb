/**
 * Query values of the dashboard's requests, decoded with Schema: a bad one
 * is a `BadQuery` naming its field (the API answers it as JSON, the pages as
 * text).
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Schema from "effect/Schema"

export class BadQuery extends Data.TaggedError("BadQuery")<{
  readonly field: string
  readonly message: string
}> {}

/** An integer between `minimum` and `maximum`, from its text. */
export const integer = (minimum: number, maximum: number) =>
  Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum, maximum }))

export const epochMillis = integer(0, Number.MAX_SAFE_INTEGER)

/** Decodes query value `field` with `schema` (absent or empty: `fallback`). */
export const param = <A>(
  params: URLSearchParams,
  field: string,
  schema: Schema.Decoder<A>,
  fallback: A
): Effect.Effect<A, BadQuery> => {
  const raw = params.get(field)
  if (raw === null || raw === "") return Effect.succeed(fallback)
  const decoded = Schema.decodeUnknownExit(schema)(raw)
  return Exit.isSuccess(decoded)
    ? Effect.succeed(decoded.value)
    : Effect.fail(new BadQuery({ field, message: `${field}: ${decoded.cause.toString().split("\n")[0]}` }))
}

/** The request's query. */
export const searchParams = Effect.map(HttpServerRequest.HttpServerRequest, (request) => new URL(request.url, "http://dashboard").searchParams)

/** A search text: at most 200 characters. */
export const searchText = (params: URLSearchParams): Effect.Effect<string, BadQuery> => {
  const q = params.get("q") ?? ""
  return q.length > 200 ? Effect.fail(new BadQuery({ field: "q", message: "q: at most 200 characters" })) : Effect.succeed(q)
}

/** A page of the targets table asked for: `q` (a part of the URL), `page` (from 1) and `size` (1–200, default 50). */
export const targetsQuery = (params: URLSearchParams) =>
  Effect.gen(function*() {
    const q = yield* searchText(params)
    const page = yield* param(params, "page", integer(1, 1_000_000), 1)
    const size = yield* param(params, "size", integer(1, 200), 50)
    return { q, page, size, offset: (page - 1) * size }
  })

/** The route's `:id`, a target id; a bad one is a `BadQuery` of field `id`. */
export const pathId = Effect.flatMap(HttpRouter.params, (params) =>
  Effect.mapError(
    Schema.decodeUnknownEffect(integer(1, Number.MAX_SAFE_INTEGER))(params["id"]),
    () => new BadQuery({ field: "id", message: `id: not a target id: ${params["id"]}` })
  ))
