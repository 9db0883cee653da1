import type { Counts } from './formats.ts'

/**
 * Collapsing and rate limiting, per channel, in this instance's memory.
 * The first message of a type and subject goes out; repeats within the
 * collapse window are counted, and the next message after the window says
 * how many there were. Past the rate limit, messages are counted and the
 * next one sent says how many were held back. `decide` looks only; the
 * caller records what happened (`sent`, `suppressed`), so a dry-run or a
 * failed delivery changes nothing.
 */

export type Decision =
  | { readonly send: true; readonly counts: Counts }
  | { readonly send: false; readonly reason: 'collapsed' | 'rate-limited' }

interface Repeat {
  lastSent: number
  suppressed: number
  firstSuppressed: number | undefined
}

const MAX_KEYS = 10_000

export class Limiter {
  readonly #collapseMs: number
  readonly #rateLimit: number
  readonly #rateWindowMs: number
  readonly #repeats = new Map<string, Repeat>()
  readonly #sent = new Map<string, number[]>()
  readonly #heldBack = new Map<string, number>()

  constructor(options: { collapseMs: number; rateLimit: number; rateWindowMs: number }) {
    this.#collapseMs = options.collapseMs
    this.#rateLimit = options.rateLimit
    this.#rateWindowMs = options.rateWindowMs
  }

  static key(channel: string, type: string, subject: string | undefined): string {
    return `${channel}\0${type}\0${subject ?? ''}`
  }

  #recent(channel: string, now: number): number[] {
    const list = (this.#sent.get(channel) ?? []).filter((t) => now - t < this.#rateWindowMs)
    this.#sent.set(channel, list)
    return list
  }

  decide(channel: string, type: string, subject: string | undefined, now: number): Decision {
    const repeat = this.#repeats.get(Limiter.key(channel, type, subject))
    if (repeat && now - repeat.lastSent < this.#collapseMs) return { send: false, reason: 'collapsed' }
    if (this.#recent(channel, now).length >= this.#rateLimit) return { send: false, reason: 'rate-limited' }
    return {
      send: true,
      counts: {
        repeats: repeat?.suppressed ?? 0,
        ...(repeat?.firstSuppressed !== undefined ? { since: new Date(repeat.firstSuppressed).toISOString() } : {}),
        heldBack: this.#heldBack.get(channel) ?? 0,
      },
    }
  }

  suppressed(channel: string, type: string, subject: string | undefined, reason: 'collapsed' | 'rate-limited', now: number): number {
    if (reason === 'rate-limited') {
      const n = (this.#heldBack.get(channel) ?? 0) + 1
      this.#heldBack.set(channel, n)
      return n
    }
    const repeat = this.#repeats.get(Limiter.key(channel, type, subject))!
    repeat.suppressed++
    repeat.firstSuppressed ??= now
    return repeat.suppressed
  }

  sent(channel: string, type: string, subject: string | undefined, now: number): void {
    const key = Limiter.key(channel, type, subject)
    this.#repeats.delete(key)
    this.#repeats.set(key, { lastSent: now, suppressed: 0, firstSuppressed: undefined })
    if (this.#repeats.size > MAX_KEYS) this.#repeats.delete(this.#repeats.keys().next().value!)
    this.#recent(channel, now).push(now)
    this.#heldBack.delete(channel)
  }
}
