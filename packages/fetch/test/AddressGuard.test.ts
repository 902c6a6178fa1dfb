import { describe, expect, it } from "@effect/vitest"
import { AddressGuard } from "@trawl/fetch"

describe("AddressGuard.classify", () => {
  it("names the refused ranges", () => {
    const cases: Array<readonly [string, AddressGuard.Range | undefined]> = [
      ["127.0.0.1", "loopback"],
      ["127.255.1.2", "loopback"],
      ["::1", "loopback"],
      ["[::1]", "loopback"],
      ["10.0.0.1", "private"],
      ["172.16.5.4", "private"],
      ["172.32.0.1", undefined],
      ["192.168.1.1", "private"],
      ["100.64.0.1", "private"],
      ["fd12:3456::1", "private"],
      ["169.254.169.254", "metadata"],
      ["fd00:ec2::254", "metadata"],
      ["169.254.1.1", "link-local"],
      ["fe80::1", "link-local"],
      ["0.0.0.0", "unspecified"],
      ["::", "unspecified"],
      ["224.0.0.1", "multicast"],
      ["ff02::1", "multicast"],
      ["240.0.0.1", "reserved"],
      ["255.255.255.255", "reserved"],
      ["93.184.216.34", undefined],
      ["2606:4700::1111", undefined],
      ["8.8.8.8", undefined]
    ]
    for (const [address, range] of cases) expect(AddressGuard.classify(address), address).toBe(range)
  })

  it("sees through IPv4-mapped, IPv4-compatible and NAT64 IPv6 forms", () => {
    expect(AddressGuard.classify("::ffff:127.0.0.1")).toBe("loopback")
    expect(AddressGuard.classify("::ffff:7f00:1")).toBe("loopback")
    expect(AddressGuard.classify("::ffff:169.254.169.254")).toBe("metadata")
    expect(AddressGuard.classify("64:ff9b::10.0.0.1")).toBe("private")
    expect(AddressGuard.classify("::ffff:8.8.8.8")).toBe(undefined)
  })

  it("treats a non-address as reserved (fail closed)", () => {
    expect(AddressGuard.classify("not-an-ip")).toBe("reserved")
  })

  it("check lets allowed ranges through", () => {
    expect(AddressGuard.check("127.0.0.1", ["loopback"])).toBeUndefined()
    expect(AddressGuard.check("169.254.169.254", ["loopback", "link-local"])).toBe("metadata")
    expect(AddressGuard.check("8.8.8.8", [])).toBeUndefined()
  })
})

describe("AddressGuard.resolveMap", () => {
  it("exact beats wildcard, longest wildcard wins, * catches all, the apex is not a subdomain", () => {
    const map = AddressGuard.resolveMap({
      "*.shop.test": "127.0.0.1",
      "*.eu.shop.test": "127.0.0.2",
      "api.shop.test": "127.0.0.3",
      "Exact.Test.": "127.0.0.4"
    })
    expect(map.lookup("a.shop.test")).toBe("127.0.0.1")
    expect(map.lookup("x.y.shop.test")).toBe("127.0.0.1")
    expect(map.lookup("b.eu.shop.test")).toBe("127.0.0.2")
    expect(map.lookup("API.shop.test")).toBe("127.0.0.3")
    expect(map.lookup("exact.test")).toBe("127.0.0.4")
    expect(map.lookup("shop.test")).toBeUndefined()
    expect(map.lookup("evilshop.test")).toBeUndefined()
    expect(AddressGuard.resolveMap({ "*": "::1" }).lookup("anything.example")).toBe("::1")
  })

  it("rejects a value that is not an IP address", () => {
    expect(() => AddressGuard.resolveMap({ "*.test": "localhost" })).toThrow(/not an IP address/)
  })
})
