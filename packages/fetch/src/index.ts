/**
 * @trawl/fetch — polite, bounded, retrying HTTP fetching for many hosts, on
 * Effect's `HttpClient` over undici.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as AddressGuard from "./AddressGuard.ts"

/**
 * @since 0.1.0
 */
export * as Charset from "./Charset.ts"

/**
 * @since 0.3.0
 */
export * as Decode from "./Decode.ts"

/**
 * @since 0.1.0
 */
export * as FetchError from "./FetchError.ts"

/**
 * @since 0.1.0
 */
export * as FetchMetrics from "./FetchMetrics.ts"

/**
 * @since 0.1.0
 */
export * as Fetcher from "./Fetcher.ts"

/**
 * @since 0.1.0
 */
export * as Page from "./Page.ts"

/**
 * @since 0.2.0
 */
export * as Reservation from "./Reservation.ts"

/**
 * @since 0.1.0
 */
export * as Robots from "./Robots.ts"

/**
 * @since 0.1.0
 */
export * as Throttle from "./Throttle.ts"
