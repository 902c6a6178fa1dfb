/**
 * Reservations: politeness decided before the fetch.
 *
 * `fetcher.reserve(host)` takes a start on a host *now*, without waiting, if
 * the host's gate allows one — a per-host permit is free, the host's start
 * spacing has elapsed (minimum delay, robots `Crawl-delay`, adaptive
 * throttle, `Retry-After`) and its circuit admits a request — and otherwise
 * says when to ask again (`Refusal`). It decides on the very gate the
 * fetcher's own attempts use: there is one politeness mechanism, not two.
 *
 * A `Reservation` holds the host permit and the start slot (the host's next
 * allowed start was advanced when it was taken, exactly as an attempt's
 * admission does; a half-open circuit's probe is taken by it). Hand it to
 * `fetcher.fetchPage(request, { reservation })`: the call's first attempt
 * starts on it without waiting for a permit or the spacing. A reservation
 * is used by one call and never lost: the call gives it back on every exit
 * (interruption included) and whenever it cannot use it (robots.txt refuses
 * the URL or is not cached yet, the URL is on another host); `release` gives
 * back one that will not be used.
 *
 * A host is the URL's hostname, without the port.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as HostGates from "./internal/hostGates.ts"

/**
 * The brand of a `Reservation`.
 *
 * @example
 * ```ts
 * import { Reservation } from "@trawl/fetch"
 * typeof Reservation.TypeId // "symbol"
 * ```
 * @since 0.2.0
 */
export const TypeId: typeof HostGates.ReservationTypeId = HostGates.ReservationTypeId

/**
 * A start on `host`, taken by `Fetcher.reserve`: it holds one of the host's
 * permits and its start slot until a `fetchPage` call uses it or it is
 * released. Opaque.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fetcher, Reservation } from "@trawl/fetch"
 * const fetchIfAllowed = (fetcher: Fetcher.Service, url: string) =>
 *   Effect.flatMap(fetcher.reserve(new URL(url).hostname), (answer) =>
 *     Reservation.isReservation(answer)
 *       ? Effect.asSome(fetcher.fetchPage(url, { reservation: answer }))
 *       : Effect.succeedNone)
 * ```
 * @since 0.2.0
 */
export interface Reservation {
  readonly [TypeId]: typeof TypeId
  /** The hostname the start was taken on. */
  readonly host: string
}

/**
 * All the host's permits are in use (or its half-open circuit's probe is
 * out): ask again after one of its requests ends.
 *
 * @example
 * ```ts
 * import { Reservation } from "@trawl/fetch"
 * const refusal: Reservation.Busy = { _tag: "Busy" }
 * ```
 * @since 0.2.0
 */
export interface Busy {
  readonly _tag: "Busy"
}

/**
 * No start before `at` (epoch ms, from the Effect `Clock`): the host's start
 * spacing (`"spacing"`: minimum delay, `Crawl-delay`, throttle, a
 * `Retry-After`), or an open circuit's reopening (`"circuit"`).
 *
 * @example
 * ```ts
 * import { Reservation } from "@trawl/fetch"
 * const refusal: Reservation.NotBefore = { _tag: "NotBefore", at: 1_700_000_000_000, reason: "spacing" }
 * ```
 * @since 0.2.0
 */
export interface NotBefore {
  readonly _tag: "NotBefore"
  readonly at: number
  readonly reason: "spacing" | "circuit"
}

/**
 * Why `reserve` took no start.
 *
 * @example
 * ```ts
 * import { Reservation } from "@trawl/fetch"
 * const askAgainAt = (refusal: Reservation.Refusal, now: number) => refusal._tag === "NotBefore" ? refusal.at : now
 * ```
 * @since 0.2.0
 */
export type Refusal = Busy | NotBefore

/**
 * Whether `reserve` answered with a reservation.
 *
 * @example
 * ```ts
 * import { Reservation } from "@trawl/fetch"
 * Reservation.isReservation({ _tag: "Busy" }) // false
 * ```
 * @since 0.2.0
 */
export const isReservation = (u: unknown): u is Reservation =>
  typeof u === "object" && u !== null && TypeId in u

/**
 * Gives back a reservation that will not be used: its permit, its start slot
 * (unless another start moved the host's spacing since) and its probe. A
 * no-op on one already given back or taken by a `fetchPage` call (the call
 * gives it back itself), so it is always safe to call — e.g. after a fork
 * that may have been interrupted before its `fetchPage` started (a fiber
 * interrupted before its first step never runs).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fetcher, Reservation } from "@trawl/fetch"
 * const probeAndDrop = (fetcher: Fetcher.Service) =>
 *   Effect.flatMap(fetcher.reserve("shop.example"), (answer) =>
 *     Reservation.isReservation(answer) ? Reservation.release(answer) : Effect.void)
 * ```
 * @since 0.2.0
 */
export const release = (reservation: Reservation): Effect.Effect<void> =>
  Effect.sync(() => HostGates.giveBack(reservation as HostGates.HostReservation))

/**
 * Whether a reservation is still held by its holder (neither taken by a
 * `fetchPage` call nor given back).
 *
 * @example
 * ```ts
 * import { Fetcher, Reservation } from "@trawl/fetch"
 * const stillMine = (reservation: Reservation.Reservation) => Reservation.isHeld(reservation)
 * ```
 * @since 0.2.0
 */
export const isHeld = (reservation: Reservation): boolean =>
  (reservation as HostGates.HostReservation).state === HostGates.Held
