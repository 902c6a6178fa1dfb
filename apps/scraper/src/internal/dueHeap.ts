/**
 * A binary min-heap of target ids ordered by due time, stored in typed arrays
 * (struct of arrays): about 20 bytes per target, so a million targets cost
 * ~20 MB and no per-target objects. Every operation is O(log n); nothing ever
 * scans the targets.
 *
 * @internal
 */
export class DueHeap {
  /** heap position → target id */
  private ids: Int32Array
  /** heap position → due time (epoch ms) */
  private due: Float64Array
  /** target id → heap position + 1 (0 = not in the heap) */
  private positions: Int32Array
  size = 0

  constructor(initialCapacity = 1024) {
    this.ids = new Int32Array(initialCapacity)
    this.due = new Float64Array(initialCapacity)
    this.positions = new Int32Array(initialCapacity)
  }

  has(id: number): boolean {
    return id < this.positions.length && this.positions[id]! > 0
  }

  dueOf(id: number): number | undefined {
    return this.has(id) ? this.due[this.positions[id]! - 1] : undefined
  }

  /** Inserts `id`, or moves it if it is already in the heap. */
  set(id: number, dueAt: number): void {
    if (!Number.isSafeInteger(id) || id < 0 || id > 0x7fffffff) throw new RangeError(`target id must be a non-negative int32, got ${id}`)
    this.ensureIdCapacity(id)
    const position = this.positions[id]! - 1
    if (position >= 0) {
      const previous = this.due[position]!
      this.due[position] = dueAt
      if (dueAt < previous) this.up(position)
      else this.down(position)
      return
    }
    this.ensureHeapCapacity(this.size + 1)
    const at = this.size++
    this.ids[at] = id
    this.due[at] = dueAt
    this.positions[id] = at + 1
    this.up(at)
  }

  delete(id: number): boolean {
    if (!this.has(id)) return false
    const position = this.positions[id]! - 1
    const last = --this.size
    this.positions[id] = 0
    if (position !== last) {
      this.move(last, position)
      this.down(position)
      this.up(position)
    }
    return true
  }

  /** The earliest due time, or `undefined` when empty. */
  peekDue(): number | undefined {
    return this.size > 0 ? this.due[0] : undefined
  }

  peekId(): number | undefined {
    return this.size > 0 ? this.ids[0] : undefined
  }

  /** Removes and returns the id of the earliest-due target. */
  pop(): number | undefined {
    if (this.size === 0) return undefined
    const id = this.ids[0]!
    this.delete(id)
    return id
  }

  /**
   * Counts entries due at or before `time`, visiting only those (a heap's
   * due entries form a subtree at the root), and at most `limit` of them.
   */
  countDueBefore(time: number, limit: number): number {
    let count = 0
    const stack: Array<number> = this.size > 0 ? [0] : []
    while (stack.length > 0 && count < limit) {
      const at = stack.pop()!
      if (this.due[at]! > time) continue
      count++
      const left = 2 * at + 1
      if (left < this.size) stack.push(left)
      if (left + 1 < this.size) stack.push(left + 1)
    }
    return count
  }

  private move(from: number, to: number): void {
    const id = this.ids[from]!
    this.ids[to] = id
    this.due[to] = this.due[from]!
    this.positions[id] = to + 1
  }

  private swap(a: number, b: number): void {
    const idA = this.ids[a]!
    const dueA = this.due[a]!
    this.move(b, a)
    this.ids[b] = idA
    this.due[b] = dueA
    this.positions[idA] = b + 1
  }

  private up(at: number): void {
    while (at > 0) {
      const parent = (at - 1) >> 1
      if (this.due[parent]! <= this.due[at]!) return
      this.swap(at, parent)
      at = parent
    }
  }

  private down(at: number): void {
    while (true) {
      const left = 2 * at + 1
      if (left >= this.size) return
      const right = left + 1
      const child = right < this.size && this.due[right]! < this.due[left]! ? right : left
      if (this.due[at]! <= this.due[child]!) return
      this.swap(at, child)
      at = child
    }
  }

  private ensureHeapCapacity(needed: number): void {
    if (needed <= this.ids.length) return
    const capacity = Math.max(needed, this.ids.length * 2)
    const ids = new Int32Array(capacity)
    ids.set(this.ids)
    const due = new Float64Array(capacity)
    due.set(this.due)
    this.ids = ids
    this.due = due
  }

  private ensureIdCapacity(id: number): void {
    if (id < this.positions.length) return
    const positions = new Int32Array(Math.max(id + 1, this.positions.length * 2))
    positions.set(this.positions)
    this.positions = positions
  }
}
