#!/usr/bin/env node
/**
 * `sim-web`: serves the simulated web on 127.0.0.1 until SIGTERM/SIGINT, its
 * parent's death (`--parent-pid`) or the end of standard input
 * (`--exit-on-stdin-close`).
 *
 * stdout carries one JSON line when listening: `{"event":"ready","port":…}`,
 * and `{"event":"stopped",…}` at a clean stop. Logs go to stderr.
 * Exit codes: 0 stopped cleanly, 2 bad command line, 3 cannot listen, 1 other failure.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Result from "effect/Result"
import * as Cli from "../Cli.ts"
import * as SimServer from "../SimServer.ts"

const fail = (message: string, code: number) => {
  process.stderr.write(`sim-web: ${message}\n`)
  process.exitCode = code
}

// A parent that went away takes our stdout pipe with it; that must not crash the shutdown.
process.stdout.on("error", () => undefined)

const parsed = Cli.parse(process.argv.slice(2))
if (Result.isFailure(parsed)) fail(parsed.failure.message, 2)
else if (parsed.success.help) process.stdout.write(`${Cli.usage}\n`)
else run(parsed.success)

function run(cli: Cli.Parsed) {
  const program = Effect.gen(function*() {
    const running = yield* SimServer.serve(cli.options)
    const { world } = running
    process.stdout.write(
      `${
        JSON.stringify({
          event: "ready",
          port: running.port,
          url: `http://127.0.0.1:${running.port}`,
          pid: process.pid,
          shops: world.shops,
          products: world.products,
          seed: world.seed,
          epochMillis: running.epochMillis,
          clockSpeed: running.clockSpeed
        })
      }\n`
    )
    yield* Effect.logInfo(`sim-web: ${world.shops} shops on http://127.0.0.1:${running.port}`)
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provideService(Logger.LogToStderr, true))

  const fiber = Effect.runFork(program)
  let stopping = false
  const timers: Array<NodeJS.Timeout> = []
  const stop = (reason: string) => {
    if (stopping) return
    stopping = true
    for (const timer of timers) clearInterval(timer)
    // A stuck close must not leave the process behind.
    setTimeout(() => process.exit(1), 5_000).unref()
    Effect.runPromise(Fiber.interrupt(fiber)).then(() => {
      process.stdout.write(`${JSON.stringify({ event: "stopped", reason })}\n`, () => process.exit(0))
    })
  }
  fiber.addObserver((exit) => {
    if (stopping || Exit.isSuccess(exit)) return
    stopping = true
    const error = Cause.findErrorOption(exit.cause)
    if (error._tag === "Some") {
      const tagged = error.value
      fail(tagged.message, tagged._tag === "InvalidOptions" ? 2 : 3)
    } else fail(Cause.pretty(exit.cause), 1)
    process.exit()
  })
  process.once("SIGTERM", () => stop("SIGTERM"))
  process.once("SIGINT", () => stop("SIGINT"))
  process.once("SIGHUP", () => stop("SIGHUP"))
  process.once("disconnect", () => stop("parent disconnected"))
  if (cli.parentPid !== undefined) {
    const parentPid = cli.parentPid
    const check = () => {
      try {
        process.kill(parentPid, 0)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EPERM") stop(`parent ${parentPid} is gone`)
      }
      if (process.ppid !== parentPid && process.ppid === 1) stop(`parent ${parentPid} is gone (re-parented)`)
    }
    check()
    timers.push(setInterval(check, 500))
  }
  if (cli.exitOnStdinClose) {
    process.stdin.on("end", () => stop("stdin closed"))
    process.stdin.on("close", () => stop("stdin closed"))
    process.stdin.on("error", () => stop("stdin closed"))
    process.stdin.resume()
  }
}
