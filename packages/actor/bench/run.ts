/**
 * Runs every actor benchmark case in its own Node process (clean heap, GC
 * exposed) and forwards the JSON lines they print.
 *
 *   npm run bench -w @trawl/actor
 *   npm run bench -w @trawl/actor -- keyed tell   (only these cases)
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const cases = ["spawn", "tell", "ask", "keyed"]
const only = process.argv.slice(2)
const file = fileURLToPath(new URL("./cases.ts", import.meta.url))
let failed = false
for (const name of cases) {
  if (only.length > 0 && !only.includes(name)) continue
  const result = spawnSync(process.execPath, ["--expose-gc", "--max-old-space-size=4096", "--conditions=@trawl/source", file, name], {
    stdio: ["ignore", "inherit", "inherit"]
  })
  if (result.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
