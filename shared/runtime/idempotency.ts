import { hash } from 'node:crypto'
import type { Redis } from 'ioredis'

/**
 * Knative delivers at least once. The outcome of every finished event is
 * recorded under its (source, id), so a redelivery gets the same reply
 * without running the handler again.
 */
export interface RecordedOutcome {
  status: number
  headers: Record<string, string>
  body: string | undefined
  /** Base64 when the reply body was binary. */
  bodyEncoding?: 'base64'
}

export type Claim =
  | { state: 'claimed' }
  | { state: 'done'; outcome: RecordedOutcome }
  | { state: 'in-progress' }

export interface IdempotencyStore {
  /** Claim the event for handling, or learn it is done or being handled. */
  claim(key: string): Promise<Claim>
  complete(key: string, outcome: RecordedOutcome): Promise<void>
  /** Give the claim up (the handler failed transiently; a retry may run). */
  release(key: string): Promise<void>
  close(): Promise<void>
}

export function idempotencyKey(functionName: string, source: string, id: string): string {
  // One-shot hash: the same digest as hashing the three parts in turn, without a Hash object per event.
  return hash('sha256', `${functionName}\0${source}\0${id}`, 'hex')
}

/** In-process store: bounded and time-limited, for a single replica. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #done = new Map<string, { outcome: RecordedOutcome; expires: number }>()
  readonly #inFlight = new Set<string>()
  readonly #ttlMs: number
  readonly #maxEntries: number
  readonly #now: () => number

  constructor(options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? 24 * 3600_000
    // Redeliveries come within minutes: 20,000 outcomes bound the memory (a few tens of MB) under a storm.
    this.#maxEntries = options.maxEntries ?? 20_000
    this.#now = options.now ?? Date.now
  }

  async claim(key: string): Promise<Claim> {
    const hit = this.#done.get(key)
    if (hit) {
      if (hit.expires > this.#now()) return { state: 'done', outcome: hit.outcome }
      this.#done.delete(key)
    }
    if (this.#inFlight.has(key)) return { state: 'in-progress' }
    this.#inFlight.add(key)
    return { state: 'claimed' }
  }

  async complete(key: string, outcome: RecordedOutcome): Promise<void> {
    this.#inFlight.delete(key)
    this.#done.set(key, { outcome, expires: this.#now() + this.#ttlMs })
    if (this.#done.size <= this.#maxEntries) return
    // Maps iterate in insertion order: the first keys are the oldest. They go a sixteenth of the bound at a
    // time, in one pass: a Map keeps the slots of deleted keys until it is rebuilt, so taking the oldest
    // key one event at a time rescans them all on every event (10 µs an event at 20,000 outcomes).
    let excess = this.#done.size - this.#maxEntries + (this.#maxEntries >> 4)
    for (const oldest of this.#done.keys()) {
      if (excess-- <= 0) break
      this.#done.delete(oldest)
    }
  }

  async release(key: string): Promise<void> {
    this.#inFlight.delete(key)
  }

  async close(): Promise<void> {
    this.#done.clear()
    this.#inFlight.clear()
  }

  get size(): number {
    return this.#done.size
  }
}

/**
 * Shared store for functions that scale out. A claim is a key set with NX
 * and a lease: if the replica handling it dies, the lease runs out and a
 * redelivery may run again.
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  readonly #redis: Redis
  readonly #prefix: string
  readonly #ttlSeconds: number
  readonly #leaseSeconds: number

  constructor(
    redis: Redis,
    options: { prefix?: string; ttlSeconds?: number; leaseSeconds?: number; onConnectionError?: (err: Error) => void } = {},
  ) {
    this.#redis = redis
    this.#prefix = options.prefix ?? 'caretaker:idempotency:'
    this.#ttlSeconds = options.ttlSeconds ?? 24 * 3600
    this.#leaseSeconds = options.leaseSeconds ?? 15 * 60
    // While Redis is unreachable, commands fail and the runtime answers 503.
    // Without a listener ioredis would also print every reconnect error to
    // the console, outside the structured log.
    redis.on('error', options.onConnectionError ?? (() => undefined))
  }

  async claim(key: string): Promise<Claim> {
    const k = this.#prefix + key
    const set = await this.#redis.set(k, 'pending', 'EX', this.#leaseSeconds, 'NX')
    if (set === 'OK') return { state: 'claimed' }
    const value = await this.#redis.get(k)
    if (value === null) return this.claim(key)
    if (value === 'pending') return { state: 'in-progress' }
    return { state: 'done', outcome: JSON.parse(value) as RecordedOutcome }
  }

  async complete(key: string, outcome: RecordedOutcome): Promise<void> {
    await this.#redis.set(this.#prefix + key, JSON.stringify(outcome), 'EX', this.#ttlSeconds)
  }

  async release(key: string): Promise<void> {
    await this.#redis.del(this.#prefix + key)
  }

  async close(): Promise<void> {
    await this.#redis.quit()
  }
}
