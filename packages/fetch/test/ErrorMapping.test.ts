import { describe, expect, it } from "@effect/vitest"
import { FetchError } from "@trawl/fetch"
import { mapTransport } from "../src/internal/body.ts"
import { ForbiddenAddressCause } from "../src/internal/connector.ts"

const coded = (code: string, message = code) => Object.assign(new Error(message), { code })
const wrapped = (cause: unknown) => ({ reason: { cause } })

describe("transport error mapping", () => {
  it("finds the innermost coded cause through wrappers", () => {
    const url = "http://a.test/"
    expect(mapTransport(url, wrapped(coded("UND_ERR_CONNECT_TIMEOUT")), 1234, true)).toEqual(
      new FetchError.Timeout({ url, phase: "connect", millis: 1234 })
    )
    expect(mapTransport(url, wrapped(coded("ECONNREFUSED")), 1, true)._tag).toBe("ConnectFailed")
    expect(mapTransport(url, wrapped(coded("ENOTFOUND")), 1, true)._tag).toBe("ConnectFailed")
    expect(mapTransport(url, wrapped(coded("ECONNRESET")), 1, false)._tag).toBe("ConnectionLost")
    expect(mapTransport(url, wrapped(coded("UND_ERR_SOCKET", "other side closed")), 1, false)._tag).toBe("ConnectionLost")
    expect(mapTransport(url, wrapped(new Error("no code")), 1, false)).toMatchObject({ _tag: "ConnectionLost", code: "UNKNOWN" })
  })

  it("turns a refused address into ForbiddenAddress with host, address and range", () => {
    const error = mapTransport("http://x.test/", wrapped(new ForbiddenAddressCause("x.test", "10.0.0.1", "private")), 1, true)
    expect(error).toEqual(
      new FetchError.ForbiddenAddress({ url: "http://x.test/", host: "x.test", address: "10.0.0.1", range: "private" })
    )
  })

  it("classifies retryable and host failures", () => {
    const url = "http://a.test/"
    expect(FetchError.isRetryable(new FetchError.Timeout({ url, phase: "total", millis: 1 }))).toBe(false)
    expect(FetchError.isRetryable(new FetchError.HttpStatus({ url, status: 429 }))).toBe(true)
    expect(FetchError.isRetryable(new FetchError.HttpStatus({ url, status: 408 }))).toBe(true)
    expect(FetchError.isRetryable(new FetchError.BodyTooLarge({ url, limit: 1 }))).toBe(false)
    expect(FetchError.isRetryable(new FetchError.CircuitOpen({ url, host: "a.test", retryAt: 0 }))).toBe(false)
    expect(FetchError.isHostFailure(new FetchError.HttpStatus({ url, status: 429 }))).toBe(false)
    expect(FetchError.isHostFailure(new FetchError.HttpStatus({ url, status: 502 }))).toBe(true)
    expect(new FetchError.RobotsDisallowed({ url, rule: "/x" }).message).toContain(url)
  })
})
