/**
 * One HTTP delivery with retries, shared by the channels of `Channel`:
 * transient failures (network errors, timeouts, 408, 429, 5xx) are retried
 * with jittered exponential backoff, a `Retry-After` is honoured when it is
 * within a cap, and any other status fails for good. Every reason is scrubbed
 * of the channel's secrets: the request URL of a Slack, Discord or Telegram
 * channel is itself the secret, and the HTTP client's own messages name it.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import { NotifyError } from "../Notifier.ts"

/** How a channel retries. */
export interface RetryOptions {
  /** Per-attempt timeout. Default 10 seconds. */
  readonly timeout?: Duration.Input | undefined
  /** Attempts after the first. Default 5. */
  readonly retries?: number | undefined
  /** First backoff delay; doubles each retry, jittered. Default 200 ms. */
  readonly backoff?: Duration.Input | undefined
  /**
   * The longest `Retry-After` waited out within one delivery. Default 30 s. A
   * receiver asking for longer fails this delivery (retryable): the outbox
   * backs the channel off instead of holding its actor for an hour.
   */
  readonly maxRetryAfter?: Duration.Input | undefined
}

interface Failed {
  readonly reason: string
  readonly retryable: boolean
  readonly retryAfterMillis?: number | undefined
}

/** Replaces every secret (4 characters or more) in `text`. */
export const scrub = (text: string, secrets: ReadonlyArray<string>): string => {
  let out = text
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join("…")
  }
  return out
}

/** `Retry-After` in milliseconds: delta seconds or an HTTP date; `undefined` when absent or unreadable. */
export const retryAfterMillis = (header: string | undefined, now: number): number | undefined => {
  if (header === undefined) return undefined
  const text = header.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000)
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** A transport failure without the request's URL: its description and the cause's code. */
const transportReason = (error: HttpClientError.HttpClientError): string => {
  const reason = error.reason as { readonly _tag: string; readonly description?: string; readonly cause?: unknown }
  const cause = reason.cause as { readonly code?: unknown; readonly message?: unknown; readonly cause?: { readonly code?: unknown; readonly message?: unknown } } | undefined
  const inner = cause?.cause
  const code = typeof inner?.code === "string" ? inner.code : typeof cause?.code === "string" ? cause.code : undefined
  const detail = typeof inner?.message === "string" && inner.message !== "" ? inner.message : typeof cause?.message === "string" ? cause.message : undefined
  const what = reason.description ?? detail ?? reason._tag
  return code === undefined || what.includes(code) ? what : `${what} (${code})`
}

/** A short, one-line excerpt of a refusal's body: Slack's `invalid_payload`, Telegram's "chat not found". */
const excerpt = (body: string): string => {
  const line = body.replace(/\s+/g, " ").trim()
  return line.length > 200 ? `${line.slice(0, 199)}…` : line
}

/**
 * A sender for one channel: `send(key, request)` delivers one request,
 * retried as the options say, with an `Idempotency-Key` of the alert's key.
 */
export const sender = (
  client: HttpClient.HttpClient,
  name: string,
  secrets: ReadonlyArray<string>,
  options: RetryOptions = {}
) => {
  const timeout = options.timeout ?? "10 seconds"
  const timeoutText = Duration.format(Duration.fromInputUnsafe(timeout))
  const times = options.retries ?? 5
  const backoffMillis = Duration.toMillis(Duration.fromInputUnsafe(options.backoff ?? "200 millis"))
  const maxRetryAfterMillis = Duration.toMillis(Duration.fromInputUnsafe(options.maxRetryAfter ?? "30 seconds"))
  const clean = (text: string) => scrub(text, secrets)

  const settle = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<void, Failed> =>
    Effect.gen(function*() {
      // the body is read either way: an unread body holds its connection
      const body = yield* Effect.orElseSucceed(response.text, () => "")
      if (response.status >= 200 && response.status < 300) return
      const retryable = response.status >= 500 || response.status === 408 || response.status === 429
      const after = response.status === 429 || response.status === 503
        ? retryAfterMillis(response.headers["retry-after"], Date.now())
        : undefined
      const said = excerpt(body)
      const reason = `HTTP ${response.status}${after === undefined ? "" : ` (retry after ${(after / 1000).toFixed(after < 10_000 ? 1 : 0)} s)`}${said === "" || retryable ? "" : `: ${said}`}`
      return yield* Effect.fail({ reason: clean(reason), retryable, retryAfterMillis: after })
    })

  const attempt = (request: HttpClientRequest.HttpClientRequest): Effect.Effect<void, Failed> =>
    client.execute(request).pipe(
      Effect.mapError((error): Failed => ({ reason: clean(transportReason(error)), retryable: true })),
      Effect.flatMap(settle),
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail<Failed>({ reason: `no answer within ${timeoutText}`, retryable: true })
      })
    )

  return (key: string, request: HttpClientRequest.HttpClientRequest): Effect.Effect<void, NotifyError> => {
    const keyed = HttpClientRequest.setHeader(request, "idempotency-key", key)
    const fail = (failed: Failed) => Effect.fail(new NotifyError({ notifier: name, key, reason: failed.reason, retryable: failed.retryable }))
    const loop = (retry: number): Effect.Effect<void, NotifyError> =>
      Effect.catch(attempt(keyed), (failed) => {
        if (!failed.retryable || retry >= times) return fail(failed)
        if (failed.retryAfterMillis !== undefined && failed.retryAfterMillis > maxRetryAfterMillis) return fail(failed)
        return Effect.gen(function*() {
          const delay = failed.retryAfterMillis ?? Math.round(backoffMillis * 2 ** retry * (yield* Random.nextBetween(0.8, 1.2)))
          yield* Effect.logDebug(`${name}: ${failed.reason}; retry ${retry + 1} of ${times} in ${delay} ms`)
          yield* Effect.sleep(delay)
          return yield* loop(retry + 1)
        })
      })
    // no spans: the HTTP client's carry the request URL, and a channel's URL holds its secret
    return Effect.withTracerEnabled(loop(0), false)
  }
}
