/**
 * `trawl run --dashboard` from the real binary: the address it prints
 * answers the page, live events and Prometheus metrics while the run goes
 * on, a token is enforced, and an open address without one is refused.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runTrawl, startDashboard } from "./helpers.ts"

let dir: string

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "trawl-dashboard-"))
})

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true })
})

const firstEvent = async (url: string, headers: Record<string, string> = {}) => {
  const controller = new AbortController()
  const response = await fetch(url, { headers, signal: controller.signal })
  const reader = response.body!.getReader()
  let text = ""
  while (!text.includes("\n\n")) {
    const { done, value } = await reader.read()
    if (done) break
    text += new TextDecoder().decode(value)
  }
  controller.abort()
  return text
}

describe("trawl run --dashboard", { timeout: 60_000 }, () => {
  it("serves the live view, events and /metrics beside a run, behind its token, and stops with the run", async () => {
    const token = "t0ken-for-the-test"
    const run = startDashboard(["--db", path.join(dir, "run.db"), "--dashboard=0", "--dashboard-token", token, "--duration=6s", "--quiet"])
    try {
      const url = await run.url
      const auth = { authorization: `Bearer ${token}` }
      expect((await fetch(url)).status).toBe(401)
      expect((await fetch(`${url}metrics`)).status).toBe(401)
      const page = await fetch(url, { headers: auth })
      expect(page.status).toBe(200)
      expect(await page.text()).toContain("pages/s")
      const event = await firstEvent(`${url}events`, auth)
      expect(event).toMatch(/^event: live\ndata: \{.*"pagesPerSecond"/m)
      const metrics = await (await fetch(`${url}metrics`, { headers: auth })).text()
      // the run's own metrics, e.g. the actors' mailbox gauges and the fetcher's
      expect(metrics).toMatch(/^# TYPE trawl_\w+ (counter|gauge|histogram)$/m)
      expect(await run.exited).toBe(0)
    } finally {
      run.kill()
    }
  })

  it("trawl dashboard serves a database without a run (the API, live panels saying so) until SIGTERM, then exits 0", async () => {
    const db = path.join(dir, "browse.db")
    expect((await runTrawl(["add", "https://shop.example/kettle/1", "--db", db])).code).toBe(0)
    expect((await runTrawl(["add", "https://shop.example/toaster/2", "--db", db])).code).toBe(0)
    const served = startDashboard(["--db", db, "--port", "0"], "dashboard")
    try {
      const url = await served.url
      expect(await (await fetch(url)).text()).toContain("no run")
      const targets = await (await fetch(`${url}api/v1/targets?q=kettle`)).json() as { total: number; targets: Array<{ url: string }> }
      expect(targets.total).toBe(1)
      expect(targets.targets[0]!.url).toBe("https://shop.example/kettle/1")
      expect(await firstEvent(`${url}events`)).toContain('"status":"no run"')
      served.stop()
      expect(await served.exited).toBe(0)
    } finally {
      served.kill()
    }
  })

  it("settings without a default come from the environment and the config file too: the dashboard's token, the webhook", async () => {
    const db = path.join(dir, "settings.db")
    const cwd = await fs.mkdtemp(path.join(dir, "cwd-"))
    await fs.writeFile(path.join(cwd, "trawl.config.json"), JSON.stringify({ dashboardToken: "from-the-file" }))
    const guarded = async (env: Record<string, string>, token: string) => {
      const served = startDashboard(["--db", db, "--port", "0"], "dashboard", { env, cwd })
      try {
        const url = await served.url
        expect((await fetch(url)).status).toBe(401)
        expect((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
      } finally {
        served.kill()
      }
    }
    await guarded({}, "from-the-file")
    // the environment over the file
    await guarded({ TRAWL_DASHBOARD_TOKEN: "from-the-env" }, "from-the-env")
    const run = await runTrawl(["run", "--once", "--db", db], { env: { TRAWL_WEBHOOK: "nope" } })
    expect(run.stderr).toContain("--webhook: 'nope' is not a URL")
  })

  it("an open address without a token is refused with one line and exit 3", async () => {
    const run = await runTrawl(["run", "--db", path.join(dir, "open.db"), "--dashboard=0", "--dashboard-host", "0.0.0.0", "--duration=5s"])
    expect(run.code).toBe(3)
    expect(run.stderr).toMatch(/--dashboard-host 0\.0\.0\.0: .*needs --dashboard-token/)
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })
})
