#!/usr/bin/env -S node --max-semi-space-size=16 --heap-growing-percent=50
/**
 * The `trawl` binary: runs the command line and turns any failure into one
 * message line on stderr and a documented exit code (never a stack trace).
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { CliError, Command } from "effect/cli"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { trawl } from "../Cli.ts"
import * as Settings from "../Settings.ts"
import * as Errors from "../Errors.ts"
import * as v8 from "node:v8"

// The young-generation cap on the command line (--max-semi-space-size, see bin/trawl.js) is
// for this thread. V8 reads the flag again for every worker thread's heap and lets it override
// the worker's own `resourceLimits` (the extraction workers asked for 16 MB and got 32): it is
// cleared now that this thread's heap is set up, so each worker is sized as it asks: an extraction
// worker's CPU per page is ~15 % lower with the 16 MB it asks for than with 48 (bench:extract,
// BENCH_YOUNG_MB=16 vs 48: 0.536/0.559 vs 0.665/0.633 cpu-s per 1,000 pages), and in a 50,000-shop
// load run each extraction worker's heap is 55–64 → 44 MB, the SQLite thread's young space 32 → 1 MB.
v8.setFlagsFromString("--max-semi-space-size=0")

// Logs go to stderr: stdout carries the command's output (JSON, exports, alerts).
const program = Command.run(trawl, { version: "0.1.0" }).pipe(
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provide(Layer.merge(NodeServices.layer, Settings.layerProvider(process.env, process.cwd())))
)

Effect.runPromiseExit(program as Effect.Effect<void, unknown>).then((exit) => {
  if (Exit.isSuccess(exit)) return
  const { exitCode, message } = Errors.describe(exit.cause)
  // the CLI runner's own usage errors were already shown with the help text; a bad flag value trawl checks was not
  const shown = CliError.isCliError(Cause.squash(exit.cause))
  if (!shown) process.stderr.write(`trawl: ${message}\n`)
  process.exitCode = exitCode
})
