/**
 * Microdata and RDFa items → schema.org plain objects (the JSON-LD shape), so
 * `readGraphs` can normalize them. Both walks are iterative.
 */
import { type Document, type Element, textOf } from "./dom.ts"

type Item = Record<string, unknown>

const addProp = (item: Item, name: string, value: unknown): void => {
  const existing = item[name]
  if (existing === undefined) item[name] = value
  else if (Array.isArray(existing)) existing.push(value)
  else item[name] = [existing, value]
}

const URL_ELEMENTS: Readonly<Record<string, string>> = {
  a: "href", area: "href", link: "href", img: "src", audio: "src", embed: "src", iframe: "src", source: "src",
  track: "src", video: "src", object: "data", data: "value", meter: "value", time: "datetime"
}

/** The value of a microdata property element (`content` first: shops put machine values there). */
const microdataValue = (element: Element): string => {
  const content = element.attrs["content"]
  if (content !== undefined) return content
  const attribute = URL_ELEMENTS[element.name]
  if (attribute !== undefined) {
    const value = element.attrs[attribute]
    if (value !== undefined) return value
  }
  return textOf(element)
}

const rdfaValue = (element: Element): string => {
  const content = element.attrs["content"]
  if (content !== undefined) return content
  const resource = element.attrs["resource"] ?? element.attrs["href"] ?? element.attrs["src"]
  if (resource !== undefined && (element.name === "link" || element.name === "a" || element.attrs["resource"] !== undefined)) {
    return resource
  }
  return textOf(element)
}

interface ItemSyntax {
  readonly scope: (element: Element) => boolean
  readonly types: (element: Element) => Array<string>
  readonly props: (element: Element) => Array<string>
  readonly value: (element: Element) => string
}

const MICRODATA: ItemSyntax = {
  scope: (e) => e.attrs["itemscope"] !== undefined,
  types: (e) => (e.attrs["itemtype"] ?? "").split(/\s+/).filter((t) => t !== ""),
  props: (e) => (e.attrs["itemprop"] ?? "").split(/\s+/).filter((p) => p !== ""),
  value: microdataValue
}

const stripPrefix = (name: string): string => name.replace(/^https?:\/\/(?:www\.)?schema\.org\/|^schema:/i, "")

const RDFA: ItemSyntax = {
  scope: (e) => e.attrs["typeof"] !== undefined,
  types: (e) => (e.attrs["typeof"] ?? "").split(/\s+/).filter((t) => t !== "").map(stripPrefix),
  props: (e) =>
    (e.attrs["property"] ?? "")
      .split(/\s+/)
      .filter((p) => p !== "" && !/^(?:og|product|fb|twitter|article):/i.test(p))
      .map(stripPrefix),
  value: rdfaValue
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
    const props = scope === undefined ? [] : syntax.props(element)
    let inner = scope
    if (syntax.scope(element)) {
      const item: Item = { "@type": syntax.types(element) }
      const id = element.attrs["itemid"] ?? element.attrs["resource"]
      if (id !== undefined) item["@id"] = id
      if (props.length > 0 && scope !== undefined) for (const p of props) addProp(scope, p, item)
      else top.push(item)
      inner = item
    } else if (props.length > 0 && scope !== undefined) {
      const value = syntax.value(element)
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
