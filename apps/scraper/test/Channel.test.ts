/**
 * Alert channels against real loopback receivers: each channel's request
 * (method, path, body, headers, one per alert), retries (5xx, 429 with
 * Retry-After), refusals for good (4xx), names and log lines free of the
 * secrets the URLs carry, bad URLs as one-line typed errors, and the outbox
 * delivering each alert to each channel once.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Supervisor } from "@trawl/actor"
import { Model, Store, StoreError } from "@trawl/store"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { AlertText, Channel, Outbox, Supervision } from "../src/index.ts"

interface Seen {
  readonly method: string
  readonly path: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
  readonly at: number
}

interface Reply {
  readonly status: number
  readonly headers?: Record<string, string>
  readonly body?: string
}

/**
 * A receiver on 127.0.0.1: `reply` answers each request (by default 200);
 * every request is kept, in order.
 */
const receiver = (reply: (seen: Seen, index: number) => Reply = () => ({ status: 200 })) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ base: string; port: number; seen: Array<Seen>; server: http.Server }>((resolve) => {
        const seen: Array<Seen> = []
        const server = http.createServer((req, res) => {
          let body = ""
          req.setEncoding("utf8")
          req.on("data", (chunk: string) => (body += chunk))
          req.on("end", () => {
            const request = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body, at: Date.now() }
            seen.push(request)
            const answer = reply(request, seen.length - 1)
            res.writeHead(answer.status, answer.headers)
            res.end(answer.body ?? "")
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const port = (server.address() as AddressInfo).port
          resolve({ base: `http://127.0.0.1:${port}`, port, seen, server })
        })
      })
    ),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )

/** Answers from a list in turn, then 200. */
const inTurn = (replies: Array<Reply>) => () => replies.shift() ?? { status: 200 }

const SECRETS = ["SLACKSECRET", "DISCORDSECRET", "NTFYSECRET", "TGSECRET", "BASICPASS"] as const

const assertNoSecret = (text: string, where: string) => {
  for (const secret of SECRETS) assert.notInclude(text, secret, `${where} shows a secret: ${text}`)
}

const slackUrl = (base: string) => `slack+${base}/services/T0000/B0000/SLACKSECRETxxxxxxxxxxxxx`
const discordUrl = (base: string) => `discord+${base}/api/webhooks/1234567890/DISCORDSECRET-abcdefghijklmnop`
const ntfyUrl = (base: string) => `ntfy+${base}/kettle-prices?token=tk_NTFYSECRET`
const telegramUrl = (port: number) => `telegram://123456789:TGSECRET-abc_def@-1001234567?api=http://127.0.0.1:${port}`

const alert = (over: Partial<AlertText.AlertLike> = {}): AlertText.AlertLike => ({
  key: "t7-o42-price_down",
  kind: "price_down",
  url: "https://shop.example/kettle?ref=a&b=<c>",
  targetId: 7,
  oldPrice: { amount: "24.90", currency: "EUR" },
  newPrice: { amount: "19.90", currency: "EUR" },
  percent: "-20.08",
  failureStreak: 0,
  createdAt: 1_700_000_000_000,
  productName: "Wasserkocher Ü 1.7 l",
  ...over
})

const fast: Channel.Options = { backoff: "5 millis", retries: 3, timeout: "5 seconds" }

const http1 = NodeHttpClient.layerUndici

/** Log lines of every level, collected. */
const collectLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ cause, logLevel, message }) => {
    const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
    lines.push(`${logLevel} ${text}${cause.reasons.length > 0 ? ` ${Cause.pretty(cause)}` : ""}`)
  })
  return { lines, layer: Layer.mergeAll(Logger.layer([logger]), Layer.succeed(References.MinimumLogLevel, "All")) }
}

const decodeRfc2047 = (value: string) => {
  const match = /^=\?UTF-8\?B\?(.*)\?=$/.exec(value)
  return match === null ? value : Buffer.from(match[1]!, "base64").toString("utf8")
}

