/**
 * A compact DOM built from htmlparser2's tokenizer/parser callbacks: only
 * what rules, microdata, RDFa and platform markup need. Measured against
 * htmlparser2's own `parseDocument` and cheerio (parse5) before choosing it
 * (see bench/). Depth and element count are capped so that hostile pages
 * cost bounded time and memory: past `maxDepth`, elements are attached flat
 * to the deepest allowed element; past `maxElements`, the rest is dropped.
 */
import { Parser } from "htmlparser2"

export interface Element {
  readonly name: string
  readonly attrs: Record<string, string>
  readonly children: Array<Node>
  readonly parent: Element | undefined
}

export type Node = Element | string

export interface Document {
  readonly root: Element
  /** Every element in document order (the root excluded). */
  readonly elements: Array<Element>
  /** Whether the caps dropped or flattened anything. */
  readonly capped: boolean
}

export interface DomLimits {
  readonly maxDepth: number
  readonly maxElements: number
}

/** Builds the DOM. Never throws on malformed markup; htmlparser2 recovers. */
export const parse = (html: string, limits: DomLimits): Document => {
  const root: Element = { name: "#root", attrs: {}, children: [], parent: undefined }
  const elements: Array<Element> = []
  const stack: Array<Element> = [root]
  let top = root
  let overflow = 0
  let capped = false
  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (stack.length > limits.maxDepth || elements.length >= limits.maxElements) {
          capped = true
          if (elements.length < limits.maxElements) {
            const flat: Element = { name, attrs: attribs, children: [], parent: top }
            top.children.push(flat)
            elements.push(flat)
          }
          overflow++
          return
        }
        const element: Element = { name, attrs: attribs, children: [], parent: top }
        top.children.push(element)
        elements.push(element)
        stack.push(element)
        top = element
      },
      ontext(text) {
        if (overflow > 0 && elements.length >= limits.maxElements) return
        const children = top.children
        const last = children.length - 1
        if (last >= 0 && typeof children[last] === "string") children[last] = (children[last] as string) + text
        else children.push(text)
      },
      onclosetag() {
        if (overflow > 0) {
          overflow--
          return
        }
        if (stack.length > 1) {
          stack.pop()
          top = stack[stack.length - 1]!
        }
      }
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true, recognizeSelfClosing: false }
  )
  parser.end(html)
  return { root, elements, capped }
}

const SKIP_TEXT = new Set(["script", "style", "template", "noscript", "svg"])
const STRUCK = new Set(["del", "s", "strike"])
const HIDDEN_LABEL = /(?:^|\s)(?:screen-reader-text|visually-hidden|sr-only|visuallyhidden)(?:\s|$)/

/** Accessibility-only labels repeat the visible prices in prose ("Original price was: …"). */
const isHiddenLabel = (element: Element): boolean => {
  const classes = element.attrs["class"]
  return classes !== undefined && HIDDEN_LABEL.test(classes)
}

/**
 * Text content, whitespace collapsed. With `skipStruck`, `<del>`, `<s>` and
 * `<strike>` (the "was" price of a sale) are left out; `struck` collects them.
 */
export const textOf = (element: Element, skipStruck = false, struck?: Array<string>): string => {
  let out = ""
  const stack: Array<Node> = [element]
  while (stack.length > 0) {
    const node = stack.pop()!
    if (typeof node === "string") {
      out += node
      continue
    }
    if (node !== element && (SKIP_TEXT.has(node.name) || isHiddenLabel(node))) continue
    if (skipStruck && node !== element && STRUCK.has(node.name)) {
      if (struck !== undefined) struck.push(textOf(node))
      out += " "
      continue
    }
    if (node.name === "br" || node.name === "p" || node.name === "div" || node.name === "li") out += " "
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!)
  }
  return out.replace(/\s+/g, " ").trim()
}

/** Element children of an element. */
export const elementChildren = (element: Element): Array<Element> =>
  element.children.filter((c): c is Element => typeof c !== "string")
