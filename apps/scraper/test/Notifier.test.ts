import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Notifier } from "../src/index.ts"

interface Received {
  readonly key: string | undefined
  readonly body: unknown
}

/** A webhook receiver on 127.0.0.1 answering with the given statuses in turn (then 200). */
const receiver = (statuses: Array<number>) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ url: string; received: Array<Received>; server: http.Server }>((resolve) => {
        const received: Array<Received> = []
        const server = http.createServer((req, res) => {
          let body = ""
          req.on("data", (chunk) => (body += chunk))
          req.on("end", () => {
            received.push({ key: req.headers["idempotency-key"] as string | undefined, body: JSON.parse(body) })
            res.statusCode = statuses.shift() ?? 200
            res.end()
          })
        })
        server.listen(0, "127.0.0.1", () =>
          resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, received, server }))
      })
    ),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )

const alert = { key: "target-1:obs-9", json: { kind: "price_down", old: "10.00", new: "9.00" }, text: "price down 10.00 → 9.00" }

describe("webhook notifier", () => {
  it.live("retries 5xx with the same Idempotency-Key until delivered", () =>
    Effect.gen(function*() {
      const { received, url } = yield* receiver([503, 500])
      const webhook = yield* Notifier.webhook({ url, backoff: "5 millis", retries: 5 })
      yield* webhook.deliver(alert)
      assert.strictEqual(received.length, 3)
      assert.deepStrictEqual(received.map((r) => r.key), [alert.key, alert.key, alert.key])
      assert.deepStrictEqual(received[2]!.body, alert.json)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a 4xx refusal fails at once with a non-retryable NotifyError", () =>
    Effect.gen(function*() {
      const { received, url } = yield* receiver([400])
      const webhook = yield* Notifier.webhook({ url, backoff: "5 millis" })
      const error = yield* Effect.flip(webhook.deliver(alert))
      assert.strictEqual(error._tag, "NotifyError")
      assert.isFalse(error.retryable)
      assert.match(error.message, /HTTP 400/)
      assert.strictEqual(received.length, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("gives up after its retries when the receiver keeps failing", () =>
    Effect.gen(function*() {
      const { received, url } = yield* receiver([503, 503, 503, 503])
      const webhook = yield* Notifier.webhook({ url, backoff: "5 millis", retries: 2 })
      const error = yield* Effect.flip(webhook.deliver(alert))
      assert.isTrue(error.retryable)
      assert.strictEqual(received.length, 3)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("an unreachable receiver is a retryable NotifyError, not a defect", () =>
    Effect.gen(function*() {
      const { server, url } = yield* receiver([])
      yield* Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
      const webhook = yield* Notifier.webhook({ url, backoff: "5 millis", retries: 1 })
      const error = yield* Effect.flip(webhook.deliver(alert))
      assert.strictEqual(error._tag, "NotifyError")
      assert.isTrue(error.retryable)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("jsonl notifier", () => {
  const tempFile = Effect.acquireRelease(
    Effect.promise(async () => path.join(await fs.mkdtemp(path.join(os.tmpdir(), "trawl-notifier-")), "alerts.jsonl")),
    (file) => Effect.promise(() => fs.rm(path.dirname(file), { recursive: true, force: true }))
  )

  it.live("writes one line per key, also across a restart, and tolerates a torn last line", () =>
    Effect.gen(function*() {
      const file = yield* tempFile
      const first = yield* Notifier.jsonlFile(file)
      yield* first.deliver(alert)
      yield* first.deliver(alert)
      yield* Effect.promise(() => fs.appendFile(file, '{"key":"torn'))
      const second = yield* Notifier.jsonlFile(file)
      yield* second.deliver(alert)
      yield* second.deliver({ ...alert, key: "target-2:obs-1" })
      const lines = (yield* Effect.promise(() => fs.readFile(file, "utf8"))).split("\n").filter((line) => line.startsWith("{\"key\":\"target"))
      assert.deepStrictEqual(lines.map((line) => JSON.parse(line).key), [alert.key, "target-2:obs-1"])
    }))

  it.live("an unwritable path gives a NotifyError", () =>
    Effect.gen(function*() {
      const notifier = yield* Notifier.jsonlFile("/proc/trawl-cannot-write-here.jsonl")
      const error = yield* Effect.flip(notifier.deliver(alert))
      assert.strictEqual(error._tag, "NotifyError")
    }))
})
