/**
 * The actor runtime's metrics. They are global (not one series per actor):
 * a million actors must not mean a million metric series.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

export const messagesProcessed = Metric.counter("trawl_actor_messages_processed", {
  description: "Messages processed by actors",
  incremental: true
})

export const messagesDropped = Metric.counter("trawl_actor_messages_dropped", {
  description: "Messages dropped by full mailboxes (dropNewest / dropOldest)",
  incremental: true
})

export const restarts = Metric.counter("trawl_actor_restarts", {
  description: "Actor restarts made by supervisors",
  incremental: true
})

export const mailboxDepth = Metric.gauge("trawl_actor_mailbox_depth", {
  description: "Messages queued in a named actor's mailbox, sampled when it starts and stops processing"
})

export const depthOf = (actor: string) => Metric.withAttributes(mailboxDepth, { actor })

export const askLatency = Metric.histogram("trawl_actor_ask_latency_ms", {
  description: "Time from ask to reply, in milliseconds",
  boundaries: Metric.exponentialBoundaries({ start: 0.01, factor: 4, count: 12 })
})

export const processed = (context: Context.Context<any>, count: number): Effect.Effect<void> =>
  count === 0 ? Effect.void : Effect.sync(() => messagesProcessed.updateUnsafe(count, context))

export const dropped = (context: Context.Context<any>): Effect.Effect<void> =>
  Effect.sync(() => messagesDropped.updateUnsafe(1, context))
