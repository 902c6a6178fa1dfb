/**
 * Alert rules across SIGKILL: the same readings, recorded once straight
 * through and once by a writer process killed at random points and restarted
 * from its last acknowledged reading (replaying the batch it had not seen
 * acknowledged), raise the same alerts, none twice — the rules' state is
 * written in each reading's transaction.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Store from "../src/Store.ts"

const script = fileURLToPath(new URL("./support/rules-writer.ts", import.meta.url))
const total = 240

/** Runs the writer from `from`; kills it after `killAfter` acknowledged batches (never, when undefined). */
const write = (filename: string, seed: number, from: number, killAfter: number | undefined) =>
  Effect.callback<{ readonly last: number; readonly done: boolean }, Error>((resume) => {
    const child = spawn(process.execPath, ["--conditions=@trawl/source", script, filename, String(seed), String(from), String(total)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let last = from - 1
    let acks = 0
    let done = false
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.stdout.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) {
        const match = /^acked (\d+)$/.exec(line)
        if (match) {
          last = Number(match[1])
          acks++
        }
        if (line === "done") done = true
      }
      if (killAfter !== undefined && acks >= killAfter && child.exitCode === null) child.kill("SIGKILL")
    })
    child.on("exit", (code, signal) =>
      code === 0 || signal === "SIGKILL"
        ? resume(Effect.succeed({ last, done }))
        : resume(Effect.fail(new Error(`writer exited ${code}: ${stderr}`))))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    return Effect.sync(() => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

const alertsOf = (filename: string) =>
  Effect.provide(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ key: string; kind: string; rule: string | null; observed_at: number; new_amount: string | null }>`
        SELECT a.key, a.kind, a.rule, o.observed_at, a.new_amount FROM alerts a JOIN observations o ON o.id = a.observation_id
        ORDER BY o.observed_at, a.kind, a.rule`
      const [counts] = yield* sql<{ observations: number }>`SELECT count(*) AS observations FROM observations`
      return { alerts: rows.map((row) => `${row.observed_at} ${row.kind} ${row.rule} ${row.new_amount}`), keys: rows.map((row) => row.key), observations: Number(counts!.observations) }
    }),
    Store.layerSqlite({ filename })
  )

describe("alert rules across SIGKILL", () => {
  it.live("killed at random points and restarted, the writer raises exactly the alerts of a run straight through", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trawl-rules-crash-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const seed = Math.floor(Math.random() * 2 ** 31)
      const straight = path.join(dir, "straight.db")
      const killed = path.join(dir, "killed.db")
      const once = yield* write(straight, seed, 0, undefined)
      assert.isTrue(once.done)
      let from = 0
      let kills = 0
      for (let round = 0; round < 12; round++) {
        // 1 to 9 batches (5 readings each) acknowledged, then SIGKILL, mid-batch or between two
        const run = yield* write(killed, seed, from, round < 4 ? 1 + Math.floor(Math.random() * 9) : undefined)
        from = run.last + 1
        if (run.done) break
        kills++
      }
      assert.isAtLeast(kills, 1, `seed ${seed}`)
      const expected = yield* alertsOf(straight)
      const got = yield* alertsOf(killed)
      assert.strictEqual(got.observations, total, `seed ${seed}: every reading recorded once`)
      assert.isAtLeast(expected.alerts.length, 10, `seed ${seed}: the sequence crosses rules`)
      assert.deepStrictEqual(got.alerts, expected.alerts, `seed ${seed}`)
      assert.strictEqual(new Set(got.keys).size, got.keys.length, "no alert twice")
    }).pipe(Effect.scoped), 120_000)
})
