/**
 * A growable ring buffer: O(1) push, shift and unshift, for the pool's queue.
 *
 * @internal
 */
export class Deque<A> {
  private items: Array<A | undefined>
  private head = 0
  length = 0

  constructor(initialCapacity = 16) {
    this.items = new Array(initialCapacity)
  }

  push(item: A): void {
    if (this.length === this.items.length) this.grow()
    this.items[(this.head + this.length) % this.items.length] = item
    this.length++
  }

  unshift(item: A): void {
    if (this.length === this.items.length) this.grow()
    this.head = (this.head - 1 + this.items.length) % this.items.length
    this.items[this.head] = item
    this.length++
  }

  shift(): A | undefined {
    if (this.length === 0) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) % this.items.length
    this.length--
    return item
  }

  peek(): A | undefined {
    return this.length === 0 ? undefined : this.items[this.head]
  }

  /** Keeps only the items satisfying `keep`, in order. */
  retain(keep: (item: A) => boolean): void {
    const kept: Array<A> = []
    for (let i = 0; i < this.length; i++) {
      const item = this.items[(this.head + i) % this.items.length] as A
      if (keep(item)) kept.push(item)
    }
    this.items = new Array(Math.max(16, kept.length * 2))
    for (let i = 0; i < kept.length; i++) this.items[i] = kept[i]
    this.head = 0
    this.length = kept.length
  }

  private grow(): void {
    const next = new Array<A | undefined>(this.items.length * 2)
    for (let i = 0; i < this.length; i++) next[i] = this.items[(this.head + i) % this.items.length]
    this.items = next
    this.head = 0
  }
}
