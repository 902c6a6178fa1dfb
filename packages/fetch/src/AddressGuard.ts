/**
 * The SSRF guard and the DNS override map.
 *
 * The guard classifies the address a host *resolved to* (never the name), so
 * `evil.test → 169.254.169.254` is caught as surely as a literal IP. Refused
 * by default: loopback, private (RFC 1918, unique-local, CGNAT), link-local,
 * cloud metadata, unspecified, multicast, reserved and benchmarking ranges.
 * IPv4-mapped and NAT64 IPv6 addresses are judged by the IPv4 inside.
 *
 * The resolve map works like curl's `--resolve`: `"*.shop.test" → 127.0.0.1`
 * answers every subdomain of `shop.test` (not `shop.test` itself), an exact
 * name wins over a wildcard, and the longest wildcard wins over shorter ones;
 * `"*"` alone matches every host.
 *
 * @since 0.1.0
 */
import * as Net from "node:net"

/**
 * Named address ranges the guard knows.
 *
 * @example
 * ```ts
 * import { AddressGuard } from "@trawl/fetch"
 * const allowed: ReadonlyArray<AddressGuard.Range> = ["loopback"]
 * ```
 * @since 0.1.0
 */
export type Range =
  | "loopback"
  | "private"
  | "link-local"
  | "metadata"
  | "unspecified"
  | "multicast"
  | "reserved"

/**
 * Every range refused by default.
 *
 * @example
 * ```ts
 * import { AddressGuard } from "@trawl/fetch"
 * AddressGuard.allRanges.includes("metadata") // true
 * ```
 * @since 0.1.0
 */
export const allRanges: ReadonlyArray<Range> = [
  "loopback",
  "private",
  "link-local",
  "metadata",
  "unspecified",
  "multicast",
  "reserved"
]

