/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core; no browser download), against a `trawl run` of the real
 * binary over the harness's sim web and a shop whose prices and product name
 * the test sets: the live view changes between two reads, a price change
 * reaches the alerts list, a target's chart has one point per stored
 * observation with a price, the targets table pages and searches, a hostile
 * product name shows as text, and a token-protected dashboard refuses the
 * page, the event stream and the API without its token.
 *
 * A screenshot of each page is kept in `test-output/browser/`. Without
 * Chromium (`TRAWL_CHROMIUM`, else /usr/bin/chromium) the tests are skipped
 * and say why.
 */
import { SimWeb } from "@trawl/harness"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Shop, startShop } from "./fixtures-shop.ts"
import { startDashboard } from "./helpers.ts"

/** The page's globals the functions run in the browser use (the test compiles without the DOM library). */
declare const document: {
  readonly body: { readonly dataset: Record<string, string | undefined> }
  getElementById(id: string): { readonly textContent: string | null } | null
}

const executablePath = process.env["TRAWL_CHROMIUM"] ?? "/usr/bin/chromium"
const hasChromium = fs.existsSync(executablePath)
if (!hasChromium) {
  console.warn(`browser tests skipped: no Chromium at ${executablePath} (apt-get install -y chromium, or set TRAWL_CHROMIUM)`)
}

const screenshots = fileURLToPath(new URL("../test-output/browser/", import.meta.url))
const hostile = "<img src=x onerror=alert(1)>"
const SHOPS = 40
const PRODUCTS = 3
const token = "browser-test-token"

let dir: string
let scope: Scope.Closeable
let shop: Shop
let browser: Browser
let run: ReturnType<typeof startDashboard>
let dashboard: string
/** Dialogs opened by any page: an escaped value never runs script, so none. */
const dialogs: Array<string> = []

/** Polls `read` until `done` holds (every 250 ms, for at most `millis`); the last reading. */
const until = async <A>(read: () => Promise<A>, done: (a: A) => boolean, millis = 20_000): Promise<A> => {
  const deadline = Date.now() + millis
  let value = await read()
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    value = await read()
  }
  return value
}

const newPage = async (): Promise<Page> => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message())
    void dialog.dismiss()
  })
  return page
}

const shoot = (page: Page, name: string) => page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true })

const api = async (route: string) => {
  const response = await fetch(new URL(`api/v1/${route}`, dashboard))
  return response.json() as Promise<any>
}

/** The id of the target with this URL. */
const targetId = async (url: string): Promise<number> => {
  const found = await api(`targets?q=${encodeURIComponent(url)}&size=10`)
  const target = found.targets.find((t: { url: string }) => t.url === url)
  if (target === undefined) throw new Error(`no target ${url}`)
  return target.id
}

