/**
 * Microdata and RDFa items → schema.org plain objects (the JSON-LD shape), so
 * `readGraphs` can normalize them. Both walks are iterative. The syntaxes
 * read attributes only (the element's text is the caller's), so the DOM walk
 * here and the DOM-free pass in `itemScan.ts` share them.
 */
import { type Document, type Element, textOf } from "./dom.ts"

export type Item = Record<string, unknown>

export type Attributes = Readonly<Record<string, string>>

export const addProp = (item: Item, name: string, value: unknown): void => {
  const existing = item[name]
  if (existing === undefined) item[name] = value
  else if (Array.isArray(existing)) existing.push(value)
  else item[name] = [existing, value]
}

const URL_ELEMENTS: Readonly<Record<string, string>> = {
  a: "href", area: "href", link: "href", img: "src", audio: "src", embed: "src", iframe: "src", source: "src",
  track: "src", video: "src", object: "data", data: "value", meter: "value", time: "datetime"
}

/** The value of a microdata property element (`content` first: shops put machine values there); else its text. */
const microdataValue = (name: string, attrs: Attributes): string | undefined => {
  const content = attrs["content"]
  if (content !== undefined) return content
  const attribute = Object.hasOwn(URL_ELEMENTS, name) ? URL_ELEMENTS[name] : undefined
  if (attribute !== undefined) {
    const value = attrs[attribute]
    if (value !== undefined) return value
  }
  return undefined
}

const rdfaValue = (name: string, attrs: Attributes): string | undefined => {
  const content = attrs["content"]
  if (content !== undefined) return content
  const resource = attrs["resource"] ?? attrs["href"] ?? attrs["src"]
  if (resource !== undefined && (name === "link" || name === "a" || attrs["resource"] !== undefined)) {
    return resource
  }
  return undefined
}

export interface ItemSyntax {
  readonly scope: (attrs: Attributes) => boolean
  readonly types: (attrs: Attributes) => Array<string>
  readonly props: (attrs: Attributes) => Array<string>
  /** The property value from attributes, or `undefined` when it is the element's text. */
  readonly value: (name: string, attrs: Attributes) => string | undefined
}

export const MICRODATA: ItemSyntax = {
  scope: (a) => a["itemscope"] !== undefined,
  types: (a) => (a["itemtype"] ?? "").split(/\s+/).filter((t) => t !== ""),
  props: (a) => (a["itemprop"] ?? "").split(/\s+/).filter((p) => p !== ""),
  value: microdataValue
}

const stripPrefix = (name: string): string => name.replace(/^https?:\/\/(?:www\.)?schema\.org\/|^schema:/i, "")

export const RDFA: ItemSyntax = {
  scope: (a) => a["typeof"] !== undefined,
  types: (a) => (a["typeof"] ?? "").split(/\s+/).filter((t) => t !== "").map(stripPrefix),
  props: (a) =>
    (a["property"] ?? "")
      .split(/\s+/)
      .filter((p) => p !== "" && !/^(?:og|product|fb|twitter|article):/i.test(p))
      .map(stripPrefix),
  value: rdfaValue
}

/** A new item for a scope element: its types, and its id (`itemid`, else `resource`). */
export const newItem = (syntax: ItemSyntax, attrs: Attributes): Item => {
  const item: Item = { "@type": syntax.types(attrs) }
  const id = attrs["itemid"] ?? attrs["resource"]
  if (id !== undefined) item["@id"] = id
  return item
}

const readItems = (document: Document, syntax: ItemSyntax): Array<Item> => {
  const top: Array<Item> = []
  const stack: Array<{ element: Element; scope: Item | undefined }> = []
  for (let i = document.root.children.length - 1; i >= 0; i--) {
    const child = document.root.children[i]!
    if (typeof child !== "string") stack.push({ element: child, scope: undefined })
  }
  while (stack.length > 0) {
    const { element, scope } = stack.pop()!
    const props = scope === undefined ? [] : syntax.props(element.attrs)
    let inner = scope
    if (syntax.scope(element.attrs)) {
      const item = newItem(syntax, element.attrs)
      if (props.length > 0 && scope !== undefined) for (const p of props) addProp(scope, p, item)
      else top.push(item)
      inner = item
    } else if (props.length > 0 && scope !== undefined) {
      const value = syntax.value(element.name, element.attrs) ?? textOf(element)
      for (const p of props) addProp(scope, p, value)
    }
    for (let i = element.children.length - 1; i >= 0; i--) {
      const child = element.children[i]!
      if (typeof child !== "string") stack.push({ element: child, scope: inner })
    }
  }
  return top
}

/** Top-level microdata items (`itemscope` without `itemprop`), nested items as values. */
export const microdataItems = (document: Document): Array<Item> => readItems(document, MICRODATA)

/** Top-level RDFa (Lite) items (`typeof`), nested items as values. */
export const rdfaItems = (document: Document): Array<Item> => readItems(document, RDFA)
