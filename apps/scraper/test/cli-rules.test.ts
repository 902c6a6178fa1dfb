/**
 * Alert rules from the command line and from targets files: `trawl add
 * --alert … --confirm … --cooldown … --group …`, `trawl rules`, `trawl
 * mute`, and the `alert,confirm,cooldown,group` columns; a bad rule gets one
 * line naming it (exit 2 for a flag; for a file row its line number, exit 5
 * like every rejected row).
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runTrawl } from "./helpers.ts"

let dir: string
let db: string

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "trawl-rules-"))
  db = path.join(dir, "rules.db")
})

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true })
})

describe("trawl alert rules", { timeout: 60_000 }, () => {
  it("add with rules, confirm, cooldown and group; rules shows and changes them; mute silences for a while", async () => {
    const added = await runTrawl([
      "add", "https://shop.example/kettle", "--db", db,
      "--alert", "below 100 EUR", "--alert", "Drop 10 %", "--confirm", "2", "--cooldown", "6h", "--group", "kettle-x"
    ])
    expect(added.code).toBe(0)
    expect(added.stdout).toMatch(/added target 1: https:\/\/shop\.example\/kettle every 5m, alerts: below 100 EUR; drop 10%/)
    const shown = await runTrawl(["rules", "https://shop.example/kettle", "--db", db])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(/alert rules +below 100 EUR; drop 10%/)
    expect(shown.stdout).toMatch(/confirm +2/)
    expect(shown.stdout).toMatch(/cooldown +6h/)
    expect(shown.stdout).toMatch(/group +kettle-x/)
    const changed = await runTrawl(["rules", "https://shop.example/kettle", "--db", db, "--set", "rise 5%", "--set", "back in stock", "--cooldown", "0"])
    expect(changed.code).toBe(0)
    expect(changed.stdout).toMatch(/alert rules +rise 5%; back-in-stock/)
    expect(changed.stdout).toMatch(/cooldown +none/)
    expect(changed.stdout).toMatch(/group +kettle-x/)
    const reset = await runTrawl(["rules", "https://shop.example/kettle", "--db", db, "--set", "defaults", "--group", ""])
    expect(reset.stdout).toMatch(/alert rules +\(defaults\) change; back-in-stock; out-of-stock/)
    expect(reset.stdout).toMatch(/group +-/)
    const muted = await runTrawl(["mute", "https://shop.example/kettle", "--for", "1d", "--db", db])
    expect(muted.code).toBe(0)
    const until = /alerts muted until (\S+)/.exec(muted.stdout)?.[1]
    expect(Date.parse(until!) - Date.now()).toBeGreaterThan(23 * 3_600_000)
    expect((await runTrawl(["rules", "https://shop.example/kettle", "--db", db])).stdout).toMatch(new RegExp(`muted until +${until}`))
    const unmuted = await runTrawl(["mute", "https://shop.example/kettle", "--off", "--db", db])
    expect(unmuted.stdout).toMatch(/alerts on again/)
  })

  it.each([
    [["add", "https://shop.example/a", "--alert", "below cheap"], /^trawl: --alert: alert rule "below cheap": "cheap" is not an amount/],
    [["add", "https://shop.example/a", "--alert", "cheaper"], /^trawl: --alert: alert rule "cheaper": unknown rule "cheaper"/],
    [["add", "https://shop.example/a", "--alert", "drop 150%"], /a price cannot drop by more than 100%/],
    [["add", "https://shop.example/a", "--confirm", "0"], /^trawl: --confirm: confirm '0' is not a whole number from 1 to 100/],
    [["add", "https://shop.example/a", "--cooldown", "soon"], /^trawl: --cooldown: cooldown 'soon' is not a duration/],
    [["rules", "https://shop.example/kettle", "--set", "above"], /^trawl: --set: alert rule "above": expected an amount/],
    [["mute", "https://shop.example/kettle", "--for", "a while"], /--for/]
  ] as const)("bad flag %j: exit 2, one line", async (args, message) => {
    const run = await runTrawl([...args, "--db", db])
    expect(run.code).toBe(2)
    expect(run.stderr.trim().split("\n").filter((line) => line.startsWith("trawl:"))).toHaveLength(1)
    expect(run.stderr.trim().split("\n").at(-1)).toMatch(message)
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })

  it("a targets file's alert, confirm, cooldown and group columns; bad rows are reported by line", async () => {
    const file = path.join(dir, "targets.csv")
    await fs.writeFile(file, [
      "url,interval,alert,confirm,cooldown,group",
      "https://a.example/1,5m,below 100 EUR; drop 10%,2,6h,kettle",
      "https://a.example/2,5m,below x,,,",
      "https://a.example/3,5m,,0,,",
      "https://a.example/4,5m,back-in-stock,,,kettle"
    ].join("\n"))
    const imported = await runTrawl(["import", file, "--db", db])
    expect(imported.code).toBe(5)
    expect(imported.stderr).toMatch(/targets\.csv:3: alert rule "below x": "x" is not an amount/)
    expect(imported.stderr).toMatch(/targets\.csv:4: confirm '0' is not a whole number from 1 to 100/)
    expect(imported.stdout).toMatch(/imported 2 target\(s\)/)
    const first = await runTrawl(["rules", "https://a.example/1", "--db", db])
    expect(first.stdout).toMatch(/alert rules +below 100 EUR; drop 10%/)
    expect(first.stdout).toMatch(/confirm +2/)
    expect(first.stdout).toMatch(/group +kettle/)
    const jsonl = path.join(dir, "targets.jsonl")
    await fs.writeFile(jsonl, [
      JSON.stringify({ url: "https://b.example/1", alert: ["above 50", "rise 5%"], confirm: 3, cooldown: "30m", group: "toaster" }),
      JSON.stringify({ url: "https://b.example/2", alert: [42] })
    ].join("\n"))
    const fromJson = await runTrawl(["import", jsonl, "--db", db])
    expect(fromJson.stderr).toMatch(/targets\.jsonl:2: alert: expected rules as text/)
    const json = await runTrawl(["rules", "https://b.example/1", "--db", db])
    expect(json.stdout).toMatch(/alert rules +above 50; rise 5%/)
    expect(json.stdout).toMatch(/cooldown +30m/)
  })
})
