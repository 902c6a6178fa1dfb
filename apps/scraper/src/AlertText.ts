/**
 * How an alert reads: one human line (stdout, logs) and a JSON body
 * (webhook, JSONL file), both from the store's outbox row alone: the row
 * carries the product's name, so an alert re-sent by another process (after
 * a crash or restart) reads exactly like the first attempt.
 *
 * @since 0.1.0
 */
import type * as Notifier from "./Notifier.ts"

/**
 * The fields of an outbox alert that a notification shows.
 *
 * @since 0.1.0
 */
export interface AlertLike {
  readonly key: string
  readonly kind: string
  readonly url: string
  readonly targetId: number
  readonly oldPrice: { readonly amount: string; readonly currency: string } | null
  readonly newPrice: { readonly amount: string; readonly currency: string } | null
  readonly percent: string | null
  readonly failureStreak: number
  readonly createdAt: number
  /** The name the page showed when the change was seen; `null` when it showed none. */
  readonly productName: string | null
  /** The alert rule that raised it (`below 100 EUR`); null or absent for a target's default alerts. */
  readonly rule?: string | null | undefined
  /** The competitor group it is about (`cheapest_changed`, a group's rules); null or absent otherwise. */
  readonly group?: string | null | undefined
}

const money = (price: AlertLike["oldPrice"]) => price === null ? "?" : `${price.amount} ${price.currency}`

const headline: Record<string, string> = {
  first_seen: "first seen",
  price_up: "price up",
  price_down: "price down",
  currency_changed: "currency changed",
  back_in_stock: "back in stock",
  out_of_stock: "out of stock",
  extraction_broken: "extraction broken",
  price_drop: "price drop",
  price_rise: "price rise",
  price_ambiguous: "price ambiguous",
  cheapest_changed: "cheapest changed"
}

/**
 * One line for a person: what happened, to which product, from what to what.
 *
 * @example
 * ```ts
 * import { AlertText } from "@trawl/scraper"
 * AlertText.line({
 *   key: "7:42", kind: "price_down", url: "https://shop.example/kettle", targetId: 7,
 *   oldPrice: { amount: "24.90", currency: "EUR" }, newPrice: { amount: "19.90", currency: "EUR" },
 *   percent: "-20.08", failureStreak: 0, createdAt: 0, productName: "Kettle"
 * })
 * // "price down: Kettle 24.90 EUR → 19.90 EUR (-20.08%) https://shop.example/kettle"
 * ```
 * @since 0.1.0
 */
export const line = (alert: AlertLike): string => {
  // a threshold's headline is its rule: "below 100 EUR: Kettle 99.00 EUR ← 120.00 EUR"
  const what = (alert.kind === "price_below" || alert.kind === "price_above") && alert.rule != null
    ? alert.rule
    : headline[alert.kind] ?? alert.kind
  const product = alert.productName === null || alert.productName === "" ? "" : `${alert.productName} `
  switch (alert.kind) {
    case "cheapest_changed":
      return `${what}${alert.group == null ? "" : ` in ${alert.group}`}: now ${product}${money(alert.newPrice)}${
        alert.oldPrice === null ? "" : ` (the best was ${money(alert.oldPrice)})`
      } ${alert.url}`
    case "price_below":
    case "price_above":
      return `${what}: ${product}${money(alert.newPrice)}${alert.oldPrice === null ? "" : ` (was ${money(alert.oldPrice)})`} ${alert.url}`
    case "price_drop":
    case "price_rise":
      return `${what}${alert.rule == null ? "" : ` (${alert.rule})`}: ${product}${money(alert.oldPrice)} → ${money(alert.newPrice)}${alert.percent === null ? "" : ` (${alert.percent}%)`} ${alert.url}`
    case "price_up":
    case "price_down":
    case "currency_changed":
      return `${what}: ${product}${money(alert.oldPrice)} → ${money(alert.newPrice)}${alert.percent === null ? "" : ` (${alert.percent}%)`} ${alert.url}`
    case "first_seen":
    case "back_in_stock":
      return `${what}: ${product}${money(alert.newPrice)} ${alert.url}`
    case "extraction_broken":
      return `${what}: ${product}${alert.failureStreak} failures in a row ${alert.url}`
    default:
      return `${what}: ${product}${alert.url}`
  }
}

/**
 * The notification for an alert.
 *
 * @example
 * ```ts
 * import { AlertText } from "@trawl/scraper"
 * declare const alert: AlertText.AlertLike
 * const notification = AlertText.notification(alert)
 * ```
 * @since 0.1.0
 */
export const notification = (alert: AlertLike): Notifier.Notification => ({
  key: alert.key,
  text: line(alert),
  json: {
    kind: alert.kind,
    targetId: alert.targetId,
    url: alert.url,
    ...(alert.productName === null ? {} : { name: alert.productName }),
    oldPrice: alert.oldPrice,
    newPrice: alert.newPrice,
    percent: alert.percent,
    ...(alert.kind === "extraction_broken" ? { failureStreak: alert.failureStreak } : {}),
    ...(alert.rule == null ? {} : { rule: alert.rule }),
    ...(alert.group == null ? {} : { group: alert.group }),
    at: new Date(alert.createdAt).toISOString()
  }
})