describe.skipIf(!hasChromium)("the dashboard in headless Chromium", { timeout: 120_000 }, () => {
  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), "trawl-browser-"))
    await fsp.mkdir(screenshots, { recursive: true })
    scope = Effect.runSync(Scope.make())
    const sim = await Effect.runPromise(Scope.provide(SimWeb.start({ shops: SHOPS, products: PRODUCTS, seed: 11, hostileFraction: 0, errorScale: 0, latencyScale: 0.1 }), scope))
    shop = await startShop()
    shop.nameOf = (product) => product === 1 ? hostile : `Kettle ${product}`
    const urls: Array<string> = []
    for (let s = 0; s < SHOPS; s++) for (let p = 0; p < PRODUCTS; p++) urls.push(sim.productUrl(s, p))
    for (let p = 1; p <= 3; p++) urls.push(`http://kettles.shop.test:${shop.port}/p/${p}`)
    const targets = path.join(dir, "targets.csv")
    // every target every 10 s (the shortest interval): prices are read again while the test looks
    await fsp.writeFile(targets, ["url,interval", ...urls.map((url) => `${url},10s`)].join("\n"))
    const db = path.join(dir, "browser.db")
    run = startDashboard([
      "--db", db, "--targets", targets, "--dashboard=0",
      "--resolve", "*.sim.test=127.0.0.1", "--resolve", "*.shop.test=127.0.0.1", "--allow-private",
      "--workers", "1", "--timeout", "3s"
    ])
    dashboard = await run.url
    browser = await chromium.launch({
      executablePath,
      // as the machine's own check runs it: no sandbox as root, and no background traffic to hosts a closed network refuses
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      timeout: 30_000
    })
    // the first pass over every target is recorded
    await until(() => api(`targets?size=1`), (found) => found.total === urls.length, 30_000)
    await until(async () => (await api(`targets?q=kettles.shop.test&size=10`)).targets, (ts) => ts.every((t: any) => t.lastPrice !== null), 30_000)
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    run?.stop()
    await Promise.race([run?.exited, new Promise((resolve) => setTimeout(resolve, 15_000))])
    run?.kill()
    await shop?.close()
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
    if (dir !== undefined) await fsp.rm(dir, { recursive: true, force: true })
  })

  it("the live view loads and its figures change between two reads", async () => {
    const page = await newPage()
    const response = await page.goto(dashboard)
    expect(response?.status()).toBe(200)
    expect(await page.title()).toBe("trawl")
    await page.waitForFunction(() => Number(document.body.dataset["updates"] ?? "0") >= 1, undefined, { timeout: 10_000 })
    const first = Number(await page.textContent("#recorded"))
    const updates = Number(await page.getAttribute("body", "data-updates"))
    // the next visits (every 10 s) are recorded and pushed without a reload
    await page.waitForFunction((before) => Number(document.getElementById("recorded")?.textContent) > before, first, { timeout: 20_000 })
    expect(Number(await page.getAttribute("body", "data-updates"))).toBeGreaterThan(updates)
    const queues = await page.$$eval("#queues tr", (rows) => rows.map((row) => row.textContent))
    expect(queues.map((q) => q?.replace(/\d+/g, ""))).toEqual(["fetch", "extraction", "store-writer"])
    expect(await page.textContent("#store")).toBe("ok")
    expect(await page.textContent("#restarts")).toBe("0")
    // one extraction thread (--workers 1), none crashed
    expect(await page.textContent("#extractCrashes")).toBe("0")
    // healthy, quick shops: none slowed, no circuit open
    expect(await page.textContent("#hostsThrottled")).toBe("0")
    expect(await page.textContent("#hostsCircuitOpen")).toBe("0")
    expect(await page.textContent("#notifiers")).toContain("stdout")
    await shoot(page, "live")
    await page.close()
  })

  it("a price change appears in the alerts list, newest first", async () => {
    const url = `http://kettles.shop.test:${shop.port}/p/2`
    const id = await targetId(url)
    const before = shop.priceOf(2)
    shop.step += 3 // product 2: 20.00 → 23.00
    const after = shop.priceOf(2)
    expect(after).not.toBe(before)
    const page = await newPage()
    const rows = await until(async () => {
      await page.goto(new URL(`alerts?target=${id}`, dashboard).href)
      return page.$$eval("#alerts tbody tr", (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td: { readonly textContent: string | null }) => td.textContent ?? "")))
    }, (rows) => rows.some((cells) => cells[4] === `${after} EUR`), 25_000)
    // the newest row is the change: old and new price, kind price_up
    expect(rows[0]).toEqual(expect.arrayContaining(["price_up", `${before} EUR`, `${after} EUR`]))
    // the unfiltered list has it too, among others
    await page.goto(new URL("alerts", dashboard).href)
    expect(await page.locator("#alerts tbody tr").count()).toBeGreaterThan(1)
    await page.selectOption("select[name=kind]", "price_up")
    await Promise.all([page.waitForURL(/kind=price_up/), page.click("form button")])
    const kinds = await page.$$eval("#alerts tbody tr td:nth-child(2)", (tds) => tds.map((td) => td.textContent))
    expect(kinds.length).toBeGreaterThan(0)
    expect(new Set(kinds)).toEqual(new Set(["price_up"]))
    await shoot(page, "alerts")
    await page.close()
  })

  it("a target's chart has one point per stored observation with a price in range", async () => {
    // product 2, whose price changed in the test before: the chart has a step
    const id = await targetId(`http://kettles.shop.test:${shop.port}/p/2`)
    // a few readings first (every 10 s)
    await until(() => api(`targets/${id}/history?limit=100`), (h) => h.observations.length >= 2, 25_000)
    const page = await newPage()
    await page.goto(new URL(`targets/${id}`, dashboard).href)
    const points = await page.locator("#price-chart circle.point").count()
    // the page's own range (from 0, up to now) read from the API right after: as many or one more
    const history = await api(`targets/${id}/history?limit=10000`)
    const priced = history.observations.filter((o: any) => o.price !== null).length
    expect(points).toBeGreaterThanOrEqual(2)
    expect(priced - points).toBeGreaterThanOrEqual(0)
    expect(priced - points).toBeLessThanOrEqual(1)
    // the extraction's source and confidence, as the run recorded them
    expect(await page.textContent("#state")).toContain("json-ld")
    const newest = history.observations.find((o: any) => o.outcome === "ok")
    expect(newest.confidence).toBeGreaterThan(0)
    expect(await page.textContent("#confidence")).toBe(newest.confidence.toFixed(2))
    await shoot(page, "target")
    // a closed range gives exactly the observations in it
    const times = history.observations.map((o: any) => o.observedAt).sort((a: number, b: number) => a - b)
    const to = times.at(-1) as number
    await page.goto(new URL(`targets/${id}?from=0&to=${to}`, dashboard).href)
    const inRange = (await api(`targets/${id}/history?from=0&to=${to}&limit=10000`)).observations.filter((o: any) => o.price !== null).length
    expect(await page.locator("#price-chart circle.point").count()).toBe(inRange)
    expect(await page.textContent("#points")).toBe(`${inRange} observations with a price in range`)
    expect(await page.locator("#availability tbody tr").count()).toBeGreaterThanOrEqual(1)
    await page.close()
  })

  it("the targets table pages and searches on the server", async () => {
    const page = await newPage()
    await page.goto(new URL("targets?size=50", dashboard).href)
    const total = SHOPS * PRODUCTS + 3
    expect(await page.textContent("#count")).toBe(`${total} targets · page 1 of ${Math.ceil(total / 50)}`)
    const firstPage = await page.$$eval("#targets tbody tr td:first-child", (tds) => tds.map((td) => Number(td.textContent)))
    expect(firstPage).toHaveLength(50)
    await Promise.all([page.waitForURL(/page=2/), page.click("a[rel=next]")])
    const secondPage = await page.$$eval("#targets tbody tr td:first-child", (tds) => tds.map((td) => Number(td.textContent)))
    expect(secondPage).toHaveLength(50)
    expect(secondPage[0]).toBeGreaterThan(firstPage.at(-1)!)
    await page.fill("input[name=q]", "KETTLES.shop")
    await Promise.all([page.waitForURL(/q=KETTLES/), page.click("form button")])
    const urls = await page.$$eval("#targets tbody tr td:nth-child(2)", (tds) => tds.map((td) => td.textContent))
    expect(urls).toEqual([1, 2, 3].map((p) => `http://kettles.shop.test:${shop.port}/p/${p}`))
    expect(await page.textContent("#count")).toBe(`3 targets match “KETTLES.shop” · page 1 of 1`)
    await shoot(page, "targets")
    await page.close()
  })

  it("a hostile product name shows as text on every page, never as markup", async () => {
    const id = await targetId(`http://kettles.shop.test:${shop.port}/p/1`)
    const page = await newPage()
    await page.goto(new URL(`alerts?target=${id}`, dashboard).href)
    expect(await page.textContent("#alerts tbody tr td:nth-child(3)")).toBe(hostile)
    expect(await page.locator("img").count()).toBe(0)
    await shoot(page, "escaping")
    await page.goto(new URL(`targets/${id}`, dashboard).href)
    expect(await page.locator("img").count()).toBe(0)
    expect(dialogs).toEqual([])
    await page.close()
  })

  it("a dashboard with a token refuses the page, the event stream and the API without it; the token opens all three", async () => {
    const db = path.join(dir, "browser.db")
    const guarded = startDashboard(["--db", db, "--port", "0", "--dashboard-token", token], "dashboard")
    try {
      const url = await guarded.url
      const page = await newPage()
      const refused = await page.goto(url)
      expect(refused?.status()).toBe(401)
      const statuses = await page.evaluate(async () => {
        const events = await fetch("/events")
        const targets = await fetch("/api/v1/targets")
        return { events: events.status, targets: targets.status }
      })
      expect(statuses).toEqual({ events: 401, targets: 401 })
      // an EventSource without the token gets no event
      const opened = await page.evaluate(() =>
        new Promise<string>((resolve) => {
          const source = new EventSource("/events")
          source.addEventListener("live", () => resolve("event"))
          source.addEventListener("error", () => resolve("error"))
          setTimeout(() => resolve("nothing"), 5_000)
        })
      )
      expect(opened).toBe("error")
      await shoot(page, "refused")
      // the token once in the address: a cookie, then the page, its live stream and the API answer
      const admitted = await page.goto(`${url}?token=${token}`)
      expect(admitted?.status()).toBe(200)
      expect(page.url()).toBe(url)
      await page.waitForFunction(() => Number(document.body.dataset["updates"] ?? "0") >= 1, undefined, { timeout: 10_000 })
      expect(await page.textContent("#status")).toBe("no run")
      const api = await page.evaluate(async () => (await fetch("/api/v1/targets?size=1")).status)
      expect(api).toBe(200)
      await shoot(page, "token")
      await page.close()
    } finally {
      guarded.stop()
      await Promise.race([guarded.exited, new Promise((resolve) => setTimeout(resolve, 10_000))])
      guarded.kill()
    }
  })
})
