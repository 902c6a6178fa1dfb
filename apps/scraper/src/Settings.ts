/**
 * Settings of the `trawl` binary, with one precedence for all of them:
 *
 * 1. a command-line flag (`--db ./prices.db`),
 * 2. the environment (`TRAWL_DB=./prices.db`),
 * 3. the config file (`trawl.config.json` in the working directory, or the
 *    file named by `TRAWL_CONFIG`): `{ "db": "./prices.db" }` — keys are the
 *    flag names in camelCase (`perHost`, `allowPrivate`, `alertsFile`),
 * 4. the default.
 *
 * | flag | environment | config key | default |
 * | --- | --- | --- | --- |
 * | `--db PATH` | `TRAWL_DB` | `db` | `./trawl.db` |
 * | `--postgres URL` | `TRAWL_POSTGRES_URL` | `postgresUrl` | none (SQLite) |
 * | `--postgres-schema NAME` | `TRAWL_POSTGRES_SCHEMA` | `postgresSchema` | the server's search path |
 * | `--concurrency N` | `TRAWL_CONCURRENCY` | `concurrency` | 256 |
 * | `--per-host N` | `TRAWL_PER_HOST` | `perHost` | 2 |
 * | `--workers N` | `TRAWL_WORKERS` | `workers` | available cores |
 * | `--resolve GLOB=IP` | `TRAWL_RESOLVE` (comma separated) | `resolve` (array) | none |
 * | `--allow-private` | `TRAWL_ALLOW_PRIVATE` | `allowPrivate` | false |
 * | `--webhook URL` | `TRAWL_WEBHOOK` | `webhook` | none |
 * | `--alerts-file PATH` | `TRAWL_ALERTS_FILE` | `alertsFile` | none |
 * | `--notify URL` (repeatable) | `TRAWL_NOTIFY` (separated by whitespace or commas) | `notify` (array) | none (see `Channel`) |
 * | `--user-agent UA` | `TRAWL_USER_AGENT` | `userAgent` | trawl's, with a contact URL |
 * | `--no-robots` | `TRAWL_ROBOTS=false` | `robots` | true |
 * | `--timeout DURATION` | `TRAWL_TIMEOUT` | `timeout` | 30s (per attempt; headers within half of it) |
 * | `--store-outage-budget DURATION` | `TRAWL_STORE_OUTAGE_BUDGET` | `storeOutageBudget` | 5m (how long `run` retries an unavailable store) |
 * | `--otlp URL` | `TRAWL_OTLP`, then `OTEL_EXPORTER_OTLP_ENDPOINT` | `otlp` | none (no export; see `Telemetry`) |
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CliError, Flag } from "effect/cli"
import * as fs from "node:fs"
import * as os from "node:os"
import * as Channel from "./Channel.ts"
import { InputError } from "./Errors.ts"

const envName = (key: string) => `TRAWL_${key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()}`

/**
 * Reads the config file (if any) into a ConfigProvider of `TRAWL_*` names,
 * layered under the environment.
 *
 * @example
 * ```ts
 * import { Settings } from "@trawl/scraper"
 * const layer = Settings.layerProvider(process.env, process.cwd())
 * ```
 * @since 0.1.0
 */
