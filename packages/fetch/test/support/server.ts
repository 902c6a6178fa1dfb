/**
 * Real HTTP servers on 127.0.0.1 for the tests: started and stopped with the
 * test's scope, counting requests and concurrent requests per Host name.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type * as Net from "node:net"

export interface Seen {
  readonly host: string
  readonly path: string
  readonly headers: Http.IncomingHttpHeaders
}

export interface TestServer {
  readonly port: number
  /** `http://<host>:<port><path>` */
  readonly url: (host: string, path?: string) => string
  readonly seen: Array<Seen>
  /** Highest number of requests in flight at once, per Host name (without port). */
  readonly maxConcurrent: Map<string, number>
  readonly connections: () => number
  /** Highest number of requests in flight at once across all hosts. */
  readonly peakTotal: () => number
  readonly count: (path: string) => number
}

export type Handler = (req: Http.IncomingMessage, res: Http.ServerResponse, server: TestServer) => void

export const start = (handler: Handler): Effect.Effect<TestServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ server: Http.Server; state: TestServer; sockets: Set<Net.Socket> }>((resume) => {
      const sockets = new Set<Net.Socket>()
      const current = new Map<string, number>()
      let totalConnections = 0
      let inFlight = 0
      let peak = 0
      const seen: Array<Seen> = []
      const maxConcurrent = new Map<string, number>()
      const server = Http.createServer()
      server.keepAliveTimeout = 5_000
      const state: TestServer = {
        get port() {
          return (server.address() as Net.AddressInfo).port
        },
        url: (host, path = "/") => `http://${host}:${(server.address() as Net.AddressInfo).port}${path}`,
        seen,
        maxConcurrent,
        connections: () => totalConnections,
        peakTotal: () => peak,
        count: (path) => seen.filter((entry) => entry.path === path).length
      }
      server.on("connection", (socket) => {
        totalConnections++
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      server.on("request", (req, res) => {
        const host = (req.headers.host ?? "").replace(/:\d+$/, "")
        seen.push({ host, path: req.url ?? "", headers: req.headers })
        const now = (current.get(host) ?? 0) + 1
        current.set(host, now)
        maxConcurrent.set(host, Math.max(maxConcurrent.get(host) ?? 0, now))
        inFlight++
        peak = Math.max(peak, inFlight)
        let done = false
        const finish = () => {
          if (done) return
          done = true
          inFlight--
          current.set(host, (current.get(host) ?? 1) - 1)
        }
        res.on("close", finish)
        res.on("finish", finish)
        handler(req, res, state)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, state, sockets })))
    }),
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ state }) => state))
