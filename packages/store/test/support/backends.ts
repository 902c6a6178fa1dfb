/**
 * The backends the shared suite runs on: SQLite with its connection in a
 * worker (the default) or on the main thread, and Postgres. Each `fresh` database is new
 * and empty (a temp SQLite file, or a Postgres schema of its own) and is
 * removed when the scope closes; `layer` opens it (again) as a Store,
 * `client` as a bare SQL connection (no migrations run).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as SqliteClient from "../../src/SqliteClient.ts"
import * as SqliteWorkerClient from "../../src/SqliteWorkerClient.ts"
import * as Store from "../../src/Store.ts"
import type * as StoreError from "../../src/StoreError.ts"

export interface Database {
  readonly name: string
  readonly layer: (
    options?: Store.StoreOptions
  ) => Layer.Layer<Store.Store | SqlClient.SqlClient, StoreError.SchemaTooNew | StoreError.DatabaseError>
  readonly client: Layer.Layer<SqlClient.SqlClient>
}

export interface Backend {
  readonly name: string
  readonly fresh: Effect.Effect<Database, never, Scope.Scope>
}

let counter = 0

/** SQLite in a temp file, its connection in a worker (`SqliteWorkerClient`) or on the main thread (`SqliteClient`). */
export const sqlite = (thread: "worker" | "main"): Backend => ({
  name: `sqlite (${thread} thread)`,
  fresh: Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trawl-store-"))
      const filename = path.join(dir, "trawl.db")
      return {
        dir,
        database: {
          name: filename,
          layer: (options: Store.StoreOptions = {}) => Store.layerSqlite({ ...options, filename, thread }),
          client: Layer.orDie(thread === "main" ? SqliteClient.layer({ filename }) : SqliteWorkerClient.layer({ filename }))
        }
      }
    }),
    ({ dir }) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.map(({ database }) => database))
})

export const postgres = (url: string): Backend => ({
  name: "postgres",
  fresh: Effect.acquireRelease(
    Effect.sync(() => {
      const schema = `trawl_t${process.pid}_${Date.now().toString(36)}_${counter++}`
      return {
        schema,
        database: {
          name: schema,
          layer: (options: Store.StoreOptions = {}) => Store.layerPostgres({ ...options, url, schema, maxConnections: 4 }),
          client: Layer.effect(
            SqlClient.SqlClient,
            Effect.gen(function*() {
              // the search path may name the schema before it exists: it is resolved per statement
              const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1, startupParameters: { search_path: schema } })
              yield* sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`
              return sql
            })
          ).pipe(Layer.provide(Reactivity.layer), Layer.orDie)
        }
      }
    }),
    ({ schema }) =>
      Effect.scoped(Effect.gen(function*() {
        const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 })
        yield* sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`
      })).pipe(Effect.provide(Reactivity.layer), Effect.orDie)
  ).pipe(Effect.map(({ database }) => database))
})

let cached: { readonly url: string } | { readonly reason: string } | undefined

/** The Postgres server for the tests (scripts/postgres.sh), or why there is none. */
export const postgresServer = (): { readonly url: string } | { readonly reason: string } => {
  if (cached !== undefined) return cached
  const script = fileURLToPath(new URL("../../scripts/postgres.sh", import.meta.url))
  const result = spawnSync("bash", [script], { encoding: "utf8", timeout: 240_000 })
  const url = result.stdout.trim().split("\n").pop() ?? ""
  cached = result.status === 0 && url.startsWith("postgres://")
    ? { url }
    : { reason: (result.stderr || result.error?.message || `exit ${result.status}`).trim() }
  return cached
}
