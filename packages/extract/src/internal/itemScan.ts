/**
 * Microdata and RDFa items without building the DOM. Most of a shop page is
 * navigation, descriptions and styles that no item reads, yet the DOM builder
 * makes an object for every element and text run. This pass walks the tags
 * the way htmlparser2's `Tokenizer` splits them (comments, raw-text elements,
 * quoted attribute values) and keeps only the builder's open-element stack
 * (names, implied end tags, void elements, foreign content), so every element
 * gets the same parent it has in the DOM. Only elements carrying
 * `itemscope`/`itemprop`/`typeof`/`property` become items or values; a value
 * that is an element's text is read by building the DOM of that element's
 * source range alone (from its start tag to where the builder closes it),
 * which yields the same subtree.
 *
 * Whenever the result could differ from the DOM walk (a cap reached, a text
 * value inside `<svg>`/`<math>`, a control character the tokenizer reads as
 * `<` or `/` in raw text, text ranges adding up to more than the page), it
 * returns `undefined` and the caller builds the DOM.
 */
import { type TokenizerCallbacks, Tokenizer } from "htmlparser2"
import { CLOSES_ON_OPEN, type DomLimits, parse, textOf, VOID } from "./dom.ts"
import { addProp, type Attributes, type Item, type ItemSyntax, MICRODATA, newItem, RDFA } from "./markup.ts"

export interface ItemScan {
  readonly microdata: Array<Item>
  readonly rdfa: Array<Item>
}

/** Elements whose content the tokenizer reads as text up to their own end tag (outside foreign content). */
const RAW_TEXT: ReadonlySet<string> = new Set(["script", "style", "title", "textarea", "iframe", "noembed", "noframes", "xmp"])

/** The attributes the item syntaxes read. */
const WANTED: ReadonlySet<string> = new Set([
  "itemscope", "itemprop", "itemtype", "itemid", "typeof", "property", "resource", "content", "href", "src", "data",
  "value", "datetime"
])

const isSpace = (c: number): boolean => c === 32 || c === 10 || c === 9 || c === 12 || c === 13
const isAlpha = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90)
/** Where the tokenizer ends a tag or attribute name (`NaN` past the end is not). */
const endsName = (c: number): boolean => c === 32 || c === 62 || c === 47 || c === 10 || c === 9 || c === 12 || c === 13

/** Whether `html[from, from + word.length)` is `word` (lower-case ASCII letters), ignoring ASCII case. */
const isWord = (html: string, from: number, word: string): boolean => {
  for (let i = 0; i < word.length; i++) if ((html.charCodeAt(from + i) | 0x20) !== word.charCodeAt(i)) return false
  return true
}

/** Whether an attribute name (`[start, end)`) makes its element an item or a property. */
const marksItem = (html: string, start: number, end: number): boolean => {
  switch (end - start) {
    case 6:
      return isWord(html, start, "typeof")
    case 8:
      return isWord(html, start, "itemprop") || isWord(html, start, "property")
    case 9:
      return isWord(html, start, "itemscope")
    default:
      return false
  }
}

/** A property value that is an element's text, read once the element's end is known. */
class TextValue {
  end = -1
  text = ""
  readonly start: number
  readonly name: string
  constructor(start: number, name: string) {
    this.start = start
    this.name = name
  }
}

interface Op {
  readonly target: Item
  readonly props: ReadonlyArray<string>
  readonly value: Item | string | TextValue
}

/** Collects the attributes of one tag exactly as the DOM builder does (for values with character references). */
class TagAttributes implements TokenizerCallbacks {
  readonly attrs: Record<string, string> = {}
  name = ""
  value = ""
  readonly source: string
  constructor(source: string) {
    this.source = source
  }
  onattribname(start: number, end: number): void {
    this.name = this.source.slice(start, end).toLowerCase()
  }
  onattribdata(start: number, end: number): void {
    this.value += this.source.slice(start, end)
  }
  onattribentity(codepoint: number): void {
    this.value += String.fromCodePoint(codepoint)
  }
  onattribend(): void {
    if (!Object.hasOwn(this.attrs, this.name)) this.attrs[this.name] = this.value
    this.value = ""
  }
  ontext(): void {}
  ontextentity(): void {}
  onopentagname(): void {}
  onopentagend(): void {}
  onselfclosingtag(): void {}
  onclosetag(): void {}
  oncdata(): void {}
  oncomment(): void {}
  ondeclaration(): void {}
  onprocessinginstruction(): void {}
  onend(): void {}
}

