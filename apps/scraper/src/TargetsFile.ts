/**
 * Reading target lists: CSV with the header `url,interval,selector,regex`
 * and, for alerting, `alert,confirm,cooldown,group,notify` (only `url` is
 * required; quoted fields as in RFC 4180; `alert` holds rules separated by
 * `;`, `notify` the target's own alert channels separated by spaces) or JSON
 * Lines (`{"url": …, "interval": "10m", "selector": …, "regex": …,
 * "alert": "below 100 EUR; drop 10%", "confirm": 2, "cooldown": "6h",
 * "group": "kettle-x", "notify": ["ntfy+https://ntfy.sh/kettle"]}`; `alert`
 * and `notify` may be lists).
 *
 * Every row is checked on its own: valid rows are returned, each broken row is
 * reported with its line number and reason. The file is read line by line, so
 * its size does not bound memory beyond the rows themselves.
 *
 * @since 0.1.0
 */
import { Rules } from "@trawl/extract"
import { AlertRule, Model } from "@trawl/store"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as readline from "node:readline"
import * as Channel from "./Channel.ts"
import { InputError } from "./Errors.ts"

/**
 * A valid row.
 *
 * @since 0.1.0
 */
export interface TargetRow {
  readonly line: number
  readonly url: string
  readonly intervalMillis: number
  readonly selector?: string | undefined
  readonly regex?: string | undefined
  readonly alerting: Alerting
}

/**
 * How a target alerts, as given on a row or on the command line: rules in
 * canonical text, confirm, cooldown, group and its own alert channels
 * (`notify`: channel URLs, checked with `Channel.check`; empty for `none`);
 * each absent when not given.
 *
 * @example
 * ```ts
 * import { TargetsFile } from "@trawl/scraper"
 *
 * const alerting: TargetsFile.Alerting = { alertRules: ["below 100 EUR"], confirm: 2 }
 * ```
 * @since 0.4.0
 */
export interface Alerting {
  readonly alertRules?: ReadonlyArray<string> | undefined
  readonly confirm?: number | undefined
  readonly cooldownMillis?: number | undefined
  readonly group?: string | undefined
  readonly notify?: ReadonlyArray<string> | undefined
}

/**
 * Reads the alerting fields (`alert` rules as text separated by `;` or a
 * list, `confirm`, `cooldown` as a duration, `group`, `notify` channel URLs
 * as text separated by spaces or a list, `none` for none); a string says
 * what is wrong, in one line naming the field (a channel URL redacted).
 *
 * @example
 * ```ts
 * import { TargetsFile } from "@trawl/scraper"
 *
 * TargetsFile.alertingFrom({ alert: "below 100 EUR; drop 10%", cooldown: "6h" })
 * // { alertRules: ["below 100 EUR", "drop 10%"], cooldownMillis: 21600000 }
 * TargetsFile.alertingFrom({ confirm: "0" }) // "confirm '0' is not a whole number from 1 to 100"
 * ```
 * @since 0.4.0
 */
export const alertingFrom = (fields: {
  readonly alert?: unknown
  readonly confirm?: unknown
  readonly cooldown?: unknown
  readonly group?: unknown
  readonly notify?: unknown
}): Alerting | string => {
  const given = (value: unknown) => value !== undefined && value !== null && value !== ""
  const out: { -readonly [K in keyof Alerting]: Alerting[K] } = {}
  if (given(fields.alert)) {
    const texts = Array.isArray(fields.alert) ? fields.alert : [fields.alert]
    if (!texts.every((text) => typeof text === "string")) return "alert: expected rules as text (separated by ;) or a list of texts"
    const parsed = AlertRule.parseList(texts as Array<string>)
    if (Result.isFailure(parsed)) return parsed.failure.message
    if (parsed.success.length > 0) out.alertRules = parsed.success.map(AlertRule.format)
  }
  if (given(fields.confirm)) {
    const confirm = typeof fields.confirm === "number" ? fields.confirm : Number(String(fields.confirm).trim())
    if (!Schema.is(Model.Confirm)(confirm)) return `confirm '${String(fields.confirm)}' is not a whole number from 1 to 100`
    out.confirm = confirm
  }
  if (given(fields.cooldown)) {
    const cooldown = parseDuration(String(fields.cooldown), { minMillis: 0, bareUnit: "s" })
    if (typeof cooldown === "string") return `cooldown ${cooldown}`
    out.cooldownMillis = cooldown
  }
  if (given(fields.group)) {
    const group = typeof fields.group === "string" ? fields.group.trim() : undefined
    if (group === undefined || !Schema.is(Model.GroupName)(group)) {
      return `group '${String(fields.group).slice(0, 120)}' is not a group name (1 to 100 characters, no control characters)`
    }
    out.group = group
  }
  if (given(fields.notify)) {
    const texts = Array.isArray(fields.notify) ? fields.notify : typeof fields.notify === "string" ? fields.notify.split(/\s+/) : undefined
    if (texts === undefined || !texts.every((text) => typeof text === "string")) {
      return "notify: expected channel URLs as text (separated by spaces) or a list of texts"
    }
    const urls = Array.from(new Set((texts as Array<string>).map((text) => text.trim()).filter((text) => text !== "")))
    if (urls.length === 1 && urls[0]!.toLowerCase() === "none") {
      out.notify = []
    } else {
      for (const url of urls) {
        // the store keeps a target's channels one a line
        if (/[\r\n]/.test(url)) return `notify ${Channel.redact(url.split(/[\r\n]/)[0]!)}: a channel URL holds no line break`
        const bad = Channel.check(url)
        if (bad !== undefined) return `notify ${bad.message}`
      }
      out.notify = urls
    }
  }
  return out
}

