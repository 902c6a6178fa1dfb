/**
 * `trawl run --notify URL` from the binary: channels from the flag (repeated),
 * the environment and the config file each deliver every alert once to a
 * loopback receiver; `trawl status` and the run's output name them without
 * their secrets; a bad channel URL is one line and exit 2. Channels named on
 * a target or a group get only its alerts, run-level ones every alert.
 */
import * as fs from "node:fs/promises"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Shop, startShop } from "./fixtures-shop.ts"
import { runTrawl } from "./helpers.ts"

let dir: string
let shop: Shop
const products = 5

interface Seen {
  readonly path: string
  readonly key: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

/** Records every request; answers 200 (Telegram's `{"ok":true}`). */
const startChannels = async () => {
  const seen: Array<Seen> = []
  const server = http.createServer((req, res) => {
    let body = ""
    req.setEncoding("utf8")
    req.on("data", (chunk: string) => (body += chunk))
    req.on("end", () => {
      seen.push({ path: req.url ?? "", key: String(req.headers["idempotency-key"]), headers: req.headers, body })
      res.writeHead(200, { "content-type": "application/json" }).end("{\"ok\":true}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}

const SECRETS = ["NTFYSECRET", "TGSECRET", "SLACKSECRET", "DISCORDSECRET"]

const expectNoSecret = (text: string) => {
  for (const secret of SECRETS) expect(text).not.toContain(secret)
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "trawl-notify-"))
  shop = await startShop()
})

afterAll(async () => {
  await shop.close()
  await fs.rm(dir, { recursive: true, force: true })
})

const targetsCsv = async () => {
  const file = path.join(dir, "targets.csv")
  const lines = ["url,interval"]
  for (let i = 1; i <= products; i++) lines.push(`http://shop-${i}.shop.test:${shop.port}/p/${i},5m`)
  await fs.writeFile(file, lines.join("\n") + "\n")
  return file
}

const common = (db: string) => ["--db", db, "--resolve", "*.shop.test=127.0.0.1", "--allow-private", "--workers", "1", "--quiet"]

describe("trawl run --notify", { timeout: 120_000 }, () => {
  it("channels from the flag, the environment and the config file each get every alert once, named without secrets", async () => {
    const db = path.join(dir, "notify.db")
    const channels = await startChannels()
    try {
      const ntfy = `ntfy+${channels.base}/kettle-prices?token=tk_NTFYSECRET`
      const telegram = `telegram://123456789:TGSECRET@-1001234567?api=${channels.base}`
      const first = await runTrawl(["run", "--once", "--targets", await targetsCsv(), ...common(db), "--notify", ntfy, "--notify", telegram], { timeoutMillis: 60_000 })
      expect(first.stderr).not.toMatch(/\n\s+at /)
      expect(first.code).toBe(0)
      expectNoSecret(first.stdout + first.stderr)
      const topic = channels.seen.filter((s) => s.path === "/kettle-prices")
      const bot = channels.seen.filter((s) => s.path === "/bot123456789:TGSECRET/sendMessage")
      expect(topic).toHaveLength(products)
      expect(bot).toHaveLength(products)
      expect(new Set(topic.map((s) => s.key)).size).toBe(products)
      expect(new Set(bot.map((s) => s.key))).toEqual(new Set(topic.map((s) => s.key)))
      expect(topic.every((s) => s.headers["authorization"] === "Bearer tk_NTFYSECRET" && s.headers["tags"] === "new,first_seen")).toBe(true)
      expect(topic.map((s) => s.body).sort()[0]).toMatch(/^first seen: Item 1 10\.00 EUR http:\/\/shop-1\.shop\.test:\d+\/p\/1$/)
      expect(JSON.parse(bot[0]!.body)).toMatchObject({ chat_id: "-1001234567", disable_web_page_preview: true })

      // the environment, when the flag is not given: whitespace and commas separate its URLs
      shop.step = 1 // even products go up by 1.00
      const slack = `slack+${channels.base}/services/T0/B0/SLACKSECRETxxxxxxxxxxxxx`
      const second = await runTrawl(["run", "--once", "--all", ...common(db)], { env: { TRAWL_NOTIFY: ` ${slack},\n${ntfy} ` }, timeoutMillis: 60_000 })
      expect(second.code).toBe(0)
      expectNoSecret(second.stdout + second.stderr)
      const slackSeen = channels.seen.filter((s) => s.path.startsWith("/services/"))
      // a channel new to the store delivers what the outbox holds: the two price rises (the first
      // pass's alerts had left it, delivered to every channel there was)
      expect(slackSeen).toHaveLength(2)
      expect(new Set(slackSeen.map((s) => s.key)).size).toBe(2)
      expect(JSON.parse(slackSeen[0]!.body).text).toMatch(/^price up: Item [24] [24]0\.00 EUR → [24]1\.00 EUR \(\+?\d+\.\d+%\) http/)
      expect(channels.seen.filter((s) => s.path === "/kettle-prices")).toHaveLength(products + 2)

      // the config file's `notify` list, when neither flag nor environment says
      shop.step = 2
      const cwd = await fs.mkdtemp(path.join(dir, "cwd-"))
      const discord = `discord+${channels.base}/api/webhooks/1/DISCORDSECRET`
      await fs.writeFile(path.join(cwd, "trawl.config.json"), JSON.stringify({ notify: [discord] }))
      const third = await runTrawl(["run", "--once", "--all", ...common(db)], { cwd, timeoutMillis: 60_000 })
      expect(third.code).toBe(0)
      const discordSeen = channels.seen.filter((s) => s.path === "/api/webhooks/1/DISCORDSECRET")
      // the run's two price rises, and the two still in the outbox (telegram has not had them)
      expect(discordSeen).toHaveLength(4)
      expect(new Set(discordSeen.map((s) => s.key)).size).toBe(4)
      expect(JSON.parse(discordSeen[0]!.body)).toMatchObject({ content: expect.stringMatching(/^price up: /), allowed_mentions: { parse: [] } })

      const status = await runTrawl(["status", "--db", db])
      expect(status.code).toBe(0)
      expectNoSecret(status.stdout + status.stderr)
      // each channel's backlog is its own: what was raised while it was not in a run waits for it
      const expected = { ntfy: [2, products + 2], telegram: [4, products], slack: [2, 2], discord: [0, 4] }
      for (const [kind, [pending, delivered]] of Object.entries(expected)) {
        expect(status.stdout).toMatch(new RegExp(`notifier +${kind} http://127\\.0\\.0\\.1:${channels.port} #[0-9a-f]{8}: ${pending} pending, ${delivered} delivered`))
      }
    } finally {
      await channels.close()
    }
  })

  it("the same URL by --webhook and --notify is one notifier: each alert delivered once", async () => {
    const db = path.join(dir, "same.db")
    const channels = await startChannels()
    try {
      const url = `${channels.base}/hook`
      const run = await runTrawl(["run", "--once", "--targets", await targetsCsv(), ...common(db), "--webhook", url, "--notify", `webhook+${url}`], { timeoutMillis: 60_000 })
      expect(run.code).toBe(0)
      expect(channels.seen).toHaveLength(products)
    } finally {
      await channels.close()
    }
  })

  it.each([
    [["--notify", "telegram://123456789:TGSECRET@"], /^ {2}--notify telegram:\/\/…@: no chat id: expected telegram:\/\/TOKEN@CHAT_ID$/m, {}],
    [["--notify", "slack+ftp://hooks.slack.com/services/T/B/SLACKSECRET"], /^ {2}--notify slack\+ftp:\/\/hooks\.slack\.com\/…: the part after slack\+ must be an http\(s\) URL$/m, {}],
    [["--notify", "file:alerts.jsonl", "--notify", "sms://+4912345"], /^ {2}--notify sms:\/\/\+4912345: unknown channel scheme 'sms'/m, {}],
    [[], /^ {2}--notify ntfy\+https:\/\/ntfy\.sh: no topic/m, { TRAWL_NOTIFY: "ntfy+https://ntfy.sh/" }]
  ] as const)("a bad channel %j: one line naming it (redacted), exit 2", async (args, message, env) => {
    const run = await runTrawl(["run", "--once", "--db", path.join(dir, "bad.db"), ...args], { env, timeoutMillis: 60_000 })
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(/\n\s+at /)
    expectNoSecret(run.stdout + run.stderr)
  })
})

describe("channels named on targets and groups", { timeout: 120_000 }, () => {
  const url = (product: number) => `http://shop-${product}.shop.test:${shop.port}/p/${product}`
  const ntfyOf = (seen: ReadonlyArray<Seen>, topic: string) => seen.filter((s) => s.path === `/${topic}`)

  it("a target's channel gets only its alerts, a run-level one all of them, each once; trawl rules and status show them redacted", async () => {
    const db = path.join(dir, "per-target.db")
    const channels = await startChannels()
    shop.step = 0
    try {
      const a = `ntfy+${channels.base}/target-two?token=tk_NTFYSECRET`
      const b = `slack+${channels.base}/services/T0/B0/SLACKSECRETxxxxxxxxxxxxx`
      // the targets file names target 2's channel (the notify column); target 1 names none
      const file = path.join(dir, "per-target.csv")
      await fs.writeFile(file, ["url,interval,notify", `${url(1)},5m,`, `${url(2)},5m,${a}`].join("\n") + "\n")
      const first = await runTrawl(["run", "--once", "--targets", file, ...common(db), "--notify", b], { timeoutMillis: 60_000 })
      expect(first.stderr).not.toMatch(/\n\s+at /)
      expect(first.code).toBe(0)
      expectNoSecret(first.stdout + first.stderr)
      shop.step = 1 // product 2 goes up by 1.00
      const second = await runTrawl(["run", "--once", "--all", ...common(db), "--notify", b], { timeoutMillis: 60_000 })
      expect(second.code).toBe(0)
      expectNoSecret(second.stdout + second.stderr)

      const toA = ntfyOf(channels.seen, "target-two")
      const toB = channels.seen.filter((s) => s.path.startsWith("/services/"))
      // A: target 2's first_seen and its price rise; B: both first_seen and the rise
      expect(toA.map((s) => s.headers["tags"]).sort()).toEqual(["chart_with_upwards_trend,price_up", "new,first_seen"])
      expect(toA.every((s) => s.body.includes("/p/2") && s.headers["authorization"] === "Bearer tk_NTFYSECRET")).toBe(true)
      expect(new Set(toA.map((s) => s.key)).size).toBe(2)
      expect(toB).toHaveLength(3)
      expect(new Set(toB.map((s) => s.key)).size).toBe(3)
      expect(toB.filter((s) => JSON.parse(s.body).text.includes("/p/1"))).toHaveLength(1)
      for (const seen of toA) expect(toB.map((s) => s.key)).toContain(seen.key)
      expect(channels.seen).toHaveLength(5)

      const rules = await runTrawl(["rules", url(2), "--db", db])
      expect(rules.code).toBe(0)
      expect(rules.stdout).toMatch(new RegExp(`^notify +ntfy http://127\\.0\\.0\\.1:${channels.port} #[0-9a-f]{8} \\(this target's alerts only\\)$`, "m"))
      expect((await runTrawl(["rules", url(1), "--db", db])).stdout).toMatch(/^notify +none$/m)
      const status = await runTrawl(["status", "--db", db])
      expect(status.code).toBe(0)
      // the target's channel has nothing pending: the alerts not for it count as done for it
      expect(status.stdout).toMatch(new RegExp(`notifier +ntfy http://127\\.0\\.0\\.1:${channels.port} #[0-9a-f]{8}: 0 pending, 3 delivered`))
      expectNoSecret(rules.stdout + rules.stderr + status.stdout + status.stderr)

      // --notify none clears them: the next run builds no notifier for it
      const cleared = await runTrawl(["rules", url(2), "--db", db, "--notify", "none"])
      expect(cleared.stdout).toMatch(/^notify +none$/m)
      shop.step = 2
      expect((await runTrawl(["run", "--once", "--all", ...common(db)], { timeoutMillis: 60_000 })).code).toBe(0)
      expect(ntfyOf(channels.seen, "target-two")).toHaveLength(2)
    } finally {
      shop.step = 0
      await channels.close()
    }
  })

  it("the same channel named by the run and on a target is one notifier: every alert, once", async () => {
    const db = path.join(dir, "same-named.db")
    const channels = await startChannels()
    try {
      const hook = `${channels.base}/hook`
      expect((await runTrawl(["add", url(1), "--db", db])).code).toBe(0)
      expect((await runTrawl(["add", url(2), "--db", db, "--notify", `webhook+${hook}`])).code).toBe(0)
      const run = await runTrawl(["run", "--once", ...common(db), "--webhook", hook], { timeoutMillis: 60_000 })
      expect(run.code).toBe(0)
      expect(channels.seen.map((s) => JSON.parse(s.body).url).sort()).toEqual([url(1), url(2)])
    } finally {
      await channels.close()
    }
  })

  it("a group's channel gets the group's cheapest_changed and its shops' alerts, no others", async () => {
    const db = path.join(dir, "group-channel.db")
    const channels = await startChannels()
    shop.step = 0
    try {
      for (const product of [1, 2]) expect((await runTrawl(["add", url(product), "--db", db, "--group", "kettle"])).code).toBe(0)
      for (const product of [3, 4]) expect((await runTrawl(["add", url(product), "--db", db])).code).toBe(0)
      const c = `ntfy+${channels.base}/kettle-group?token=tk_NTFYSECRET`
      const set = await runTrawl(["group", "kettle", "--db", db, "--notify", c])
      expect(set.code).toBe(0)
      expect(set.stdout).toMatch(new RegExp(`^group notify: ntfy http://127\\.0\\.0\\.1:${channels.port} #[0-9a-f]{8} \\(the group's alerts and its shops'\\)$`, "m"))
      expectNoSecret(set.stdout + set.stderr)
      const first = await runTrawl(["run", "--once", ...common(db)], { timeoutMillis: 60_000 })
      expect(first.code).toBe(0)
      expectNoSecret(first.stdout + first.stderr)
      // products 2 and 4 drop by 15.00: product 2 (5.00) is the group's best now, not product 1 (10.00)
      shop.step = -15
      const second = await runTrawl(["run", "--once", "--all", ...common(db)], { timeoutMillis: 60_000 })
      expect(second.code).toBe(0)
      const toC = ntfyOf(channels.seen, "kettle-group")
      const kinds = toC.map((s) => `${String(s.headers["tags"]).split(",").at(-1)} ${/\/p\/(\d)/.exec(s.body)?.[1]}`)
      expect(kinds.sort()).toEqual(["cheapest_changed 2", "first_seen 1", "first_seen 2", "price_down 2"])
      expect(new Set(toC.map((s) => s.key)).size).toBe(4)
      expect(channels.seen).toHaveLength(4)
    } finally {
      shop.step = 0
      await channels.close()
    }
  })

  it("a bad channel: trawl add --notify is exit 2 in one line, a targets file's row is rejected by its line; both redacted", async () => {
    const db = path.join(dir, "bad-channel.db")
    const added = await runTrawl(["add", url(1), "--db", db, "--notify", "ntfy+https://ntfy.sh/ok", "--notify", "telegram://123456789:TGSECRET@"])
    expect(added.code).toBe(2)
    const lines = added.stderr.trim().split("\n").filter((line) => line.startsWith("trawl:"))
    expect(lines).toEqual(["trawl: --notify: notify telegram://…@: no chat id: expected telegram://TOKEN@CHAT_ID"])
    expect(added.stderr).not.toMatch(/\n\s+at /)
    expectNoSecret(added.stdout + added.stderr)
    expect((await runTrawl(["targets", "--db", db])).stdout).not.toContain(url(1))
    const file = path.join(dir, "bad-channel.jsonl")
    await fs.writeFile(file, [
      JSON.stringify({ url: url(1), notify: ["ntfy+https://ntfy.sh/ok", "file:alerts.jsonl"] }),
      JSON.stringify({ url: url(2), notify: "slack+ftp://hooks.slack.com/services/T/B/SLACKSECRET" })
    ].join("\n") + "\n")
    const imported = await runTrawl(["import", file, "--db", db])
    expect(imported.code).toBe(5)
    expect(imported.stderr).toMatch(/bad-channel\.jsonl:2: notify slack\+ftp:\/\/hooks\.slack\.com\/…: the part after slack\+ must be an http\(s\) URL/)
    expectNoSecret(imported.stdout + imported.stderr)
    expect((await runTrawl(["rules", url(1), "--db", db])).stdout).toMatch(/^notify +ntfy https:\/\/ntfy\.sh #[0-9a-f]{8}, jsonl alerts\.jsonl /m)
  })
})
