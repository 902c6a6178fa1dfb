/**
 * A small CSS selector engine over the compact DOM.
 *
 * Supported: type and `*`, `#id`, `.class`, attribute selectors (`[a]`,
 * `[a=v]`, `~=`, `|=`, `^=`, `$=`, `*=`, with an optional ` i` flag),
 * combinators (descendant, `>`, `+`, `~`), selector lists (`,`), and the
 * pseudo-classes `:not(…)`, `:first-child`, `:last-child`, `:only-child`,
 * `:nth-child(n|odd|even|an+b)`, `:first-of-type`, `:last-of-type` and
 * cheerio's `:contains("text")`. Anything else is a `SelectorError`.
 */
import { type Element, elementChildren, textOf } from "./dom.ts"

export class SelectorError extends Error {}

type AttrOp = "exists" | "=" | "~=" | "|=" | "^=" | "$=" | "*="

interface AttrTest {
  readonly name: string
  readonly op: AttrOp
  readonly value: string
  readonly insensitive: boolean
}

type Pseudo =
  | { readonly kind: "not"; readonly list: SelectorList }
  | { readonly kind: "nth"; readonly a: number; readonly b: number; readonly ofType: boolean; readonly fromEnd: boolean }
  | { readonly kind: "only" }
  | { readonly kind: "contains"; readonly text: string }

interface Compound {
  tag: string | undefined
  id: string | undefined
  readonly classes: Array<string>
  readonly attrs: Array<AttrTest>
  readonly pseudos: Array<Pseudo>
}

type Combinator = " " | ">" | "+" | "~"

/** Compounds right to left, each with the combinator that joins it to the next one on its left. */
interface Complex {
  readonly parts: ReadonlyArray<{ readonly compound: Compound; readonly combinator: Combinator | undefined }>
}

export type SelectorList = ReadonlyArray<Complex>

const IDENT = /-?(?:[_a-zA-Z\u00a0-\uffff]|\\.)(?:[-\w\u00a0-\uffff]|\\.)*/y
const unescape = (s: string): string => s.replace(/\\(.)/g, "$1")

