/**
 * How trawl is built: `trawl run` (and `trawl demo`) is one supervision tree
 * of `@trawl/actor` actors. This module is the one place where the tree's
 * shape and its restart policies are chosen; `Pipeline`, `Outbox` and
 * `Monitor` build their parts of it from these policies.
 *
 * ```
 * trawl (root: oneForOne, intensity 0 — a subtree that gives up stops the run)
 *  ├── store ─────── store-writer        batched: one transaction per batch; rides out
 *  │   (oneForOne, 5 in 1 min)          store outages with capped backoff (outage budget)
 *  ├── pipeline ──── extraction          concurrent: 16 pages at once (the worker pool
 *  │   (oneForOne,                       keeps its own crash handling)
 *  │    10 in 1 min) fetch               concurrent: --concurrency requests at once
 *  │                 hosts ── host × N   keyed: created on demand, passivated when idle;
 *  │                                     holds its host's due targets until the fetcher's
 *  │                                     gate allows a start (limit, spacing, Crawl-delay,
 *  │                                     throttle, Retry-After, circuit): no fetch slot waits
 *  │                 scheduler           due-time heap → host actors; reports schedule lag
 *  ├── outbox ────── notifier × M        one per channel (stdout, file, webhook): own
 *  │   (oneForOne, 10 in 1 min)          mailbox, retries and backoff; delivery per alert × notifier
 *  └── services ──── refresher           targets added, removed or disabled meanwhile
 *      (oneForOne,   progress            the status line
 *       10 in 1 min) dashboard           (when --dashboard)
 * ```
 *
 * Children start top to bottom (a stage starts after the stage it feeds), so
 * a graceful stop goes bottom up: the scheduler stops dispatching, the host
 * actors stop handing out starts, the fetch stage finishes what it holds,
 * then extraction, then the writer.
 *
 * The host actors are a `Keyed` registry of the pipeline, not children of a
 * supervisor: there may be 100,000 of them, created on demand and passivated
 * when idle. A host actor that fails is removed (logged with its cause) and
 * the next target for its host creates a fresh one, so one bad host never
 * takes the others down; its behaviour (`Hosts`) gives a start back whenever
 * it cannot hand it on.
 *
 * Why these policies:
 * - **root, intensity 0**: every subtree already retries on its own; one that
 *   gives up has seen the same failure again and again, and restarting the
 *   whole run would repeat it. The run stops cleanly instead (`Monitor`):
 *   drain what can be drained, flush the outbox, record the run "aborted",
 *   print one line naming the cause, exit with the documented code.
 * - **oneForOne everywhere**: the stages share no state that a restart of one
 *   would leave inconsistent. Mailboxes survive restarts, and a stage's
 *   in-progress messages are handed to its next incarnation
 *   (`Behavior.concurrent`), so a restart loses nothing. The schedule
 *   (due times, in-flight targets) belongs to the pipeline, not to the
 *   scheduler actor, so a restarted scheduler goes on where it was.
 * - **store, 5 in 1 min**: store errors that retrying can fix are retried
 *   inside the writer (outage budget); what reaches the supervisor is a
 *   defect, and five in a minute means the writer cannot make progress.
 * - **pipeline and outbox, 10 in 1 min**: a defect on one page or one alert
 *   restarts a stage in milliseconds; ten a minute is a loop.
 * - **backoff**: exponential from 20 ms, capped at 2 s, jittered: a single
 *   defect costs a stage a few milliseconds, a restart loop does not spin
 *   (and is recognised within about ten seconds), and restarts of many
 *   stages do not align.
 * - **a message that kills its stage twice** (before and after the restart)
 *   is a poison message: it is recorded as a `Defect` error outcome, so one
 *   bad page neither stops the run nor is lost (`Pipeline`).
 *
 * @since 0.1.0
 */
import type { Supervisor } from "@trawl/actor"
import * as Schedule from "effect/Schedule"

const backoff = Schedule.jittered(Schedule.min([Schedule.exponential("20 millis"), Schedule.spaced("2 seconds")]))

/**
 * The restart policy of each supervisor of the tree.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Supervisor } from "@trawl/actor"
 * import { Supervision } from "@trawl/scraper"
 *
 * const program = Effect.scoped(Effect.flatMap(Supervisor.make(Supervision.policies.root), (root) =>
 *   Supervisor.supervisor(root, Supervision.policies.store)))
 * ```
 * @since 0.1.0
 */
export const policies = {
  root: { name: "trawl", strategy: "oneForOne", maxRestarts: 0, within: "1 minute" },
  store: { name: "store", strategy: "oneForOne", maxRestarts: 5, within: "1 minute", backoff },
  pipeline: { name: "pipeline", strategy: "oneForOne", maxRestarts: 10, within: "1 minute", backoff },
  outbox: { name: "outbox", strategy: "oneForOne", maxRestarts: 10, within: "1 minute", backoff },
  services: { name: "services", strategy: "oneForOne", maxRestarts: 10, within: "1 minute", backoff }
} as const satisfies Record<string, Supervisor.Options>
