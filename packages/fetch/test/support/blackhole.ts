/**
 * A TCP port on 127.0.0.1 that never completes another handshake: a child
 * process listens with a backlog of 1 and then blocks its event loop, the test
 * fills the accept queue, and from then on the kernel drops every SYN — the
 * way an overloaded or firewalled host looks from outside.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Net from "node:net"

const program = `
const server = require("net").createServer()
server.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
  process.stdout.write(server.address().port + "\\n")
  setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0), 20)
})
`

const connect = (port: number) =>
  Effect.callback<Net.Socket | undefined>((resume) => {
    const socket = Net.connect({ port, host: "127.0.0.1" })
    socket.on("error", () => {})
    const timer = setTimeout(() => resume(Effect.succeed(undefined)), 300)
    socket.once("connect", () => {
      clearTimeout(timer)
      resume(Effect.succeed(socket))
    })
  })

export const start: Effect.Effect<number, never, Scope.Scope> = Effect.gen(function*() {
  const child = yield* Effect.acquireRelease(
    Effect.sync(() => ChildProcess.spawn(process.execPath, ["-e", program], { stdio: ["ignore", "pipe", "inherit"] })),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  )
  const port = yield* Effect.callback<number>((resume) => {
    child.stdout!.once("data", (data) => resume(Effect.succeed(Number(String(data).trim()))))
  })
  yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))
  // Fill the accept queue; stop at the first connect that hangs.
  const sockets: Array<Net.Socket> = []
  yield* Effect.addFinalizer(() => Effect.sync(() => sockets.forEach((socket) => socket.destroy())))
  for (let i = 0; i < 8; i++) {
    const socket = yield* connect(port)
    if (socket === undefined) break
    sockets.push(socket)
  }
  return port
})
