import { setTimeout as sleep } from 'node:timers/promises'
import { ApiException } from '@kubernetes/client-node'
import { kubernetesError } from './client.ts'

/**
 * Deletes for the clean-up functions, safe at scale: at most `perSecond`,
 * at most `cap` per run (the rest is deferred to the next), each retried on
 * 429 and 5xx with backoff (honouring Retry-After), a 404 counted as done
 * (a redelivery, or someone was quicker). A delete that keeps failing is
 * reported and the run goes on.
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
  #budget: number
  #deleted = 0

  constructor(limits: DeleterLimits, signal: AbortSignal) {
    this.#limits = limits
    this.#signal = signal
    this.#budget = limits.cap
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
    this.#budget--
    for (let attempt = 1; ; attempt++) {
      try {
        await call()
        break
      } catch (err) {
        const code = err instanceof ApiException ? err.code : undefined
        if (code === 404) break
        const retryable = code === undefined || code === 429 || code >= 500
        if (!retryable || attempt >= this.#limits.attempts) return { outcome: 'failed', reason: kubernetesError(err, `delete ${what}`).message }
        const retryAfter = Number((err as ApiException<unknown>).headers?.['retry-after'])
        await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 30) * 1000 : 200 * 2 ** (attempt - 1))
      }
    }
    this.#deleted++
    await sleep(1000 / this.#limits.perSecond)
    return { outcome: 'deleted' }
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
}

export interface DeletionLimits {
  maxDeletionsPerRun: number
  deletesPerSecond: number
  pageSize: number
  attempts: number
}
