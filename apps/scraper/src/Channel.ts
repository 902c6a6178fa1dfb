/**
 * Alert channels named by a URL (`trawl run --notify URL`): the scheme names
 * the format, the rest is the endpoint.
 *
 * | URL | delivers |
 * | --- | --- |
 * | `slack+https://hooks.slack.com/services/…` | Slack incoming-webhook JSON `{"text": …}` |
 * | `discord+https://discord.com/api/webhooks/…` | Discord webhook JSON `{"content": …}` (≤ 2,000 characters, no mentions) |
 * | `ntfy+https://ntfy.sh/TOPIC` | the text as body, `Title`, `Tags`, `Priority` and `Click` headers; `?token=TK` or `user:pass@` authenticate |
 * | `telegram://TOKEN@CHAT_ID[?api=URL]` | Bot API `sendMessage` (the API base `https://api.telegram.org` unless `api` says) |
 * | `webhook+https://…`, `https://…`, `http://…` | the webhook notifier (`Notifier.webhook`): the alert's JSON |
 * | `file:///path/alerts.jsonl`, `file:relative.jsonl` | the JSONL file notifier (`Notifier.jsonlFile`) |
 *
 * Every channel is a `Notifier`, so the outbox delivers each alert to each
 * channel once; each HTTP request carries the alert's key as
 * `Idempotency-Key` (a receiver that knows the header drops a re-delivery
 * after a crash; the others ignore it). Network errors, timeouts, 408, 429
 * (waiting out a `Retry-After` of up to 30 s) and 5xx are retried; any other
 * answer is a refusal for good (`NotifyError` with `retryable: false`).
 *
 * Slack and Discord webhook paths, ntfy topics and tokens and Telegram bot
 * tokens are secrets: a channel's `name` (in logs, `trawl status` and the
 * store's delivery records) is its kind, its origin and a short hash of the
 * URL, and failure reasons are scrubbed of them.
 *
 * Channels may also be named on a target or a competitor group (`trawl add
 * --notify`, `trawl rules --notify`, `trawl group --notify`, a targets file's
 * `notify` column): a run builds one notifier for each at its start, which
 * delivers only the alerts of the targets and groups that name it (`routed`)
 * and counts the others as done (`Store.skipped`). A channel a run names
 * itself (`--notify`, `--webhook`, `--alerts-file`) is one notifier that
 * delivers every alert, whoever else names it.
 *
 * @since 0.4.0
 */
import { Store, type StoreError } from "@trawl/store"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Semaphore from "effect/Semaphore"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as crypto from "node:crypto"
import { fileURLToPath } from "node:url"
import * as Delivery from "./internal/delivery.ts"
import * as Notifier from "./Notifier.ts"

/**
 * A channel URL that cannot be used: `url` is the URL redacted (`redact`),
 * `reason` says what is wrong, in one line.
 *
 * @example
 * ```ts
 * import { Channel } from "@trawl/scraper"
 *
 * new Channel.ChannelError({ url: "telegram://…@", reason: "no chat id" }).message
 * // "telegram://…@: no chat id"
 * ```
 * @since 0.4.0
 */
export class ChannelError extends Data.TaggedError("ChannelError")<{
  readonly url: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.url}: ${this.reason}`
  }
}

/**
 * A parsed channel. Secrets are kept `Redacted`, so a channel printed or
 * logged by mistake shows none; `name` is safe to show.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Channel } from "@trawl/scraper"
 *
 * const program = Effect.map(Channel.parse("ntfy+https://ntfy.sh/prices"), (channel: Channel.Channel) => channel.name)
 * ```
 * @since 0.4.0
 */
export type Channel =
  | { readonly _tag: "Webhook"; readonly name: string; readonly url: Redacted.Redacted<string> }
  | { readonly _tag: "File"; readonly name: string; readonly path: string }
  | { readonly _tag: "Slack"; readonly name: string; readonly url: Redacted.Redacted<string> }
  | { readonly _tag: "Discord"; readonly name: string; readonly url: Redacted.Redacted<string> }
  | {
    readonly _tag: "Ntfy"
    readonly name: string
    readonly url: Redacted.Redacted<string>
    /** The `Authorization` header's value, from `?token=` or the userinfo. */
    readonly authorization: Redacted.Redacted<string> | undefined
  }
  | {
    readonly _tag: "Telegram"
    readonly name: string
    /** `{api}/bot{TOKEN}/sendMessage`. */
    readonly endpoint: Redacted.Redacted<string>
    readonly chatId: string
  }

