/**
 * sim-web throughput and footprint: a real sim-web process with 50,000 shops,
 * a keep-alive client in this process fetching distinct product pages.
 * Prints one JSON line per case. Run under `flock /tmp/trawl-bench.lock`.
 */
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Http from "node:http"
import { SimWeb } from "@trawl/harness"

const seconds = Number(process.env.BENCH_SECONDS ?? 5)
const concurrency = 16

const cpuMillis = (pid: number): number => {
  const fields = Fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // utime + stime, USER_HZ 100
}
const peakRssMb = (pid: number): number => {
  const match = /VmHWM:\s+(\d+) kB/.exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  return Math.round(Number(match?.[1] ?? 0) / 1024)
}

const get = (agent: Http.Agent, port: number, url: URL, headers: Record<string, string>) =>
  new Promise<{ status: number; bytes: number; etag: string | undefined }>((resolve, reject) => {
    const req = Http.request({ host: "127.0.0.1", port, path: url.pathname, headers: { host: url.host, ...headers }, agent }, (res) => {
      let bytes = 0
      res.on("data", (chunk: Buffer) => (bytes += chunk.length))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes, etag: res.headers.etag }))
    })
    req.on("error", reject)
    req.setTimeout(10_000, () => req.destroy(new Error("timeout")))
    req.end()
  })

const line = (value: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ bench: "sim-web", ...value })}\n`)

const program = Effect.scoped(Effect.gen(function*() {
  const web = yield* SimWeb.start({ shops: 50_000, seed: 1, hostileFraction: 0, errorScale: 0, latencyScale: 0 })
  const agent = new Http.Agent({ keepAlive: true, maxSockets: concurrency })
  let cursor = 0
  // Distinct pages: walk shops with a stride so neighbours are far apart.
  const nextUrl = () => {
    const n = cursor++
    return new URL(web.productUrl((n * 7919) % web.world.shops, n % web.world.products))
  }
  const measure = (name: string, headers: Record<string, string>, pick: () => URL, baseline?: number) =>
    Effect.promise(async () => {
      const cpuBefore = cpuMillis(web.pid)
      const deadline = performance.now() + seconds * 1000
      let pages = 0
      let bytes = 0
      const started = performance.now()
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (performance.now() < deadline) {
          const response = await get(agent, web.port, pick(), headers)
          if (response.status !== 200 && response.status !== 304) throw new Error(`status ${response.status}`)
          pages++
          bytes += response.bytes
        }
      }))
      const elapsed = (performance.now() - started) / 1000
      const value = Math.round(pages / elapsed)
      line({
        case: name,
        value,
        unit: "pages/s",
        ...(baseline === undefined ? {} : { baseline, ratio: Math.round((value / baseline) * 100) / 100 })
      })
      line({ case: `${name}:server-cpu`, value: Math.round(((cpuMillis(web.pid) - cpuBefore) / pages) * 1000), unit: "ms per 1000 pages" })
      line({ case: `${name}:avg-body`, value: Math.round(bytes / pages / 1024), unit: "KiB" })
      return value
    })
  const identity = yield* measure("distinct-pages-identity", {}, nextUrl)
  yield* measure("distinct-pages-gzip", { "accept-encoding": "gzip" }, nextUrl, identity)
  yield* measure("distinct-pages-br", { "accept-encoding": "br" }, nextUrl, identity)
  // The same 200 pages over and over: served from the rendered-page cache.
  let hot = 0
  const hotUrl = () => new URL(web.productUrl((hot++ % 200) * 13, 0))
  yield* measure("cached-pages-gzip", { "accept-encoding": "gzip" }, hotUrl, identity)
  line({ case: "server-peak-rss", value: peakRssMb(web.pid), unit: "MiB" })
  agent.destroy()
}))

Effect.runPromise(program).catch((error) => {
  process.stderr.write(`bench failed: ${error}\n`)
  process.exitCode = 1
})
