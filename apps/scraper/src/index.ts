/**
 * @trawl/scraper — the `trawl` application, assembled from the runtime's services.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Scheduler from "./Scheduler.ts"

/**
 * @since 0.1.0
 */
export * as Notifier from "./Notifier.ts"

/**
 * @since 0.1.0
 */
export * as Extractor from "./Extractor.ts"

/**
 * @since 0.1.0
 */
export * as Errors from "./Errors.ts"

/**
 * @since 0.1.0
 */
export * as ProductJson from "./ProductJson.ts"

/**
 * @since 0.1.0
 */
export * as Cli from "./Cli.ts"

/**
 * @since 0.1.0
 */
export * as Pipeline from "./Pipeline.ts"

/**
 * @since 0.1.0
 */
export * as Progress from "./Progress.ts"

/**
 * @since 0.1.0
 */
export * as Settings from "./Settings.ts"

/**
 * @since 0.1.0
 */
export * as TargetsFile from "./TargetsFile.ts"

/**
 * @since 0.1.0
 */
export * as Api from "./Api.ts"
export * as Dashboard from "./Dashboard.ts"

/**
 * @since 0.1.0
 */
export * as AlertText from "./AlertText.ts"

/**
 * @since 0.1.0
 */
export * as Demo from "./Demo.ts"

/**
 * @since 0.1.0
 */
export * as Monitor from "./Monitor.ts"

/**
 * @since 0.1.0
 */
export * as StoreAdapter from "./StoreAdapter.ts"


/**
 * The supervision tree: its shape and restart policies, in one place.
 *
 * @since 0.2.0
 */
export * as Supervision from "./Supervision.ts"

/**
 * Host actors: each host's due targets, handed to the fetch stage when politeness allows.
 *
 * @since 0.2.0
 */
export * as Hosts from "./Hosts.ts"

/**
 * The outbox deliverer: one supervised actor per notifier.
 *
 * @since 0.2.0
 */
export * as Outbox from "./Outbox.ts"

/**
 * Riding out a store outage: how the store writer writes a batch.
 *
 * @since 0.2.0
 */
export * as StoreWriter from "./StoreWriter.ts"

/**
 * OpenTelemetry export of a run's traces (a span per target visit) and
 * metrics over OTLP/HTTP JSON: `--otlp` / `OTEL_EXPORTER_OTLP_ENDPOINT`.
 *
 * @since 0.3.0
 */
export * as Telemetry from "./Telemetry.ts"

/**
 * Alert channels named by a URL (`--notify`): Slack, Discord, ntfy, Telegram,
 * a webhook, a JSONL file.
 *
 * @since 0.4.0
 */
export * as Channel from "./Channel.ts"
