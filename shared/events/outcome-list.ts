import type { JsonSchema } from '../schema.ts'

/**
 * The objects a sweep's reply lists, bounded whatever the cluster's size.
 *
 * A clean-up over 20,000 objects must not answer with 20,000 rows: the reply
 * goes back through the Broker to notify, whose body limit (and Knative's)
 * would refuse it, and the outcome would be lost. So a reply carries every
 * count, and at most `limit` objects: the ones acted on (deleted, failed,
 * deferred, reported) before the ones kept, in the order they were looked
 * at, with `omitted` saying how many of each action were left out. Kept
 * objects are counted by reason. Every object acted on is also logged, one
 * line each, so the full list of what changed is in the function's log.
 * Memory stays at `limit` objects however many pass through.
 */

/** At most this many objects in one reply: about 100 KiB of JSON. */
export const REPLY_OBJECT_LIMIT = 500

interface Listed { readonly action: string; readonly reasons: readonly string[] }

export interface OutcomeListing<T> {
  /** At most the limit, acted-on first, each group in the order seen. */
  objects: T[]
  /** How many objects of each action the reply leaves out (absent when none). */
  omitted?: Record<string, number>
}

export class OutcomeList<T extends Listed> {
  readonly #limit: number
  readonly #keptAction: string
  readonly #acted: Array<[number, T]> = []
  readonly #kept: Array<[number, T]> = []
  readonly #counts: Record<string, number> = {}
  readonly #keptReasons: Record<string, number> = {}
  readonly #omitted: Record<string, number> = {}
  #seen = 0

  constructor(options: { limit?: number; keptAction?: string } = {}) {
    this.#limit = options.limit ?? REPLY_OBJECT_LIMIT
    this.#keptAction = options.keptAction ?? 'keep'
  }

  add(item: T): void {
    const seq = this.#seen++
    this.#counts[item.action] = (this.#counts[item.action] ?? 0) + 1
    if (item.action === this.#keptAction) {
      for (const reason of item.reasons) this.#keptReasons[reason] = (this.#keptReasons[reason] ?? 0) + 1
      // Kept objects fill what the acted-on ones leave of the limit.
      if (this.#acted.length + this.#kept.length < this.#limit) this.#kept.push([seq, item])
      else this.#omit(item.action)
      return
    }
    if (this.#acted.length < this.#limit) {
      this.#acted.push([seq, item])
      // An acted-on object takes the place of a kept one.
      if (this.#acted.length + this.#kept.length > this.#limit) this.#omit(this.#kept.pop()![1].action)
      return
    }
    this.#omit(item.action)
  }

  #omit(action: string): void {
    this.#omitted[action] = (this.#omitted[action] ?? 0) + 1
  }

  /** Every object added, by action. */
  get counts(): Record<string, number> {
    return { ...this.#counts }
  }

  /** How many kept objects each reason kept. */
  get keptReasons(): Record<string, number> {
    return { ...this.#keptReasons }
  }

  count(action: string): number {
    return this.#counts[action] ?? 0
  }

  get size(): number {
    return this.#seen
  }

  listing(): OutcomeListing<T> {
    const bySeq = (a: [number, T], b: [number, T]) => a[0] - b[0]
    const objects = [...this.#acted.sort(bySeq), ...this.#kept.sort(bySeq)].map(([, item]) => item)
    return { objects, ...(Object.keys(this.#omitted).length > 0 ? { omitted: { ...this.#omitted } } : {}) }
  }
}

/** The schema of a bounded listing's fields, for an outcome type's data. */
export function outcomeListSchema<const I extends JsonSchema>(item: I) {
  return {
    objects: { type: 'array', maxItems: REPLY_OBJECT_LIMIT, items: item },
    omitted: { type: 'object', additionalProperties: { type: 'integer', minimum: 1 } },
  } as const
}
