/**
 * The package must work from its built `dist` too (the app runs built code):
 * there the runner module is `internal/runner.js`, not `.ts`. This builds the
 * package with tsc into a scratch directory inside the package (so `effect`
 * and `@trawl/actor` resolve) and runs a pool from it in a child process.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const packageDir = fileURLToPath(new URL("..", import.meta.url))
const outDir = fileURLToPath(new URL("../node_modules/.cache/trawl-dist-test/", import.meta.url))
const tsc = fileURLToPath(new URL("../../../node_modules/.bin/tsc", import.meta.url))

// the generated modules are JavaScript: their relative imports name the built `.js` files
const builtIndex = JSON.stringify("./index.js")
const builtHandler = JSON.stringify("./dist-test-handler.js")

const handler = `
import * as Schema from "effect/Schema"
import { WorkerHandler, WorkerProtocol } from ${builtIndex}
export const Protocol = WorkerProtocol.make({
  Square: { request: Schema.TaggedStruct("Square", { n: Schema.Number }), success: Schema.Number }
})
export default WorkerHandler.make(Protocol, { Square: (request) => request.n * request.n })
`

const main = `
import * as Effect from "effect/Effect"
import { WorkerPool } from ${builtIndex}
import { Protocol } from ${builtHandler}
const program = Effect.scoped(Effect.gen(function*() {
  const pool = yield* WorkerPool.make(Protocol, { handler: new URL("./dist-test-handler.js", import.meta.url), minSize: 1, maxSize: 1 })
  const value = yield* WorkerPool.ask(pool, { _tag: "Square", n: 12 }, { timeout: "10 seconds" })
  return value
}))
Effect.runPromise(program).then((value) => process.stdout.write(JSON.stringify({ value })), (error) => {
  process.stdout.write(JSON.stringify({ error: String(error) }))
  process.exitCode = 1
})
`

describe("built dist", () => {
  it.live("a pool runs from the compiled JavaScript, with the compiled runner", () =>
    Effect.sync(() => {
      rmSync(outDir, { recursive: true, force: true })
      mkdirSync(outDir, { recursive: true })
      execFileSync(tsc, ["-p", "tsconfig.build.json", "--outDir", outDir, "--declaration", "false", "--declarationMap", "false", "--sourceMap", "false"], {
        cwd: packageDir,
        timeout: 60_000
      })
      assert.isTrue(existsSync(`${outDir}internal/runner.js`))
      assert.isFalse(existsSync(`${outDir}internal/runner.ts`))
      writeFileSync(`${outDir}dist-test-handler.js`, handler)
      writeFileSync(`${outDir}dist-test-main.js`, main)
      // the source condition only serves @trawl/actor (not built here); @trawl/worker itself comes from outDir
      const output = execFileSync(process.execPath, ["--conditions=@trawl/source", `${outDir}dist-test-main.js`], {
        cwd: packageDir,
        timeout: 30_000,
        encoding: "utf8"
      })
      assert.deepStrictEqual(JSON.parse(output), { value: 144 })
      rmSync(outDir, { recursive: true, force: true })
    }))
})
