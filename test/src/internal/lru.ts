/** A least-recently-used map bounded by entry count and by a total weight. */
export class Lru<K, V> {
  readonly #entries = new Map<K, { value: V; weight: number }>()
  readonly #maxEntries: number
  readonly #maxWeight: number
  #weight = 0

  constructor(maxEntries: number, maxWeight = Number.POSITIVE_INFINITY) {
    this.#maxEntries = maxEntries
    this.#maxWeight = maxWeight
  }

  get size(): number {
    return this.#entries.size
  }

  get weight(): number {
    return this.#weight
  }

  get(key: K): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    return entry.value
  }

  set(key: K, value: V, weight = 0): void {
    if (weight > this.#maxWeight) return
    const old = this.#entries.get(key)
    if (old !== undefined) {
      this.#weight -= old.weight
      this.#entries.delete(key)
    }
    this.#entries.set(key, { value, weight })
    this.#weight += weight
    // Bounded: each turn removes one entry.
    while (this.#entries.size > this.#maxEntries || this.#weight > this.#maxWeight) {
      const oldest = this.#entries.keys().next()
      if (oldest.done === true) break
      this.#weight -= this.#entries.get(oldest.value)!.weight
      this.#entries.delete(oldest.value)
    }
  }

  clear(): void {
    this.#entries.clear()
    this.#weight = 0
  }
}
