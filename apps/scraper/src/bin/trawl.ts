#!/usr/bin/env -S node --max-semi-space-size=16 --heap-growing-percent=50
/**
 * The `trawl` binary: runs the command line and turns any failure into one
 * message line on stderr and a documented exit code (never a stack trace).
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { Command } from "effect/cli"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { trawl } from "../Cli.ts"
import * as Settings from "../Settings.ts"
import * as Errors from "../Errors.ts"

// Logs go to stderr: stdout carries the command's output (JSON, exports, alerts).
const program = Command.run(trawl, { version: "0.1.0" }).pipe(
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provide(Layer.merge(NodeServices.layer, Settings.layerProvider(process.env, process.cwd())))
)

Effect.runPromiseExit(program as Effect.Effect<void, unknown>).then((exit) => {
  if (Exit.isSuccess(exit)) return
  const { exitCode, message } = Errors.describe(exit.cause)
  // usage errors were already shown with the help text by the CLI runner
  if (exitCode !== Errors.ExitCode.usage || !Cause.squash(exit.cause)) process.stderr.write(`trawl: ${message}\n`)
  process.exitCode = exitCode
})
