/**
 * One-line renderings of causes, for log lines and error messages.
 *
 * @internal
 */
import * as Cause from "effect/Cause"

/**
 * The first line of a cause's rendering (`Error: boom`): enough for a log line
 * or an error message; the full cause stays on the error or the log record.
 */
export const summarize = (cause: Cause.Cause<unknown>): string => {
  const pretty = Cause.pretty(cause)
  const newline = pretty.indexOf("\n")
  return newline < 0 ? pretty : pretty.slice(0, newline)
}