const v4Ranges: ReadonlyArray<readonly [string, number, Range]> = [
  ["169.254.169.254", 32, "metadata"],
  ["100.100.100.200", 32, "metadata"], // Alibaba Cloud
  ["0.0.0.0", 8, "unspecified"],
  ["127.0.0.0", 8, "loopback"],
  ["10.0.0.0", 8, "private"],
  ["172.16.0.0", 12, "private"],
  ["192.168.0.0", 16, "private"],
  ["100.64.0.0", 10, "private"],
  ["169.254.0.0", 16, "link-local"],
  ["192.0.0.0", 24, "reserved"],
  ["192.0.2.0", 24, "reserved"],
  ["198.18.0.0", 15, "reserved"],
  ["198.51.100.0", 24, "reserved"],
  ["203.0.113.0", 24, "reserved"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved"]
]

const v6Ranges: ReadonlyArray<readonly [string, number, Range]> = [
  ["fd00:ec2::254", 128, "metadata"], // AWS IMDS over IPv6
  ["::", 128, "unspecified"],
  ["::1", 128, "loopback"],
  ["fc00::", 7, "private"],
  ["fe80::", 10, "link-local"],
  ["ff00::", 8, "multicast"],
  ["2001:db8::", 32, "reserved"],
  ["100::", 64, "reserved"]
]

const lists = new Map<Range, Net.BlockList>()
const listFor = (range: Range): Net.BlockList => {
  let list = lists.get(range)
  if (list === undefined) {
    list = new Net.BlockList()
    lists.set(range, list)
  }
  return list
}
for (const [network, prefix, range] of v4Ranges) listFor(range).addSubnet(network, prefix, "ipv4")
for (const [network, prefix, range] of v6Ranges) listFor(range).addSubnet(network, prefix, "ipv6")

// Order matters: "metadata" is checked before the wider ranges that contain it.
const checkOrder: ReadonlyArray<Range> = ["metadata", ...allRanges.filter((range) => range !== "metadata")]

/**
 * The range an IP address belongs to, or `undefined` for a public address.
 *
 * @example
 * ```ts
 * import { AddressGuard } from "@trawl/fetch"
 * AddressGuard.classify("169.254.169.254") // "metadata"
 * AddressGuard.classify("::ffff:127.0.0.1") // "loopback"
 * AddressGuard.classify("93.184.216.34") // undefined
 * ```
 * @since 0.1.0
 */
export const classify = (address: string): Range | undefined => {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address
  const family = Net.isIP(bare)
  if (family === 0) return "reserved"
  if (family === 6) {
    const embedded = embeddedV4(bare)
    if (embedded !== undefined) return classify(embedded)
  }
  const type = family === 4 ? "ipv4" : "ipv6"
  for (const range of checkOrder) {
    if (lists.get(range)?.check(bare, type) === true) return range
  }
  return undefined
}

// ::ffff:a.b.c.d, ::ffff:XXXX:XXXX (mapped), 64:ff9b::/96 (NAT64) carry an IPv4 address.
const embeddedV4 = (address: string): string | undefined => {
  const lower = address.toLowerCase()
  const groups = expandV6(lower)
  if (groups === undefined) return undefined
  const mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff
  const nat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((group) => group === 0)
  const compatible = groups.slice(0, 6).every((group) => group === 0) && (groups[6]! !== 0 || groups[7]! > 1)
  if (!mapped && !nat64 && !compatible) return undefined
  const high = groups[6]!
  const low = groups[7]!
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
}

const expandV6 = (address: string): ReadonlyArray<number> | undefined => {
  let text = address
  const zone = text.indexOf("%")
  if (zone !== -1) text = text.slice(0, zone)
  const lastColon = text.lastIndexOf(":")
  const tail = text.slice(lastColon + 1)
  if (tail.includes(".")) {
    const octets = tail.split(".").map(Number)
    if (octets.length !== 4 || octets.some((octet) => !(octet >= 0 && octet <= 255))) return undefined
    text = `${text.slice(0, lastColon + 1)}${((octets[0]! << 8) | octets[1]!).toString(16)}:${
      ((octets[2]! << 8) | octets[3]!).toString(16)
    }`
  }
  const halves = text.split("::")
  if (halves.length > 2) return undefined
  const parse = (part: string) => part === "" ? [] : part.split(":").map((group) => parseInt(group, 16))
  const head = parse(halves[0]!)
  const rest = halves.length === 2 ? parse(halves[1]!) : []
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0
  const groups = [...head, ...Array<number>(Math.max(0, fill)).fill(0), ...rest]
  return groups.length === 8 && groups.every((group) => Number.isInteger(group) && group >= 0 && group <= 0xffff)
    ? groups
    : undefined
}

/**
 * The verdict on one resolved address: allowed, or the range that refused it.
 *
 * @example
 * ```ts
 * import { AddressGuard } from "@trawl/fetch"
 * AddressGuard.check("127.0.0.1", ["loopback"]) // undefined (allowed)
 * AddressGuard.check("10.0.0.1", ["loopback"]) // "private"
 * ```
 * @since 0.1.0
 */
export const check = (address: string, allowed: ReadonlyArray<Range>): Range | undefined => {
  const range = classify(address)
  return range === undefined || allowed.includes(range) ? undefined : range
}

/**
 * A compiled resolve map: host name → IP address, with `*.suffix` wildcards.
 *
 * @example
 * ```ts
 * import { AddressGuard } from "@trawl/fetch"
 * const map: AddressGuard.ResolveMap = AddressGuard.resolveMap({ "*.test": "127.0.0.1" })
 * map.size // 1
 * ```
 * @since 0.1.0
 */
export interface ResolveMap {
  readonly lookup: (host: string) => string | undefined
  readonly size: number
}

/**
 * Compiles a resolve map. Keys are host names (`a.test`), wildcards
 * (`*.shop.test`) or `*`; values are IP addresses. A value that is not an IP
 * address throws: the map is configuration, checked once at startup.
 *
 * @example
 * ```ts
 * import { AddressGuard } from "@trawl/fetch"
 * const map = AddressGuard.resolveMap({ "*.shop.test": "127.0.0.1", "api.shop.test": "127.0.0.2" })
 * map.lookup("a.b.shop.test") // "127.0.0.1"
 * map.lookup("api.shop.test") // "127.0.0.2"
 * map.lookup("shop.test") // undefined
 * ```
 * @since 0.1.0
 */
export const resolveMap = (entries: Readonly<Record<string, string>>): ResolveMap => {
  const exact = new Map<string, string>()
  const wildcards: Array<readonly [string, string]> = []
  let catchAll: string | undefined
  for (const [pattern, address] of Object.entries(entries)) {
    if (Net.isIP(address) === 0) throw new Error(`resolve map: "${address}" (for "${pattern}") is not an IP address`)
    const key = pattern.trim().toLowerCase().replace(/\.$/, "")
    if (key === "*") catchAll = address
    else if (key.startsWith("*.")) wildcards.push([key.slice(1), address])
    else exact.set(key, address)
  }
  wildcards.sort((a, b) => b[0].length - a[0].length)
  return {
    size: exact.size + wildcards.length + (catchAll === undefined ? 0 : 1),
    lookup: (host) => {
      const name = host.toLowerCase().replace(/\.$/, "")
      const hit = exact.get(name)
      if (hit !== undefined) return hit
      for (const [suffix, address] of wildcards) {
        if (name.endsWith(suffix) && name.length > suffix.length) return address
      }
      return catchAll
    }
  }
}
