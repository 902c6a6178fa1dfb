/**
 * A small status page for a running monitor: `GET /` is an HTML page that
 * refreshes itself, `GET /status.json` the same figures as JSON. It listens
 * on 127.0.0.1 only; closing its Scope closes the server.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { InputError } from "./Errors.ts"
import * as Progress from "./Progress.ts"

const escape = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)

const page = (snapshot: Progress.Snapshot): string =>
  `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2"><title>trawl</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}</style></head>
<body><h1>trawl</h1><p>${escape(Progress.statusLine(snapshot))}</p><pre>${escape(Progress.summaryTable(snapshot))}</pre></body></html>`

/**
 * Serves the dashboard on `127.0.0.1:port` (0 = any free port) until the
 * Scope closes; returns the port.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Dashboard, type Progress } from "@trawl/scraper"
 * declare const snapshot: Effect.Effect<Progress.Snapshot>
 * const program = Effect.scoped(Effect.flatMap(Dashboard.serve(snapshot, 8080), (port) => Effect.log(`dashboard on ${port}`)))
 * ```
 * @since 0.1.0
 */
export const serve = (snapshot: Effect.Effect<Progress.Snapshot>, port: number): Effect.Effect<number, InputError, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const run = Effect.runPromiseWith(context)
    const server = http.createServer((req, res) => {
      if (req.method !== "GET") return void res.writeHead(405).end()
      run(snapshot).then(
        (s) => {
          if (req.url === "/status.json") {
            res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(s))
          } else if (req.url === "/" || req.url === "/index.html") {
            res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page(s))
          } else {
            res.writeHead(404).end()
          }
        },
        () => void res.writeHead(500).end()
      )
    })
    yield* Effect.acquireRelease(
      Effect.callback<void, InputError>((resume) => {
        server.once("error", (error) =>
          resume(Effect.fail(new InputError({ input: `--dashboard ${port}`, reason: (error as Error).message }))))
        server.listen(port, "127.0.0.1", () => resume(Effect.void))
      }),
      () => Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
    )
    return (server.address() as AddressInfo).port
  })