describe("channel URLs", () => {
  it.effect("each scheme is its channel, named by kind, origin and a short hash without the secret", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, Channel.Channel["_tag"], RegExp]> = [
        [slackUrl("https://hooks.slack.com"), "Slack", /^slack https:\/\/hooks\.slack\.com #[0-9a-f]{8}$/],
        [discordUrl("https://discord.com"), "Discord", /^discord https:\/\/discord\.com #[0-9a-f]{8}$/],
        [ntfyUrl("https://ntfy.sh"), "Ntfy", /^ntfy https:\/\/ntfy\.sh #[0-9a-f]{8}$/],
        ["ntfy+https://me:BASICPASS@ntfy.example/t", "Ntfy", /^ntfy https:\/\/ntfy\.example #[0-9a-f]{8}$/],
        ["telegram://123456789:TGSECRET-abc_def@-1001234567", "Telegram", /^telegram https:\/\/api\.telegram\.org #[0-9a-f]{8}$/],
        ["telegram://123456789:TGSECRET@@price_channel", "Telegram", /^telegram https:\/\/api\.telegram\.org #[0-9a-f]{8}$/],
        ["webhook+https://hooks.example/TGSECRET", "Webhook", /^webhook https:\/\/hooks\.example #[0-9a-f]{8}$/],
        ["https://hooks.example/TGSECRET", "Webhook", /^webhook https:\/\/hooks\.example #[0-9a-f]{8}$/],
        ["file:///var/lib/trawl/alerts.jsonl", "File", /^jsonl \/var\/lib\/trawl\/alerts\.jsonl$/],
        ["file:alerts.jsonl", "File", /^jsonl alerts\.jsonl$/]
      ]
      for (const [url, tag, name] of cases) {
        const channel = yield* Channel.parse(url)
        assert.strictEqual(channel._tag, tag, url)
        assert.match(channel.name, name)
        assertNoSecret(channel.name, url)
        // a channel logged or printed by mistake shows no secret either
        assertNoSecret(String(channel), url)
        assertNoSecret(JSON.stringify(channel), url)
      }
      // the same webhook URL, with or without webhook+, is one notifier (one delivery record)
      const plain = yield* Channel.parse("https://hooks.example/x")
      const prefixed = yield* Channel.parse("webhook+https://hooks.example/x")
      assert.strictEqual(plain.name, prefixed.name)
      // two topics on one ntfy server are two notifiers
      const a = yield* Channel.parse("ntfy+https://ntfy.sh/a")
      const b = yield* Channel.parse("ntfy+https://ntfy.sh/b")
      assert.notStrictEqual(a.name, b.name)
    }))

  it.effect("a bad URL is a ChannelError: one line naming the URL, redacted, and what is wrong", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["sms://+4912345", "sms://+4912345: unknown channel scheme 'sms'"],
        ["nope", "nope: not a channel URL: no scheme"],
        ["", "'': empty channel URL"],
        ["slack+ftp://hooks.slack.com/services/T/B/SLACKSECRET", "slack+ftp://hooks.slack.com/…: the part after slack+ must be an http(s) URL"],
        ["slack://hooks.slack.com/services/T/B/SLACKSECRET", "slack://hooks.slack.com/…: slack needs the endpoint's scheme too: slack+https://…"],
        ["discord+https://discord.com", "discord+https://discord.com: no webhook path"],
        ["ntfy+https://ntfy.sh/", "ntfy+https://ntfy.sh: no topic"],
        ["ntfy+https://ntfy.sh/t?token=", "ntfy+https://ntfy.sh/…: an empty ?token="],
        ["telegram://123456789:TGSECRET@", "telegram://…@: no chat id: expected telegram://TOKEN@CHAT_ID"],
        ["telegram://-1001234567", "telegram://…: no bot token: expected telegram://TOKEN@CHAT_ID"],
        ["telegram://@-1001234567", "telegram://…@-1001234567: no bot token"],
        ["telegram://123456789:TGSECRET", "telegram://…: no bot token: expected telegram://TOKEN@CHAT_ID"],
        ["telegram://TGSECRET@-1001234567", "telegram://…@-1001234567: the bot token is not of the form 123456789:AA…"],
        ["telegram://123456789:TGSECRET@kettle", "telegram://…@kettle: the chat id must be a number (-100… for groups) or a channel's @username"],
        ["telegram://123456789:TGSECRET@42?api=ftp://x", "telegram://…@42/…: ?api= must be an http(s) URL"],
        ["telegram://123456789:TGSECRET@42?api=http://api.example", "telegram://…@42/…: ?api= over plain http is only for a loopback address"],
        ["telegram://123456789:TGSECRET@42?thread=3", "telegram://…@42/…: unknown parameter 'thread'"],
        ["webhook+ftp://hooks.example/TGSECRET", "webhook+ftp://hooks.example/…: the part after webhook+ must be an http(s) URL"],
        ["file://alerts.jsonl", "file://alerts.jsonl: 'alerts.jsonl' is read as a host"],
        ["file:", "file:: no file path"]
      ]
      for (const [url, message] of cases) {
        const error = yield* Effect.flip(Channel.parse(url))
        assert.strictEqual(error._tag, "ChannelError")
        assert.isTrue(error.message.startsWith(message), `${url} → ${error.message}`)
        assert.notInclude(error.message, "\n")
        assertNoSecret(error.message, url)
      }
    }))

  it("redact keeps the scheme and host only; split reads the environment's lists; truncate never cuts a surrogate pair", () => {
    assert.strictEqual(Channel.redact("slack+https://hooks.slack.com/services/T/B/SLACKSECRET"), "slack+https://hooks.slack.com/…")
    assert.strictEqual(Channel.redact("ntfy+https://me:BASICPASS@ntfy.sh/t"), "ntfy+https://…@ntfy.sh/…")
    assert.strictEqual(Channel.redact("telegram://1:TGSECRET@42"), "telegram://…@42")
    assert.strictEqual(Channel.redact("1:TGSECRET@42"), "1…")
    assert.strictEqual(Channel.redact("telegram://123456789:TGSECRET"), "telegram://…")
    assert.strictEqual(Channel.redact("foo://host:TGSECRET/x"), "foo://host:…/…")
    assert.deepStrictEqual(Channel.split(" ntfy+https://ntfy.sh/a,file:x.jsonl\n\ttelegram://1:A@2 ,, "), ["ntfy+https://ntfy.sh/a", "file:x.jsonl", "telegram://1:A@2"])
    assert.strictEqual(Channel.truncate("abcdef", 6), "abcdef")
    assert.strictEqual(Channel.truncate("abcdef", 4), "abc…")
    assert.strictEqual(Channel.truncate("ab😀cd", 4), "ab…")
    assert.strictEqual(Channel.truncate("ab😀cd", 5), "ab😀…")
  })
})

describe("channel requests", () => {
  it.live("slack: one POST of {text} to the webhook path, escaped, with the alert's Idempotency-Key", () =>
    Effect.gen(function*() {
      const { base, seen } = yield* receiver(() => ({ status: 200, body: "ok" }))
      const notifier = yield* Channel.make(slackUrl(base), fast)
      const notification = AlertText.notification(alert())
      yield* notifier.deliver(notification)
      assert.strictEqual(seen.length, 1)
      const [request] = seen
      assert.strictEqual(request!.method, "POST")
      assert.strictEqual(request!.path, "/services/T0000/B0000/SLACKSECRETxxxxxxxxxxxxx")
      assert.match(String(request!.headers["content-type"]), /^application\/json/)
      assert.strictEqual(request!.headers["idempotency-key"], "t7-o42-price_down")
      const body = JSON.parse(request!.body)
      assert.deepStrictEqual(Object.keys(body), ["text"])
      assert.strictEqual(
        body.text,
        "price down: Wasserkocher Ü 1.7 l 24.90 EUR → 19.90 EUR (-20.08%) https://shop.example/kettle?ref=a&amp;b=&lt;c&gt;"
      )
    }).pipe(Effect.provide(http1)))

  it.live("discord: {content} at most 2,000 characters, cut safely, mentioning nobody", () =>
    Effect.gen(function*() {
      const { base, seen } = yield* receiver(() => ({ status: 204 }))
      const notifier = yield* Channel.make(discordUrl(base), fast)
      yield* notifier.deliver(AlertText.notification(alert({ kind: "back_in_stock", key: "k1" })))
      // a name of 3,000 emoji: the text is cut, and not between a surrogate pair's halves
      yield* notifier.deliver(AlertText.notification(alert({ key: "k2", productName: "@everyone " + "😀".repeat(3000) })))
      assert.strictEqual(seen.length, 2)
      assert.deepStrictEqual(seen.map((s) => [s.method, s.path, s.headers["idempotency-key"]]), [
        ["POST", "/api/webhooks/1234567890/DISCORDSECRET-abcdefghijklmnop", "k1"],
        ["POST", "/api/webhooks/1234567890/DISCORDSECRET-abcdefghijklmnop", "k2"]
      ])
      const first = JSON.parse(seen[0]!.body)
      assert.deepStrictEqual(first, {
        content: "back in stock: Wasserkocher Ü 1.7 l 19.90 EUR https://shop.example/kettle?ref=a&b=<c>",
        allowed_mentions: { parse: [] }
      })
      const long = JSON.parse(seen[1]!.body).content as string
      assert.isAtMost(long.length, 2000)
      assert.isTrue(long.endsWith("😀…"), "cut after a whole emoji")
      assert.isFalse(/[\ud800-\udbff](?![\udc00-\udfff])/.test(long), "no lone high surrogate")
    }).pipe(Effect.provide(http1)))

  it.live("ntfy: the text as body with Title, Tags, Priority and Click; ?token= is a Bearer, never in the URL", () =>
    Effect.gen(function*() {
      const { base, seen } = yield* receiver()
      const notifier = yield* Channel.make(ntfyUrl(base), fast)
      yield* notifier.deliver(AlertText.notification(alert()))
      yield* notifier.deliver(AlertText.notification(alert({ key: "k-up", kind: "price_up", productName: "Kettle", oldPrice: { amount: "19.90", currency: "EUR" }, newPrice: { amount: "21.00", currency: "EUR" }, percent: "5.53" })))
      yield* notifier.deliver(AlertText.notification(alert({ key: "k-broken", kind: "extraction_broken", productName: null, failureStreak: 5 })))
      yield* notifier.deliver(AlertText.notification(alert({ key: "k-new", kind: "cheapest_changed", productName: null })))
      assert.strictEqual(seen.length, 4)
      for (const request of seen) {
        assert.strictEqual(request.method, "POST")
        assert.strictEqual(request.path, "/kettle-prices")
        assert.strictEqual(request.headers["authorization"], "Bearer tk_NTFYSECRET")
        assert.match(String(request.headers["content-type"]), /^text\/plain/)
      }
      const [down, up, broken, unknown] = seen
      assert.strictEqual(down!.body, "price down: Wasserkocher Ü 1.7 l 24.90 EUR → 19.90 EUR (-20.08%) https://shop.example/kettle?ref=a&b=<c>")
      // a non-ASCII title travels as an RFC 2047 word, which ntfy decodes
      assert.strictEqual(decodeRfc2047(String(down!.headers["title"])), "price down: Wasserkocher Ü 1.7 l")
      assert.strictEqual(down!.headers["tags"], "chart_with_downwards_trend,price_down")
      assert.strictEqual(down!.headers["priority"], "4")
      assert.strictEqual(down!.headers["idempotency-key"], "t7-o42-price_down")
      assert.strictEqual(down!.headers["click"], "https://shop.example/kettle?ref=a&b=<c>")
      assert.strictEqual(up!.headers["title"], "price up: Kettle")
      assert.strictEqual(up!.headers["tags"], "chart_with_upwards_trend,price_up")
      assert.strictEqual(up!.headers["priority"], "3")
      assert.strictEqual(broken!.headers["title"], "extraction broken")
      assert.strictEqual(broken!.headers["tags"], "warning,extraction_broken")
      assert.strictEqual(broken!.body, "extraction broken: 5 failures in a row https://shop.example/kettle?ref=a&b=<c>")
      // a kind added after this table: a bell at the default priority
      assert.strictEqual(unknown!.headers["tags"], "bell,cheapest_changed")
      assert.strictEqual(unknown!.headers["priority"], "3")
    }).pipe(Effect.provide(http1)))

  it.live("ntfy: a user and password are Basic auth, taken out of the URL", () =>
    Effect.gen(function*() {
      const { port, seen } = yield* receiver()
      const notifier = yield* Channel.make(`ntfy+http://me:BASICPASS@127.0.0.1:${port}/t`, fast)
      yield* notifier.deliver(AlertText.notification(alert()))
      assert.strictEqual(seen.length, 1)
      assert.strictEqual(seen[0]!.path, "/t")
      assert.strictEqual(seen[0]!.headers["authorization"], `Basic ${Buffer.from("me:BASICPASS").toString("base64")}`)
      assertNoSecret(notifier.name, "the name")
    }).pipe(Effect.provide(http1)))

  it.live("telegram: POST {api}/bot{TOKEN}/sendMessage with {chat_id, text, disable_web_page_preview}", () =>
    Effect.gen(function*() {
      const { port, seen } = yield* receiver(() => ({ status: 200, headers: { "content-type": "application/json" }, body: "{\"ok\":true}" }))
      const notifier = yield* Channel.make(telegramUrl(port), fast)
      yield* notifier.deliver(AlertText.notification(alert({ kind: "out_of_stock" })))
      assert.strictEqual(seen.length, 1)
      assert.strictEqual(seen[0]!.method, "POST")
      assert.strictEqual(seen[0]!.path, "/bot123456789:TGSECRET-abc_def/sendMessage")
      assert.match(String(seen[0]!.headers["content-type"]), /^application\/json/)
      assert.deepStrictEqual(JSON.parse(seen[0]!.body), {
        chat_id: "-1001234567",
        text: "out of stock: Wasserkocher Ü 1.7 l https://shop.example/kettle?ref=a&b=<c>",
        disable_web_page_preview: true
      })
      assert.match(notifier.name, /^telegram http:\/\/127\.0\.0\.1:\d+ #[0-9a-f]{8}$/)
    }).pipe(Effect.provide(http1)))

  it.live("webhook+http and file: the existing webhook and JSONL notifiers", () =>
    Effect.gen(function*() {
      const { base, seen } = yield* receiver()
      const webhook = yield* Channel.make(`webhook+${base}/alerts`, fast)
      const notification = AlertText.notification(alert())
      yield* webhook.deliver(notification)
      assert.strictEqual(seen.length, 1)
      assert.strictEqual(seen[0]!.path, "/alerts")
      assert.strictEqual(seen[0]!.headers["idempotency-key"], notification.key)
      assert.deepStrictEqual(JSON.parse(seen[0]!.body), JSON.parse(JSON.stringify(notification.json)))

      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "trawl-channel-"))),
        (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
      )
      const file = path.join(dir, "alerts.jsonl")
      const jsonl = yield* Channel.make(`file://${file}`)
      assert.strictEqual(jsonl.name, `jsonl ${file}`)
      yield* jsonl.deliver(notification)
      yield* jsonl.deliver(notification)
      const lines = (yield* Effect.promise(() => fs.readFile(file, "utf8"))).trim().split("\n")
      assert.strictEqual(lines.length, 1, "the same key written once")
      assert.strictEqual(JSON.parse(lines[0]!).key, notification.key)
    }).pipe(Effect.provide(http1)))
})

