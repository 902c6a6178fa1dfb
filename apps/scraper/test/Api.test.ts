/**
 * The JSON API over real HTTP, on a real SQLite store: every endpoint with
 * good and bad input.
 */
import { assert, describe, it } from "@effect/vitest"
import { Model, Store } from "@trawl/store"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { Dashboard } from "../src/index.ts"

const T0 = 1_700_000_000_000
const MINUTE = 60_000
const hostile = "<img src=x onerror=alert(1)>"

/** A store with 120 targets; target 1 has 30 observations (its price moves at 10 and 20, a hostile product name). */
const withApi = <A, E>(f: (url: string) => Effect.Effect<A, E>, token?: string) =>
  Effect.scoped(Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "trawl-api-"))),
      (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
    )
    // built in this scope: the store stays open for the whole test
    const context = yield* Layer.build(Store.layerSqlite({ filename: path.join(dir, "api.db"), thread: "main" }))
    const store = Context.get(context, Store.Store)
    yield* store.addTargets(Array.from({ length: 120 }, (_, i) =>
      new Model.NewTarget({ url: `https://shop-${i + 1}.example/${i % 4 === 0 ? "kettle" : "toaster"}/${i + 1}`, intervalMillis: 5 * MINUTE, dueAt: T0 })))
    for (let n = 0; n < 30; n++) {
      const amount = n < 10 ? "20.00" : n < 20 ? "18.50" : "19.00"
      yield* store.recordObservations([
        new Model.ObservationInput({
          targetId: 1,
          observedAt: T0 + n * MINUTE,
          outcome: "ok",
          price: new Model.Money({ amount, currency: "EUR" }),
          availability: "in_stock",
          httpStatus: 200,
          source: "json-ld",
          productName: hostile
        })
      ])
    }
    const { url } = yield* Dashboard.serve(undefined, { port: 0, store, token })
    return yield* f(`${url}api/v1/`)
  }))

const getJson = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, type: response.headers.get("content-type"), body: await response.json() as any }
  })

