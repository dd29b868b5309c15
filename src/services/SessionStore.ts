/**
 * SessionStore: what the plugin remembers about each opencode session between events.
 *
 * Bounded: at most `maxSessions` sessions are kept; the least recently touched is evicted first and its
 * open spans are ended, so neither memory nor spans leak however many sessions a long-lived opencode sees.
 */
import type { Span } from "@opentelemetry/api"
import { Context, Effect, Layer, Option } from "effect"

export interface SessionState {
  readonly id: string
  readonly parentID: string | undefined
  /** Epoch milliseconds at which opencode created the session. */
  readonly createdAt: number
  /** The session span, while open. */
  span: Span | undefined
  /** Per-session counter for event.sequence on log events. */
  sequence: number
}

export interface Interface {
  readonly get: (id: string) => Effect.Effect<Option.Option<SessionState>>
  /** Returns the existing state, or stores `init()` as new state. `created` tells which. */
  readonly getOrCreate: (id: string, init: () => SessionState) => Effect.Effect<{ state: SessionState; created: boolean }>
  readonly remove: (id: string) => Effect.Effect<Option.Option<SessionState>>
  /** The next event.sequence of a session (1, 2, 3, ...). */
  readonly nextSequence: (id: string) => Effect.Effect<number>
  readonly size: Effect.Effect<number>
  /** Ends every open span and forgets every session (used at shutdown). */
  readonly closeAll: (endTime?: number) => Effect.Effect<void>
}

export class SessionStore extends Context.Service<SessionStore, Interface>()("opencode-plugin-opentelemetry/SessionStore") {}

export const DEFAULT_MAX_SESSIONS = 1_000

const endSpans = (state: SessionState, endTime?: number) => {
  state.span?.end(endTime)
  state.span = undefined
}

export const make = (options: { readonly maxSessions?: number } = {}) =>
  Effect.gen(function* () {
    const maxSessions = Math.max(1, options.maxSessions ?? DEFAULT_MAX_SESSIONS)
    // A Map iterates in insertion order; re-inserting on access makes it an LRU.
    const sessions = new Map<string, SessionState>()

    const touch = (state: SessionState) => {
      sessions.delete(state.id)
      sessions.set(state.id, state)
    }

    const evictOverflow = () => {
      while (sessions.size > maxSessions) {
        const oldest = sessions.values().next().value
        if (oldest === undefined) return
        sessions.delete(oldest.id)
        endSpans(oldest)
      }
    }

    const get = Effect.fn("SessionStore.get")(function* (id: string) {
      const state = sessions.get(id)
      if (state !== undefined) touch(state)
      return Option.fromNullishOr(state)
    })

    const getOrCreate = Effect.fn("SessionStore.getOrCreate")(function* (id: string, init: () => SessionState) {
      const existing = sessions.get(id)
      if (existing !== undefined) {
        touch(existing)
        return { state: existing, created: false }
      }
      const state = init()
      sessions.set(id, state)
      evictOverflow()
      return { state, created: true }
    })

    const remove = Effect.fn("SessionStore.remove")(function* (id: string) {
      const state = sessions.get(id)
      sessions.delete(id)
      return Option.fromNullishOr(state)
    })

    const nextSequence = Effect.fn("SessionStore.nextSequence")(function* (id: string) {
      const state = sessions.get(id)
      if (state === undefined) return 0
      state.sequence += 1
      return state.sequence
    })

    const closeAll = Effect.fn("SessionStore.closeAll")(function* (endTime?: number) {
      for (const state of sessions.values()) endSpans(state, endTime)
      sessions.clear()
    })

    return SessionStore.of({ get, getOrCreate, remove, nextSequence, size: Effect.sync(() => sessions.size), closeAll })
  })

/** The store; on release, every span still open is ended so the exporter's final flush carries it. */
export const layer = (options: { readonly maxSessions?: number } = {}) =>
  Layer.effect(
    SessionStore,
    Effect.acquireRelease(make(options), (store) => store.closeAll()),
  )

export const defaultLayer = layer()
