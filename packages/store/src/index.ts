/**
 * @trawl/store — targets, observations, price history and exactly-once
 * alerts on effect/sql: SQLite (default, over node:sqlite) or Postgres.
 *
 * @since 0.1.0
 */

/**
 * @since 0.4.0
 */
export * as AlertRule from "./AlertRule.ts"

/**
 * @since 0.4.0
 */
export * as Rates from "./Rates.ts"

/**
 * @since 0.1.0
 */
export * as SqliteClient from "./SqliteClient.ts"

/**
 * @since 0.1.0
 */
export * as Migrations from "./Migrations.ts"

/**
 * @since 0.1.0
 */
export * as Model from "./Model.ts"

/**
 * @since 0.1.0
 */
export * as Store from "./Store.ts"

/**
 * @since 0.1.0
 */
export * as StoreError from "./StoreError.ts"

/**
 * @since 0.1.0
 */
export * as Writer from "./Writer.ts"

/**
 * @since 0.1.0
 */
export * as SqliteWorkerClient from "./SqliteWorkerClient.ts"
