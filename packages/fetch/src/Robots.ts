/**
 * robots.txt per RFC 9309: parse once, then answer "may this user agent fetch
 * this path?" without allocation.
 *
 * - Groups start with one or more `User-agent` lines. The groups whose product
 *   token matches ours (case-insensitive) are merged and used; otherwise the
 *   `*` groups; otherwise everything is allowed.
 * - `Allow` / `Disallow` patterns support `*` (any run of characters) and a
 *   trailing `$` (end of path). The longest matching pattern wins; on a tie
 *   `Allow` wins. An empty `Disallow` allows everything.
 * - `Crawl-delay` (not in the RFC, but widely used) is read from the chosen group.
 * - `/robots.txt` itself is always allowed.
 * - Only the first 500 KiB are parsed (the RFC's minimum).
 *
 * How the fetcher treats fetch outcomes (RFC 9309 §2.3.1): 2xx → these rules;
 * 4xx → allow everything; 5xx, 429, timeouts and network errors → disallow
 * everything for a short while, then try again.
 *
 * @since 0.1.0
 */

/**
 * One `Allow`/`Disallow` line of the chosen group.
 *
 * @example
 * ```ts
 * import { Robots } from "@trawl/fetch"
 * const rules = Robots.parse("User-agent: *\nDisallow: /cart", "trawl")
 * const first: Robots.Rule | undefined = rules.rules[0] // { allow: false, pattern: "/cart", … }
 * ```
 * @since 0.1.0
 */
export interface Rule {
  readonly allow: boolean
  readonly pattern: string
  /**
   * Only for patterns with `*` or a final `$`; a plain pattern is a prefix test. A monitor
   * keeps the rules of every host it watches (50,000 in a price watch): a RegExp per rule
   * (and its compiled code) was most of that memory.
   */
  readonly regex: RegExp | undefined
}

/**
 * The rules that apply to us on one host.
 *
 * @example
 * ```ts
 * import { Robots } from "@trawl/fetch"
 * const rules: Robots.Rules = Robots.parse("User-agent: *\nCrawl-delay: 1", "trawl")
 * rules.crawlDelaySeconds // 1
 * ```
 * @since 0.1.0
 */
export interface Rules {
  readonly rules: ReadonlyArray<Rule>
  /** Seconds between requests asked for by the host, if any. */
  readonly crawlDelaySeconds: number | undefined
  /** Everything allowed (4xx robots.txt), everything disallowed (unreachable), or per rule. */
  readonly mode: "rules" | "allowAll" | "disallowAll"
}

/**
 * The largest robots.txt body parsed, in bytes.
 *
 * @example
 * ```ts
 * import { Robots } from "@trawl/fetch"
 * Robots.maxBytes // 512000
 * ```
 * @since 0.1.0
 */
export const maxBytes = 500 * 1024

/**
 * Rules that allow everything (robots.txt answered 4xx, or robots checks are off).
 *
 * @example
 * ```ts
 * import { Robots } from "@trawl/fetch"
 * Robots.isAllowed(Robots.allowAll, "/anything") // { allowed: true }
 * ```
 * @since 0.1.0
 */
export const allowAll: Rules = { rules: [], crawlDelaySeconds: undefined, mode: "allowAll" }

/**
 * Rules that disallow everything (robots.txt unreachable: 5xx, timeout…).
 *
 * @example
 * ```ts
 * import { Robots } from "@trawl/fetch"
 * Robots.isAllowed(Robots.disallowAll, "/") // { allowed: false, rule: "unreachable" }
 * ```
 * @since 0.1.0
 */
export const disallowAll: Rules = { rules: [], crawlDelaySeconds: undefined, mode: "disallowAll" }

interface Group {
  readonly agents: Array<string>
  readonly rules: Array<Rule>
  crawlDelaySeconds: number | undefined
}

/**
 * Parses robots.txt text and picks the group for `userAgentToken` (the product
 * token, e.g. `trawl`), falling back to `*`.
 *
 * @example
 * ```ts
 * import { Robots } from "@trawl/fetch"
 * const rules = Robots.parse("User-agent: *\nDisallow: /cart\nCrawl-delay: 2", "trawl")
 * Robots.isAllowed(rules, "/cart/1").allowed // false
 * rules.crawlDelaySeconds // 2
 * ```
 * @since 0.1.0
 */
