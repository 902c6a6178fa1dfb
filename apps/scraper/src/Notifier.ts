/**
 * Notifiers deliver alerts from the store's outbox: a webhook (POST JSON with
 * an `Idempotency-Key`, retried with exponential backoff), a JSONL file, and
 * stdout.
 *
 * Delivery is exactly-once from the outbox's point of view: the outbox marks
 * an alert sent only after its notifier succeeded, and every notifier is
 * idempotent on the alert's key, so a crash between delivering and marking
 * re-delivers a key the receiver already has (the webhook receiver sees the
 * same `Idempotency-Key`; the JSONL file skips keys it already holds).
 *
 * @since 0.1.0
 */
import { Store } from "@trawl/store"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as crypto from "node:crypto"
import * as fs from "node:fs/promises"

/**
 * One alert, as notifiers see it.
 *
 * @since 0.1.0
 */
export interface Notification {
  /** The outbox's idempotency key: the same alert always has the same key. */
  readonly key: string
  /** The alert as JSON (what the webhook posts and the JSONL file holds). */
  readonly json: Record<string, unknown>
  /** One human line (stdout, logs). */
  readonly text: string
}

/**
 * A delivery failed; `retryable` says whether a later attempt may succeed.
 *
 * @since 0.1.0
 */
export class NotifyError extends Data.TaggedError("NotifyError")<{
  readonly notifier: string
  readonly key: string
  readonly reason: string
  readonly retryable: boolean
}> {
  override get message(): string {
    return `${this.notifier} could not deliver ${this.key}: ${this.reason}`
  }
}

/**
 * A notifier.
 *
 * @since 0.1.0
 */
export interface Notifier {
  readonly name: string
  /** Delivers one alert; `Store.skipped` when this notifier has nothing to send for it. */
  readonly deliver: (notification: Notification) => Effect.Effect<void | Store.Skipped, NotifyError>
}

/**
 * A webhook's name in logs, `trawl status` and the store's delivery records:
 * its origin and a short hash of the whole URL — stable for the same URL,
 * and without the secrets such URLs carry in their path, query or userinfo.
 *
 * @example
 * ```ts
 * import { Notifier } from "@trawl/scraper"
 *
 * Notifier.webhookName("https://hooks.example/services/T0/B0/secret") // "webhook https://hooks.example #10e2f7c1"
 * ```
 * @since 0.2.0
 */
export const webhookName = (url: string): string => {
  const hash = crypto.createHash("sha256").update(url).digest("hex").slice(0, 8)
  let origin: string
  try {
    origin = new URL(url).origin
  } catch {
    origin = "(invalid URL)"
  }
  return `webhook ${origin} #${hash}`
}

/**
 * Options of the webhook notifier.
 *
 * @since 0.1.0
 */
export interface WebhookOptions {
  readonly url: string
  /** Per-attempt timeout. Default 10 seconds. */
  readonly timeout?: Duration.Input | undefined
  /** Attempts after the first. Default 5. */
  readonly retries?: number | undefined
  /** First backoff delay; doubles each retry, jittered. Default 200 ms. */
  readonly backoff?: Duration.Input | undefined
}

/**
 * POSTs each alert as JSON with an `Idempotency-Key` header. 5xx, 408, 429
 * and network errors are retried with exponential backoff and jitter; other
 * 4xx fail at once (the receiver refuses the alert).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Notifier } from "@trawl/scraper"
 *
 * const program = Effect.gen(function*() {
 *   const webhook = yield* Notifier.webhook({ url: "http://127.0.0.1:9000/alerts" })
 *   yield* webhook.deliver({ key: "t1:o9", json: { kind: "price_down" }, text: "price down" })
 * }).pipe(Effect.provide(NodeHttpClient.layerUndici))
 * ```
 * @since 0.1.0
 */
