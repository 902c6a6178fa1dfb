/**
 * The app's user-facing errors and how each maps to one message line and an
 * exit code (see `Cli` for the table).
 *
 * @since 0.1.0
 */
import type { ExtractError } from "@trawl/extract"
import type { FetchError } from "@trawl/fetch"
import type { StoreError } from "@trawl/store"
import * as Cause from "effect/Cause"
import type * as Config from "effect/Config"
import * as Data from "effect/Data"
import { CliError } from "effect/cli"
import type * as Pipeline from "./Pipeline.ts"
import type * as StoreWriter from "./StoreWriter.ts"

/**
 * Bad input from the user: a file, a URL, a flag value, a page.
 *
 * @since 0.1.0
 */
export class InputError extends Data.TaggedError("InputError")<{
  readonly input: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.input}: ${this.reason}`
  }
}

/**
 * Some rows of an input were rejected; the others were used.
 *
 * @since 0.1.0
 */
export class RowsRejected extends Data.TaggedError("RowsRejected")<{
  readonly input: string
  readonly rejected: number
  readonly accepted: number
}> {
  override get message(): string {
    return `${this.input}: ${this.rejected} row(s) rejected, ${this.accepted} imported`
  }
}

/**
 * A flag's value is wrong (`--alert 'below cheap'`): exit 2, like any other
 * usage error, with one line naming the flag.
 *
 * @example
 * ```ts
 * import { Errors } from "@trawl/scraper"
 *
 * new Errors.UsageError({ flag: "--alert", reason: "alert rule \"below cheap\": ..." }).message
 * ```
 *
 * @since 0.4.0
 */
export class UsageError extends Data.TaggedError("UsageError")<{
  readonly flag: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.flag}: ${this.reason}`
  }
}

/**
 * Exit codes, by meaning.
 *
 * @since 0.1.0
 */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  input: 3,
  database: 4,
  rowsRejected: 5,
  aborted: 6
} as const

/**
 * Every typed failure a command can end with.
 *
 * @since 0.1.0
 */
export type Failure =
  | StoreError.StoreError
  | FetchError.FetchError
  | ExtractError.ExtractError
  | InputError
  | UsageError
  | RowsRejected
  | StoreWriter.StoreUnavailable
  | Pipeline.StageFailed
  | Config.ConfigError

/**
 * The exit code of each failure type. Keyed by the failures' own tags and
 * complete by type: a new error type does not compile until it has a code,
 * and no code names a tag that no error has.
 *
 * @since 0.1.0
 */
export const exitCodes: { readonly [Tag in Failure["_tag"]]: number } = {
  ConfigError: ExitCode.usage,
  InputError: ExitCode.input,
  UsageError: ExitCode.usage,
  InvalidUrl: ExitCode.input,
  InvalidAlertRule: ExitCode.input,
  DuplicateTarget: ExitCode.input,
  TargetNotFound: ExitCode.input,
  ExtractError: ExitCode.input,
  Timeout: ExitCode.input,
  ConnectFailed: ExitCode.input,
  ConnectionLost: ExitCode.input,
  HttpStatus: ExitCode.input,
  BodyTooLarge: ExitCode.input,
  TooManyRedirects: ExitCode.input,
  DecompressionBomb: ExitCode.input,
  BadContentEncoding: ExitCode.input,
  RobotsDisallowed: ExitCode.input,
  ForbiddenAddress: ExitCode.input,
  CircuitOpen: ExitCode.input,
  BadCharset: ExitCode.input,
  RowsRejected: ExitCode.rowsRejected,
  DatabaseCorrupt: ExitCode.database,
  DatabaseLocked: ExitCode.database,
  DatabaseUnavailable: ExitCode.database,
  SchemaTooNew: ExitCode.database,
  DiskFull: ExitCode.database,
  StorageFailure: ExitCode.database,
  StoreUnavailable: ExitCode.database,
  StageFailed: ExitCode.aborted
}

/**
 * The exit code of a failure, from its type.
 *
 * @example
 * ```ts
 * import { Errors } from "@trawl/scraper"
 *
 * Errors.exitCodeOf(new Errors.InputError({ input: "x.csv", reason: "no such file" })) // 3
 * ```
 * @since 0.1.0
 */
export const exitCodeOf = (error: Failure): number => exitCodes[error._tag]

const isFailure = (error: unknown): error is Failure =>
  typeof error === "object" && error !== null && Object.hasOwn(exitCodes, String((error as { _tag?: unknown })._tag))

/**
 * The message line and exit code for a failure.
 *
 * @example
 * ```ts
 * import { Cause } from "effect"
 * import { Errors } from "@trawl/scraper"
 *
 * Errors.describe(Cause.fail(new Errors.InputError({ input: "x.csv", reason: "no such file" })))
 * // { message: "x.csv: no such file", exitCode: 3 }
 * ```
 * @since 0.1.0
 */
export const describe = (cause: Cause.Cause<unknown>): { readonly message: string; readonly exitCode: number } => {
  const error = Cause.squash(cause)
  if (CliError.isCliError(error)) {
    return { message: (error as Error).message, exitCode: ExitCode.usage }
  }
  if (isFailure(error)) return { message: error.message || error._tag, exitCode: exitCodeOf(error) }
  if (Cause.hasInterruptsOnly(cause)) return { message: "interrupted", exitCode: 130 }
  return { message: `internal error: ${error instanceof Error ? error.message : String(error)}`, exitCode: ExitCode.internal }
}