/**
 * A rejected row.
 *
 * @since 0.1.0
 */
export interface Rejected {
  readonly line: number
  readonly reason: string
}

/**
 * The default interval between two visits of a target.
 *
 * @since 0.1.0
 */
export const defaultIntervalMillis = 5 * 60_000

/** Shortest interval accepted: politeness floor. */
export const minIntervalMillis = 10_000

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * Parses a duration written for people: `90s`, `5m`, `1h`, `1d`, `500ms`, or a
 * bare number in `bareUnit`; anything else, or less than `minMillis`, gives
 * the reason as a string.
 *
 * @example
 * ```ts
 * import { TargetsFile } from "@trawl/scraper"
 * TargetsFile.parseDuration("10m", { minMillis: 1000, bareUnit: "ms" }) // 600000
 * ```
 * @since 0.1.0
 */
export const parseDuration = (
  text: string,
  options: { readonly minMillis: number; readonly bareUnit: "ms" | "s" }
): number | string => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text)
  if (match === null) return `'${text}' is not a duration like 90s, 5m, 1h`
  const millis = Math.round(Number(match[1]) * units[(match[2] ?? options.bareUnit).toLowerCase()]!)
  if (millis < options.minMillis) return `'${text}' is shorter than ${options.minMillis / 1000}s`
  return millis
}

/**
 * Parses a target's interval: `90s`, `5m`, `1h`, `1d`, or milliseconds as a
 * number; at least `minIntervalMillis`.
 *
 * @example
 * ```ts
 * import { TargetsFile } from "@trawl/scraper"
 * TargetsFile.parseInterval("10m") // 600000
 * ```
 * @since 0.1.0
 */
export const parseInterval = (text: string): number | string => {
  const parsed = parseDuration(text, { minMillis: minIntervalMillis, bareUnit: "ms" })
  return typeof parsed === "string" ? `interval ${parsed}` : parsed
}

/**
 * Checks a target URL: absolute http(s) with a host, no credentials.
 *
 * @example
 * ```ts
 * import { TargetsFile } from "@trawl/scraper"
 * TargetsFile.checkUrl("ftp://x") // "only http and https URLs can be watched, got ftp:"
 * ```
 * @since 0.1.0
 */
export const checkUrl = (text: string): string | undefined => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return `'${text}' is not a URL`
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `only http and https URLs can be watched, got ${url.protocol}`
  if (url.hostname === "") return `'${text}' has no host`
  if (url.username !== "" || url.password !== "") return `'${text}' carries credentials; put them nowhere in a target URL`
  return undefined
}

const checkRegex = (text: string | undefined): string | undefined => {
  if (text === undefined) return undefined
  try {
    new RegExp(text)
    return undefined
  } catch (error) {
    return `regex: ${(error as Error).message}`
  }
}

/** Splits one CSV line (RFC 4180 quoting; no newlines inside quotes). */
const splitCsv = (line: string): Array<string> | string => {
  const fields: Array<string> = []
  let field = ""
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quoted) {
      if (c === "\"") {
        if (line[i + 1] === "\"") {
          field += "\""
          i++
        } else {
          quoted = false
        }
      } else {
        field += c
      }
    } else if (c === "\"" && field === "") {
      quoted = true
    } else if (c === ",") {
      fields.push(field)
      field = ""
    } else {
      field += c
    }
  }
  if (quoted) return "unterminated quoted field"
  fields.push(field)
  return fields.map((f) => f.trim())
}