const schemes = "slack+https://, discord+https://, ntfy+https://, telegram://, webhook+https://, https://, http://, file:"

const shortHash = (text: string) => crypto.createHash("sha256").update(text).digest("hex").slice(0, 8)

const isHttp = (url: URL) => url.protocol === "https:" || url.protocol === "http:"

const isLoopback = (url: URL) => url.hostname === "localhost" || url.hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(url.hostname)

/** `decodeURIComponent`, keeping a malformed escape as it was written. */
const decodePart = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

const tryUrl = (text: string): URL | undefined => {
  try {
    return new URL(text)
  } catch {
    return undefined
  }
}

/**
 * A channel URL as it may be shown: scheme and host only, the userinfo, path
 * and query (where channels keep their secrets) replaced by `…`.
 *
 * @example
 * ```ts
 * import { Channel } from "@trawl/scraper"
 *
 * Channel.redact("slack+https://hooks.slack.com/services/T0/B0/XXXX") // "slack+https://hooks.slack.com/…"
 * Channel.redact("telegram://123:ABC@42") // "telegram://…@42"
 * ```
 * @since 0.4.0
 */
export const redact = (text: string): string => {
  const trimmed = text.trim()
  // a Telegram URL is all secret before its "@", and may have no "@" at all
  const telegram = /^telegram:\/\/([^/?#]*)/i.exec(trimmed)
  if (telegram !== null) {
    const at = telegram[1]!.indexOf("@")
    const chat = at === -1 ? "" : `@${telegram[1]!.slice(at + 1)}`
    return `telegram://…${chat}${telegram[0].length < trimmed.length ? "/…" : ""}`
  }
  const url = tryUrl(trimmed)
  if (url !== undefined && url.protocol !== "file:") {
    const raw = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(trimmed)?.[1] ?? ""
    const userinfo = url.username !== "" || url.password !== "" || raw.includes("@") ? "…@" : ""
    const rest = (url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "" ? "/…" : ""
    const authority = url.host !== "" || raw !== "" ? `//${userinfo}${url.host}` : ""
    return `${url.protocol}${authority}${authority === "" && rest !== "" ? "…" : rest}`
  }
  if (/^file:/i.test(trimmed)) return trimmed // a path is no secret, and the user needs to see which
  // not a URL: the scheme and the host at most, never a userinfo (a token), a path or a "port" that is no number
  const parts = /^([a-z][a-z0-9+.-]*:)(\/\/)?(.*)$/is.exec(trimmed)
  if (parts === null) {
    const shown = /^[^/?#@:\s]*/.exec(trimmed)![0]
    return shown.length === trimmed.length ? shown : `${shown}…`
  }
  const rest = parts[3]!
  if (parts[2] === undefined) return rest === "" ? parts[1]! : `${parts[1]}…`
  const authority = /^[^/?#]*/.exec(rest)![0]
  const at = authority.lastIndexOf("@")
  let host = at === -1 ? authority : authority.slice(at + 1)
  if (/:(?!\d*$)/.test(host)) host = `${host.slice(0, host.indexOf(":"))}:…`
  return `${parts[1]}//${at === -1 ? "" : "…@"}${host}${authority.length < rest.length ? "/…" : ""}`
}

const fail = (text: string, reason: string) => new ChannelError({ url: redact(text), reason })

/** An http(s) URL with a host, or what is wrong with it. */
const httpTarget = (text: string, original: string, what: string): URL | ChannelError => {
  const url = tryUrl(text)
  if (url === undefined) return fail(original, `${what} is not a valid URL`)
  if (!isHttp(url)) return fail(original, `${what} must be an http(s) URL`)
  if (url.hostname === "") return fail(original, `${what} has no host`)
  return url
}

const nameOf = (kind: string, origin: string, original: string) => `${kind} ${origin} #${shortHash(original)}`

const decode = (input: string): Channel | ChannelError => {
  const text = input.trim()
  if (text === "") return new ChannelError({ url: "''", reason: `empty channel URL (one of ${schemes})` })
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase()
  if (scheme === undefined) return fail(text, `not a channel URL: no scheme (one of ${schemes})`)
  const after = text.slice(scheme.length + 1)
  switch (scheme) {
    case "http":
    case "https":
      return webhook(text, text)
    case "file": {
      let path: string
      if (after.startsWith("//")) {
        const url = tryUrl(text)
        if (url === undefined) return fail(text, "not a file URL")
        if (url.host !== "" && url.hostname !== "localhost") {
          return fail(text, `'${url.host}' is read as a host: file:///absolute/path or file:relative/path`)
        }
        path = fileURLToPath(url)
      } else {
        path = after
      }
      if (path === "") return fail(text, "no file path (file:///path/alerts.jsonl or file:alerts.jsonl)")
      return { _tag: "File", name: `jsonl ${path}`, path }
    }
    case "slack":
    case "discord":
    case "ntfy":
      return fail(text, `${scheme} needs the endpoint's scheme too: ${scheme}+https://…`)
    case "telegram":
      return telegram(text, after)
    default: {
      const plus = /^(slack|discord|ntfy|webhook)\+(.*)$/.exec(scheme)
      if (plus === null) return fail(text, `unknown channel scheme '${scheme}' (one of ${schemes})`)
      const kind = plus[1]!
      const target = text.slice(kind.length + 1)
      if (kind === "webhook") return webhook(target, text)
      const url = httpTarget(target, text, `the part after ${kind}+`)
      if (url instanceof ChannelError) return url
      if (kind === "ntfy") return ntfy(text, url)
      if (url.pathname === "" || url.pathname === "/") return fail(text, `no webhook path: ${kind} webhooks are URLs like ${kind === "slack" ? "https://hooks.slack.com/services/…" : "https://discord.com/api/webhooks/…"}`)
      const name = nameOf(kind, url.origin, text)
      return kind === "slack" ? { _tag: "Slack", name, url: Redacted.make(url.href) } : { _tag: "Discord", name, url: Redacted.make(url.href) }
    }
  }
}

const webhook = (target: string, text: string): Channel | ChannelError => {
  const url = httpTarget(target, text, target === text ? "a webhook" : "the part after webhook+")
  if (url instanceof ChannelError) return url
  // the same name as `--webhook` gives the same URL: one delivery record, not two
  return { _tag: "Webhook", name: Notifier.webhookName(target), url: Redacted.make(target) }
}

const ntfy = (text: string, url: URL): Channel | ChannelError => {
  if (url.pathname === "" || url.pathname === "/") return fail(text, "no topic: ntfy+https://host/TOPIC")
  let authorization: Redacted.Redacted<string> | undefined
  const token = url.searchParams.get("token")
  if (token !== null) {
    if (token === "") return fail(text, "an empty ?token=")
    if (url.username !== "") return fail(text, "both a ?token= and a user: one or the other")
    authorization = Redacted.make(`Bearer ${token}`)
    url.searchParams.delete("token")
  } else if (url.username !== "") {
    const user = decodePart(url.username)
    const password = decodePart(url.password)
    authorization = Redacted.make(`Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`)
  }
  url.username = ""
  url.password = ""
  return { _tag: "Ntfy", name: nameOf("ntfy", url.origin, text), url: Redacted.make(url.href), authorization }
}

const telegram = (text: string, after: string): Channel | ChannelError => {
  const usage = "telegram://TOKEN@CHAT_ID"
  if (!after.startsWith("//")) return fail(text, `expected ${usage}`)
  const rest = after.slice(2)
  const queryAt = rest.indexOf("?")
  const authority = queryAt === -1 ? rest : rest.slice(0, queryAt)
  const query = new URLSearchParams(queryAt === -1 ? "" : rest.slice(queryAt + 1))
  // a bot token never holds an "@"; a chat may (a channel's @username)
  const at = authority.indexOf("@")
  if (at === -1) return fail(text, `no bot token: expected ${usage}`)
  const token = decodePart(authority.slice(0, at))
  const chatId = decodePart(authority.slice(at + 1)).replace(/\/$/, "")
  if (token === "") return fail(text, `no bot token: expected ${usage}`)
  if (!/^\d+:[A-Za-z0-9_-]+$/.test(token)) return fail(text, "the bot token is not of the form 123456789:AA… (from @BotFather)")
  if (chatId === "") return fail(text, `no chat id: expected ${usage}`)
  if (!/^(-?\d+|@[A-Za-z0-9_]{4,})$/.test(chatId)) return fail(text, "the chat id must be a number (-100… for groups) or a channel's @username")
  let api = "https://api.telegram.org"
  for (const key of query.keys()) {
    if (key !== "api") return fail(text, `unknown parameter '${key}' (only ?api=URL)`)
  }
  const override = query.get("api")
  if (override !== null) {
    const url = tryUrl(override)
    if (url === undefined || !isHttp(url) || url.hostname === "") return fail(text, "?api= must be an http(s) URL")
    // the token travels in the path: never in the clear across a network
    if (url.protocol === "http:" && !isLoopback(url)) return fail(text, "?api= over plain http is only for a loopback address")
    api = url.href.replace(/\/+$/, "")
  }
  return {
    _tag: "Telegram",
    name: nameOf("telegram", new URL(api).origin, text),
    endpoint: Redacted.make(`${api}/bot${token}/sendMessage`),
    chatId
  }
}

/**
 * Parses a channel URL; a URL that cannot be used fails with a
 * `ChannelError` naming it (redacted) and what is wrong.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Channel } from "@trawl/scraper"
 *
 * const program = Effect.gen(function*() {
 *   const slack = yield* Channel.parse("slack+https://hooks.slack.com/services/T0/B0/XXXX")
 *   slack.name // "slack https://hooks.slack.com #…"
 *   const error = yield* Effect.flip(Channel.parse("telegram://123:ABC@"))
 *   error.message // "telegram://…@: no chat id: expected telegram://TOKEN@CHAT_ID"
 * })
 * ```
 * @since 0.4.0
 */
export const parse = (url: string): Effect.Effect<Channel, ChannelError> =>
  Effect.suspend(() => {
    const result = decode(url)
    return result instanceof ChannelError ? Effect.fail(result) : Effect.succeed(result)
  })

/**
 * Checks a channel URL at once: the `ChannelError` that `parse` would fail
 * with, or `undefined` for a usable one.
 *
 * @example
 * ```ts
 * import { Channel } from "@trawl/scraper"
 *
 * Channel.check("ntfy+https://ntfy.sh/prices") // undefined
 * Channel.check("sms://+4912345")?.message // "sms://+4912345: unknown channel scheme 'sms' (one of …)"
 * ```
 * @since 0.4.0
 */
export const check = (url: string): ChannelError | undefined => {
  const result = decode(url)
  return result instanceof ChannelError ? result : undefined
}

/**
 * A channel URL as it may be shown (`trawl rules`, `trawl group`): its
 * notifier's name, as `trawl status` names it (kind, origin and a short hash
 * of the URL), or the URL redacted and why it cannot be used.
 *
 * @example
 * ```ts
 * import { Channel } from "@trawl/scraper"
 *
 * Channel.describe("ntfy+https://ntfy.sh/prices?token=tk_secret") // "ntfy https://ntfy.sh #…"
 * Channel.describe("sms://+4912345") // "sms://+4912345 (not a usable channel: unknown channel scheme 'sms' …)"
 * ```
 * @since 0.4.0
 */
export const describe = (url: string): string => {
  const result = decode(url)
  return result instanceof ChannelError ? `${result.url} (not a usable channel: ${result.reason})` : result.name
}

/**
 * Splits a list of channel URLs as the environment and the config file give
 * them: separated by whitespace or commas.
 *
 * @example
 * ```ts
 * import { Channel } from "@trawl/scraper"
 *
 * Channel.split("ntfy+https://ntfy.sh/a, file:alerts.jsonl") // ["ntfy+https://ntfy.sh/a", "file:alerts.jsonl"]
 * ```
 * @since 0.4.0
 */
export const split = (text: string): ReadonlyArray<string> => text.split(/[\s,]+/).filter((part) => part !== "")

/**
 * Cuts `text` to at most `max` UTF-16 units, ending with `…` when cut, and
 * never between the two halves of a surrogate pair.
 *
 * @example
 * ```ts
 * import { Channel } from "@trawl/scraper"
 *
 * Channel.truncate("price down: Kettle", 10) // "price dow…"
 * ```
 * @since 0.4.0
 */
export const truncate = (text: string, max: number): string => {
  if (text.length <= max) return text
  let end = max - 1
  const code = text.charCodeAt(end - 1)
  if (code >= 0xd800 && code <= 0xdbff) end-- // a high surrogate whose low half would be cut off
  return `${text.slice(0, end)}…`
}

/**
 * ntfy's emoji tags and priority (1–5) for an alert kind. Kinds this table
 * does not know yet get a bell at the default priority.
 */
const ntfyStyle = (kind: string): { readonly tags: string; readonly priority: number } => {
  switch (kind) {
    case "price_down":
      return { tags: "chart_with_downwards_trend", priority: 4 }
    case "price_up":
      return { tags: "chart_with_upwards_trend", priority: 3 }
    case "back_in_stock":
      return { tags: "white_check_mark", priority: 4 }
    case "out_of_stock":
      return { tags: "x", priority: 3 }
    case "currency_changed":
      return { tags: "currency_exchange", priority: 3 }
    case "extraction_broken":
      return { tags: "warning", priority: 3 }
    case "first_seen":
      return { tags: "new", priority: 2 }
    default:
      return { tags: "bell", priority: 3 }
  }
}

/** A header value in ASCII: non-ASCII text as one RFC 2047 word, which ntfy decodes. */
const headerText = (text: string): string => {
  const flat = text.replace(/[\r\n\t]+/g, " ")
  return /^[\x20-\x7e]*$/.test(flat) ? flat : `=?UTF-8?B?${Buffer.from(flat, "utf8").toString("base64")}?=`
}

const kindOf = (notification: Notifier.Notification) => {
  const kind = notification.json["kind"]
  return typeof kind === "string" ? kind : "alert"
}

/** Slack reads `&`, `<` and `>` as markup: escaped, the text shows as sent. */
const slackEscape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/**
 * The HTTP request a channel sends for one alert (before its
 * `Idempotency-Key`); `undefined` for the webhook and file channels, which
 * are the existing notifiers.
 */
const requestFor = (channel: Channel, notification: Notifier.Notification): HttpClientRequest.HttpClientRequest | undefined => {
  switch (channel._tag) {
    case "Slack":
      return HttpClientRequest.post(Redacted.value(channel.url)).pipe(
        HttpClientRequest.bodyJsonUnsafe({ text: slackEscape(notification.text) })
      )
    case "Discord":
      return HttpClientRequest.post(Redacted.value(channel.url)).pipe(
        // a product name reading "@everyone" pings nobody
        HttpClientRequest.bodyJsonUnsafe({ content: truncate(notification.text, 2000), allowed_mentions: { parse: [] } })
      )
    case "Telegram":
      return HttpClientRequest.post(Redacted.value(channel.endpoint)).pipe(
        HttpClientRequest.bodyJsonUnsafe({ chat_id: channel.chatId, text: truncate(notification.text, 4096), disable_web_page_preview: true })
      )
    case "Ntfy": {
      const kind = kindOf(notification)
      const style = ntfyStyle(kind)
      const name = notification.json["name"]
      const title = truncate(`${kind.replace(/_/g, " ")}${typeof name === "string" && name !== "" ? `: ${name}` : ""}`, 200)
      const click = notification.json["url"]
      const headers: Record<string, string> = {
        title: headerText(title),
        tags: `${style.tags},${kind}`,
        priority: String(style.priority)
      }
      if (typeof click === "string" && /^https?:\/\/[\x21-\x7e]+$/.test(click)) headers["click"] = click
      if (channel.authorization !== undefined) headers["authorization"] = Redacted.value(channel.authorization)
      return HttpClientRequest.post(Redacted.value(channel.url)).pipe(
        HttpClientRequest.setHeaders(headers),
        HttpClientRequest.bodyText(notification.text, "text/plain; charset=utf-8")
      )
    }
    case "Webhook":
    case "File":
      return undefined
  }
}

/** What a channel must never show: its URL, path, tokens. */
const secretsOf = (channel: Channel): ReadonlyArray<string> => {
  switch (channel._tag) {
    case "Slack":
    case "Discord": {
      const url = new URL(Redacted.value(channel.url))
      return [url.href, url.pathname + url.search, ...url.pathname.split("/").filter((part) => part.length >= 16)]
    }
    case "Ntfy": {
      const url = new URL(Redacted.value(channel.url))
      const auth = channel.authorization === undefined ? [] : [Redacted.value(channel.authorization), Redacted.value(channel.authorization).replace(/^\w+ /, "")]
      return [url.href, url.pathname, ...auth]
    }
    case "Telegram": {
      const endpoint = Redacted.value(channel.endpoint)
      const token = /\/bot([^/]+)\/sendMessage$/.exec(endpoint)?.[1] ?? endpoint
      return [endpoint, token, token.replace(/^\d+:/, "")]
    }
    case "Webhook":
      return [Redacted.value(channel.url)]
    case "File":
      return []
  }
}

/**
 * Options of a channel's notifier: the webhook's (timeout, retries, backoff)
 * and the longest `Retry-After` waited out within one delivery.
 *
 * @example
 * ```ts
 * import { Channel } from "@trawl/scraper"
 *
 * const options: Channel.Options = { retries: 3, backoff: "100 millis", maxRetryAfter: "10 seconds" }
 * ```
 * @since 0.4.0
 */
export interface Options extends Delivery.RetryOptions {}

/**
 * The notifier that delivers to a channel.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Channel } from "@trawl/scraper"
 *
 * const program = Effect.gen(function*() {
 *   const channel = yield* Channel.parse("ntfy+https://ntfy.sh/my-prices")
 *   const notifier = yield* Channel.notifier(channel)
 *   yield* notifier.deliver({ key: "t1-o9-price_down", json: { kind: "price_down" }, text: "price down: Kettle 24.90 EUR → 19.90 EUR" })
 * }).pipe(Effect.provide(NodeHttpClient.layerUndici))
 * ```
 * @since 0.4.0
 */
export const notifier = (channel: Channel, options: Options = {}): Effect.Effect<Notifier.Notifier, Notifier.NotifyError, HttpClient.HttpClient> => {
  switch (channel._tag) {
    case "Webhook":
      return Notifier.webhook({ url: Redacted.value(channel.url), timeout: options.timeout, retries: options.retries, backoff: options.backoff })
    case "File":
      return Notifier.jsonlFile(channel.path)
    default:
      return Effect.map(HttpClient.HttpClient, (client) => {
        const send = Delivery.sender(client, channel.name, secretsOf(channel), options)
        return {
          name: channel.name,
          deliver: (notification) => Effect.suspend(() => send(notification.key, requestFor(channel, notification)!))
        }
      })
  }
}

/**
 * Parses a channel URL and builds its notifier.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Channel } from "@trawl/scraper"
 *
 * const program = Channel.make("discord+https://discord.com/api/webhooks/1/abc").pipe(
 *   Effect.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 * @since 0.4.0
 */
export const make = (
  url: string,
  options: Options = {}
): Effect.Effect<Notifier.Notifier, ChannelError | Notifier.NotifyError, HttpClient.HttpClient> =>
  Effect.flatMap(parse(url), (channel) => notifier(channel, options))

/**
 * Which alerts go to the channels named on targets and groups: a channel
 * named on a target gets that target's alerts; one named on a group gets the
 * alerts about the group (`cheapest_changed`, the group's rules: the alert's
 * `group`) and its members' alerts.
 *
 * @since 0.4.0
 */
export interface Router {
  /**
   * Whether the channel of this notifier name is named on the alert's target,
   * on its target's group or on the alert's group. Reads the store's
   * `channelRoutes` again when they are older than the alert, so an alert is
   * routed by the channels as they stood when it was raised, or later.
   */
  readonly routes: (name: string, notification: Notifier.Notification) => Effect.Effect<boolean, Notifier.NotifyError>
}

interface Snapshot {
  readonly fetchedAt: number
  readonly targets: ReadonlyMap<number, ReadonlySet<string>>
  readonly groups: ReadonlyMap<string, ReadonlySet<string>>
}

/**
 * The router over the store's channel routes (`Store.channelRoutes`), one for
 * a run, shared by its routed notifiers: they read the routes once between
 * them, not once each.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Store } from "@trawl/store"
 * import { Channel } from "@trawl/scraper"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* Store.Store
 *   const router = yield* Channel.router(store.channelRoutes)
 *   const ntfy = yield* Channel.make("ntfy+https://ntfy.sh/kettle-prices")
 *   return Channel.routed(ntfy, router)
 * })
 * ```
 * @since 0.4.0
 */
export const router = (load: Effect.Effect<Store.ChannelRoutes, StoreError.DatabaseError>): Effect.Effect<Router> =>
  Effect.map(Semaphore.make(1), (semaphore) => {
    let snapshot: Snapshot | undefined
    // a URL's notifier name; undefined for one that names no channel (no notifier has it)
    const names = new Map<string, string | undefined>()
    const nameOf = (url: string) => {
      if (!names.has(url)) {
        const result = decode(url)
        names.set(url, result instanceof ChannelError ? undefined : result.name)
      }
      return names.get(url)
    }
    const toNames = (urls: ReadonlyArray<string>): ReadonlySet<string> =>
      new Set(urls.flatMap((url) => {
        const name = nameOf(url)
        return name === undefined ? [] : [name]
      }))
    const fresh = (createdAt: number) => snapshot !== undefined && snapshot.fetchedAt > createdAt ? snapshot : undefined
    const refresh = (createdAt: number) =>
      semaphore.withPermit(Effect.suspend(() => {
        // another notifier may have read them while this one waited
        const current = fresh(createdAt)
        if (current !== undefined) return Effect.succeed(current)
        return Effect.gen(function*() {
          const fetchedAt = yield* Clock.currentTimeMillis
          const routes = yield* load
          const next: Snapshot = {
            fetchedAt,
            targets: new Map(Array.from(routes.targets, ([id, urls]) => [id, toNames(urls)] as const)),
            groups: new Map(Array.from(routes.groups, ([group, urls]) => [group, toNames(urls)] as const))
          }
          snapshot = next
          return next
        })
      }))
    return {
      routes: (name, notification) =>
        Effect.gen(function*() {
          const at = typeof notification.json["at"] === "string" ? Date.parse(notification.json["at"]) : Number.NaN
          // an alert of unknown age is routed by the routes there are, once there are some
          const createdAt = Number.isFinite(at) ? at : Number.NEGATIVE_INFINITY
          const routes = fresh(createdAt) ?? (yield* refresh(createdAt).pipe(
            Effect.mapError((error) =>
              new Notifier.NotifyError({ notifier: name, key: notification.key, reason: `store: ${error.message}`, retryable: true })
            )
          ))
          const targetId = notification.json["targetId"]
          const group = notification.json["group"]
          return (typeof targetId === "number" && routes.targets.get(targetId)?.has(name) === true) ||
            (typeof group === "string" && routes.groups.get(group)?.has(name) === true)
        })
    }
  })

/**
 * A notifier for a channel named on targets or groups: it delivers the
 * alerts `router` routes to it and answers `Store.skipped` for the others
 * (done for this channel, never sent, never delivered again).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Store } from "@trawl/store"
 * import { Channel } from "@trawl/scraper"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* Store.Store
 *   const router = yield* Channel.router(store.channelRoutes)
 *   return Channel.routed(yield* Channel.make("file:kettle-alerts.jsonl"), router)
 * })
 * ```
 * @since 0.4.0
 */
export const routed = (notifier: Notifier.Notifier, router: Router): Notifier.Notifier => ({
  name: notifier.name,
  deliver: (notification) =>
    Effect.flatMap(router.routes(notifier.name, notification), (wanted) => wanted ? notifier.deliver(notification) : Effect.succeed(Store.skipped))
})