const decodedAttributes = (tag: string): Record<string, string> => {
  const collector = new TagAttributes(tag)
  const tokenizer = new Tokenizer({ decodeEntities: true }, collector)
  tokenizer.write(tag)
  tokenizer.end()
  return collector.attrs
}

/** A syntax that marks nothing: for the item kind the caller does not read. */
const NONE: ItemSyntax = {
  scope: () => false,
  types: () => [],
  props: () => [],
  value: () => undefined
}

class Bail extends Error {}

class Scanner {
  readonly html: string
  readonly limits: DomLimits
  readonly first: ItemSyntax
  readonly second: ItemSyntax
  /** The open elements (index 0 is the document), with the item each one's content belongs to, per syntax. */
  readonly names: Array<string> = ["#root"]
  readonly firstScopes: Array<Item | undefined> = [undefined]
  readonly secondScopes: Array<Item | undefined> = [undefined]
  readonly texts: Array<TextValue | undefined> = [undefined]
  readonly firstTop: Array<Item> = []
  readonly secondTop: Array<Item> = []
  readonly ops: Array<Op> = []
  readonly pending: Array<TextValue> = []
  elements = 0
  foreign = 0
  /** Attribute name/value offsets of the current tag: nameStart, nameEnd, valueStart, valueEnd (-1: no value). */
  attributes = new Int32Array(64)
  attributeCount = 0

  constructor(html: string, limits: DomLimits, first: ItemSyntax, second: ItemSyntax) {
    this.html = html
    this.limits = limits
    this.first = first
    this.second = second
  }

  pushAttribute(nameStart: number, nameEnd: number, valueStart: number, valueEnd: number): void {
    const at = this.attributeCount * 4
    if (at + 4 > this.attributes.length) {
      const grown = new Int32Array(this.attributes.length * 2)
      grown.set(this.attributes)
      this.attributes = grown
    }
    this.attributes[at] = nameStart
    this.attributes[at + 1] = nameEnd
    this.attributes[at + 2] = valueStart
    this.attributes[at + 3] = valueEnd
    this.attributeCount++
  }

  /** The wanted attributes of the current tag (`[tagStart, tagEnd]`), first occurrence of each name winning. */
  wantedAttributes(tagStart: number, tagEnd: number): Attributes {
    const html = this.html
    const attrs: Record<string, string> = {}
    let references = false
    for (let i = 0; i < this.attributeCount; i++) {
      const at = i * 4
      const name = html.slice(this.attributes[at]!, this.attributes[at + 1]!).toLowerCase()
      if (!WANTED.has(name) || Object.hasOwn(attrs, name)) continue
      const valueStart = this.attributes[at + 2]!
      const value = valueStart === -1 ? "" : html.slice(valueStart, this.attributes[at + 3]!)
      if (value.includes("&")) references = true
      attrs[name] = value
    }
    if (!references) return attrs
    const decoded = decodedAttributes(html.slice(tagStart, tagEnd + 1))
    for (const name of Object.keys(attrs)) attrs[name] = decoded[name]!
    return attrs
  }

  pop(at: number): void {
    const name = this.names.pop()!
    this.firstScopes.pop()
    this.secondScopes.pop()
    const text = this.texts.pop()
    if (text !== undefined) text.end = at
    if (name === "svg" || name === "math") this.foreign--
  }

