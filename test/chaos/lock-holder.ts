/**
 * Holds the write lock of a SQLite database for a while, as another process
 * would (a backup tool, a second writer): `BEGIN IMMEDIATE` (or `EXCLUSIVE`),
 * hold, `ROLLBACK`, exit. The chaos scenarios of `outage.ts` run it as a
 * child process.
 *
 * ```sh
 * node chaos/lock-holder.ts <db> <holdMillis> [immediate|exclusive]
 * ```
 *
 * Prints `{"event":"locked","at":<epoch ms>}` once it holds the lock and
 * `{"event":"released","at":…}` after the rollback; waits up to 30 s for the
 * lock itself (a trawl transaction may be in progress). Exit 0, or 1 with
 * one line on stderr.
 *
 * @since 0.2.0
 */
import { DatabaseSync } from "node:sqlite"

const [file, holdText, modeText] = process.argv.slice(2)
const holdMillis = Number(holdText)
const mode = modeText === "exclusive" ? "EXCLUSIVE" : "IMMEDIATE"
if (file === undefined || !Number.isFinite(holdMillis) || holdMillis < 0) {
  process.stderr.write("usage: lock-holder.ts <db> <holdMillis> [immediate|exclusive]\n")
  process.exit(2)
}

try {
  const db = new DatabaseSync(file, { timeout: 30_000 })
  db.exec(`BEGIN ${mode}`)
  process.stdout.write(JSON.stringify({ event: "locked", at: Date.now(), mode }) + "\n")
  setTimeout(() => {
    try {
      db.exec("ROLLBACK")
      db.close()
      process.stdout.write(JSON.stringify({ event: "released", at: Date.now() }) + "\n")
      process.exit(0)
    } catch (error) {
      process.stderr.write(`lock-holder: ${(error as Error).message}\n`)
      process.exit(1)
    }
  }, holdMillis)
} catch (error) {
  process.stderr.write(`lock-holder: ${(error as Error).message}\n`)
  process.exit(1)
}
