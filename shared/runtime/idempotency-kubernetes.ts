import { setTimeout as sleep } from 'node:timers/promises'
import type { V1Lease } from '@kubernetes/client-node'
import type { KubeConfig } from '../kubernetes/api.ts'
import { LeaseRecords, isLive, microTime, processHolder } from '../kubernetes/lease.ts'
import type { Claim, IdempotencyStore, RecordedOutcome } from './idempotency.ts'

/**
 * The durable idempotency store: "this event's side effects were applied"
 * recorded in the cluster itself, one Lease per event in Caretaker's
 * namespace, so it holds across replicas, restarts and scale-to-zero with
 * nothing to run beside the functions.
 *
 * - claim: create the Lease (pending, held by this process, a short
 *   duration renewed while the handler runs). A 409 means another replica
 *   or an earlier delivery has it: done (its recorded outcome is replayed),
 *   pending and live (in progress: 429, retried), or pending and expired
 *   (its holder died mid-way: taken over at the read resourceVersion).
 * - complete: the outcome is written on the Lease, which then lives for
 *   the retention time (24 h by default).
 * - release: the Lease is deleted, so a retry may run.
 * - Expired records are swept (at most every 10 minutes, a page at a time).
 *
 * An outcome too large for an annotation (Kubernetes allows 256 KiB for
 * all of an object's annotations) is recorded without its body: a
 * redelivery then gets 204, the event was handled and its reply sent once.
 */

const STATE = 'caretaker.dev/idempotency-state'
const OUTCOME = 'caretaker.dev/idempotency-outcome'
const FUNCTION = 'caretaker.dev/idempotency-function'
const MAX_OUTCOME_BYTES = 200 * 1024
const SWEEP_EVERY_MS = 10 * 60_000
const SWEEP_PAGE = 200
const COMPLETE_ATTEMPTS = 4

export interface KubernetesStoreOptions {
  functionName: string
  namespace: string
  /** How long a finished event's outcome is kept (redeliveries come within it). */
  ttlSeconds?: number
  /** How long a claim outlives its holder's last renewal. */
  claimSeconds?: number
  holder?: string
}

export function leaseNameFor(key: string): string {
  return `caretaker-event-${key.slice(0, 48)}`
}

export class KubernetesIdempotencyStore implements IdempotencyStore {
  readonly #leases: LeaseRecords
  readonly #function: string
  readonly #ttlSeconds: number
  readonly #claimSeconds: number
  readonly #holder: string
  readonly #held = new Map<string, { lease: V1Lease; timer: NodeJS.Timeout; renewing: Promise<unknown> }>()
  #lastSweep = 0

  constructor(kubeConfig: KubeConfig, options: KubernetesStoreOptions) {
    this.#leases = new LeaseRecords(kubeConfig, options.namespace)
    this.#function = options.functionName
    this.#ttlSeconds = options.ttlSeconds ?? 24 * 3600
    this.#claimSeconds = options.claimSeconds ?? 30
    this.#holder = options.holder ?? processHolder
  }

  #pendingSpec(transitions = 0): V1Lease['spec'] {
    return { holderIdentity: this.#holder, leaseDurationSeconds: this.#claimSeconds, acquireTime: microTime(), renewTime: microTime(), leaseTransitions: transitions }
  }