class SelectorParser {
  at = 0
  readonly source: string
  constructor(source: string) {
    this.source = source
  }
  fail(message: string): never {
    throw new SelectorError(`${message} at position ${this.at} in selector "${this.source}"`)
  }
  peek(): string | undefined {
    return this.source[this.at]
  }
  skipSpace(): boolean {
    const start = this.at
    while (this.at < this.source.length && /\s/.test(this.source[this.at]!)) this.at++
    return this.at > start
  }
  ident(): string {
    IDENT.lastIndex = this.at
    const match = IDENT.exec(this.source)
    if (match === null) this.fail("expected a name")
    this.at = IDENT.lastIndex
    return unescape(match[0])
  }
  list(close?: string): SelectorList {
    const list: Array<Complex> = []
    for (;;) {
      this.skipSpace()
      list.push(this.complex())
      this.skipSpace()
      const c = this.peek()
      if (c === ",") {
        this.at++
        continue
      }
      if (c === close && close !== undefined) return list
      if (c === undefined && close === undefined) return list
      this.fail(`unexpected "${c ?? "end"}"`)
    }
  }
  complex(): Complex {
    const leftToRight: Array<{ compound: Compound; combinator: Combinator | undefined }> = []
    let combinator: Combinator | undefined
    for (;;) {
      const compound = this.compound()
      leftToRight.push({ compound, combinator })
      const spaced = this.skipSpace()
      const c = this.peek()
      if (c === ">" || c === "+" || c === "~") {
        this.at++
        this.skipSpace()
        combinator = c
      } else if (spaced && c !== undefined && c !== "," && c !== ")") {
        combinator = " "
      } else {
        break
      }
    }
    // store right to left, each part carrying the combinator to its left neighbour
    const parts = leftToRight.map((part, i) => ({
      compound: part.compound,
      combinator: i === 0 ? undefined : part.combinator
    })).reverse()
    return { parts }
  }
  compound(): Compound {
    const compound: Compound = { tag: undefined, id: undefined, classes: [], attrs: [], pseudos: [] }
    const start = this.at
    const c0 = this.peek()
    if (c0 === "*") this.at++
    else if (c0 !== undefined && /[-_a-zA-Z\\\u00a0-\uffff]/.test(c0)) compound.tag = this.ident().toLowerCase()
    for (;;) {
      const c = this.peek()
      if (c === "#") {
        this.at++
        compound.id = this.ident()
      } else if (c === ".") {
        this.at++
        compound.classes.push(this.ident())
      } else if (c === "[") {
        this.at++
        compound.attrs.push(this.attribute())
      } else if (c === ":") {
        this.at++
        if (this.peek() === ":") this.fail("pseudo-elements are not supported")
        compound.pseudos.push(this.pseudo())
      } else {
        break
      }
    }
    if (this.at === start) this.fail("expected a selector")
    return compound
  }
  attribute(): AttrTest {
    this.skipSpace()
    const name = this.ident().toLowerCase()
    this.skipSpace()
    if (this.peek() === "]") {
      this.at++
      return { name, op: "exists", value: "", insensitive: false }
    }
    const op = /^(?:[~|^$*]?=)/.exec(this.source.slice(this.at, this.at + 2))
    if (op === null) this.fail("expected an attribute operator")
    this.at += op[0].length
    this.skipSpace()
    const value = this.value()
    this.skipSpace()
    let insensitive = false
    if (this.peek() === "i" || this.peek() === "I") {
      insensitive = true
      this.at++
      this.skipSpace()
    } else if (this.peek() === "s") {
      this.at++
      this.skipSpace()
    }
    if (this.peek() !== "]") this.fail("expected ]")
    this.at++
    return { name, op: op[0] as AttrOp, value: insensitive ? value.toLowerCase() : value, insensitive }
  }
  value(): string {
    const quote = this.peek()
    if (quote === "\"" || quote === "'") {
      let out = ""
      this.at++
      for (;;) {
        const c = this.source[this.at]
        if (c === undefined) this.fail("unterminated string")
        this.at++
        if (c === quote) return out
        if (c === "\\") {
          out += this.source[this.at] ?? ""
          this.at++
        } else {
          out += c
        }
      }
    }
    return this.ident()
  }
  pseudo(): Pseudo {
    const name = this.ident().toLowerCase()
    const argument = (): string => {
      if (this.peek() !== "(") this.fail(`:${name} needs an argument`)
      const close = this.source.indexOf(")", this.at)
      if (close === -1) this.fail("expected )")
      const arg = this.source.slice(this.at + 1, close).trim()
      this.at = close + 1
      return arg
    }
    switch (name) {
      case "not": {
        if (this.peek() !== "(") this.fail(":not needs an argument")
        this.at++
        const list = this.list(")")
        this.at++
        return { kind: "not", list }
      }
      case "first-child":
        return { kind: "nth", a: 0, b: 1, ofType: false, fromEnd: false }
      case "last-child":
        return { kind: "nth", a: 0, b: 1, ofType: false, fromEnd: true }
      case "first-of-type":
        return { kind: "nth", a: 0, b: 1, ofType: true, fromEnd: false }
      case "last-of-type":
        return { kind: "nth", a: 0, b: 1, ofType: true, fromEnd: true }
      case "only-child":
        return { kind: "only" }
      case "nth-child":
      case "nth-of-type":
      case "nth-last-child": {
        const [a, b] = this.nth(argument())
        return { kind: "nth", a, b, ofType: name === "nth-of-type", fromEnd: name === "nth-last-child" }
      }
      case "contains": {
        const arg = argument()
        return { kind: "contains", text: arg.replace(/^(["'])(.*)\1$/s, "$2") }
      }
      default:
        return this.fail(`unsupported pseudo-class :${name}`)
    }
  }
  nth(arg: string): readonly [number, number] {
    const s = arg.replace(/\s+/g, "").toLowerCase()
    if (s === "odd") return [2, 1]
    if (s === "even") return [2, 0]
    const match = /^([+-]?\d*)n([+-]\d+)?$|^([+-]?\d+)$/.exec(s)
    if (match === null) return this.fail(`bad :nth argument "${arg}"`)
    if (match[3] !== undefined) return [0, Number(match[3])]
    const a = match[1] === "" || match[1] === "+" ? 1 : match[1] === "-" ? -1 : Number(match[1])
    return [a, match[2] === undefined ? 0 : Number(match[2])]
  }
}

const cache = new Map<string, SelectorList>()

/** Parses a selector (cached). Throws `SelectorError` with the position of the problem. */
export const compile = (selector: string): SelectorList => {
  const cached = cache.get(selector)
  if (cached !== undefined) return cached
  if (selector.length > 1000) throw new SelectorError("selector longer than 1000 characters")
  const list = new SelectorParser(selector).list()
  if (cache.size > 500) cache.clear()
  cache.set(selector, list)
  return list
}

const hasClass = (element: Element, name: string): boolean => {
  const value = element.attrs["class"]
  if (value === undefined) return false
  const at = value.indexOf(name)
  if (at === -1) return false
  return (" " + value.replace(/[\t\n\f\r]/g, " ") + " ").includes(" " + name + " ")
}

const testAttr = (element: Element, test: AttrTest): boolean => {
  let actual = element.attrs[test.name]
  if (actual === undefined) return false
  if (test.op === "exists") return true
  if (test.insensitive) actual = actual.toLowerCase()
  const v = test.value
  switch (test.op) {
    case "=":
      return actual === v
    case "~=":
      return v !== "" && actual.split(/\s+/).includes(v)
    case "|=":
      return actual === v || actual.startsWith(v + "-")
    case "^=":
      return v !== "" && actual.startsWith(v)
    case "$=":
      return v !== "" && actual.endsWith(v)
    case "*=":
      return v !== "" && actual.includes(v)
  }
}

interface Siblings {
  readonly list: ReadonlyArray<Element>
  readonly index: Map<Element, number>
}

// computed once per parent, so sibling combinators and :nth-* stay linear on wide (or flattened) trees
const siblingCache = new WeakMap<Element, Siblings>()

const siblingsOf = (element: Element): Siblings => {
  const parent = element.parent
  if (parent === undefined) return { list: [element], index: new Map([[element, 0]]) }
  let siblings = siblingCache.get(parent)
  if (siblings === undefined) {
    const list = elementChildren(parent)
    siblings = { list, index: new Map(list.map((e, i) => [e, i])) }
    siblingCache.set(parent, siblings)
  }
  return siblings
}

const testNth = (element: Element, pseudo: Extract<Pseudo, { kind: "nth" }>): boolean => {
  if (element.parent === undefined) return false
  const { index: indexOf, list } = siblingsOf(element)
  const at = indexOf.get(element)!
  let position: number
  if (pseudo.ofType) {
    let before = 0
    let after = 0
    for (let i = 0; i < list.length; i++) {
      if (list[i]!.name !== element.name) continue
      if (i < at) before++
      else if (i > at) after++
    }
    position = pseudo.fromEnd ? after + 1 : before + 1
  } else {
    position = pseudo.fromEnd ? list.length - at : at + 1
  }
  if (pseudo.a === 0) return position === pseudo.b
  const n = (position - pseudo.b) / pseudo.a
  return Number.isInteger(n) && n >= 0
}

const matchesCompound = (element: Element, compound: Compound): boolean => {
  if (compound.tag !== undefined && element.name !== compound.tag) return false
  if (compound.id !== undefined && element.attrs["id"] !== compound.id) return false
  for (const name of compound.classes) if (!hasClass(element, name)) return false
  for (const test of compound.attrs) if (!testAttr(element, test)) return false
  for (const pseudo of compound.pseudos) {
    switch (pseudo.kind) {
      case "not":
        if (matchesList(element, pseudo.list)) return false
        break
      case "nth":
        if (!testNth(element, pseudo)) return false
        break
      case "only":
        if (siblingsOf(element).list.length !== 1) return false
        break
      case "contains":
        if (!textOf(element).includes(pseudo.text)) return false
        break
    }
  }
  return true
}

const previousElement = (element: Element): Element | undefined => {
  const { index, list } = siblingsOf(element)
  const at = index.get(element)!
  return at > 0 ? list[at - 1] : undefined
}

const matchesFrom = (element: Element, complex: Complex, index: number): boolean => {
  const part = complex.parts[index]!
  if (!matchesCompound(element, part.compound)) return false
  if (index === complex.parts.length - 1) return true
  const combinator = part.combinator!
  switch (combinator) {
    case ">": {
      const parent = element.parent
      return parent !== undefined && parent.name !== "#root" && matchesFrom(parent, complex, index + 1)
    }
    case " ": {
      for (let p = element.parent; p !== undefined && p.name !== "#root"; p = p.parent) {
        if (matchesFrom(p, complex, index + 1)) return true
      }
      return false
    }
    case "+": {
      const previous = previousElement(element)
      return previous !== undefined && matchesFrom(previous, complex, index + 1)
    }
    case "~": {
      const { index: indexOf, list } = siblingsOf(element)
      const at = indexOf.get(element)!
      for (let i = at - 1; i >= 0; i--) if (matchesFrom(list[i]!, complex, index + 1)) return true
      return false
    }
  }
}

/** Whether an element matches any selector of the list. */
export const matchesList = (element: Element, list: SelectorList): boolean => {
  for (const complex of list) if (matchesFrom(element, complex, 0)) return true
  return false
}

/** The first element (document order) matching the list, searching `elements`. */
export const selectFirst = (elements: ReadonlyArray<Element>, list: SelectorList): Element | undefined => {
  for (const element of elements) if (matchesList(element, list)) return element
  return undefined
}

/** Every element matching the list, in document order. */
export const selectAll = (elements: ReadonlyArray<Element>, list: SelectorList): Array<Element> =>
  elements.filter((element) => matchesList(element, list))
