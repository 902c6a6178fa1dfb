/**
 * The fast path: one pass over the HTML with `indexOf`, no DOM. It collects
 * JSON-LD blocks, meta tags, `<html lang>`, `<title>`, the first `<h1>` and
 * `<link rel=canonical>` (the last two tell the page's own product from
 * related ones), skipping comments
 * and the raw text of scripts and styles the way an HTML tokenizer does.
 */
import { decodeEntities } from "./entities.ts"

export interface MetaTag {
  readonly key: string
  readonly content: string
}

export interface Scan {
  /** Raw text of each `<script type="application/ld+json">`, in order. */
  readonly jsonLd: Array<string>
  /** `property` / `name` / `itemprop` (lower-cased) → `content`, in order. */
  readonly meta: Array<MetaTag>
  lang: string | undefined
  title: string | undefined
  /** The first `<h1>`'s text (tags dropped). */
  h1: string | undefined
  /** `<link rel="canonical" href>`. */
  canonical: string | undefined
}

const ATTRIBUTE = /[\s/]*([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]*)))?/y

/** Attributes of the tag whose name ends at `from`; returns them and the index after `>`. */
export const readAttributes = (html: string, from: number): { attrs: Map<string, string>; end: number } => {
  const attrs = new Map<string, string>()
  let at = from
  for (;;) {
    while (at < html.length && isSpace(html.charCodeAt(at))) at++
    const c = html.charCodeAt(at)
    if (at >= html.length) return { attrs, end: html.length }
    if (c === 62 /* > */) return { attrs, end: at + 1 }
    if (c === 47 /* / */) {
      at++
      continue
    }
    ATTRIBUTE.lastIndex = at
    const match = ATTRIBUTE.exec(html)
    if (match === null || match[0].length === 0) {
      at++
      continue
    }
    const name = match[1]!.toLowerCase()
    const value = match[2] ?? match[3] ?? match[4] ?? ""
    if (!attrs.has(name)) attrs.set(name, decodeEntities(value))
    at = ATTRIBUTE.lastIndex
  }
}

const isSpace = (c: number): boolean => c === 32 || c === 10 || c === 9 || c === 13 || c === 12

const lower = (c: number): number => (c >= 65 && c <= 90 ? c + 32 : c)

/** Whether `html` at `at` starts with the lower-case ASCII `name` followed by a tag delimiter. */
const tagIs = (html: string, at: number, name: string): boolean => {
  for (let i = 0; i < name.length; i++) {
    if (lower(html.charCodeAt(at + i)) !== name.charCodeAt(i)) return false
  }
  const next = html.charCodeAt(at + name.length)
  return isSpace(next) || next === 62 || next === 47 || Number.isNaN(next)
}

/** Index of the `</name` that ends a raw-text element, or -1 (a truncated page). */
const rawTextEnd = (html: string, from: number, name: string): number => {
  let at = from
  for (;;) {
    const close = html.indexOf("</", at)
    if (close === -1) return -1
    if (tagIs(html, close + 2, name)) return close
    at = close + 2
  }
}

/** Scans the page. Linear in its length; memory is the collected slices. */
export const scan = (html: string): Scan => {
  const result: Scan = { jsonLd: [], meta: [], lang: undefined, title: undefined, h1: undefined, canonical: undefined }
  let at = 0
  for (;;) {
    const open = html.indexOf("<", at)
    if (open === -1) break
    const c = lower(html.charCodeAt(open + 1))
    at = open + 1
    if (c === 33 /* ! */) {
      if (html.startsWith("<!--", open)) {
        const close = html.indexOf("-->", open + 4)
        if (close === -1) break
        at = close + 3
      }
    } else if (c === 115 /* s */) {
      if (tagIs(html, open + 1, "script")) {
        const { attrs, end } = readAttributes(html, open + 7)
        const close = rawTextEnd(html, end, "script")
        const type = (attrs.get("type") ?? "").trim().toLowerCase()
        if (type === "application/ld+json") result.jsonLd.push(html.slice(end, close === -1 ? html.length : close))
        if (close === -1) break
        at = close + 8
      } else if (tagIs(html, open + 1, "style")) {
        const close = rawTextEnd(html, open + 6, "style")
        if (close === -1) break
        at = close + 7
      }
    } else if (c === 109 /* m */) {
      if (tagIs(html, open + 1, "meta")) {
        const { attrs, end } = readAttributes(html, open + 5)
        at = end
        const content = attrs.get("content")
        if (content !== undefined) {
          const key = attrs.get("property") ?? attrs.get("name") ?? attrs.get("itemprop")
          if (key !== undefined) result.meta.push({ key: key.trim().toLowerCase(), content: content.trim() })
        }
      }
    } else if (c === 104 /* h */) {
      if (result.lang === undefined && tagIs(html, open + 1, "html")) {
        const { attrs, end } = readAttributes(html, open + 5)
        at = end
        const lang = attrs.get("lang") ?? attrs.get("xml:lang")
        if (lang !== undefined && lang.trim() !== "") result.lang = lang.trim()
      } else if (result.h1 === undefined && tagIs(html, open + 1, "h1")) {
        const { end } = readAttributes(html, open + 3)
        // not raw text: the scan goes on inside it (a meta tag may sit there); the text is only copied
        const close = rawTextEnd(html, end, "h1")
        const inner = html.slice(end, close === -1 ? Math.min(html.length, end + 1024) : Math.min(close, end + 4096))
        const text = decodeEntities(inner.replace(/<[^>]*>/g, " ")).replace(/\s+/g, " ").trim()
        if (text !== "") result.h1 = text
        at = end
      }
    } else if (c === 108 /* l */) {
      if (result.canonical === undefined && tagIs(html, open + 1, "link")) {
        const { attrs, end } = readAttributes(html, open + 5)
        at = end
        const href = attrs.get("href")
        if (href !== undefined && href.trim() !== "" && /(?:^|\s)canonical(?:\s|$)/i.test(attrs.get("rel") ?? "")) {
          result.canonical = href.trim()
        }
      }
    } else if (c === 116 /* t */) {
      if (tagIs(html, open + 1, "title")) {
        const { end } = readAttributes(html, open + 6)
        const close = rawTextEnd(html, end, "title")
        if (result.title === undefined) {
          result.title = decodeEntities(html.slice(end, close === -1 ? Math.min(html.length, end + 1024) : close))
            .replace(/\s+/g, " ").trim()
        }
        if (close === -1) break
        at = close + 7
      } else if (tagIs(html, open + 1, "textarea")) {
        const close = rawTextEnd(html, open + 9, "textarea")
        if (close === -1) break
        at = close + 10
      }
    }
  }
  return result
}
