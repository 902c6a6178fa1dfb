/** A raw TCP server on 127.0.0.1 for responses no HTTP library would send. */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"

export interface RawServer {
  readonly port: number
  readonly connections: () => number
}

export const start = (onSocket: (socket: Net.Socket) => void): Effect.Effect<RawServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ server: Net.Server; sockets: Set<Net.Socket>; count: { n: number } }>((resume) => {
      const sockets = new Set<Net.Socket>()
      const count = { n: 0 }
      const server = Net.createServer((socket) => {
        count.n++
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
        onSocket(socket)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets, count })))
    }),
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ server, count }) => ({
    port: (server.address() as Net.AddressInfo).port,
    connections: () => count.n
  })))
