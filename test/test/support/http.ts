/** Real HTTP to the sim-web on 127.0.0.1, addressed by Host header, bodies left encoded. */
import * as Http from "node:http"
import * as Net from "node:net"
import { TextDecoder } from "node:util"
import * as Zlib from "node:zlib"

export interface Response {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  /** The body as sent (still compressed if a content-encoding was applied). */
  readonly body: Buffer
}

/** An agent per test file, so connections are reused like a real client would. */
export const agent = new Http.Agent({ keepAlive: true, maxSockets: 64 })

export const get = (
  port: number,
  host: string,
  path: string,
  headers: Record<string, string> = {},
  options: { readonly method?: string; readonly timeoutMillis?: number; readonly agent?: Http.Agent | false } = {}
): Promise<Response> =>
  new Promise((resolve, reject) => {
    const req = Http.request({
      host: "127.0.0.1",
      port,
      path,
      method: options.method ?? "GET",
      headers: { host: `${host}:${port}`, ...headers },
      agent: options.agent ?? agent,
      timeout: options.timeoutMillis ?? 10_000
    }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on("error", reject)
    })
    req.on("timeout", () => req.destroy(new Error(`timeout: ${host}${path}`)))
    req.on("error", reject)
    req.end()
  })

/** The charset parameter of a Content-Type. */
export const charsetOf = (contentType: string | undefined): string =>
  /charset=([^;\s]+)/i.exec(contentType ?? "")?.[1] ?? "utf-8"

/** Decompress and decode a response body as a browser would. */
export const text = (response: Response): string => {
  const encoding = response.headers["content-encoding"]
  const raw = encoding === "gzip"
    ? Zlib.gunzipSync(response.body)
    : encoding === "br"
    ? Zlib.brotliDecompressSync(response.body)
    : response.body
  return new TextDecoder(charsetOf(response.headers["content-type"])).decode(raw)
}

/** A raw socket request; resolves with what arrived within `millis`, then closes. */
export const rawFor = (port: number, host: string, path: string, millis: number): Promise<{ readonly samples: Array<number>; readonly data: string }> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect(port, "127.0.0.1")
    let data = ""
    const samples: Array<number> = []
    socket.setEncoding("latin1")
    socket.on("data", (chunk: string) => (data += chunk))
    socket.on("error", reject)
    socket.on("connect", () => socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`))
    const sampler = setInterval(() => samples.push(data.length), millis / 4)
    setTimeout(() => {
      clearInterval(sampler)
      socket.destroy()
      resolve({ samples, data })
    }, millis)
  })