describe("the JSON API", () => {
  it.live("targets: searched and paged on the server, with the total", () =>
    withApi((api) =>
      Effect.gen(function*() {
        const first = yield* getJson(`${api}targets`)
        assert.strictEqual(first.status, 200)
        assert.match(first.type ?? "", /^application\/json/)
        assert.deepStrictEqual([first.body.total, first.body.page, first.body.size, first.body.targets.length], [120, 1, 50, 50])
        const kettles = yield* getJson(`${api}targets?q=KETTLE&page=2&size=20`)
        assert.deepStrictEqual([kettles.body.total, kettles.body.page, kettles.body.targets.length], [30, 2, 10])
        assert.isTrue(kettles.body.targets.every((t: { url: string }) => t.url.includes("/kettle/")))
        const target = kettles.body.targets[0]
        assert.hasAllKeys(target, [
          "id", "url", "host", "enabled", "intervalMillis", "rules", "lastPrice", "lastAvailability", "lastObservedAt", "nextDueAt",
          "failureStreak", "createdAt"
        ])
        const beyond = yield* getJson(`${api}targets?page=99`)
        assert.deepStrictEqual([beyond.status, beyond.body.total, beyond.body.targets.length], [200, 120, 0])
      })))

  it.live("one target, and its history in a range", () =>
    withApi((api) =>
      Effect.gen(function*() {
        const target = yield* getJson(`${api}targets/1`)
        assert.strictEqual(target.status, 200)
        assert.deepStrictEqual(target.body.lastPrice, { amount: "19.00", currency: "EUR" })
        const all = yield* getJson(`${api}targets/1/history`)
        assert.strictEqual(all.body.observations.length, 30)
        assert.strictEqual(all.body.observations[0].observedAt, T0 + 29 * MINUTE)
        const range = yield* getJson(`${api}targets/1/history?from=${T0 + 5 * MINUTE}&to=${T0 + 15 * MINUTE}`)
        assert.strictEqual(range.body.observations.length, 10)
        assert.isTrue(range.body.observations.every((o: { observedAt: number }) => o.observedAt >= T0 + 5 * MINUTE && o.observedAt < T0 + 15 * MINUTE))
        assert.strictEqual((yield* getJson(`${api}targets/1/history?limit=3`)).body.observations.length, 3)
      })))

  it.live("alerts: newest first, by kind and target, product names as data", () =>
    withApi((api) =>
      Effect.gen(function*() {
        const all = yield* getJson(`${api}alerts`)
        assert.strictEqual(all.status, 200)
        const kinds = all.body.alerts.map((a: { kind: string }) => a.kind)
        assert.deepStrictEqual(kinds, ["price_up", "price_down", "first_seen"])
        assert.strictEqual(all.body.alerts[0].productName, hostile)
        assert.deepStrictEqual(all.body.alerts[0].newPrice, { amount: "19.00", currency: "EUR" })
        const down = yield* getJson(`${api}alerts?kind=price_down`)
        assert.deepStrictEqual(down.body.alerts.map((a: { kind: string }) => a.kind), ["price_down"])
        // since: when the alert was raised (recorded), not when its page was seen
        const raisedAt = all.body.alerts.map((a: { createdAt: number }) => a.createdAt)
        assert.strictEqual((yield* getJson(`${api}alerts?since=${Math.min(...raisedAt)}`)).body.alerts.length, 3)
        assert.strictEqual((yield* getJson(`${api}alerts?since=${Math.max(...raisedAt) + 1}`)).body.alerts.length, 0)
        assert.strictEqual((yield* getJson(`${api}alerts?target=2`)).body.alerts.length, 0)
        assert.strictEqual((yield* getJson(`${api}alerts?limit=1`)).body.alerts.length, 1)
      })))

  it.live("bad input is 400 naming the field; an unknown target 404; an unknown path 404", () =>
    withApi((api) =>
      Effect.gen(function*() {
        for (
          const [query, field] of [
            ["targets?size=0", "size"],
            ["targets?size=201", "size"],
            ["targets?page=x", "page"],
            ["targets?page=1.5", "page"],
            [`targets?q=${"x".repeat(201)}`, "q"],
            ["targets/abc", "id"],
            ["targets/0/history", "id"],
            ["targets/1/history?from=-1", "from"],
            ["targets/1/history?from=10&to=5", "to"],
            ["targets/1/history?limit=100000", "limit"],
            ["alerts?kind=price_sideways", "kind"],
            ["alerts?since=yesterday", "since"],
            ["alerts?target=-3", "target"]
          ] as const
        ) {
          const refused = yield* getJson(`${api}${query}`)
          assert.strictEqual(refused.status, 400, query)
          assert.strictEqual(refused.body.error, "BadRequest", query)
          assert.strictEqual(refused.body.field, field, query)
          assert.match(refused.body.message, new RegExp(`^${field}: `), query)
        }
        const missing = yield* getJson(`${api}targets/9999`)
        assert.deepStrictEqual([missing.status, missing.body.error], [404, "NotFound"])
        assert.strictEqual((yield* getJson(`${api}targets/9999/history`)).status, 404)
        const unknown = yield* Effect.promise(() => fetch(`${api}nothing-here`))
        assert.strictEqual(unknown.status, 404)
      })))

  it.live("pages: the targets table searched and paged on the server, a target's chart with one point per observation in range, the alerts escaped", () =>
    withApi((api) =>
      Effect.gen(function*() {
        const site = api.replace(/api\/v1\/$/, "")
        const page = (path: string) =>
          Effect.promise(async () => {
            const response = await fetch(`${site}${path}`)
            return { status: response.status, csp: response.headers.get("content-security-policy"), html: await response.text() }
          })
        const table = yield* page("targets?q=kettle&page=2&size=20")
        assert.strictEqual(table.status, 200)
        assert.include(table.csp ?? "", "script-src 'self'")
        assert.include(table.html, "30 targets match")
        assert.strictEqual([...table.html.matchAll(/<tr><td>\d+<\/td><td><a href="\/targets\/\d+">/g)].length, 10)
        assert.include(table.html, 'rel="prev"')
        assert.notInclude(table.html, 'rel="next"')

        const chart = yield* page("targets/1")
        assert.strictEqual(chart.status, 200)
        assert.strictEqual([...chart.html.matchAll(/<circle class="point"/g)].length, 30)
        assert.include(chart.html, "30 observations with a price in range")
        assert.include(chart.html, "json-ld")
        const range = yield* page(`targets/1?from=${T0 + 5 * MINUTE}&to=${T0 + 15 * MINUTE}`)
        assert.strictEqual([...range.html.matchAll(/<circle class="point"/g)].length, 10)

        const alerts = yield* page("alerts")
        assert.include(alerts.html, "&lt;img src=x onerror=alert(1)&gt;")
        assert.notInclude(alerts.html, hostile)
        assert.strictEqual([...alerts.html.matchAll(/<tr><td>\d{4}-/g)].length, 3)
        assert.strictEqual([...(yield* page("alerts?kind=price_down")).html.matchAll(/<tr><td>\d{4}-/g)].length, 1)

        assert.strictEqual((yield* page("targets?page=x")).status, 400)
        assert.strictEqual((yield* page("alerts?kind=nope")).status, 400)
        assert.strictEqual((yield* page("targets/9999")).status, 404)
        assert.strictEqual((yield* page("targets/abc")).status, 404)
      })))

  it.live("writes: POST adds a target with trawl add's checks (400 naming the field, 409 a duplicate), PATCH changes it; both need the token", () =>
    Effect.gen(function*() {
      const send = (url: string, method: string, body: unknown, headers: Record<string, string> = {}) =>
        Effect.promise(async () => {
          const response = await fetch(url, {
            method,
            headers: { "content-type": "application/json", ...headers },
            body: typeof body === "string" ? body : JSON.stringify(body)
          })
          return { status: response.status, body: await response.json() as any }
        })
      // no token configured: writes are refused, reads still answer
      yield* withApi((api) =>
        Effect.gen(function*() {
          const refused = yield* send(`${api}targets`, "POST", { url: "https://new.example/p/1" })
          assert.deepStrictEqual([refused.status, refused.body.error], [403, "Forbidden"])
          assert.strictEqual((yield* send(`${api}targets/1`, "PATCH", { enabled: false })).status, 403)
        }))
      const token = "write-token"
      yield* withApi((api) =>
        Effect.gen(function*() {
          const auth = { authorization: `Bearer ${token}` }
          assert.strictEqual((yield* send(`${api}targets`, "POST", { url: "https://new.example/p/1" })).status, 401)
          const added = yield* send(`${api}targets`, "POST", { url: "https://new.example/p/1", interval: "10m", selector: ".price" }, auth)
          assert.strictEqual(added.status, 201)
          assert.deepStrictEqual([added.body.url, added.body.intervalMillis, added.body.rules?.price?.selector], ["https://new.example/p/1", 600_000, ".price"])
          const duplicate = yield* send(`${api}targets`, "POST", { url: "https://new.example/p/1" }, auth)
          assert.deepStrictEqual([duplicate.status, duplicate.body.error, duplicate.body.field], [409, "Conflict", "url"])
          for (
            const [body, field] of [
              [{ url: "not a url" }, "url"],
              [{ url: "ftp://new.example/x" }, "url"],
              [{}, "url"],
              [{ url: 42 }, "url"],
              [{ url: "https://new.example/p/2", interval: "1s" }, "interval"],
              [{ url: "https://new.example/p/3", regex: "((" }, "regex"],
              [{ url: "https://new.example/p/4", attribute: "content" }, "attribute"]
            ] as const
          ) {
            const refused = yield* send(`${api}targets`, "POST", body, auth)
            assert.strictEqual(refused.status, 400, JSON.stringify(body))
            assert.strictEqual(refused.body.field, field, JSON.stringify(body))
          }
          assert.strictEqual((yield* send(`${api}targets`, "POST", "{not json", auth)).status, 400)
          assert.strictEqual((yield* send(`${api}targets`, "POST", "x".repeat(70_000), auth)).status, 413)
          assert.strictEqual((yield* send(`${api}targets`, "POST", "[1, 2]", auth)).body.message, "the body is not a JSON object")
          // a body without a declared length (chunked) is refused, not read without a bound
          const chunked = yield* Effect.promise(() =>
            new Promise<{ status: number; body: any }>((resolve, reject) => {
              const request = http.request(`${api}targets`, { method: "POST", headers: { ...auth, "content-type": "application/json" } }, (response) => {
                let text = ""
                response.on("data", (chunk) => (text += chunk))
                response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }))
              })
              request.on("error", reject)
              request.write('{"url":')
              request.end('"https://new.example/p/9"}')
            }))
          assert.deepStrictEqual([chunked.status, chunked.body.error], [411, "LengthRequired"])
          assert.strictEqual((yield* getJsonWith(`${api}targets?q=new.example/p/9`, auth)).total, 0)

          const id = added.body.id
          const patched = yield* send(`${api}targets/${id}`, "PATCH", { enabled: false, interval: "1h" }, auth)
          assert.deepStrictEqual([patched.status, patched.body.enabled, patched.body.intervalMillis, patched.body.rules?.price?.selector], [200, false, 3_600_000, ".price"])
          const cleared = yield* send(`${api}targets/${id}`, "PATCH", { rules: null }, auth)
          assert.strictEqual(cleared.body.rules, null)
          assert.strictEqual((yield* send(`${api}targets/${id}`, "PATCH", { enabled: "no" }, auth)).body.field, "enabled")
          assert.strictEqual((yield* send(`${api}targets/${id}`, "PATCH", { url: "https://elsewhere.example/" }, auth)).body.field, "url")
          assert.strictEqual((yield* send(`${api}targets/99999`, "PATCH", { enabled: true }, auth)).status, 404)
          // what was written is what is read
          const read = yield* getJsonWith(`${api}targets/${id}`, auth)
          assert.deepStrictEqual([read.enabled, read.intervalMillis, read.rules], [false, 3_600_000, null])
        }), token)
    }))

  it.live("a store that cannot answer is 503 (API) and a one-line 503 (pages), and the server goes on serving", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "trawl-api-gone-"))),
        (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
      )
      // a store whose connection is closed under the server (its scope ended): every query fails
      const store = yield* Effect.scoped(Effect.map(
        Layer.build(Store.layerSqlite({ filename: path.join(dir, "gone.db"), thread: "main" })),
        (context) => Context.get(context, Store.Store)
      ))
      const { url } = yield* Dashboard.serve(undefined, { port: 0, store })
      const api = yield* getJson(`${url}api/v1/targets`)
      assert.deepStrictEqual([api.status, api.body.error], [503, "StoreUnavailable"])
      assert.strictEqual((yield* getJson(`${url}api/v1/alerts`)).status, 503)
      const page = yield* Effect.promise(() => fetch(`${url}targets`))
      assert.strictEqual(page.status, 503)
      assert.match(yield* Effect.promise(() => page.text()), /^the store cannot answer: .+\n$/)
      // the live view does not need the store
      assert.strictEqual((yield* Effect.promise(() => fetch(url))).status, 200)
    })))
})

const getJsonWith = (url: string, headers: Record<string, string>) =>
  Effect.promise(async () => (await fetch(url, { headers })).json() as Promise<any>)