const row = (
  line: number,
  fields: {
    readonly url?: unknown
    readonly interval?: unknown
    readonly selector?: unknown
    readonly regex?: unknown
    readonly alert?: unknown
    readonly confirm?: unknown
    readonly cooldown?: unknown
    readonly group?: unknown
    readonly notify?: unknown
  }
): TargetRow | Rejected => {
  if (typeof fields.url !== "string" || fields.url === "") return { line, reason: "no url" }
  const bad = checkUrl(fields.url)
  if (bad !== undefined) return { line, reason: bad }
  let intervalMillis = defaultIntervalMillis
  if (fields.interval !== undefined && fields.interval !== "" && fields.interval !== null) {
    const parsed = parseInterval(String(fields.interval))
    if (typeof parsed === "string") return { line, reason: parsed }
    intervalMillis = parsed
  }
  const selector = typeof fields.selector === "string" && fields.selector !== "" ? fields.selector : undefined
  const regex = typeof fields.regex === "string" && fields.regex !== "" ? fields.regex : undefined
  const badRegex = checkRegex(regex)
  if (badRegex !== undefined) return { line, reason: badRegex }
  const alerting = alertingFrom(fields)
  if (typeof alerting === "string") return { line, reason: alerting }
  return { line, url: new URL(fields.url).href, intervalMillis, selector, regex, alerting }
}

/**
 * Reads a targets file (CSV or JSONL, told apart by the first non-empty line).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TargetsFile } from "@trawl/scraper"
 * const program = Effect.map(TargetsFile.read("targets.csv"), ({ rejected, rows }) => rows.length)
 * ```
 * @since 0.1.0
 */
export const read = (path: string): Effect.Effect<{ readonly rows: ReadonlyArray<TargetRow>; readonly rejected: ReadonlyArray<Rejected> }, InputError> =>
  Effect.tryPromise({
    try: async () => {
      const rows: Array<TargetRow> = []
      const rejected: Array<Rejected> = []
      const input = fs.createReadStream(path, { encoding: "utf8" })
      const lines = readline.createInterface({ input, crlfDelay: Infinity })
      let format: "csv" | "jsonl" | undefined
      let header: Array<string> = []
      let number = 0
      for await (const raw of lines) {
        number++
        const text = number === 1 ? raw.replace(/^\uFEFF/, "") : raw
        if (text.trim() === "" || text.trimStart().startsWith("#")) continue
        if (format === undefined) {
          format = text.trimStart().startsWith("{") ? "jsonl" : "csv"
          if (format === "csv") {
            const fields = splitCsv(text)
            if (typeof fields === "string" || !fields.map((f) => f.toLowerCase()).includes("url")) {
              throw new InputError({ input: path, reason: `line ${number}: expected a CSV header with a 'url' column (url,interval,selector,regex,alert,confirm,cooldown,group,notify) or JSON lines` })
            }
            header = fields.map((f) => f.toLowerCase())
            continue
          }
        }
        let result: TargetRow | Rejected
        if (format === "jsonl") {
          try {
            const value = JSON.parse(text) as unknown
            result = typeof value === "object" && value !== null && !Array.isArray(value)
              ? row(number, value as Record<string, unknown>)
              : { line: number, reason: "expected a JSON object" }
          } catch (error) {
            result = { line: number, reason: `invalid JSON: ${(error as Error).message}` }
          }
        } else {
          const fields = splitCsv(text)
          if (typeof fields === "string") {
            result = { line: number, reason: fields }
          } else if (fields.length > header.length) {
            result = { line: number, reason: `${fields.length} fields, the header has ${header.length}` }
          } else {
            result = row(number, Object.fromEntries(header.map((name, i) => [name, fields[i]])))
          }
        }
        if ("reason" in result) rejected.push(result)
        else rows.push(result)
      }
      if (format === undefined) throw new InputError({ input: path, reason: "the file has no targets" })
      return { rows, rejected }
    },
    catch: (error) =>
      error instanceof InputError
        ? error
        : new InputError({ input: path, reason: (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message })
  })

/**
 * Builds a target's user rules from its selector, attribute and regex (the
 * flags of `trawl add`, the columns of a targets file, the fields of the
 * API), or none; a bad one is an `InputError` naming it (`--regex`, …).
 *
 * @example
 * ```ts
 * import { Option } from "effect"
 * import { TargetsFile } from "@trawl/scraper"
 * const rules = TargetsFile.rulesFrom(Option.some(".price"), Option.none(), Option.none())
 * ```
 * @since 0.3.0
 */
export const rulesFrom = (
  selector: Option.Option<string>,
  attribute: Option.Option<string>,
  regex: Option.Option<string>
): Effect.Effect<Rules.Rules | undefined, InputError> =>
  Effect.gen(function*() {
    if (Option.isNone(selector) && Option.isNone(regex)) {
      if (Option.isSome(attribute)) return yield* Effect.fail(new InputError({ input: "--attribute", reason: "needs --selector" }))
      return undefined
    }
    if (Option.isSome(regex)) {
      try {
        new RegExp(regex.value)
      } catch (error) {
        return yield* Effect.fail(new InputError({ input: "--regex", reason: (error as Error).message }))
      }
    }
    return new Rules.Rules({
      price: new Rules.Rule({
        ...(Option.isSome(selector) ? { selector: selector.value } : {}),
        ...(Option.isSome(attribute) ? { attribute: attribute.value } : {}),
        ...(Option.isSome(regex) ? { pattern: regex.value } : {})
      })
    })
  })