  open(name: string, tagStart: number, tagEnd: number, selfClosing: boolean, marked: boolean): void {
    if (this.elements >= this.limits.maxElements) throw new Bail()
    this.elements++
    const implied = CLOSES_ON_OPEN.get(name)
    if (implied !== undefined) {
      while (this.names.length > 1 && implied.has(this.names[this.names.length - 1]!)) this.pop(tagStart)
    }
    const leaf = VOID.has(name) || selfClosing
    const top = this.names.length - 1
    let first = this.firstScopes[top]
    let second = this.secondScopes[top]
    let text: TextValue | undefined
    if (marked) {
      const attrs = this.wantedAttributes(tagStart, tagEnd)
      const read = (syntax: ItemSyntax, scope: Item | undefined, tops: Array<Item>): Item | undefined => {
        const props = scope === undefined ? [] : syntax.props(attrs)
        if (syntax.scope(attrs)) {
          const item = newItem(syntax, attrs)
          if (props.length > 0 && scope !== undefined) this.ops.push({ target: scope, props, value: item })
          else tops.push(item)
          return item
        }
        if (props.length > 0 && scope !== undefined) {
          let value: string | TextValue | undefined = syntax.value(name, attrs)
          if (value === undefined) {
            if (leaf) value = ""
            else {
              // an element inside <svg>/<math> tokenizes differently on its own
              if (this.foreign > 0) throw new Bail()
              text ??= new TextValue(tagStart, name)
              value = text
            }
          }
          this.ops.push({ target: scope, props, value })
        }
        return scope
      }
      first = read(this.first, first, this.firstTop)
      second = read(this.second, second, this.secondTop)
    }
    if (leaf) return
    if (this.names.length > this.limits.maxDepth) throw new Bail()
    this.names.push(name)
    this.firstScopes.push(first)
    this.secondScopes.push(second)
    this.texts.push(text)
    if (text !== undefined) this.pending.push(text)
    if (name === "svg" || name === "math") this.foreign++
  }

  close(name: string, at: number): void {
    if (VOID.has(name)) return
    for (let i = this.names.length - 1; i > 0; i--) {
      if (this.names[i] === name) {
        while (this.names.length > i) this.pop(at)
        return
      }
    }
  }

  /** The lower-cased name in `[start, end)`, as the DOM builder spells it. */
  nameAt(start: number, end: number): string {
    const name = this.html.slice(start, end)
    for (let i = start; i < end; i++) {
      const c = this.html.charCodeAt(i)
      if ((c >= 65 && c <= 90) || c > 127) return name.toLowerCase()
    }
    return name
  }

  /**
   * The start of the end tag of a raw-text element, or -1 (the text runs to
   * the end). Like the tokenizer: `</name` (any case) followed by a space, `/` or `>`.
   */
  rawTextEnd(from: number, name: string): number {
    const html = this.html
    let at = from
    for (;;) {
      const lt = html.indexOf("<", at)
      if (lt === -1) return -1
      const next = html.charCodeAt(lt + 1)
      // the tokenizer compares `c | 0x20` with `/`
      if (next === 0x0f) throw new Bail()
      if (next === 47 && isWord(html, lt + 2, name) && endsName(html.charCodeAt(lt + 2 + name.length))) return lt
      at = lt + 1
    }
  }

