import type { Availability } from "../Product.ts"

const BY_TOKEN: Readonly<Record<string, Availability>> = {
  instock: "InStock", limitedavailability: "InStock", onlineonly: "InStock", instoreonly: "InStock",
  available: "InStock", availablefororder: "InStock", in_stock: "InStock", yes: "InStock", true: "InStock",
  outofstock: "OutOfStock", soldout: "OutOfStock", oos: "OutOfStock", unavailable: "OutOfStock",
  out_of_stock: "OutOfStock", no: "OutOfStock", false: "OutOfStock", notavailable: "OutOfStock",
  preorder: "PreOrder", presale: "PreOrder", pending: "PreOrder", availableforpreorder: "PreOrder",
  backorder: "BackOrder", madetoorder: "BackOrder", availableforbackorder: "BackOrder",
  discontinued: "Discontinued"
}

const OUT = /out[ -]of[ -]stock|sold[ -]?out|unavailable|not available|ausverkauft|nicht (?:verfügbar|lieferbar|vorrätig|auf lager)|épuisé|rupture de stock|agotado|esaurito|niet (?:op voorraad|leverbaar)|slutsåld|utsolgt|udsolgt|wyprzedan|niedostępn|vyprodáno|нет в наличии/i
const PRE = /pre-?order|vorbestell|précommande|reserva|przedsprzeda/i
const BACK = /back-?order|nachbestell|on order/i
const DISCONTINUED = /discontinued|no longer available|nicht mehr erhältlich|plus disponible/i
const IN = /in[ -]stock|dostępn|available|(?:auf|an) lager|lieferbar|vorrätig|en stock|disponible|disponibile|op voorraad|i lager|på lager|na stanie|skladem|в наличии|add to (?:cart|bag|basket)|in den warenkorb|ajouter au panier/i

/**
 * Normalizes a schema.org / OpenGraph token (`https://schema.org/InStock`,
 * `instock`, `oos`) or a shop's text (`Sold out`, `Auf Lager`).
 */
export const normalizeAvailability = (value: unknown): Availability | undefined => {
  if (typeof value !== "string") return undefined
  const raw = value.trim()
  if (raw === "") return undefined
  const token = raw.replace(/^https?:\/\/schema\.org\/|^schema:/i, "").toLowerCase().replace(/[\s-]+/g, "")
  const known = BY_TOKEN[token]
  if (known !== undefined) return known
  if (DISCONTINUED.test(raw)) return "Discontinued"
  if (OUT.test(raw)) return "OutOfStock"
  if (PRE.test(raw)) return "PreOrder"
  if (BACK.test(raw)) return "BackOrder"
  if (IN.test(raw)) return "InStock"
  return undefined
}
