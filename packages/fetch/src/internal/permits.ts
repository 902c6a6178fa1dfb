/**
 * A counting semaphore with a synchronous fast path: taking a free permit and
 * releasing one are plain function calls (no Effect step), and only a taker
 * that must wait suspends. Waiters are served first come, first served.
 *
 * @internal
 */
import * as Effect from "effect/Effect"

export class Permits {
  available: number
  private readonly waiters = new Set<() => void>()
  constructor(permits: number) {
    this.available = permits
  }

  /** Takes a permit now if one is free. */
  tryTake(): boolean {
    if (this.available > 0 && this.waiters.size === 0) {
      this.available--
      return true
    }
    return false
  }

  /**
   * Waits for a permit. When the effect succeeds the permit is held; when it
   * is interrupted it is not (a permit handed over at the same moment is
   * passed on).
   */
  readonly take: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (this.tryTake()) {
      resume(Effect.void)
      return
    }
    let granted = false
    const waiter = () => {
      granted = true
      resume(Effect.void)
    }
    this.waiters.add(waiter)
    return Effect.sync(() => {
      if (granted) this.release()
      else this.waiters.delete(waiter)
    })
  })

  release(): void {
    for (const waiter of this.waiters) {
      this.waiters.delete(waiter)
      waiter()
      return
    }
    this.available++
  }

  get waiting(): number {
    return this.waiters.size
  }
}
