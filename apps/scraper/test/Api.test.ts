/**
 * The JSON API over real HTTP, on a real SQLite store: every endpoint with
 * good and bad input.
 */
import { assert, describe, it } from "@effect/vitest"
import { AlertRule, Model, Store } from "@trawl/store"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { Dashboard } from "../src/index.ts"

const T0 = 1_700_000_000_000
const MINUTE = 60_000
const hostile = "<img src=x onerror=alert(1)>"

/** A store with 120 targets; target 1 has 30 observations (its price moves at 10 and 20, a hostile product name). */
const withApi = <A, E>(f: (url: string, store: Store.Service) => Effect.Effect<A, E>, token?: string) =>
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
    return yield* f(`${url}api/v1/`, store)
  }))

/** A write with a JSON body (a string is sent as it is). */
const send = (url: string, method: string, body: unknown, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body)
    })
    return { status: response.status, body: await response.json() as any }
  })

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
          "failureStreak", "createdAt", "alertRules", "confirm", "cooldownMillis", "mutedUntil", "group"
        ])
        // a target with no rules of its own alerts on the defaults, shown as []
        assert.deepStrictEqual(
          [target.alertRules, target.confirm, target.cooldownMillis, target.mutedUntil, target.group],
          [[], 1, 0, null, null]
        )
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
        // the defaults' alerts come from no rule
        assert.deepStrictEqual(all.body.alerts.map((a: { rule: string | null }) => a.rule), [null, null, null])
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
            ["alerts?kind=price_under", "kind"],
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
    withApi((api, store) =>
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
        assert.include(chart.html, '<td id="rules">change; back-in-stock; out-of-stock (defaults)</td>')
        assert.include(chart.html, '<td id="group">–</td>')
        assert.notInclude(chart.html, 'id="ambiguous"')
        // its rules and group, escaped; and an ambiguous last reading says why
        yield* store.updateTarget(2, { alertRules: ["below 100 EUR", "drop 10%"], confirm: 2, group: "<b>kettles</b>" })
        yield* store.recordObservations([new Model.ObservationInput({
          targetId: 2,
          observedAt: T0,
          outcome: "ambiguous",
          price: null,
          availability: "in_stock",
          ambiguity: new Model.Ambiguity({ reason: "sources-disagree", detail: "19.99 EUR (json-ld), <i>24.99</i> EUR (microdata)", candidates: [] })
        })])
        const ruled = yield* page("targets/2")
        assert.include(ruled.html, '<td id="rules">below 100 EUR; drop 10%, confirm 2</td>')
        assert.include(ruled.html, '<td id="group">&lt;b&gt;kettles&lt;/b&gt;</td>')
        assert.match(ruled.html, /<td id="ambiguous">19\.99 EUR \(json-ld\), &lt;i&gt;24\.99&lt;\/i&gt; EUR \(microdata\) \(/)

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

  it.live("alerting: POST with alert rules shows them canonical; PATCH rules, confirm, cooldown, mute and group, read back by GET", () =>
    withApi((api) =>
      Effect.gen(function*() {
        const auth = { authorization: "Bearer write-token" }
        const added = yield* send(`${api}targets`, "POST", {
          url: "https://rules.example/kettle/1",
          alertRules: "Below 19 eur;  drop 10 % ; below 19 EUR",
          confirm: 2,
          cooldown: "6h",
          group: " kettle-x "
        }, auth)
        assert.strictEqual(added.status, 201)
        assert.deepStrictEqual(
          [added.body.alertRules, added.body.confirm, added.body.cooldownMillis, added.body.mutedUntil, added.body.group],
          [["below 19 EUR", "drop 10%"], 2, 21_600_000, null, "kettle-x"]
        )
        // a list of rules, as a JSON lines targets file may hold them; what is not given is the default
        const listed = yield* send(`${api}targets`, "POST", { url: "https://rules.example/kettle/2", alertRules: ["above 30", "back-in-stock"] }, auth)
        assert.deepStrictEqual(
          [listed.status, listed.body.alertRules, listed.body.confirm, listed.body.cooldownMillis, listed.body.group],
          [201, ["above 30", "back-in-stock"], 1, 0, null]
        )
        const plain = yield* send(`${api}targets`, "POST", { url: "https://rules.example/kettle/3", alertRules: null, group: null }, auth)
        assert.deepStrictEqual([plain.status, plain.body.alertRules, plain.body.group], [201, [], null])

        const id = added.body.id
        const before = Date.now()
        const patched = yield* send(`${api}targets/${id}`, "PATCH", {
          alertRules: ["rise 5%", "OUT OF STOCK"],
          confirm: 3,
          cooldown: "90m",
          group: "toaster-y",
          mute: "1d"
        }, auth)
        const after = Date.now()
        assert.strictEqual(patched.status, 200)
        const read = yield* getJsonWith(`${api}targets/${id}`, auth)
        assert.deepStrictEqual(
          [read.alertRules, read.confirm, read.cooldownMillis, read.group],
          [["rise 5%", "out-of-stock"], 3, 5_400_000, "toaster-y"]
        )
        assert.isTrue(read.mutedUntil >= before + 86_400_000 && read.mutedUntil <= after + 86_400_000, String(read.mutedUntil))
        assert.deepStrictEqual(patched.body, read)
        // what a PATCH does not name stays; "cooldown": "0" is none
        const cooled = yield* send(`${api}targets/${id}`, "PATCH", { cooldown: "0" }, auth)
        assert.deepStrictEqual(
          [cooled.body.cooldownMillis, cooled.body.confirm, cooled.body.alertRules, cooled.body.group, cooled.body.mutedUntil],
          [0, 3, ["rise 5%", "out-of-stock"], "toaster-y", read.mutedUntil]
        )

        // null: back to the defaults, out of the group, no longer muted
        const reset = yield* send(`${api}targets/${id}`, "PATCH", { alertRules: null, group: null, mute: null }, auth)
        assert.strictEqual(reset.status, 200)
        const defaults = yield* getJsonWith(`${api}targets/${id}`, auth)
        assert.deepStrictEqual([defaults.alertRules, defaults.group, defaults.mutedUntil, defaults.confirm], [[], null, null, 3])
        // [] and "defaults" (as `trawl rules --set defaults`) are the defaults too
        for (const none of [[], "defaults"]) {
          yield* send(`${api}targets/${id}`, "PATCH", { alertRules: "below 5" }, auth)
          const cleared = yield* send(`${api}targets/${id}`, "PATCH", { alertRules: none }, auth)
          assert.deepStrictEqual([cleared.status, cleared.body.alertRules], [200, []], JSON.stringify(none))
        }
      }), "write-token"))

  it.live("alerting: a bad rule, confirm, cooldown, group or mute is 400 naming the field with trawl add's one line; a field of another name is refused naming the one to use", () =>
    withApi((api) =>
      Effect.gen(function*() {
        const auth = { authorization: "Bearer write-token" }
        const ruleMessage = (text: string) => {
          const parsed = AlertRule.parseList(text)
          return Result.isFailure(parsed) ? parsed.failure.message : "parsed"
        }
        const cheap = yield* send(`${api}targets`, "POST", { url: "https://rules.example/p/1", alertRules: "below 100 EUR; below cheap" }, auth)
        assert.deepStrictEqual([cheap.status, cheap.body.error, cheap.body.field], [400, "BadRequest", "alertRules"])
        assert.strictEqual(cheap.body.message, `alertRules: ${ruleMessage("below cheap")}`)
        assert.match(cheap.body.message, /^alertRules: alert rule "below cheap": "cheap" is not an amount/)
        const id = (yield* send(`${api}targets`, "POST", { url: "https://rules.example/p/2", alertRules: "drop 10%", group: "g" }, auth)).body.id
        const tooMany = Array.from({ length: AlertRule.maxRules + 1 }, (_, i) => `below ${i + 1}`)
        for (
          const [method, path, body, field, message] of [
            ["POST", "targets", { url: "https://rules.example/p/3", alertRules: ["drop 10%", "sideways"] }, "alertRules", /^alertRules: alert rule "sideways": unknown rule "sideways"/],
            ["POST", "targets", { url: "https://rules.example/p/3", alertRules: ["drop 10%", 5] }, "alertRules", /^alertRules: expected rules as a list of texts/],
            ["POST", "targets", { url: "https://rules.example/p/3", alertRules: tooMany }, "alertRules", /at most 16 per target/],
            ["POST", "targets", { url: "https://rules.example/p/3", alertRules: "drop 120%" }, "alertRules", /cannot drop by more than 100%/],
            ["POST", "targets", { url: "https://rules.example/p/3", confirm: 0 }, "confirm", /^confirm: '0' is not a whole number from 1 to 100$/],
            ["POST", "targets", { url: "https://rules.example/p/3", confirm: 101 }, "confirm", /^confirm: /],
            ["POST", "targets", { url: "https://rules.example/p/3", confirm: 1.5 }, "confirm", /^confirm: /],
            ["POST", "targets", { url: "https://rules.example/p/3", confirm: "2" }, "confirm", /^confirm: /],
            ["POST", "targets", { url: "https://rules.example/p/3", cooldown: "soon" }, "cooldown", /^cooldown: 'soon' is not a duration like 90s, 5m, 1h$/],
            ["POST", "targets", { url: "https://rules.example/p/3", cooldown: 3600 }, "cooldown", /^cooldown: /],
            ["POST", "targets", { url: "https://rules.example/p/3", cooldown: "" }, "cooldown", /^cooldown: '' is not a duration/],
            ["POST", "targets", { url: "https://rules.example/p/3", group: "a\u0007b" }, "group", /^group: .* is not a group name/],
            ["POST", "targets", { url: "https://rules.example/p/3", group: "x".repeat(101) }, "group", /^group: /],
            ["POST", "targets", { url: "https://rules.example/p/3", group: 42 }, "group", /^group: /],
            ["POST", "targets", { url: "https://rules.example/p/3", alert: "below 1" }, "alert", /^alert: not a field of a new target; use alertRules/],
            ["POST", "targets", { url: "https://rules.example/p/3", cooldownMillis: 5 }, "cooldownMillis", /use cooldown \(a duration/],
            ["POST", "targets", { url: "https://rules.example/p/3", mute: "1d" }, "mute", /^mute: not a field of a new target$/],
            ["PATCH", `targets/${id}`, { alertRules: "rise" }, "alertRules", /^alertRules: alert rule "rise": expected a percentage after rise/],
            ["PATCH", `targets/${id}`, { confirm: null }, "confirm", /^confirm: /],
            ["PATCH", `targets/${id}`, { cooldown: "-1h" }, "cooldown", /^cooldown: /],
            ["PATCH", `targets/${id}`, { group: " " }, "group", /^group: /],
            ["PATCH", `targets/${id}`, { mute: "forever" }, "mute", /^mute: 'forever' is not a duration like 90s, 5m, 1h$/],
            ["PATCH", `targets/${id}`, { mute: "0" }, "mute", /^mute: '0' is shorter than 1s$/],
            ["PATCH", `targets/${id}`, { mute: 86_400_000 }, "mute", /^mute: /],
            ["PATCH", `targets/${id}`, { mutedUntil: 0 }, "mutedUntil", /use mute \(a duration from now/],
            ["PATCH", `targets/${id}`, { alert: "below 1" }, "alert", /use alertRules/]
          ] as const
        ) {
          const refused = yield* send(`${api}${path}`, method, body, auth)
          const what = `${method} ${JSON.stringify(body).slice(0, 80)}`
          assert.deepStrictEqual([refused.status, refused.body.error, refused.body.field], [400, "BadRequest", field], what)
          assert.match(refused.body.message, message, what)
          assert.notInclude(refused.body.message, "\n", what)
        }
        // nothing refused was written
        assert.strictEqual((yield* getJsonWith(`${api}targets?q=rules.example/p/3`, auth)).total, 0)
        const unchanged = yield* getJsonWith(`${api}targets/${id}`, auth)
        assert.deepStrictEqual(
          [unchanged.alertRules, unchanged.confirm, unchanged.cooldownMillis, unchanged.mutedUntil, unchanged.group],
          [["drop 10%"], 1, 0, null, "g"]
        )
      }), "write-token"))

  it.live("alerting: an alert a rule raised names its rule, and alerts are filtered by the rules' kinds", () =>
    withApi((api, store) =>
      Effect.gen(function*() {
        const auth = { authorization: "Bearer write-token" }
        const added = yield* send(`${api}targets`, "POST", { url: "https://rules.example/kettle/9", alertRules: ["below 19 EUR", "drop 10%"] }, auth)
        const id: number = added.body.id
        // 20.00 (the reference), 18.50 (below 19: 7.5 % down, not yet a drop), 17.00 (15 % below 20.00: a drop)
        for (const [n, amount] of [[0, "20.00"], [1, "18.50"], [2, "17.00"]] as const) {
          yield* store.recordObservations([
            new Model.ObservationInput({
              targetId: id,
              observedAt: T0 + n * MINUTE,
              outcome: "ok",
              price: new Model.Money({ amount, currency: "EUR" }),
              availability: "in_stock",
              httpStatus: 200,
              source: "json-ld"
            })
          ])
        }
        const all = yield* getJsonWith(`${api}alerts?target=${id}`, auth)
        const byRule = all.alerts.filter((a: { rule: string | null }) => a.rule !== null)
          .map((a: { kind: string; rule: string; newPrice: unknown }) => [a.kind, a.rule, a.newPrice])
        assert.deepStrictEqual(byRule, [
          ["price_drop", "drop 10%", { amount: "17.00", currency: "EUR" }],
          ["price_below", "below 19 EUR", { amount: "18.50", currency: "EUR" }]
        ])
        const below = yield* getJsonWith(`${api}alerts?kind=price_below`, auth)
        assert.deepStrictEqual(below.alerts.map((a: { targetId: number; rule: string }) => [a.targetId, a.rule]), [[id, "below 19 EUR"]])
        assert.hasAllKeys(below.alerts[0], [
          "id", "key", "targetId", "url", "kind", "oldPrice", "newPrice", "percent", "failureStreak", "productName", "createdAt", "sentAt", "rule"
        ])
        const drop = yield* getJsonWith(`${api}alerts?kind=price_drop&target=${id}`, auth)
        assert.deepStrictEqual([drop.alerts.length, drop.alerts[0].percent, drop.alerts[0].oldPrice?.amount], [1, "-15.00", "20.00"])
        for (const kind of ["price_above", "price_rise"]) {
          const none = yield* getJsonWith(`${api}alerts?kind=${kind}`, auth)
          assert.deepStrictEqual(none.alerts, [], kind)
        }
      }), "write-token"))

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
