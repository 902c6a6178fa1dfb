/**
 * Reusable benchmark parts: the page server (spawned as a child process) and
 * the bare-undici ceiling — the fastest a plain undici loop fetches the same
 * pages at the same concurrency, with no trawl in the way. The app bench
 * imports these to compare the whole pipeline against the same ceiling.
 *
 * @since 0.1.0
 */
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { Agent, buildConnector } from "undici"

/**
 * A running page server.
 *
 * @since 0.1.0
 */
export interface BenchServer {
  readonly port: number
  readonly stop: () => Promise<void>
}

/**
 * Spawns `bench/server.ts` in a separate Node process on 127.0.0.1.
 *
 * @example
 * ```ts
 * import { startServer } from "@trawl/fetch/bench/ceiling"
 * const server = await startServer({ delayMillis: 0 })
 * await server.stop()
 * ```
 * @since 0.1.0
 */
export const startServer = (options: { readonly delayMillis?: number; readonly pageBytes?: number } = {}): Promise<BenchServer> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(process.execPath, [Path.join(import.meta.dirname, "server.ts")], {
      env: {
        ...process.env,
        DELAY_MS: String(options.delayMillis ?? 0),
        PAGE_BYTES: String(options.pageBytes ?? 60 * 1024)
      },
      stdio: ["pipe", "pipe", "inherit"]
    })
    const lines = Readline.createInterface({ input: child.stdout })
    const timer = setTimeout(() => {
      child.kill()
      reject(new Error("bench server did not start within 10 s"))
    }, 10_000)
    child.on("error", reject)
    lines.once("line", (line) => {
      clearTimeout(timer)
      const { port } = JSON.parse(line) as { port: number }
      resolve({
        port,
        stop: () =>
          new Promise((done) => {
            child.once("exit", () => done())
            child.stdin.end()
            setTimeout(() => child.kill("SIGKILL"), 5_000).unref()
          })
      })
    })
  })

/**
 * What a load run measured.
 *
 * @since 0.1.0
 */
export interface LoadResult {
  readonly pages: number
  readonly bytes: number
  readonly seconds: number
  readonly pagesPerSecond: number
  /** Client CPU (user + system) seconds per 1,000 pages. */
  readonly cpuSecondsPer1000: number
}

/**
 * The URL of page `i`: host `h<i mod hosts>.<domain>`, path `/p/<i>`.
 *
 * @example
 * ```ts
 * import { pageUrl } from "@trawl/fetch/bench/ceiling"
 * pageUrl(8080, 1000, 1234) // "http://h234.bench.test:8080/p/1234"
 * ```
 * @since 0.1.0
 */
export const pageUrl = (port: number, hosts: number, i: number, domain = "bench.test"): string =>
  `http://h${i % hosts}.${domain}:${port}/p/${i}`

/**
 * Measures `run` (which fetches `pages` pages) for wall time and client CPU.
 *
 * @example
 * ```ts
 * import { measure } from "@trawl/fetch/bench/ceiling"
 * const result = await measure(10, async () => 10 * 1024)
 * ```
 * @since 0.1.0
 */
export const measure = async (pages: number, run: () => Promise<number>): Promise<LoadResult> => {
  const cpu = process.cpuUsage()
  const started = performance.now()
  const bytes = await run()
  const seconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  return {
    pages,
    bytes,
    seconds,
    pagesPerSecond: pages / seconds,
    cpuSecondsPer1000: ((used.user + used.system) / 1e6) * (1000 / pages)
  }
}

/**
 * The ceiling: a bare undici loop (one keep-alive `Agent`, every name dialled
 * at 127.0.0.1) fetching `pages` pages over `hosts` virtual hosts with
 * `concurrency` requests in flight, reading every body in full.
 *
 * @example
 * ```ts
 * import { bareUndiciCeiling, startServer } from "@trawl/fetch/bench/ceiling"
 * const server = await startServer()
 * const ceiling = await bareUndiciCeiling({ port: server.port, hosts: 1000, pages: 20_000, concurrency: 64 })
 * console.log(ceiling.pagesPerSecond)
 * await server.stop()
 * ```
 * @since 0.1.0
 */
export const bareUndiciCeiling = async (options: {
  readonly port: number
  readonly hosts: number
  readonly pages: number
  readonly concurrency: number
  readonly offset?: number
}): Promise<LoadResult> => {
  const dial = buildConnector({ keepAlive: true })
  const agent = new Agent({
    pipelining: 1,
    keepAliveTimeout: 30_000,
    connect: (connectOptions, callback) => dial({ ...connectOptions, hostname: "127.0.0.1" }, callback)
  })
  const offset = options.offset ?? 0
  try {
    return await measure(options.pages, async () => {
      let next = 0
      let bytes = 0
      const worker = async () => {
        while (next < options.pages) {
          const url = new URL(pageUrl(options.port, options.hosts, offset + next++))
          const response = await agent.request({
            origin: url.origin,
            path: url.pathname,
            method: "GET",
            headers: { "user-agent": "bare-undici" }
          })
          const body = new Uint8Array(await response.body.arrayBuffer())
          if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}`)
          bytes += body.byteLength
        }
      }
      await Promise.all(Array.from({ length: options.concurrency }, worker))
      return bytes
    })
  } finally {
    await agent.destroy()
  }
}
