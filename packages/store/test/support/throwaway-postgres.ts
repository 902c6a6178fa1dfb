/**
 * A throwaway PostgreSQL server for tests that must stop and restart one:
 * Debian's binaries (`/usr/lib/postgresql/<version>/bin`), `initdb` into a
 * temp directory, trust auth, a free loopback port, fsync off. Run as the
 * `postgres` user when the tests run as root (the server refuses root).
 *
 * ```ts
 * import { postgresBinaries, startPostgres } from "../../../packages/store/test/support/throwaway-postgres.ts"
 *
 * const why = postgresBinaries()
 * if ("reason" in why) console.log(`skipped: ${why.reason}`)
 * const pg = await startPostgres()   // pg.url: postgres://postgres@127.0.0.1:<port>/postgres
 * await pg.stop()                     // pg_ctl stop -m fast (or pg.stop("immediate"))
 * await pg.start()                    // same data, same port
 * await pg.close()                    // stop and delete the data directory
 * ```
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)

export interface ThrowawayPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string
  readonly port: number
  readonly dataDir: string
  /** `pg_ctl stop`: "fast" (the default) ends sessions with 57P01 admin_shutdown; "immediate" drops them. */
  readonly stop: (mode?: "fast" | "immediate" | "smart") => Promise<void>
  /** Starts the stopped server again, on the same port and data. */
  readonly start: () => Promise<void>
  /** Stops the server (if running) and deletes its directory. */
  readonly close: () => Promise<void>
}

/** The directory of the newest PostgreSQL binaries, or why there is none (or why they cannot be run). */
export const postgresBinaries = (): { readonly bin: string } | { readonly reason: string } => {
  let versions: Array<string>
  try {
    versions = fs.readdirSync("/usr/lib/postgresql")
  } catch {
    return { reason: "no PostgreSQL binaries (/usr/lib/postgresql missing)" }
  }
  const bins = versions
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => `/usr/lib/postgresql/${v}/bin`)
    .filter((dir) => ["initdb", "pg_ctl", "postgres"].every((exe) => fs.existsSync(path.join(dir, exe))))
  if (bins.length === 0) return { reason: "no initdb/pg_ctl/postgres under /usr/lib/postgresql/*/bin" }
  if (process.getuid?.() === 0 && ownerIds() === undefined) {
    return { reason: "running as root and there is no postgres user to run the server as" }
  }
  return { bin: bins[0]! }
}

const ownerIds = (): { readonly uid: number; readonly gid: number } | undefined => {
  try {
    const line = fs.readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"))
    if (line === undefined) return undefined
    const [, , uid, gid] = line.split(":")
    return { uid: Number(uid), gid: Number(gid) }
  } catch {
    return undefined
  }
}

/** A port nobody listens on now (the kernel picks it; it is released at once). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port")))
    })
  })

/** util-linux's runuser lives in sbin, which a minimal PATH may leave out. */
const runuser = ["/usr/sbin/runuser", "/sbin/runuser"].find((file) => fs.existsSync(file)) ?? "runuser"

/** Runs a server binary, as the postgres user when we are root. */
const asOwner = (exe: string, args: ReadonlyArray<string>, timeoutMs: number) =>
  process.getuid?.() === 0
    ? run(runuser, ["-u", "postgres", "--", exe, ...args], { timeout: timeoutMs })
    : run(exe, [...args], { timeout: timeoutMs })

/**
 * Starts a new server on a free loopback port (initdb takes a second or two).
 * Rejects, saying why, when it cannot (see `postgresBinaries`).
 */
export const startPostgres = async (): Promise<ThrowawayPostgres> => {
  const found = postgresBinaries()
  if ("reason" in found) throw new Error(found.reason)
  const { bin } = found
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trawl-pg-"))
  const dataDir = path.join(dir, "data")
  const owner = process.getuid?.() === 0 ? ownerIds() : undefined
  if (owner !== undefined) fs.chownSync(dir, owner.uid, owner.gid)
  const logFile = path.join(dir, "server.log")
  const fail = (what: string, error: unknown): never => {
    const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8").split("\n").slice(-8).join("\n") : ""
    throw new Error(`${what}: ${(error as { stderr?: string }).stderr || String(error)}\n${log}`)
  }
  try {
    await asOwner(path.join(bin, "initdb"), ["-D", dataDir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"], 60_000)
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true })
    fail("initdb failed", error)
  }
  let port = 0
  let running = false
  const pgCtl = (args: ReadonlyArray<string>) => asOwner(path.join(bin, "pg_ctl"), ["-D", dataDir, ...args], 60_000)
  const start = async () => {
    try {
      await pgCtl([
        "-w",
        "-t",
        "30",
        "-l",
        logFile,
        "-o",
        `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
        "start"
      ])
      running = true
    } catch (error) {
      fail(`pg_ctl start on port ${port} failed`, error)
    }
  }
  // the free port may be taken between looking and binding: try a few
  for (let attempt = 0;; attempt++) {
    port = await freePort()
    try {
      await start()
      break
    } catch (error) {
      if (attempt >= 2) {
        fs.rmSync(dir, { recursive: true, force: true })
        throw error
      }
    }
  }
  const stop = async (mode: "fast" | "immediate" | "smart" = "fast") => {
    if (!running) return
    await pgCtl(["-w", "-t", "30", "-m", mode, "stop"])
    running = false
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop,
    start: () => running ? Promise.resolve() : start(),
    close: async () => {
      try {
        await stop("immediate")
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }
  }
}
