import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Robots } from "@trawl/fetch"

describe("Robots.parse / isAllowed (RFC 9309)", () => {
  it("prefers our product token's groups (merged) over *", () => {
    const rules = Robots.parse(
      [
        "User-agent: *",
        "Disallow: /",
        "User-agent: other",
        "Allow: /",
        "User-agent: TRAWL/2.0",
        "Disallow: /a",
        "User-agent: googlebot",
        "Disallow: /g",
        "User-agent: trawl",
        "Disallow: /b"
      ].join("\n"),
      "trawl"
    )
    expect(Robots.isAllowed(rules, "/a").allowed).toBe(false)
    expect(Robots.isAllowed(rules, "/b/c").allowed).toBe(false)
    expect(Robots.isAllowed(rules, "/c").allowed).toBe(true)
    expect(Robots.isAllowed(rules, "/g").allowed).toBe(true)
  })

  it("falls back to *, and to allow-all when no group applies", () => {
    expect(Robots.isAllowed(Robots.parse("User-agent: *\nDisallow: /x", "trawl"), "/x/1").allowed).toBe(false)
    expect(Robots.isAllowed(Robots.parse("User-agent: bot\nDisallow: /", "trawl"), "/x").allowed).toBe(true)
    expect(Robots.isAllowed(Robots.parse("", "trawl"), "/").allowed).toBe(true)
  })

  it("consecutive user-agent lines share a group; comments and junk are ignored", () => {
    const rules = Robots.parse(
      "# hi\nUser-agent: a\nUser-agent: trawl # us\nDisallow: /p # no\nnonsense line\nSitemap: http://x/s.xml\n",
      "trawl"
    )
    expect(Robots.isAllowed(rules, "/p").allowed).toBe(false)
    expect(Robots.isAllowed(rules, "/q").allowed).toBe(true)
  })

  it("longest match wins, Allow wins ties, empty Disallow allows", () => {
    const rules = Robots.parse(
      "User-agent: *\nDisallow: /shop\nAllow: /shop/items\nDisallow: /shop/items/secret\nAllow: /tie\nDisallow: /tie\nDisallow:",
      "trawl"
    )
    expect(Robots.isAllowed(rules, "/shop/x").allowed).toBe(false)
    expect(Robots.isAllowed(rules, "/shop/items/1").allowed).toBe(true)
    expect(Robots.isAllowed(rules, "/shop/items/secret/2").allowed).toBe(false)
    expect(Robots.isAllowed(rules, "/tie").allowed).toBe(true)
    expect(Robots.isAllowed(rules, "/other").allowed).toBe(true)
  })

  it("* matches any run, $ anchors the end, regex metacharacters are literal", () => {
    const rules = Robots.parse(
      "User-agent: *\nDisallow: /*.php$\nDisallow: /a*b/c\nDisallow: /q?id=(1)\nDisallow: /fish*",
      "trawl"
    )
    expect(Robots.isAllowed(rules, "/x/index.php").allowed).toBe(false)
    expect(Robots.isAllowed(rules, "/x/index.php?x=1").allowed).toBe(true)
    expect(Robots.isAllowed(rules, "/axxb/c/d").allowed).toBe(false)
    expect(Robots.isAllowed(rules, "/q?id=(1)").allowed).toBe(false)
    expect(Robots.isAllowed(rules, "/q?id=11").allowed).toBe(true)
    expect(Robots.isAllowed(rules, "/fishheads").allowed).toBe(false)
    expect(Robots.isAllowed(rules, "/Fish").allowed).toBe(true)
  })

  it("matches percent-encoded paths against UTF-8 patterns", () => {
    const rules = Robots.parse("User-agent: *\nDisallow: /preis/ü", "trawl")
    expect(Robots.isAllowed(rules, "/preis/%C3%BC/1").allowed).toBe(false)
    expect(Robots.isAllowed(rules, "/preis/%c3%bc").allowed).toBe(false)
  })

  it("reads Crawl-delay of the chosen group; /robots.txt is always allowed", () => {
    const rules = Robots.parse("User-agent: *\nCrawl-delay: 2.5\nDisallow: /", "trawl")
    expect(rules.crawlDelaySeconds).toBe(2.5)
    expect(Robots.isAllowed(rules, "/robots.txt").allowed).toBe(true)
    expect(Robots.parse("User-agent: *\nCrawl-delay: soon", "trawl").crawlDelaySeconds).toBeUndefined()
  })

  it("allowAll / disallowAll", () => {
    expect(Robots.isAllowed(Robots.allowAll, "/x").allowed).toBe(true)
    expect(Robots.isAllowed(Robots.disallowAll, "/x")).toEqual({ allowed: false, rule: "unreachable" })
  })

  it("a path is allowed when an Allow equal to it is at least as long as the Disallow (fast-check)", () => {
    const segment = fc.stringMatching(/^\/[a-z0-9/._-]{0,30}$/)
    fc.assert(fc.property(segment, segment, (path, disallow) => {
      const rules = Robots.parse(`User-agent: *\nDisallow: ${disallow}\nAllow: ${path}`, "trawl")
      const verdict = Robots.isAllowed(rules, path)
      if (path === "/robots.txt" || path.length >= disallow.length) expect(verdict.allowed).toBe(true)
      else expect(verdict.allowed).toBe(!path.startsWith(disallow))
    }))
  })

  // RFC 9309 matching written the slow, obvious way: `*` any run, final `$` the end.
  const matches = (pattern: string, path: string): boolean => {
    const anchored = pattern.endsWith("$")
    const parts = (anchored ? pattern.slice(0, -1) : pattern).split("*")
    const walk = (part: number, at: number): boolean => {
      if (part === parts.length) return !anchored || at === path.length
      const piece = parts[part]!
      if (part === 0) return path.startsWith(piece) && walk(1, piece.length)
      for (let start = at; start <= path.length; start++) {
        if (path.startsWith(piece, start) && walk(part + 1, start + piece.length)) return true
      }
      return false
    }
    return walk(0, 0)
  }

  it("plain prefixes, wildcards and anchors agree with the RFC's matching", () => {
    const lines = fc.array(fc.tuple(fc.boolean(), fc.stringMatching(/^\/[ab*$/.]{0,5}$/)), { minLength: 1, maxLength: 6 })
    fc.assert(fc.property(lines, fc.stringMatching(/^\/[ab/.]{0,8}$/), (lines, path) => {
    const rules = Robots.parse(`User-agent: *\n${lines.map(([allow, p]) => `${allow ? "Allow" : "Disallow"}: ${p}`).join("\n")}`, "trawl")
    let best: { readonly allow: boolean; readonly pattern: string } | undefined
    for (const rule of rules.rules) {
      if (!matches(rule.pattern, path)) continue
      if (best === undefined || rule.pattern.length > best.pattern.length || (rule.pattern.length === best.pattern.length && rule.allow && !best.allow)) best = rule
    }
    expect(Robots.isAllowed(rules, path).allowed).toBe(path === "/robots.txt" || best === undefined || best.allow)
    }), { numRuns: 2000 })
  })
})