  /** Runs the pass up to the end of the page, or of the last tag the tokenizer would finish. */
  run(): void {
    const html = this.html
    const n = html.length
    let at = 0
    let rawChecked = false
    for (;;) {
      const lt = html.indexOf("<", at)
      if (lt === -1) return
      const c = html.charCodeAt(lt + 1)
      if (isAlpha(c)) {
        let j = lt + 2
        while (j < n && !endsName(html.charCodeAt(j))) j++
        if (j >= n) return
        const nameEnd = j
        this.attributeCount = 0
        let marked = false
        let selfClosing = false
        let end = -1
        // attributes, as the tokenizer's states: before name, name, after name, value
        while (end === -1) {
          if (j >= n) return
          const d = html.charCodeAt(j)
          if (d === 62) {
            end = j
          } else if (d === 47) {
            j++
            while (j < n && isSpace(html.charCodeAt(j))) j++
            if (j >= n) return
            if (html.charCodeAt(j) === 62) {
              selfClosing = true
              end = j
            }
          } else if (isSpace(d)) {
            j++
          } else {
            const nameStart = j
            j++
            while (j < n) {
              const e = html.charCodeAt(j)
              if (e === 61 || endsName(e)) break
              j++
            }
            if (j >= n) return
            const attrEnd = j
            while (j < n && isSpace(html.charCodeAt(j))) j++
            if (j >= n) return
            let valueStart = -1
            let valueEnd = -1
            if (html.charCodeAt(j) === 61) {
              j++
              while (j < n && isSpace(html.charCodeAt(j))) j++
              if (j >= n) return
              const q = html.charCodeAt(j)
              if (q === 34 || q === 39) {
                const close = html.indexOf(q === 34 ? "\"" : "'", j + 1)
                if (close === -1) return
                valueStart = j + 1
                valueEnd = close
                j = close + 1
              } else {
                valueStart = j
                while (j < n) {
                  const e = html.charCodeAt(j)
                  if (e === 62 || isSpace(e)) break
                  j++
                }
                if (j >= n) return
                valueEnd = j
              }
            }
            this.pushAttribute(nameStart, attrEnd, valueStart, valueEnd)
            if (!marked && marksItem(html, nameStart, attrEnd)) marked = true
          }
        }
        const name = this.nameAt(lt + 1, nameEnd)
        const raw = this.foreign === 0 && RAW_TEXT.has(name)
        this.open(name, lt, end, selfClosing && this.foreign > 0, marked)
        at = end + 1
        if (name === "plaintext" && this.foreign === 0) return
        if (raw) {
          if (!rawChecked) {
            // the tokenizer also takes U+001C for `<` inside raw text (it compares `c | 0x20`)
            if (html.includes("\x1c")) throw new Bail()
            rawChecked = true
          }
          const close = this.rawTextEnd(at, name)
          if (close === -1) return
          this.close(name, close)
          const gt = html.indexOf(">", close + 2 + name.length)
          if (gt === -1) return
          at = gt + 1
        }
      } else if (c === 47) {
        const d = html.charCodeAt(lt + 2)
        if (isAlpha(d)) {
          let j = lt + 3
          while (j < n && !endsName(html.charCodeAt(j))) j++
          if (j >= n) return
          this.close(this.nameAt(lt + 2, j), lt)
          const gt = html.indexOf(">", j)
          if (gt === -1) return
          at = gt + 1
        } else if (d === 62) {
          at = lt + 3
        } else {
          // `</` then anything else: a bogus comment up to `>`
          const gt = html.indexOf(">", lt + 2)
          if (gt === -1) return
          at = gt + 1
        }
      } else if (c === 33) {
        if (html.startsWith("<!--", lt)) {
          const s = lt + 4
          if (html.charCodeAt(s) === 62) {
            at = s + 1
          } else if (html.charCodeAt(s) === 45 && html.charCodeAt(s + 1) === 62) {
            at = s + 2
          } else {
            const a = html.indexOf("-->", s)
            const b = html.indexOf("--!>", s)
            if (a === -1 && b === -1) return
            at = a !== -1 && (b === -1 || a <= b) ? a + 3 : b + 4
          }
        } else if (html.startsWith("<![CDATA[", lt)) {
          const close = html.indexOf("]]>", lt + 9)
          if (close === -1) return
          at = close + 3
        } else {
          // `<!doctype …>` and bogus comments end at the next `>`
          const gt = html.indexOf(">", lt + 2)
          if (gt === -1) return
          at = gt + 1
        }
      } else if (c === 63) {
        const gt = html.indexOf(">", lt + 2)
        if (gt === -1) return
        at = gt + 1
      } else {
        at = lt + 1
      }
    }
  }

  finish(): ItemScan | undefined {
    while (this.names.length > 1) this.pop(this.html.length)
    let total = 0
    for (const text of this.pending) total += text.end - text.start
    // nested text values would re-read the same source: past the page's size, the DOM is cheaper
    if (total > this.html.length) return undefined
    for (const text of this.pending) {
      const document = parse(this.html.slice(text.start, text.end), this.limits)
      const element = document.elements[0]
      if (document.capped || element === undefined || element.name !== text.name) return undefined
      text.text = textOf(element)
    }
    for (const op of this.ops) {
      const value = op.value instanceof TextValue ? op.value.text : op.value
      for (const p of op.props) addProp(op.target, p, value)
    }
    return { microdata: this.firstTop, rdfa: this.secondTop }
  }
}

/** Off in the differential tests, which compare this pass with the DOM walk on the same pages. */
export const switches = { enabled: true }

/**
 * Microdata items (when `microdata`) and RDFa items (when `rdfa`), equal to
 * `microdataItems`/`rdfaItems` of the page's DOM; `undefined` when the DOM is needed.
 */
export const scanItems = (html: string, limits: DomLimits, microdata: boolean, rdfa: boolean): ItemScan | undefined => {
  const scanner = new Scanner(html, limits, microdata ? MICRODATA : NONE, rdfa ? RDFA : NONE)
  try {
    scanner.run()
  } catch (error) {
    if (error instanceof Bail) return undefined
    throw error
  }
  return scanner.finish()
}