  async claim(key: string): Promise<Claim> {
    this.#sweepSometimes()
    const name = leaseNameFor(key)
    for (let attempt = 0; attempt < 5; attempt++) {
      const created = await this.#leases.create(name, { 'app.kubernetes.io/managed-by': 'caretaker', [FUNCTION]: this.#function }, { [STATE]: 'pending' }, this.#pendingSpec())
      if (created) return this.#hold(key, created)
      const existing = await this.#leases.read(name)
      if (!existing) continue // deleted between the two calls: try again
      const state = existing.metadata?.annotations?.[STATE]
      if (isLive(existing)) {
        if (state === 'done') return { state: 'done', outcome: parseOutcome(existing.metadata?.annotations?.[OUTCOME]) }
        return { state: 'in-progress' }
      }
      // Expired: a done record past its retention, or a claim whose holder died.
      const taken = await this.#leases.replace({
        ...existing,
        metadata: { ...existing.metadata, annotations: { ...withoutOutcome(existing.metadata?.annotations), [STATE]: 'pending' } },
        spec: this.#pendingSpec((existing.spec?.leaseTransitions ?? 0) + 1),
      })
      if (taken) return this.#hold(key, taken)
    }
    return { state: 'in-progress' }
  }

  #hold(key: string, lease: V1Lease): Claim {
    const entry = { lease, timer: undefined as unknown as NodeJS.Timeout, renewing: Promise.resolve() as Promise<unknown> }
    entry.timer = setInterval(() => {
      entry.renewing = this.#leases.replace({ ...entry.lease, spec: { ...entry.lease.spec, renewTime: microTime() } })
        .then((l) => { if (l) entry.lease = l })
        .catch(() => undefined)
    }, Math.max(1000, (this.#claimSeconds * 1000) / 3))
    entry.timer.unref()
    this.#held.set(key, entry)
    return { state: 'claimed' }
  }

  async #letGo(key: string): Promise<V1Lease | undefined> {
    const entry = this.#held.get(key)
    if (!entry) return undefined
    clearInterval(entry.timer)
    await entry.renewing
    this.#held.delete(key)
    return entry.lease
  }

  /**
   * Records the outcome. A transient API failure is retried a few times
   * (the handler's side effects are done: losing the record would let a
   * redelivery run them again once the claim runs out).
   */
  async complete(key: string, outcome: RecordedOutcome): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#complete(key, outcome)
        return
      } catch (err) {
        if (attempt >= COMPLETE_ATTEMPTS) throw err
        await sleep(250 * 2 ** (attempt - 1))
      }
    }
  }

  async #complete(key: string, outcome: RecordedOutcome): Promise<void> {
    const held = await this.#letGo(key)
    let lease = held ?? await this.#leases.read(leaseNameFor(key))
    const recorded = JSON.stringify(outcome)
    const annotations = {
      [STATE]: 'done',
      [OUTCOME]: Buffer.byteLength(recorded) <= MAX_OUTCOME_BYTES ? recorded : JSON.stringify({ status: 204, headers: {}, body: undefined } satisfies RecordedOutcome),
    }
    for (let attempt = 0; lease && attempt < 5; attempt++) {
      const done = await this.#leases.replace({
        ...lease,
        metadata: { ...lease.metadata, annotations: { ...lease.metadata?.annotations, ...annotations } },
        spec: { ...lease.spec, holderIdentity: this.#holder, leaseDurationSeconds: this.#ttlSeconds, renewTime: microTime() },
      })
      if (done) return
      // A renewal of ours moved the resourceVersion: read and write again.
      lease = await this.#leases.read(leaseNameFor(key))
    }
    if (!lease) {
      // The claim was swept or released meanwhile: record the outcome afresh.
      await this.#leases.create(leaseNameFor(key), { 'app.kubernetes.io/managed-by': 'caretaker', [FUNCTION]: this.#function }, annotations, { holderIdentity: this.#holder, leaseDurationSeconds: this.#ttlSeconds, renewTime: microTime() })
    }
  }

  async release(key: string): Promise<void> {
    await this.#letGo(key)
    // Only our own pending claim: one that expired and was taken over belongs to another delivery now.
    const lease = await this.#leases.read(leaseNameFor(key))
    if (!lease || lease.spec?.holderIdentity !== this.#holder || lease.metadata?.annotations?.[STATE] !== 'pending') return
    await this.#leases.delete(lease)
  }

  /** Deletes this function's expired records, a page at a time, at most every ten minutes. */
  #sweepSometimes(): void {
    const now = Date.now()
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return
    this.#lastSweep = now
    void this.sweep().catch(() => undefined)
  }

  async sweep(): Promise<number> {
    let deleted = 0
    for (const lease of await this.#leases.list(`${FUNCTION}=${this.#function}`, SWEEP_PAGE)) {
      if (!isLive(lease) && await this.#leases.delete(lease)) deleted++
    }
    return deleted
  }

  async close(): Promise<void> {
    for (const entry of this.#held.values()) clearInterval(entry.timer)
    this.#held.clear()
  }
}

function withoutOutcome(annotations: Record<string, string> | undefined): Record<string, string> {
  const { [OUTCOME]: _dropped, ...rest } = annotations ?? {}
  return rest
}

function parseOutcome(text: string | undefined): RecordedOutcome {
  try {
    const parsed = JSON.parse(text ?? '') as RecordedOutcome
    if (typeof parsed.status === 'number' && parsed.headers && typeof parsed.headers === 'object') return parsed
  } catch {
    // fall through
  }
  // A record without a readable outcome: handled, its reply not kept.
  return { status: 204, headers: {}, body: undefined }
}
