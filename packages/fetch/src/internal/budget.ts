/**
 * The budget of response body bytes held in memory at once.
 *
 * Bytes count from the moment undici hands a chunk to an exchange until the
 * fiber that asked for the page has taken the result. Two brakes keep the
 * total near `limit`, so a burst of responses waits in the kernel's socket
 * buffers instead of the heap:
 *
 * - **Read slots.** A connection that has sent a request reads its response
 *   head only while it holds a slot (the connector stops it reading when the
 *   request is written and no slot is free). A slot is reserved at one socket
 *   read (64 KiB) and given back at the first bytes of the response.
 * - **Pauses.** A response already under way that pushes the total past the
 *   limit is paused (undici stops reading its connection) — unless it is the
 *   last one still running, so at least one response always makes progress.
 *
 * Whatever waits here is still under the exchange's timers (headers, total),
 * so nothing waits for the budget forever. Wake-ups run in a microtask: a
 * paused undici response must not be resumed from inside another response's
 * parser callback.
 *
 * @internal
 */

/** What one socket read can bring in at most (libuv reads up to 64 KiB). */
export const readReserve = 64 * 1024

/** A response that can be paused; the budget keeps it (not a closure) until there is room. */
export interface Pausable {
  resumeReading(): void
}

/** A connection queued for a read slot; `granted` is called with the slot taken. */
export interface SlotWaiter {
  granted(): void
}

export class BodyBudget {
  readonly limit: number
  /** Body bytes read and not yet taken by their fibers. */
  held = 0
  /** The highest `held` seen (for tests and diagnostics). */
  peak = 0
  /** Connections allowed to read a response head they have not seen yet. */
  reading = 0
  /** Responses under way that are not paused. */
  running = 0
  private readonly slotWaiters = new Set<SlotWaiter>()
  private readonly paused = new Set<Pausable>()
  private scheduled = false
  constructor(limit: number) {
    this.limit = limit
  }

  // No exception for "nothing running": bytes held then belong to finished exchanges whose fibers
  // give them back without any more reading (or to paused responses, which the pump resumes).
  private roomForHead(): boolean {
    return this.held + (this.reading + 1) * readReserve <= this.limit ||
      // A budget below one read still lets one head in at a time.
      (this.held === 0 && this.reading === 0)
  }

  /** Takes a read slot now if the budget has room (and nobody is queued before us). */
  tryTakeSlot(): boolean {
    if (this.slotWaiters.size === 0 && this.roomForHead()) {
      this.reading++
      return true
    }
    return false
  }

  /** Queues for a read slot; `waiter.granted` is called (with the slot taken) once there is room. */
  waitSlot(waiter: SlotWaiter): void {
    this.slotWaiters.add(waiter)
  }

  /** Leaves the slot queue (the connection closed before its turn). */
  cancelSlot(waiter: SlotWaiter): void {
    this.slotWaiters.delete(waiter)
  }

  releaseSlot(): void {
    this.reading--
    this.schedule()
  }

  /** A response head arrived: one more response under way. */
  started(): void {
    this.running++
  }

  /** A running (not paused) response ended, failed or was aborted. */
  stopped(): void {
    this.running--
    this.schedule()
  }

  charge(bytes: number): void {
    this.held += bytes
    if (this.held > this.peak) this.peak = this.held
  }

  release(bytes: number): void {
    if (bytes === 0) return
    this.held -= bytes
    this.schedule()
  }

  /**
   * Called after a response took a chunk: true when it must pause. The caller
   * then pauses its undici response; `response.resumeReading` is called when
   * there is room again (the response counts as running again from then on).
   */
  shouldPause(response: Pausable): boolean {
    if (this.held <= this.limit || this.running <= 1) return false
    this.running--
    this.paused.add(response)
    return true
  }

  /** Forgets a paused response (it was aborted or timed out while paused). */
  forgetPaused(response: Pausable): boolean {
    return this.paused.delete(response)
  }

  get pausedCount(): number {
    return this.paused.size
  }

  get waitingCount(): number {
    return this.slotWaiters.size
  }

  private schedule(): void {
    if (this.scheduled || (this.paused.size === 0 && this.slotWaiters.size === 0)) return
    this.scheduled = true
    queueMicrotask(this.pump)
  }

  private readonly pump = (): void => {
    this.scheduled = false
    // Responses under way first: finishing them is what frees the budget.
    for (const response of this.paused) {
      if (this.held > this.limit && this.running > 0) break
      this.paused.delete(response)
      this.running++
      response.resumeReading()
    }
    for (const waiter of this.slotWaiters) {
      if (!this.roomForHead()) break
      this.slotWaiters.delete(waiter)
      this.reading++
      waiter.granted()
    }
  }
}