export const parse = (text: string, userAgentToken: string): Rules => {
  const token = userAgentToken.toLowerCase()
  const groups: Array<Group> = []
  let current: Group | undefined
  let lastWasAgent = false
  const body = text.length > maxBytes ? text.slice(0, maxBytes) : text
  for (const rawLine of body.split(/\r\n|\r|\n/)) {
    const hash = rawLine.indexOf("#")
    const line = (hash === -1 ? rawLine : rawLine.slice(0, hash)).trim()
    if (line === "") continue
    const colon = line.indexOf(":")
    if (colon === -1) continue
    const key = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (key === "user-agent" || key === "useragent" || key === "user agent") {
      if (current === undefined || !lastWasAgent) {
        current = { agents: [], rules: [], crawlDelaySeconds: undefined }
        groups.push(current)
      }
      current.agents.push(value.toLowerCase())
      lastWasAgent = true
      continue
    }
    lastWasAgent = false
    if (current === undefined) continue
    if (key === "allow" || key === "disallow") {
      if (value === "") continue
      const pattern = normalizePattern(value)
      current.rules.push({ allow: key === "allow", pattern, regex: compile(pattern) })
    } else if (key === "crawl-delay" || key === "crawldelay") {
      const seconds = Number(value)
      if (Number.isFinite(seconds) && seconds >= 0) current.crawlDelaySeconds = seconds
    }
  }
  const ours = groups.filter((group) => group.agents.some((agent) => agent !== "*" && matchesToken(agent, token)))
  const chosen = ours.length > 0 ? ours : groups.filter((group) => group.agents.includes("*"))
  if (chosen.length === 0) return allowAll
  const rules = chosen.flatMap((group) => group.rules)
  const delays = chosen.flatMap((group) => group.crawlDelaySeconds === undefined ? [] : [group.crawlDelaySeconds])
  return {
    rules,
    crawlDelaySeconds: delays.length === 0 ? undefined : Math.max(...delays),
    mode: "rules"
  }
}

// "trawl" matches "trawl" and "trawl/0.1" (product token, optionally versioned).
const matchesToken = (agent: string, token: string): boolean => {
  const product = agent.split("/")[0]!.trim()
  return product === token
}

// Percent-encode what a path would have encoded, so "/ü" matches "/%C3%BC".
const normalizePattern = (pattern: string): string => {
  let out = ""
  for (const char of pattern) {
    const code = char.codePointAt(0)!
    out += code > 0x7e || code < 0x21 ? encodeURIComponent(char) : char
  }
  return out.replace(/%[0-9a-f]{2}/gi, (escape) => escape.toUpperCase())
}

const compile = (pattern: string): RegExp | undefined => {
  if (!pattern.includes("*") && !pattern.endsWith("$")) return undefined
  const anchored = pattern.endsWith("$")
  const core = anchored ? pattern.slice(0, -1) : pattern
  const source = core
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*")
  return new RegExp(`^${source}${anchored ? "$" : ""}`)
}

/**
 * Answer for one path (`pathname + search` of the URL).
 *
 * @example
 * ```ts
 * import { Robots } from "@trawl/fetch"
 * const verdict: Robots.Verdict = Robots.isAllowed(Robots.allowAll, "/")
 * verdict.allowed // true
 * ```
 * @since 0.1.0
 */
export type Verdict = { readonly allowed: true } | { readonly allowed: false; readonly rule: string }

const allowed: Verdict = { allowed: true }

/**
 * Whether the path (with its query string) may be fetched under these rules.
 *
 * @example
 * ```ts
 * import { Robots } from "@trawl/fetch"
 * const rules = Robots.parse("User-agent: *\nDisallow: /*.pdf$\nAllow: /private/ok\nDisallow: /private", "trawl")
 * Robots.isAllowed(rules, "/a.pdf").allowed // false
 * Robots.isAllowed(rules, "/a.pdf?x=1").allowed // true
 * Robots.isAllowed(rules, "/private/ok").allowed // true
 * ```
 * @since 0.1.0
 */
export const isAllowed = (rules: Rules, path: string): Verdict => {
  if (path === "/robots.txt") return allowed
  switch (rules.mode) {
    case "allowAll":
      return allowed
    case "disallowAll":
      return { allowed: false, rule: "unreachable" }
  }
  const target = normalizePattern(path === "" ? "/" : path)
  let best: Rule | undefined
  for (const rule of rules.rules) {
    if (rule.regex === undefined ? !target.startsWith(rule.pattern) : !rule.regex.test(target)) continue
    if (
      best === undefined || rule.pattern.length > best.pattern.length ||
      (rule.pattern.length === best.pattern.length && rule.allow && !best.allow)
    ) {
      best = rule
    }
  }
  return best === undefined || best.allow ? allowed : { allowed: false, rule: best.pattern }
}
