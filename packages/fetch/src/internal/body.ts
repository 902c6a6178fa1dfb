/**
 * Response bodies: the mapping of transport failures to typed `FetchError`s,
 * and (re-exported from `decompress.ts`, which loads no undici) decompression
 * with an output cap.
 *
 * @internal
 */
import * as FetchError from "../FetchError.ts"
import { ForbiddenAddressCause } from "./connector.ts"

export { decompress } from "./decompress.ts"

/** Walks `cause` links to the innermost error that has a `code`. */
const rootCause = (error: unknown): { readonly code: string; readonly message: string; readonly error: unknown } => {
  let current: unknown = error
  let found: { code: string; message: string; error: unknown } | undefined
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (current instanceof ForbiddenAddressCause) return { code: current.code, message: current.message, error: current }
    if (typeof current === "object") {
      const code = (current as { code?: unknown }).code
      if (typeof code === "string" && found === undefined) {
        found = { code, message: String((current as { message?: unknown }).message ?? code), error: current }
      }
      const next = (current as { cause?: unknown; reason?: unknown }).cause ?? (current as { reason?: unknown }).reason
      if (next === current) break
      current = next
    } else break
  }
  return found ?? { code: "UNKNOWN", message: String((error as { message?: unknown })?.message ?? error), error }
}

const connectCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_HAS_EXPIRED"
])

/**
 * Maps a transport failure (before or during the response) to a `FetchError`.
 * `beforeHeaders` tells a refused connection from a broken one.
 */
export const mapTransport = (
  url: string,
  error: unknown,
  connectTimeoutMillis: number,
  beforeHeaders: boolean
): FetchError.FetchError => {
  const root = rootCause(error)
  if (root.error instanceof ForbiddenAddressCause) {
    return new FetchError.ForbiddenAddress({
      url,
      host: root.error.host,
      address: root.error.address,
      range: root.error.range
    })
  }
  if (root.code === "UND_ERR_CONNECT_TIMEOUT") {
    return new FetchError.Timeout({ url, phase: "connect", millis: connectTimeoutMillis })
  }
  if (connectCodes.has(root.code) || (beforeHeaders && root.code.startsWith("ERR_TLS"))) {
    return new FetchError.ConnectFailed({ url, code: root.code, reason: root.message })
  }
  // undici refuses a malformed request (bad URL, a header with a line break) before sending it.
  if (root.code === "ERR_INVALID_URL" || root.code === "ERR_INVALID_ARG_TYPE" || root.code === "UND_ERR_INVALID_ARG") {
    return new FetchError.InvalidUrl({ url, reason: root.message })
  }
  return new FetchError.ConnectionLost({ url, code: root.code, reason: root.message })
}
