import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { TargetsFile } from "../src/index.ts"

const withFile = (name: string, content: string | Buffer) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), "trawl-targets-"))
      const file = path.join(dir, name)
      await fs.writeFile(file, content)
      return file
    }),
    (file) => Effect.promise(() => fs.rm(path.dirname(file), { recursive: true, force: true }))
  )

describe("TargetsFile", () => {
  it.effect("CSV: valid rows imported, each broken row reported with its line number", () =>
    Effect.gen(function*() {
      const file = yield* withFile("t.csv", [
        "url,interval,selector,regex",
        "https://shop.example/a,10m,,",
        "# a comment",
        "\"https://shop.example/b?x=1,2\",1h,\".price, .sale\",",
        "not a url,5m,,",
        "https://shop.example/c,soon,,",
        "ftp://shop.example/d,,,",
        "https://shop.example/e,5s,,",
        "https://shop.example/f,,,(unclosed",
        "https://shop.example/g,,,\"(\\d+)\"",
        "https://user:pw@shop.example/h,,,",
        "\"https://shop.example/i,5m",
        "https://shop.example/j,5m,a,b,c,d",
        ""
      ].join("\n"))
      const { rejected, rows } = yield* TargetsFile.read(file)
      assert.deepStrictEqual(rows.map((r) => [r.line, r.url, r.intervalMillis]), [
        [2, "https://shop.example/a", 600_000],
        [4, "https://shop.example/b?x=1,2", 3_600_000],
        [10, "https://shop.example/g", TargetsFile.defaultIntervalMillis]
      ])
      assert.strictEqual(rows[1]!.selector, ".price, .sale")
      assert.strictEqual(rows[2]!.regex, "(\\d+)")
      assert.deepStrictEqual(rejected.map((r) => r.line), [5, 6, 7, 8, 9, 11, 12, 13])
      assert.match(rejected[0]!.reason, /not a URL/)
      assert.match(rejected[1]!.reason, /interval 'soon'/)
      assert.match(rejected[2]!.reason, /only http and https/)
      assert.match(rejected[3]!.reason, /shorter than/)
      assert.match(rejected[4]!.reason, /regex/)
      assert.match(rejected[5]!.reason, /credentials/)
      assert.match(rejected[6]!.reason, /unterminated/)
      assert.match(rejected[7]!.reason, /fields/)
    }))

  it.effect("JSONL with a BOM and CRLF line ends", () =>
    Effect.gen(function*() {
      const file = yield* withFile("t.jsonl", "\uFEFF" + [
        JSON.stringify({ url: "https://shop.example/a", interval: "90s" }),
        "{broken",
        JSON.stringify([1, 2]),
        JSON.stringify({ url: "https://shop.example/b", selector: "#price" })
      ].join("\r\n"))
      const { rejected, rows } = yield* TargetsFile.read(file)
      assert.deepStrictEqual(rows.map((r) => [r.line, r.intervalMillis, r.selector]), [[1, 90_000, undefined], [4, 300_000, "#price"]])
      assert.deepStrictEqual(rejected.map((r) => r.line), [2, 3])
    }))

  it.effect("unreadable, empty and header-less files are InputErrors", () =>
    Effect.gen(function*() {
      assert.match((yield* Effect.flip(TargetsFile.read("/no/such/targets.csv"))).message, /no such file/)
      assert.match((yield* Effect.flip(TargetsFile.read(yield* withFile("e.csv", "\n\n")))).message, /no targets/)
      assert.match((yield* Effect.flip(TargetsFile.read(yield* withFile("h.csv", "https://a.example/\n")))).message, /CSV header/)
      const binary = yield* withFile("b.csv", Buffer.from([0, 159, 146, 150, 0, 1]))
      assert.strictEqual((yield* Effect.flip(TargetsFile.read(binary)))._tag, "InputError")
    }))

  it("parses intervals", () => {
    assert.strictEqual(TargetsFile.parseInterval("5m"), 300_000)
    assert.strictEqual(TargetsFile.parseInterval("1.5h"), 5_400_000)
    assert.strictEqual(TargetsFile.parseInterval("60000"), 60_000)
    assert.isString(TargetsFile.parseInterval("-5m"))
    assert.isString(TargetsFile.parseInterval("1s"))
  })

  it("reads a row's alert channels: separated by spaces or a list, repeats dropped, 'none' for none; a bad one named redacted", () => {
    const ntfy = "ntfy+https://ntfy.sh/kettle?token=tk_SECRET"
    assert.deepStrictEqual(TargetsFile.alertingFrom({ notify: ` ${ntfy}  file:alerts.jsonl ${ntfy}` }), { notify: [ntfy, "file:alerts.jsonl"] })
    assert.deepStrictEqual(TargetsFile.alertingFrom({ notify: [ntfy, "file:my alerts.jsonl"] }), { notify: [ntfy, "file:my alerts.jsonl"] })
    assert.deepStrictEqual(TargetsFile.alertingFrom({ notify: "None" }), { notify: [] })
    assert.deepStrictEqual(TargetsFile.alertingFrom({ notify: "" }), {})
    assert.strictEqual(TargetsFile.alertingFrom({ notify: [ntfy, 42] }), "notify: expected channel URLs as text (separated by spaces) or a list of texts")
    assert.strictEqual(TargetsFile.alertingFrom({ notify: "telegram://1:SECRET@" }), "notify telegram://…@: no chat id: expected telegram://TOKEN@CHAT_ID")
    assert.strictEqual(TargetsFile.alertingFrom({ notify: ["https://hooks.example/SECRET\nx"] }), "notify https://hooks.example/…: a channel URL holds no line break")
  })
})
