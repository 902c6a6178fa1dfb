/**
 * A compact DOM built directly on htmlparser2's `Tokenizer` (its linear
 * tokenizer, not its `Parser`): htmlparser2's `Parser` keeps its open-element
 * stack with `unshift` and searches it on every tag, which is quadratic in
 * nesting depth (a 200,000-deep page took 28 s). This builder keeps the stack
 * as a bounded array: past `maxDepth`, elements are attached flat to the
 * deepest allowed element; past `maxElements`, the rest is dropped. So
 * hostile pages cost linear time and bounded memory. It applies the usual
 * implied end tags (`<p>` before a block, `<li>` before `<li>`, table cells,
 * options) and void elements, which is all that rules, microdata, RDFa and
 * platform markup need.
 */
import { type TokenizerCallbacks, Tokenizer } from "htmlparser2"

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

export const VOID: ReadonlySet<string> = new Set([
  "area", "base", "basefont", "br", "col", "command", "embed", "frame", "hr", "img", "input", "isindex", "keygen",
  "link", "meta", "param", "source", "track", "wbr"
])

const P = new Set(["p"])
const HEADINGS = new Set(["h1", "h2", "h3", "h4", "h5", "h6", "p"])
const FORM_CONTROLS = new Set(["input", "option", "optgroup", "select", "button", "datalist", "textarea"])
const DD_DT = new Set(["dd", "dt"])

/** Opening the key closes an open element on top of the stack that is in the value set. */
export const CLOSES_ON_OPEN: ReadonlyMap<string, ReadonlySet<string>> = new Map<string, ReadonlySet<string>>([
  ["tr", new Set(["tr", "th", "td"])], ["th", new Set(["th"])], ["td", new Set(["thead", "th", "td"])],
  ["tbody", new Set(["thead", "tbody"])], ["tfoot", new Set(["thead", "tbody"])], ["li", new Set(["li"])],
  ["option", new Set(["option"])], ["optgroup", new Set(["optgroup", "option"])], ["dd", DD_DT], ["dt", DD_DT],
  ["a", new Set(["a"])], ["select", FORM_CONTROLS], ["input", FORM_CONTROLS], ["button", FORM_CONTROLS],
  ["textarea", FORM_CONTROLS], ["h1", HEADINGS], ["h2", HEADINGS], ["h3", HEADINGS], ["h4", HEADINGS],
  ["h5", HEADINGS], ["h6", HEADINGS], ["p", P], ["div", P], ["ul", P], ["ol", P], ["dl", P], ["table", P],
  ["section", P], ["article", P], ["aside", P], ["header", P], ["footer", P], ["nav", P], ["main", P],
  ["form", P], ["figure", P], ["figcaption", P], ["blockquote", P], ["pre", P], ["hr", P], ["fieldset", P],
  ["details", P], ["address", P]
])

class Builder implements TokenizerCallbacks {
  readonly root: Element = { name: "#root", attrs: {}, children: [], parent: undefined }
  readonly elements: Array<Element> = []
  readonly stack: Array<Element> = [this.root]
  capped = false
  /** Open tags past the depth cap whose end tags are still to come. */
  overflow = 0
  /** Open `<svg>`/`<math>` elements: self-closing tags count there. */
  foreign = 0
  tagName = ""
  attrs: Record<string, string> | undefined
  attrName = ""
  attrValue = ""
  readonly html: string
  readonly limits: DomLimits

  constructor(html: string, limits: DomLimits) {
    this.html = html
    this.limits = limits
  }

  get top(): Element {
    return this.stack[this.stack.length - 1]!
  }

  appendText(text: string): void {
    if (this.elements.length >= this.limits.maxElements) return
    const children = this.top.children
    const last = children.length - 1
    if (last >= 0 && typeof children[last] === "string") children[last] = (children[last] as string) + text
    else children.push(text)
  }

  ontext(start: number, end: number): void {
    this.appendText(this.html.slice(start, end))
  }
  ontextentity(codepoint: number): void {
    this.appendText(String.fromCodePoint(codepoint))
  }
  onopentagname(start: number, end: number): void {
    this.tagName = this.html.slice(start, end).toLowerCase()
    this.attrs = {}
  }
  onattribname(start: number, end: number): void {
    this.attrName = this.html.slice(start, end).toLowerCase()
  }
  onattribdata(start: number, end: number): void {
    this.attrValue += this.html.slice(start, end)
  }
  onattribentity(codepoint: number): void {
    this.attrValue += String.fromCodePoint(codepoint)
  }
  onattribend(): void {
    if (this.attrs !== undefined && !Object.hasOwn(this.attrs, this.attrName)) this.attrs[this.attrName] = this.attrValue
    this.attrValue = ""
  }
  onopentagend(): void {
    this.open(false)
  }
  onselfclosingtag(): void {
    this.open(this.foreign > 0)
  }
  open(selfClosing: boolean): void {
    const name = this.tagName
    const attrs = this.attrs ?? {}
    this.attrs = undefined
    if (this.elements.length >= this.limits.maxElements) {
      this.capped = true
      if (!VOID.has(name) && !selfClosing) this.overflow++
      return
    }
    const implied = this.overflow === 0 ? CLOSES_ON_OPEN.get(name) : undefined
    if (implied !== undefined) {
      while (this.stack.length > 1 && implied.has(this.top.name)) this.pop()
    }
    const parent = this.top
    const element: Element = { name, attrs, children: [], parent }
    parent.children.push(element)
    this.elements.push(element)
    if (VOID.has(name) || selfClosing) return
    if (this.overflow > 0 || this.stack.length > this.limits.maxDepth) {
      this.capped = true
      this.overflow++
      return
    }
    this.stack.push(element)
    if (name === "svg" || name === "math") this.foreign++
  }
  pop(): void {
    const element = this.stack.pop()!
    if (element.name === "svg" || element.name === "math") this.foreign--
  }
  onclosetag(start: number, end: number): void {
    const name = this.html.slice(start, end).toLowerCase()
    if (this.overflow > 0) {
      if (!VOID.has(name)) this.overflow--
      return
    }
    if (VOID.has(name)) return
    // the stack is at most maxDepth long, so this search is bounded
    for (let i = this.stack.length - 1; i > 0; i--) {
      if (this.stack[i]!.name === name) {
        while (this.stack.length > i) this.pop()
        return
      }
    }
  }
  oncdata(): void {}
  oncomment(): void {}
  ondeclaration(): void {}
  onprocessinginstruction(): void {}
  onend(): void {}
  isInForeignContext(): boolean {
    return this.foreign > 0
  }
}

/** Builds the DOM. Never throws on malformed markup. */
export const parse = (html: string, limits: DomLimits): Document => {
  const builder = new Builder(html, limits)
  const tokenizer = new Tokenizer({ decodeEntities: true }, builder)
  tokenizer.write(html)
  tokenizer.end()
  return { root: builder.root, elements: builder.elements, capped: builder.capped }
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
