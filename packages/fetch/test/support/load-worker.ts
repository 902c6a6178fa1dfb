/**
 * Runs in a worker thread (`Decode.test.ts`): records every module URL this
 * thread resolves, imports the module named in `workerData.specifier`, decodes
 * one gzip page with `Decode` when that module has it, and posts both back.
 */
import * as Module from "node:module"
import { parentPort, workerData } from "node:worker_threads"
import * as Zlib from "node:zlib"

const loaded: Array<string> = []
Module.registerHooks({
  resolve: (specifier, context, nextResolve) => {
    const resolved = nextResolve(specifier, context)
    loaded.push(resolved.url)
    return resolved
  }
})

const { specifier } = workerData as { readonly specifier: string }
const imported = await import(specifier)
const Decode = imported.Decode ?? imported
const decoded = Decode.decode({
  url: "http://w.test/",
  body: Zlib.gzipSync("<meta charset=windows-1251><p>\xf6\xe5\xed\xe0</p>"),
  contentEncoding: "gzip",
  contentType: "text/html",
  maxDecompressedBytes: 1 << 20
})
parentPort!.postMessage({ loaded, charset: decoded.charset, bytes: decoded.body.byteLength })
