/**
 * A fault-injecting extraction handler for chaos runs: the real extraction
 * (`Extractor.extractPage`, trawl's own handler's: decode, extract), except that on the
 * pages named in `TRAWL_CHAOS_KILL_URLS` (comma-separated) the worker thread
 * ends itself with `process.exit(1)` — in a worker thread that ends the
 * thread, not the process. Each page kills once per run (a marker file next
 * to the log, created exclusively, so two threads agree), and none once the
 * file `<log>.disarmed` exists, so a later pass over the same pages shows
 * whether the pool recovered. Every task it starts is logged as one line
 * `<threadId> <start|kill> <url>` to `TRAWL_CHAOS_LOG` (and `<threadId> ready -`
 * when a thread loads the module), so the run can tell which pages a dead
 * thread had started and that fresh threads took over.
 *
 * Worker threads get a copy of the parent's environment when they start, so
 * the variables must be set before the pool is built.
 *
 * @since 0.1.0
 */
import { Extractor } from "@trawl/scraper"
import { WorkerHandler } from "@trawl/worker"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { threadId } from "node:worker_threads"

const killUrls = new Set((process.env.TRAWL_CHAOS_KILL_URLS ?? "").split(",").filter((url) => url !== ""))
const log = process.env.TRAWL_CHAOS_LOG

const note = (event: "ready" | "start" | "kill", url: string) => {
  // synchronous on purpose: the line must be on disk before the thread dies
  if (log !== undefined) fs.appendFileSync(log, `${threadId} ${event} ${url}\n`)
}

note("ready", "-")

/** True for the first thread to claim this page's kill (an exclusive create of a marker file). */
const firstTime = (url: string): boolean => {
  try {
    fs.closeSync(fs.openSync(`${log}.kill-${createHash("sha1").update(url).digest("hex")}`, "wx"))
    return true
  } catch {
    return false
  }
}

const handler: WorkerHandler.WorkerHandler<typeof Extractor.Protocol> = WorkerHandler.make(Extractor.Protocol, {
  ExtractPage: (request) => {
    if (killUrls.has(request.url) && log !== undefined && !fs.existsSync(`${log}.disarmed`) && firstTime(request.url)) {
      note("kill", request.url)
      process.exit(1)
    }
    note("start", request.url)
    // trawl's own: pages come compressed, as received, and are decoded before extraction
    return Extractor.extractPage(request)
  }
})

export default handler