export const provider = (env: Record<string, string | undefined>, cwd: string): Effect.Effect<ConfigProvider.ConfigProvider, InputError> =>
  Effect.gen(function*() {
    const explicit = env["TRAWL_CONFIG"]
    const file = explicit ?? `${cwd}/trawl.config.json`
    const fromEnv = ConfigProvider.fromEnvRecord(env)
    let text: string
    try {
      text = fs.readFileSync(file, "utf8")
    } catch (error) {
      if (explicit === undefined && (error as NodeJS.ErrnoException).code === "ENOENT") return fromEnv
      return yield* Effect.fail(new InputError({ input: file, reason: (error as Error).message }))
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (error) {
      return yield* Effect.fail(new InputError({ input: file, reason: `not valid JSON: ${(error as Error).message}` }))
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      return yield* Effect.fail(new InputError({ input: file, reason: "expected a JSON object of settings" }))
    }
    const mapped: Record<string, string> = {}
    for (const [key, value] of Object.entries(parsed)) {
      mapped[envName(key)] = Array.isArray(value) ? value.map(String).join(",") : String(value)
    }
    return ConfigProvider.orElse(fromEnv, ConfigProvider.fromEnvRecord(mapped))
  })

/**
 * The provider as a Layer.
 *
 * @since 0.1.0
 */
export const layerProvider = (env: Record<string, string | undefined>, cwd: string): Layer.Layer<never, InputError> =>
  ConfigProvider.layer(provider(env, cwd))

const withSetting = <A>(flag: Flag.Flag<A>, config: Config.Config<A>, description: string): Flag.Flag<A> =>
  flag.pipe(Flag.withFallbackConfig(config), Flag.withDescription(description))

/**
 * A setting with no default. The fallback comes before `optional`: a fallback
 * config is read only for a flag that is missing, and an optional flag never is
 * (`optional` first would never read the environment or the config file).
 */
const optionalSetting = <A>(flag: Flag.Flag<A>, config: Config.Config<A>, description: string) =>
  flag.pipe(Flag.withFallbackConfig(config), Flag.optional, Flag.withDescription(description))

/**
 * `--db PATH`.
 *
 * @since 0.1.0
 */
export const db = withSetting(
  Flag.String("db"),
  Config.String("TRAWL_DB").pipe(Config.withDefault("./trawl.db")),
  "SQLite database file (default ./trawl.db; env TRAWL_DB)"
)

/**
 * `--postgres URL`: use Postgres instead of SQLite.
 *
 * @since 0.1.0
 */
export const postgres = optionalSetting(
  Flag.String("postgres"),
  Config.String("TRAWL_POSTGRES_URL"),
  "Postgres connection URL, instead of SQLite (env TRAWL_POSTGRES_URL)"
)

/**
 * `--postgres-schema NAME`: keep trawl's tables in this schema (created if missing).
 *
 * @since 0.1.0
 */
export const postgresSchema = optionalSetting(
  Flag.String("postgres-schema"),
  Config.String("TRAWL_POSTGRES_SCHEMA"),
  "Postgres schema for trawl's tables, created if missing (env TRAWL_POSTGRES_SCHEMA)"
)

/**
 * `--concurrency N`: requests in flight across all hosts.
 *
 * @since 0.1.0
 */
export const concurrency = withSetting(
  Flag.Int("concurrency"),
  Config.Int("TRAWL_CONCURRENCY").pipe(Config.withDefault(256)),
  "Requests in flight across all hosts (default 256; env TRAWL_CONCURRENCY)"
)

/**
 * `--per-host N`: requests in flight per host.
 *
 * @since 0.1.0
 */
export const perHost = withSetting(
  Flag.Int("per-host"),
  Config.Int("TRAWL_PER_HOST").pipe(Config.withDefault(2)),
  "Requests in flight per host (default 2; env TRAWL_PER_HOST)"
)

/**
 * `--workers N`: extraction worker threads.
 *
 * @since 0.1.0
 */
export const workers = withSetting(
  Flag.Int("workers"),
  Config.Int("TRAWL_WORKERS").pipe(Config.withDefault(os.availableParallelism())),
  "Extraction worker threads (default: available cores; env TRAWL_WORKERS)"
)

/**
 * `--resolve 'GLOB=IP'`, repeatable.
 *
 * @since 0.1.0
 */
export const resolve = withSetting(
  Flag.String("resolve").pipe(Flag.atLeast(0)),
  Config.String("TRAWL_RESOLVE").pipe(
    Config.map((text) => text.split(",").map((part) => part.trim()).filter((part) => part !== "")),
    Config.withDefault([] as ReadonlyArray<string>)
  ),
  "Map host names to an address, like curl --resolve: 'GLOB=IP' (e.g. '*.shop.test=127.0.0.1'); repeatable (env TRAWL_RESOLVE, comma separated)"
)

/**
 * `--allow-private`.
 *
 * @since 0.1.0
 */
export const allowPrivate = withSetting(
  Flag.Boolean("allow-private"),
  Config.Boolean("TRAWL_ALLOW_PRIVATE").pipe(Config.withDefault(false)),
  "Allow targets that resolve to private, loopback or link-local addresses (SSRF guard off; env TRAWL_ALLOW_PRIVATE)"
)

/**
 * `--webhook URL`: POST each alert there.
 *
 * @since 0.1.0
 */
export const webhook = optionalSetting(
  Flag.String("webhook"),
  Config.String("TRAWL_WEBHOOK"),
  "POST each alert as JSON to this URL, with an Idempotency-Key header (env TRAWL_WEBHOOK)"
)

/**
 * `--rates PATH`: exchange rates (JSON or CSV) for comparing a competitor
 * group's offers in one base currency (`Rates.parse`); read offline.
 *
 * @since 0.4.0
 */
export const rates = optionalSetting(
  Flag.String("rates"),
  Config.String("TRAWL_RATES"),
  "Exchange rates file (JSON or CSV, currency → rate against a base, with its date) for comparing groups' offers (env TRAWL_RATES)"
)

/**
 * `--alerts-file PATH`: append each alert as a JSON line.
 *
 * @since 0.1.0
 */
export const alertsFile = optionalSetting(
  Flag.String("alerts-file"),
  Config.String("TRAWL_ALERTS_FILE"),
  "Append each alert as one JSON line to this file (env TRAWL_ALERTS_FILE)"
)

/**
 * `--notify URL`, repeatable: deliver alerts to the channel the URL names
 * (`Channel`: `slack+https://…`, `discord+https://…`, `ntfy+https://host/topic`,
 * `telegram://TOKEN@CHAT_ID`, a webhook, `file:…`). Parsed as the flag is
 * read, so a URL that names no channel is a usage error (exit 2) of one
 * line, the URL redacted.
 *
 * @example
 * ```ts
 * import { Settings } from "@trawl/scraper"
 *
 * // trawl run --notify ntfy+https://ntfy.sh/kettle-prices --notify 'telegram://123456789:AA…@-1001234567'
 * const flag = Settings.notify
 * ```
 * @since 0.4.0
 */
export const notify = Flag.String("notify").pipe(
  // at least one: a repeatable flag that may be absent is never missing, and its fallback never read
  Flag.atLeast(1),
  Flag.withFallbackConfig(Config.String("TRAWL_NOTIFY").pipe(Config.map(Channel.split))),
  Flag.withDefault([] as ReadonlyArray<string>),
  Flag.mapEffect((urls) =>
    Effect.forEach(urls, Channel.parse).pipe(
      Effect.mapError((error) => new CliError.ValidationError({ message: `--notify ${error.message}` }))
    )
  ),
  Flag.withDescription(
    "Deliver each alert to this channel too; repeatable: slack+https://…, discord+https://…, ntfy+https://host/topic, telegram://TOKEN@CHAT_ID, https://… (webhook), file:alerts.jsonl (env TRAWL_NOTIFY, separated by spaces or commas)"
  )
)

/**
 * `--user-agent UA`.
 *
 * @since 0.1.0
 */
export const userAgent = optionalSetting(
  Flag.String("user-agent"),
  Config.String("TRAWL_USER_AGENT"),
  "User-Agent sent with every request; its product token selects the robots.txt group (env TRAWL_USER_AGENT)"
)

/**
 * `--no-robots`: do not check robots.txt (on by default).
 *
 * @since 0.1.0
 */
export const noRobots = withSetting(
  Flag.Boolean("no-robots"),
  Config.Boolean("TRAWL_ROBOTS").pipe(Config.map((robots) => !robots), Config.withDefault(false)),
  "Do not check robots.txt (env TRAWL_ROBOTS=false)"
)

/**
 * `--timeout DURATION`: the longest one request attempt may take.
 *
 * @since 0.1.0
 */
export const timeout = withSetting(
  Flag.String("timeout"),
  Config.String("TRAWL_TIMEOUT").pipe(Config.withDefault("30s")),
  "Longest time for one request attempt, body included: 10s, 1m (default 30s; env TRAWL_TIMEOUT)"
)

/**
 * `--dashboard-host ADDRESS`: where the dashboard listens (default
 * 127.0.0.1). Any address other than a loopback one needs a token.
 *
 * @since 0.3.0
 */
export const dashboardHost = withSetting(
  Flag.String("dashboard-host"),
  Config.String("TRAWL_DASHBOARD_HOST").pipe(Config.withDefault("127.0.0.1")),
  "Address the dashboard binds: 127.0.0.1 (default); any other needs --dashboard-token (env TRAWL_DASHBOARD_HOST)"
)

/**
 * `--dashboard-token TOKEN`: every dashboard request (page, events, metrics)
 * must carry it as `Authorization: Bearer TOKEN` (a browser opens
 * `/?token=TOKEN` once). Kept redacted.
 *
 * @since 0.3.0
 */
export const dashboardToken = optionalSetting(
  Flag.Redacted("dashboard-token"),
  Config.Redacted("TRAWL_DASHBOARD_TOKEN"),
  "Bearer token the dashboard requires on every request (env TRAWL_DASHBOARD_TOKEN)"
)

/**
 * `--store-outage-budget DURATION`: how long `run` keeps retrying a store that
 * is unavailable (locked by another process, a Postgres restart) before it
 * stops.
 *
 * @since 0.2.0
 */
export const storeOutageBudget = withSetting(
  Flag.String("store-outage-budget"),
  Config.String("TRAWL_STORE_OUTAGE_BUDGET").pipe(Config.withDefault("5m")),
  "How long a run retries an unavailable store (locked, restarting) before it stops: 30s, 5m, 1h (default 5m; env TRAWL_STORE_OUTAGE_BUDGET)"
)

/**
 * `--otlp URL`: export the run's traces and metrics to an OpenTelemetry
 * collector over OTLP/HTTP JSON (`Telemetry`). The URL is the collector's
 * base: `/v1/traces` and `/v1/metrics` are appended. Without the flag,
 * `TRAWL_OTLP`, then the standard `OTEL_EXPORTER_OTLP_ENDPOINT`.
 *
 * @example
 * ```ts
 * import { Settings } from "@trawl/scraper"
 *
 * // trawl run --otlp http://127.0.0.1:4318
 * const flag = Settings.otlp
 * ```
 * @since 0.3.0
 */
export const otlp = optionalSetting(
  Flag.String("otlp"),
  Config.String("TRAWL_OTLP").pipe(Config.orElse(() => Config.String("OTEL_EXPORTER_OTLP_ENDPOINT"))),
  "Export traces (a span per target visit) and metrics over OTLP/HTTP JSON to this collector base URL, e.g. http://127.0.0.1:4318 (env TRAWL_OTLP or OTEL_EXPORTER_OTLP_ENDPOINT)"
)
