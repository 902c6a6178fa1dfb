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
