/**
 * The `trawl` command line.
 *
 * Exit codes (stable, for scripts):
 *
 * | code | meaning |
 * | --- | --- |
 * | 0 | success |
 * | 1 | an unexpected internal error (a bug: please report it) |
 * | 2 | usage: unknown command or flag, bad flag value |
 * | 3 | input: unreadable file, invalid URL, a page that could not be fetched or extracted |
 * | 4 | database: cannot open, locked, corrupt, newer schema, unreachable Postgres |
 * | 5 | some input rows were rejected (the valid ones were imported) |
 *
 * @since 0.1.0
 */
import { AddressGuard, Fetcher } from "@trawl/fetch"
import { Rules } from "@trawl/extract"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Argument, Command, Flag } from "effect/cli"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Extractor from "./Extractor.ts"
import { InputError } from "./Errors.ts"
import * as ProductJson from "./ProductJson.ts"
import * as Settings from "./Settings.ts"

// -----------------------------------------------------------------------------
// shared flags
// -----------------------------------------------------------------------------

const isIp = (address: string) => net.isIP(address) !== 0

/** Parses `GLOB=IP` pairs. */
export const parseResolve = (entries: ReadonlyArray<string>): Effect.Effect<Record<string, string>, InputError> =>
  Effect.forEach(entries, (entry) => {
    const at = entry.lastIndexOf("=")
    const pattern = entry.slice(0, at).trim()
    const address = entry.slice(at + 1).trim()
    return at <= 0 || pattern === "" || !isIp(address)
      ? Effect.fail(new InputError({ input: "--resolve", reason: `expected 'GLOB=IP', got '${entry}'` }))
      : Effect.succeed([pattern, address] as const)
  }).pipe(Effect.map((pairs) => Object.fromEntries(pairs)))

const fetcherLayer = (resolve: Record<string, string>, allowPrivate: boolean) =>
  Fetcher.layer({ resolve, allowRanges: allowPrivate ? AddressGuard.allRanges : [] })

// -----------------------------------------------------------------------------
// trawl extract
// -----------------------------------------------------------------------------

const extract = Command.make("extract", {
  source: Argument.String("FILE|URL").pipe(Argument.withDescription("An HTML file, or an http(s) URL to fetch")),
  url: Flag.String("url").pipe(Flag.optional, Flag.withDescription("The page's URL, for a file (resolves relative links, names the product)")),
  selector: Flag.String("selector").pipe(Flag.optional, Flag.withDescription("CSS selector of the price element (a user rule)")),
  attribute: Flag.String("attribute").pipe(Flag.optional, Flag.withDescription("Read the price from this attribute of the selected element")),
  regex: Flag.String("regex").pipe(Flag.optional, Flag.withDescription("Regular expression whose first group is the price")),
  resolve: Settings.resolve,
  allowPrivate: Settings.allowPrivate
}, (input) =>
  Effect.gen(function*() {
    const rules = yield* rulesFrom(input.selector, input.attribute, input.regex)
    const isUrl = /^https?:\/\//i.test(input.source)
    const request = isUrl
      ? yield* fetchForExtract(input.source, yield* parseResolve(input.resolve), input.allowPrivate)
      : yield* readForExtract(input.source, Option.getOrUndefined(input.url))
    const extractor = yield* Extractor.Extractor
    const product = yield* extractor.extract({ ...request, rules }).pipe(
      Effect.mapError((error) => new InputError({ input: input.source, reason: error.message }))
    )
    yield* Console.log(JSON.stringify(ProductJson.render(product), null, 2))
  }).pipe(Effect.provide(Extractor.layerLocal))).pipe(
    Command.withDescription("Extract the product and price from a page, and print it as JSON (the tool to debug a target)")
  )

/** Builds user rules from the command-line flags, or none. */
export const rulesFrom = (
  selector: Option.Option<string>,
  attribute: Option.Option<string>,
  regex: Option.Option<string>
): Effect.Effect<Rules.Rules | undefined, InputError> =>
  Effect.gen(function*() {
    if (Option.isNone(selector) && Option.isNone(regex)) {
      if (Option.isSome(attribute)) return yield* Effect.fail(new InputError({ input: "--attribute", reason: "needs --selector" }))
      return undefined
    }
    if (Option.isSome(regex)) {
      try {
        new RegExp(regex.value)
      } catch (error) {
        return yield* Effect.fail(new InputError({ input: "--regex", reason: (error as Error).message }))
      }
    }
    return new Rules.Rules({
      price: new Rules.Rule({
        ...(Option.isSome(selector) ? { selector: selector.value } : {}),
        ...(Option.isSome(attribute) ? { attribute: attribute.value } : {}),
        ...(Option.isSome(regex) ? { pattern: regex.value } : {})
      })
    })
  })

const readForExtract = (file: string, url: string | undefined) =>
  Effect.tryPromise({
    try: () => fs.readFile(file),
    catch: (error) => new InputError({ input: file, reason: (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message })
  }).pipe(Effect.map((body) => ({
    url: url ?? pathToFileURL(path.resolve(file)).href,
    body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
    charset: ""
  })))

const fetchForExtract = (url: string, resolve: Record<string, string>, allowPrivate: boolean) =>
  Effect.gen(function*() {
    const fetcher = yield* Fetcher.Fetcher
    const page = yield* fetcher.fetchPage(url).pipe(
      Effect.mapError((error) => new InputError({ input: url, reason: `${error._tag}: ${error.message}` }))
    )
    return { url: page.url, body: page.body, charset: page.charset }
  }).pipe(Effect.provide(fetcherLayer(resolve, allowPrivate)))

// -----------------------------------------------------------------------------
// the command tree
// -----------------------------------------------------------------------------

/**
 * The root `trawl` command.
 *
 * @since 0.1.0
 */
export const trawl = Command.make("trawl").pipe(
  Command.withDescription("trawl — continuous price monitoring"),
  Command.withSubcommands([extract])
)

/**
 * The layers every command runs with.
 *
 * @since 0.1.0
 */
export const baseLayer = Layer.empty