export const webhook = (options: WebhookOptions): Effect.Effect<Notifier, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client: HttpClient.HttpClient) => {
    const name = webhookName(options.url)
    const timeout = options.timeout ?? "10 seconds"
    const schedule = Schedule.jittered(Schedule.exponential(options.backoff ?? "200 millis"))
    const times = options.retries ?? 5
    const attempt = (notification: Notification) =>
      Effect.gen(function*() {
        const request = HttpClientRequest.post(options.url).pipe(
          HttpClientRequest.setHeader("idempotency-key", notification.key),
          HttpClientRequest.bodyJsonUnsafe(notification.json)
        )
        const response = yield* client.execute(request).pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () => Effect.fail(new NotifyError({ notifier: name, key: notification.key, reason: `no answer within ${Duration.format(Duration.fromInputUnsafe(timeout))}`, retryable: true }))
          }),
          Effect.mapError((error) =>
            error instanceof NotifyError ? error : new NotifyError({ notifier: name, key: notification.key, reason: error.message, retryable: true })
          )
        )
        if (response.status >= 200 && response.status < 300) return
        const retryable = response.status >= 500 || response.status === 408 || response.status === 429
        return yield* Effect.fail(new NotifyError({ notifier: name, key: notification.key, reason: `HTTP ${response.status}`, retryable }))
      }).pipe(Effect.scoped)
    return {
      name,
      deliver: (notification) =>
        attempt(notification).pipe(Effect.retry({ schedule, times, while: (error) => error.retryable }))
    }
  })

/**
 * Appends each alert as one JSON line (with its `key`). Keys already in the
 * file's last megabyte are skipped, so a re-delivery after a crash does not
 * write a line twice.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Notifier } from "@trawl/scraper"
 *
 * const program = Effect.gen(function*() {
 *   const file = yield* Notifier.jsonlFile("./alerts.jsonl")
 *   yield* file.deliver({ key: "t1:o9", json: { kind: "price_down" }, text: "price down" })
 * })
 * ```
 * @since 0.1.0
 */
export const jsonlFile = (path: string): Effect.Effect<Notifier, NotifyError> =>
  Effect.gen(function*() {
    const name = `jsonl ${path}`
    const { keys: recent, tornTail } = yield* Effect.tryPromise({
      try: () => recentKeys(path, 1 << 20),
      catch: (error) => new NotifyError({ notifier: name, key: "-", reason: `cannot read ${path}: ${(error as Error).message}`, retryable: false })
    })
    // a line torn by a crash is closed, so the next alert starts a line of its own
    let prefix = tornTail ? "\n" : ""
    return {
      name,
      deliver: (notification) =>
        Effect.suspend(() => {
          if (recent.has(notification.key)) return Effect.void
          const line = prefix + JSON.stringify({ key: notification.key, ...notification.json }) + "\n"
          return Effect.tryPromise({
            try: async () => {
              await fs.appendFile(path, line)
              prefix = ""
            },
            catch: (error) => new NotifyError({ notifier: name, key: notification.key, reason: (error as Error).message, retryable: true })
          }).pipe(Effect.tap(() => Effect.sync(() => rememberKey(recent, notification.key))))
        })
    }
  })

const rememberLimit = 100_000

const rememberKey = (keys: Set<string>, key: string): void => {
  keys.add(key)
  if (keys.size > rememberLimit) keys.delete(keys.values().next().value!)
}

const recentKeys = async (path: string, tailBytes: number): Promise<{ readonly keys: Set<string>; readonly tornTail: boolean }> => {
  const keys = new Set<string>()
  let handle: fs.FileHandle
  try {
    handle = await fs.open(path, "r")
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { keys, tornTail: false }
    throw error
  }
  let tornTail = false
  try {
    const { size } = await handle.stat()
    const start = Math.max(0, size - tailBytes)
    const buffer = Buffer.alloc(size - start)
    await handle.read(buffer, 0, buffer.length, start)
    tornTail = buffer.length > 0 && buffer[buffer.length - 1] !== 0x0a
    const lines = buffer.toString("utf8").split("\n")
    if (start > 0) lines.shift() // a partial first line
    for (const line of lines) {
      if (line.length === 0) continue
      try {
        const key = (JSON.parse(line) as { key?: unknown }).key
        if (typeof key === "string") rememberKey(keys, key)
      } catch {
        // a torn last line from a crash: not a delivered alert
      }
    }
  } finally {
    await handle.close()
  }
  return { keys, tornTail }
}

const skip = Effect.succeed(Store.skipped)

/**
 * Writes each alert's human line to stdout — except `first_seen`: a new
 * target is not news to the person who added it, and a first pass over
 * thousands of targets would bury the changes (file and webhook notifiers
 * still get them).
 *
 * @example
 * ```ts
 * import { Notifier } from "@trawl/scraper"
 *
 * const program = Notifier.stdout.deliver({ key: "t1:o9", json: {}, text: "price down" })
 * ```
 * @since 0.1.0
 */
export const stdout: Notifier = {
  name: "stdout",
  deliver: (notification) =>
    notification.json["kind"] === "first_seen"
      ? skip
      : Effect.sync(() => void process.stdout.write(notification.text + "\n"))
}