/** One case per HTTP channel: its URL for a receiver, and the path it posts to. */
const httpChannels: ReadonlyArray<readonly [string, (base: string, port: number) => string]> = [
  ["slack", (base) => slackUrl(base)],
  ["discord", (base) => discordUrl(base)],
  ["ntfy", (base) => ntfyUrl(base)],
  ["telegram", (_, port) => telegramUrl(port)]
]

describe("channel retries and refusals", () => {
  for (const [kind, url] of httpChannels) {
    it.live(`${kind}: a 500 then 200 is retried with the same key and delivered once`, () =>
      Effect.gen(function*() {
        const { base, port, seen } = yield* receiver(inTurn([{ status: 500, body: "oops" }]))
        const { lines, layer } = collectLogs()
        const notifier = yield* Channel.make(url(base, port), fast)
        yield* notifier.deliver(AlertText.notification(alert())).pipe(Effect.provide(layer))
        assert.strictEqual(seen.length, 2)
        assert.deepStrictEqual(seen.map((s) => s.headers["idempotency-key"]), ["t7-o42-price_down", "t7-o42-price_down"])
        assert.strictEqual(seen[0]!.body, seen[1]!.body)
        assert.isTrue(lines.some((line) => line.includes(`${notifier.name}: HTTP 500; retry 1 of 3`)), lines.join("\n"))
        for (const line of lines) assertNoSecret(line, "a log line")
      }).pipe(Effect.provide(http1)))

    it.live(`${kind}: a 400 is a refusal for good: one request, a NotifyError not retryable, with the receiver's word`, () =>
      Effect.gen(function*() {
        const { base, port, seen } = yield* receiver(() => ({ status: 400, body: "invalid_payload\n" }))
        const notifier = yield* Channel.make(url(base, port), fast)
        const error = yield* Effect.flip(notifier.deliver(AlertText.notification(alert())))
        assert.strictEqual(error._tag, "NotifyError")
        assert.isFalse(error.retryable)
        assert.strictEqual(error.reason, "HTTP 400: invalid_payload")
        assert.strictEqual(error.message, `${notifier.name} could not deliver t7-o42-price_down: HTTP 400: invalid_payload`)
        assert.strictEqual(seen.length, 1)
      }).pipe(Effect.provide(http1)))
  }

  it.live("a 429 waits out its Retry-After, then delivers once", () =>
    Effect.gen(function*() {
      const { base, seen } = yield* receiver(inTurn([{ status: 429, headers: { "retry-after": "1" } }]))
      const notifier = yield* Channel.make(discordUrl(base), { ...fast, backoff: "1 millis" })
      yield* notifier.deliver(AlertText.notification(alert()))
      assert.strictEqual(seen.length, 2)
      assert.isAtLeast(seen[1]!.at - seen[0]!.at, 950, "waited the second the receiver asked for, not the 1 ms backoff")
    }).pipe(Effect.provide(http1)))

  it.live("a Retry-After beyond the cap fails the delivery at once, retryable: the outbox backs off instead", () =>
    Effect.gen(function*() {
      const { port, seen } = yield* receiver(() => ({ status: 429, headers: { "retry-after": "3600" }, body: "{\"ok\":false}" }))
      const notifier = yield* Channel.make(telegramUrl(port), { ...fast, maxRetryAfter: "5 seconds" })
      const error = yield* Effect.flip(notifier.deliver(AlertText.notification(alert())))
      assert.isTrue(error.retryable)
      assert.strictEqual(error.reason, "HTTP 429 (retry after 3600 s)")
      assert.strictEqual(seen.length, 1)
    }).pipe(Effect.provide(http1)))

  it.live("gives up after its retries on a receiver that keeps failing (retryable)", () =>
    Effect.gen(function*() {
      const { base, seen } = yield* receiver(() => ({ status: 503 }))
      const notifier = yield* Channel.make(slackUrl(base), { ...fast, retries: 2 })
      const error = yield* Effect.flip(notifier.deliver(AlertText.notification(alert())))
      assert.isTrue(error.retryable)
      assert.strictEqual(seen.length, 3)
    }).pipe(Effect.provide(http1)))

  it.live("an unreachable receiver is a retryable NotifyError whose message names no token", () =>
    Effect.gen(function*() {
      const { port, server } = yield* receiver()
      yield* Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
      const { lines, layer } = collectLogs()
      const notifier = yield* Channel.make(telegramUrl(port), { ...fast, retries: 1 })
      const error = yield* Effect.flip(notifier.deliver(AlertText.notification(alert())).pipe(Effect.provide(layer)))
      assert.strictEqual(error._tag, "NotifyError")
      assert.isTrue(error.retryable)
      assertNoSecret(error.message, "the error")
      assert.notInclude(error.message, "123456789:")
      assert.isAbove(lines.length, 0)
      for (const line of lines) assertNoSecret(line, "a log line")
    }).pipe(Effect.provide(http1)))
})

