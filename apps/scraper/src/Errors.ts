/**
 * The app's user-facing errors and how each maps to one message line and an
 * exit code (see `Cli` for the table).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import { CliError } from "effect/cli"

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
  rowsRejected: 5
} as const

const databaseTags = new Set([
  "DatabaseError",
  "DatabaseLocked",
  "DatabaseCorrupt",
  "SchemaTooNew",
  "DatabaseUnavailable",
  "StoreError",
  "SqlError",
  "DiskFull",
  "StorageFailure"
])

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
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const tag = String((error as { _tag: unknown })._tag)
    const message = (error as { message?: string }).message || tag
    if (tag === "InputError" || tag === "InvalidUrl" || tag === "ExtractError" || tag === "DuplicateTarget" || tag === "TargetNotFound") {
      return { message, exitCode: ExitCode.input }
    }
    if (tag === "RowsRejected") return { message, exitCode: ExitCode.rowsRejected }
    if (databaseTags.has(tag)) return { message, exitCode: ExitCode.database }
    if (tag === "ConfigError") return { message, exitCode: ExitCode.usage }
  }
  if (Cause.hasInterruptsOnly(cause)) return { message: "interrupted", exitCode: 130 }
  return { message: `internal error: ${error instanceof Error ? error.message : String(error)}`, exitCode: ExitCode.internal }
}
