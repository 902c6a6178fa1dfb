/**
 * Runs every store benchmark case in its own Node process (clean heap) and
 * forwards the JSON lines they print. Postgres cases use the server that
 * scripts/postgres.sh finds or starts, and are skipped (with the reason on
 * stderr) when there is none.
 *
 *   npm run bench -w @trawl/store            # all cases
 *   npm run bench -w @trawl/store -- write   # only some: write, writer, due, rules, thread, sqlite, postgres
 *
 * `thread` (bench/thread.ts) compares the SQLite connection on the main
 * thread with the one in a worker (SqliteWorkerClient).
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const only = process.argv.slice(2)
const fileOf = (name: string) => fileURLToPath(new URL(name === "thread" ? "./thread.ts" : "./cases.ts", import.meta.url))
const script = fileURLToPath(new URL("../scripts/postgres.sh", import.meta.url))

const server = spawnSync("bash", [script], { encoding: "utf8", timeout: 240_000 })
const url = server.status === 0 ? server.stdout.trim().split("\n").pop() : undefined
if (url === undefined) process.stderr.write(`postgres cases skipped: ${server.stderr.trim()}\n`)

const cases: Array<[string, string]> = [
  ["write", "sqlite"],
  ["writer", "sqlite"],
  ["due", "sqlite"],
  ["thread", "sqlite"],
  ["write", "postgres"],
  ["writer", "postgres"],
  ["due", "postgres"],
  ["rules", "sqlite"],
  ["rules", "postgres"]
]
let failed = false
for (const [name, backend] of cases) {
  if (only.length > 0 && !only.includes(name) && !only.includes(backend)) continue
  if (backend === "postgres" && url === undefined) continue
  const result = spawnSync(
    process.execPath,
    name === "thread"
      ? ["--conditions=@trawl/source", fileOf(name)]
      : ["--expose-gc", "--max-old-space-size=4096", "--conditions=@trawl/source", fileOf(name), name, backend, url ?? ""],
    { stdio: ["ignore", "inherit", "inherit"] }
  )
  if (result.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