describe("channels in the outbox", () => {
  it.live("each alert reaches each channel once; names, status and logs show no secret; a refused alert is settled", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "trawl-channel-outbox-"))),
        (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
      )
      const context = yield* Layer.build(Store.layerSqlite({ filename: path.join(dir, "outbox.db"), thread: "main" }))
      const store = Context.get(context, Store.Store)
      const target = yield* store.addTarget(new Model.NewTarget({ url: "https://shop.example/kettle", intervalMillis: 60_000 }))
      for (const [n, amount] of ["24.90", "19.90", "21.00"].entries()) {
        yield* store.recordObservations([
          new Model.ObservationInput({
            targetId: target.id,
            observedAt: 1_700_000_000_000 + n * 60_000,
            outcome: "ok",
            price: new Model.Money({ amount, currency: "EUR" }),
            availability: "in_stock",
            httpStatus: 200,
            source: "json-ld",
            productName: "Kettle"
          })
        ])
      }
      const alerts = yield* store.alerts({ limit: 100 })
      assert.isAtLeast(alerts.length, 3, "first seen, price down, price up")

      // every path's first request fails with a 500; telegram refuses the price rise for good
      const firstSeen = new Set<string>()
      const accepted: Array<{ readonly path: string; readonly key: string }> = []
      const { base, port } = yield* receiver((request) => {
        const key = String(request.headers["idempotency-key"])
        if (!firstSeen.has(request.path)) {
          firstSeen.add(request.path)
          return { status: 500 }
        }
        if (request.path.startsWith("/bot") && JSON.parse(request.body).text.startsWith("price up")) {
          return { status: 400, body: "{\"ok\":false,\"description\":\"Bad Request: chat not found\"}" }
        }
        accepted.push({ path: request.path, key })
        return { status: 200 }
      })
      const notifiers = yield* Effect.forEach(httpChannels, ([, url]) => Channel.make(url(base, port), fast))
      const { lines, layer } = collectLogs()
      yield* Effect.gen(function*() {
        const root = yield* Supervisor.make(Supervision.policies.root)
        const outbox = yield* Outbox.start(store, { notifiers, supervisor: root, everyMillis: 20 })
        yield* outbox.flush(20_000)
      }).pipe(Effect.scoped, Effect.provide(layer))

      const keys = alerts.map((a) => a.key).sort()
      for (const [index, notifier] of notifiers.entries()) {
        const kind = httpChannels[index]![0]
        const got = accepted.filter((a) => (kind === "telegram" ? a.path.startsWith("/bot") : a.path.includes(kind === "slack" ? "/services/" : kind === "discord" ? "/api/webhooks/" : "/kettle-prices"))).map((a) => a.key).sort()
        const expected = kind === "telegram" ? keys.filter((key) => !key.endsWith("price_up")) : keys
        assert.deepStrictEqual(got, expected, `${notifier.name}: each alert accepted once`)
      }
      const status = yield* store.notifierStatus()
      assert.deepStrictEqual(status.map((s) => s.name).sort(), notifiers.map((n) => n.name).sort())
      for (const row of status) {
        assert.strictEqual(row.pending, 0, row.name)
        assertNoSecret(`${row.name} ${row.lastError ?? ""}`, "trawl status")
      }
      assert.isTrue(
        lines.some((line) => /telegram http:\/\/127\.0\.0\.1:\d+ #[0-9a-f]{8} refused alert \S+price_up for good; not retried: HTTP 400: .*chat not found/.test(line)),
        lines.join("\n")
      )
      for (const line of lines) assertNoSecret(line, "a log line")
    }).pipe(Effect.scoped, Effect.provide(http1)), 30_000)
})

