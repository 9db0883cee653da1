import { setTimeout as sleep } from 'node:timers/promises'
import { isApiException, kubernetesError } from './client.ts'
import { LEFT_AT_DEADLINE } from '../deadline.ts'
import type { FromSchema, JsonSchema } from '../schema.ts'

/**
 * Deletes for the clean-up functions, safe at scale: at most `perSecond`,
 * at most `cap` per run (the rest is deferred to the next), none started
 * past the run's deadline (the rest is deferred likewise, so the run replies
 * before Knative's request timeout cuts it off), each retried on 429 and 5xx
 * with backoff (honouring Retry-After), a 404 counted as done (a redelivery,
 * or someone was quicker). A delete that keeps failing is reported and the
 * run goes on.
 */

export type DeleteResult = { outcome: 'deleted' } | { outcome: 'failed'; reason: string } | { outcome: 'deferred'; reason: string }

export interface DeleterLimits {
  readonly cap: number
  readonly perSecond: number
  readonly attempts: number
}

export class PacedDeleter {
  readonly #limits: DeleterLimits
  readonly #signal: AbortSignal
  readonly #deadline: number
  #budget: number
  #deleted = 0
  #deadlineReached = false

  /** `deadline`: epoch ms past which nothing more is deleted (the handler context's). */
  constructor(limits: DeleterLimits, signal: AbortSignal, deadline = Number.POSITIVE_INFINITY) {
    this.#limits = limits
    this.#signal = signal
    this.#deadline = deadline
    this.#budget = limits.cap
  }

  /** True once a delete was deferred because the run's deadline had passed. */
  get deadlineReached(): boolean {
    return this.#deadlineReached
  }

  get capReached(): boolean {
    return this.#budget <= 0
  }

  get deleted(): number {
    return this.#deleted
  }

  async delete(what: string, call: () => Promise<unknown>): Promise<DeleteResult> {
    if (this.#budget <= 0) return { outcome: 'deferred', reason: 'the per-run deletion cap is reached' }
    if (this.#signal.aborted) return { outcome: 'deferred', reason: 'shutting down' }
    if (Date.now() >= this.#deadline) return this.#pastDeadline()
    this.#budget--
    for (let attempt = 1; ; attempt++) {
      try {
        await call()
        break
      } catch (err) {
        const code = isApiException(err) ? err.code : undefined
        if (code === 404) break
        const retryable = code === undefined || code === 429 || code >= 500
        if (!retryable || attempt >= this.#limits.attempts) return { outcome: 'failed', reason: kubernetesError(err, `delete ${what}`).message }
        const retryAfter = Number(isApiException(err) ? err.headers['retry-after'] : undefined)
        const wait = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 30) * 1000 : 200 * 2 ** (attempt - 1)
        // A retry that would start past the deadline is left for the next run (a delete is idempotent).
        if (Date.now() + wait >= this.#deadline) return this.#pastDeadline()
        await sleep(wait)
      }
    }
    this.#deleted++
    await sleep(Math.min(1000 / this.#limits.perSecond, Math.max(0, this.#deadline - Date.now())))
    return { outcome: 'deleted' }
  }

  #pastDeadline(): DeleteResult {
    this.#deadlineReached = true
    return { outcome: 'deferred', reason: LEFT_AT_DEADLINE }
  }
}

/** Every item of a paginated list call (`limit` + `continue`). */
export async function listAll<T>(pageSize: number, page: (opts: { limit: number; _continue?: string }) => Promise<{ items?: T[]; metadata?: { _continue?: string; continue?: string } }>): Promise<T[]> {
  const out: T[] = []
  let token: string | undefined
  do {
    const res = await page({ limit: pageSize, ...(token ? { _continue: token } : {}) })
    out.push(...(res.items ?? []))
    token = res.metadata?._continue ?? res.metadata?.continue
  } while (token)
  return out
}

/** The config block of a deleting function's limits (JSON schema, with the defaults). */
export const deletionLimitsSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    maxDeletionsPerRun: { type: 'integer', minimum: 0, default: 100 },
    deletesPerSecond: { type: 'number', exclusiveMinimum: 0, maximum: 1000, default: 5 },
    pageSize: { type: 'integer', minimum: 1, maximum: 5000, default: 500 },
    attempts: { type: 'integer', minimum: 1, maximum: 10, default: 4 },
  },
} as const satisfies JsonSchema

export type DeletionLimits = FromSchema<typeof deletionLimitsSchema>