describe("channels named on targets and groups", () => {
  it.live("a routed channel delivers its targets' and groups' alerts, answers skipped for the rest; the routes are read once between notifiers, again for an alert newer than them", () =>
    Effect.gen(function*() {
      const a = "ntfy+https://ntfy.sh/a?token=tk_NTFYSECRET"
      const b = "webhook+https://hooks.example/b"
      let loads = 0
      const router = yield* Channel.router(Effect.sync(() => {
        loads++
        return {
          // target 7 names a; target 8 is in group kettle, which names b
          targets: new Map([[7, [a]], [8, [b]]]),
          groups: new Map([["kettle", [b]]])
        }
      }))
      const sent: Array<string> = []
      const stub = (url: string) => ({
        name: Channel.describe(url),
        deliver: (notification: { readonly key: string }) => Effect.sync(() => void sent.push(`${Channel.describe(url)} ${notification.key}`))
      })
      const toA = Channel.routed(stub(a), router)
      const toB = Channel.routed(stub(b), router)
      const cases: Array<[AlertText.AlertLike, boolean, boolean]> = [
        [alert({ key: "t7", targetId: 7 }), true, false],
        [alert({ key: "t8", targetId: 8 }), false, true],
        [alert({ key: "t9", targetId: 9 }), false, false],
        // the group's own alert about a shop that names nothing itself
        [alert({ key: "g", targetId: 9, kind: "cheapest_changed", group: "kettle" }), false, true]
      ]
      for (const [over, forA, forB] of cases) {
        const notification = AlertText.notification(over)
        assert.strictEqual(yield* toA.deliver(notification), forA ? undefined : Store.skipped, `${over.key} to a`)
        assert.strictEqual(yield* toB.deliver(notification), forB ? undefined : Store.skipped, `${over.key} to b`)
      }
      assert.deepStrictEqual(sent, [`${toA.name} t7`, `${toB.name} t8`, `${toB.name} g`])
      assert.strictEqual(loads, 1, "alerts older than the routes: read once, for both notifiers")
      // raised after the routes were read: read again, once
      const later = AlertText.notification(alert({ key: "late", targetId: 7, createdAt: Date.now() + 1_000 }))
      yield* toA.deliver(later)
      assert.strictEqual(loads, 2)
      yield* Effect.sleep("1100 millis")
      yield* toB.deliver(later)
      assert.strictEqual(loads, 3)
      yield* toA.deliver(later)
      assert.strictEqual(loads, 3)
      assert.notInclude(sent.join(" "), "NTFYSECRET")
    }))

  it.live("routes the store cannot read are a retryable NotifyError: the alert is not skipped", () =>
    Effect.gen(function*() {
      const router = yield* Channel.router(Effect.fail(new StoreError.DatabaseUnavailable({ database: "postgres://127.0.0.1/test", detail: "connection refused" })))
      const routed = Channel.routed({ name: "jsonl alerts.jsonl", deliver: () => Effect.void }, router)
      const error = yield* Effect.flip(routed.deliver(AlertText.notification(alert())))
      assert.strictEqual(error._tag, "NotifyError")
      assert.isTrue(error.retryable)
      assert.match(error.reason, /^store: /)
    }))
})
