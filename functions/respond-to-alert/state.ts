import { createHash } from 'node:crypto'
import type { V1Lease } from '@kubernetes/client-node'
import { CoordinationV1Api, type KubeConfig } from '../../shared/kubernetes/api.ts'
import { kubernetesError, kubernetesStatusCode } from '../../shared/kubernetes/client.ts'

/**
 * Cooldown, cap and dedup state on Lease objects (coordination.k8s.io/v1),
 * so a restart or a second replica neither forgets nor repeats. Every write
 * is a create (409 = someone else got there) or a replace at the read
 * resourceVersion (409 = a concurrent writer): the cluster arbitrates.
 */

const SILENCE = 'caretaker.dev/silence-id'
const ACTIONS = 'caretaker.dev/actions'
const TRIPPED = 'caretaker.dev/cap-reported'
const HOLDER = 'respond-to-alert'
const STATE = 'caretaker.dev/state'
const EVENT = 'caretaker.dev/event-id'
const ATTEMPTS = 'caretaker.dev/attempts'
/** On the claim of an alert: the actions of its plan already done (JSON ActionRecord[]), kept across retries of the claim. */
const DONE = 'caretaker.dev/actions-done'

/**
 * One action of an alert's plan that an attempt got through: `index` (1-based)
 * and `action` (its type and target) name it, so a plan changed between
 * attempts does not skip a different action. `restarted` is a rollout restart
 * written whose wait did not finish: a retry waits for that `generation`
 * instead of restarting again.
 */
export interface ActionRecord { index: number; action: string; phase: 'done' | 'restarted'; generation?: number; message: string }

/** A claim on an alert's handling: taken (and which attempt this is), or held by a live record. */
export type Claim =
  | { claimed: true; attempt: number }
  | { claimed: false; state: 'done' | 'in-progress'; sameEvent: boolean }

/** The dedup key of an alert notification: Alertmanager re-sends the same alert with the same fingerprint, status and startsAt. */
export function alertKey(alert: { fingerprint: string; status: string; startsAt: string }): string {
  return `${alert.fingerprint}\0${alert.status}\0${alert.startsAt}`
}

function parseRecords(value: string | undefined): ActionRecord[] {
  if (!value) return []
  try {
    const parsed = JSON.parse(value) as unknown
    return Array.isArray(parsed) ? parsed.filter((r): r is ActionRecord => typeof r === 'object' && r !== null && typeof (r as ActionRecord).index === 'number' && typeof (r as ActionRecord).action === 'string' && ((r as ActionRecord).phase === 'done' || (r as ActionRecord).phase === 'restarted')) : []
  } catch {
    return []
  }
}

export function leaseName(kind: string, key: string): string {
  return `respond-to-alert-${kind}-${createHash('sha256').update(key).digest('hex').slice(0, 20)}`
}

export class AlertState {
  readonly #api: CoordinationV1Api
  readonly #ns: string

  constructor(kubeConfig: KubeConfig, namespace: string) {
    this.#api = kubeConfig.makeApiClient(CoordinationV1Api)
    this.#ns = namespace
  }

  async #read(name: string): Promise<V1Lease | undefined> {
    try {
      return await this.#api.readNamespacedLease({ namespace: this.#ns, name })
    } catch (err) {
      if (kubernetesStatusCode(err) === 404) return undefined
      throw kubernetesError(err, `read Lease ${name}`)
    }
  }

  async #create(name: string, seconds: number, annotations: Record<string, string> = {}): Promise<boolean> {
    try {
      await this.#api.createNamespacedLease({ namespace: this.#ns, body: { metadata: { name, namespace: this.#ns, annotations, labels: { 'app.kubernetes.io/managed-by': HOLDER } }, spec: { holderIdentity: HOLDER, leaseDurationSeconds: Math.max(1, Math.ceil(seconds)), renewTime: new Date().toISOString() as unknown as Date } } })
      return true
    } catch (err) {
      if (kubernetesStatusCode(err) === 409) return false
      throw kubernetesError(err, `create Lease ${name}`)
    }
  }

  async #replace(lease: V1Lease, seconds: number, annotations: Record<string, string>): Promise<boolean> {
    try {
      await this.#api.replaceNamespacedLease({ namespace: this.#ns, name: lease.metadata!.name!, body: { ...lease, metadata: { ...lease.metadata, annotations }, spec: { ...lease.spec, leaseDurationSeconds: Math.max(1, Math.ceil(seconds)), renewTime: new Date().toISOString() as unknown as Date } } })
      return true
    } catch (err) {
      if (kubernetesStatusCode(err) === 409) return false
      throw kubernetesError(err, `update Lease ${lease.metadata?.name}`)
    }
  }

  static #live(lease: V1Lease, now: number): boolean {
    const renewed = Date.parse(String(lease.spec?.renewTime ?? ''))
    return Number.isFinite(renewed) && renewed + (lease.spec?.leaseDurationSeconds ?? 0) * 1000 > now
  }

  async #update(name: string, change: (lease: V1Lease) => { seconds: number; annotations: Record<string, string> } | undefined): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const lease = await this.#read(name)
      if (!lease) return
      const next = change(lease)
      if (!next || await this.#replace(lease, next.seconds, next.annotations)) return
    }
  }

  /**
   * Claims the handling of one alert notification (`key`: fingerprint,
   * status, startsAt) for the CloudEvent `eventId`. The claim is a Lease
   * marked in progress that lasts `claimMs` only: `finishAlert` turns it into
   * the dedup record, `failAlert` gives it back, and one whose holder died
   * between claim and action simply expires. A failed or expired claim is
   * claimed again; each claim for the same CloudEvent id (the Broker's
   * redeliveries keep the id) counts one attempt.
   */
  async claimAlert(key: string, eventId: string, claimMs: number): Promise<Claim> {
    const name = leaseName('seen', key)
    for (let round = 0; round < 5; round++) {
      const lease = await this.#read(name)
      if (!lease) {
        if (await this.#create(name, claimMs / 1000, { [STATE]: 'in-progress', [EVENT]: eventId, [ATTEMPTS]: '1' })) return { claimed: true, attempt: 1 }
        continue
      }
      const a = lease.metadata?.annotations ?? {}
      // A record without a state is a dedup record written before claims existed: handled.
      const state = a[STATE] ?? 'done'
      const sameEvent = a[EVENT] === eventId
      if (state !== 'failed' && AlertState.#live(lease, Date.now())) return { claimed: false, state: state === 'in-progress' ? 'in-progress' : 'done', sameEvent }
      const attempt = sameEvent ? Number(a[ATTEMPTS] ?? 0) + 1 : 1
      // The actions an earlier attempt at this alert got through stay recorded (a retry skips them); a record that was
      // done and has run out starts afresh.
      const kept: Record<string, string> = state !== 'done' && a[DONE] ? { [DONE]: a[DONE] } : {}
      if (await this.#replace(lease, claimMs / 1000, { [STATE]: 'in-progress', [EVENT]: eventId, [ATTEMPTS]: String(attempt), ...kept })) return { claimed: true, attempt }
    }
    // Others keep winning the race for it: it is being handled elsewhere.
    return { claimed: false, state: 'in-progress', sameEvent: false }
  }

  /** The actions of the claimed alert's plan that earlier attempts got through (see recordAction). */
  async actionsDone(key: string): Promise<ActionRecord[]> {
    return parseRecords((await this.#read(leaseName('seen', key)))?.metadata?.annotations?.[DONE])
  }

  /**
   * Records on the alert's claim that an action got through (or, for a
   * restart, that its write did), replacing the record of the same index: a
   * replace at the read resourceVersion, retried on a conflict. False when
   * it could not be written (the caller goes on: the action is done either way).
   */
  async recordAction(key: string, record: ActionRecord): Promise<boolean> {
    const name = leaseName('seen', key)
    for (let attempt = 0; attempt < 5; attempt++) {
      const lease = await this.#read(name)
      if (!lease) return false
      const a = lease.metadata?.annotations ?? {}
      const records = [...parseRecords(a[DONE]).filter((r) => r.index !== record.index), record].sort((x, y) => x.index - y.index)
      try {
        // The claim's own duration and renewal are left as they are: recording an action does not extend the claim.
        await this.#api.replaceNamespacedLease({ namespace: this.#ns, name, body: { ...lease, metadata: { ...lease.metadata, annotations: { ...a, [DONE]: JSON.stringify(records) } } } })
        return true
      } catch (err) {
        if (kubernetesStatusCode(err) !== 409) throw kubernetesError(err, `update Lease ${name}`)
      }
    }
    return false
  }

  /** The holder of the claim (event `eventId`, in progress) is alive: the claim lasts `claimMs` from now. */
  async renewClaim(key: string, eventId: string, claimMs: number): Promise<void> {
    await this.#update(leaseName('seen', key), (lease) => {
      const a = lease.metadata?.annotations ?? {}
      return a[STATE] === 'in-progress' && a[EVENT] === eventId ? { seconds: claimMs / 1000, annotations: { ...a } } : undefined
    })
  }

  /** The cooldown taken with a live claim lasts `claimMs` from now (one made final, longer, is left alone). */
  async renewCooldown(key: string, claimMs: number): Promise<void> {
    await this.#update(leaseName('cooldown', key), (lease) => (lease.spec?.leaseDurationSeconds ?? 0) <= Math.ceil(claimMs / 1000) ? { seconds: claimMs / 1000, annotations: { ...lease.metadata?.annotations } } : undefined)
  }

  /** The claimed alert was handled: a re-sent notification of it is a duplicate for `keepMs`. */
  async finishAlert(key: string, keepMs: number): Promise<void> {
    await this.#update(leaseName('seen', key), (lease) => ({ seconds: keepMs / 1000, annotations: { ...lease.metadata?.annotations, [STATE]: 'done' } }))
  }

  /** The claimed alert's actions failed: the next delivery may act (the attempt count is kept). */
  async failAlert(key: string, claimMs: number): Promise<void> {
    await this.#update(leaseName('seen', key), (lease) => ({ seconds: claimMs / 1000, annotations: { ...lease.metadata?.annotations, [STATE]: 'failed' } }))
  }

  /**
   * Takes the cooldown of a rule and target, for `claimMs` at first (so a
   * holder that dies before acting does not block the target for a whole
   * cooldown); `confirmCooldown` extends it once the actions are done.
   * False while it is cooling down (or another replica just took it).
   */
  async takeCooldown(key: string, claimMs: number): Promise<boolean> {
    const name = leaseName('cooldown', key)
    const lease = await this.#read(name)
    if (!lease) return this.#create(name, claimMs / 1000)
    if (AlertState.#live(lease, Date.now())) return false
    return this.#replace(lease, claimMs / 1000, {})
  }

  /** The actions were done: the cooldown runs its full length from now (the silence id it carries is kept). */
  async confirmCooldown(key: string, cooldownMs: number): Promise<void> {
    await this.#update(leaseName('cooldown', key), (lease) => ({ seconds: cooldownMs / 1000, annotations: { ...lease.metadata?.annotations } }))
  }

  /**
   * Deletes this function's Leases that expired more than `graceMs` ago (the
   * dedup records of alerts long gone, cooldowns long over), at most `max`
   * per call. Each delete carries the resourceVersion that was read, so a
   * Lease another replica renewed meanwhile is kept.
   */
  async sweepExpired(graceMs: number, max: number): Promise<number> {
    let list
    try {
      list = await this.#api.listNamespacedLease({ namespace: this.#ns, labelSelector: `app.kubernetes.io/managed-by=${HOLDER}`, limit: 500 })
    } catch (err) {
      throw kubernetesError(err, 'list Leases')
    }
    const before = Date.now() - graceMs
    let deleted = 0
    for (const lease of list.items) {
      if (deleted >= max) break
      if (AlertState.#live(lease, before)) continue
      try {
        await this.#api.deleteNamespacedLease({ namespace: this.#ns, name: lease.metadata!.name!, body: { preconditions: { resourceVersion: lease.metadata?.resourceVersion } } })
        deleted++
      } catch (err) {
        // Gone already, or renewed since it was read: either way not ours to delete now.
        if (kubernetesStatusCode(err) !== 404 && kubernetesStatusCode(err) !== 409) throw kubernetesError(err, `delete Lease ${lease.metadata?.name}`)
      }
    }
    return deleted
  }

  /** Gives a cooldown back (the actions failed, so a retry may act). */
  async releaseCooldown(key: string): Promise<void> {
    try {
      await this.#api.deleteNamespacedLease({ namespace: this.#ns, name: leaseName('cooldown', key) })
    } catch (err) {
      if (kubernetesStatusCode(err) !== 404) throw kubernetesError(err, 'delete cooldown Lease')
    }
  }

  async setSilence(key: string, silenceId: string | undefined): Promise<void> {
    const name = leaseName('cooldown', key)
    for (let attempt = 0; attempt < 5; attempt++) {
      const lease = await this.#read(name)
      if (!lease) return
      const annotations = Object.fromEntries(Object.entries(lease.metadata?.annotations ?? {}).filter(([k]) => k !== SILENCE))
      if (silenceId) annotations[SILENCE] = silenceId
      try {
        await this.#api.replaceNamespacedLease({ namespace: this.#ns, name, body: { ...lease, metadata: { ...lease.metadata, annotations } } })
        return
      } catch (err) {
        if (kubernetesStatusCode(err) !== 409) throw kubernetesError(err, `update Lease ${name}`)
      }
    }
  }

  async silenceOf(key: string): Promise<string | undefined> {
    return (await this.#read(leaseName('cooldown', key)))?.metadata?.annotations?.[SILENCE]
  }

  /**
   * Takes one action slot of the cap (`max` per `windowMs`, across rules).
   * `taken: false, report: true` the first time the cap refuses in a window.
   */
  async takeCapSlot(max: number, windowMs: number): Promise<{ taken: boolean; report: boolean }> {
    const name = 'respond-to-alert-cap'
    for (let attempt = 0; attempt < 20; attempt++) {
      const now = Date.now()
      const lease = await this.#read(name)
      if (!lease) {
        if (await this.#create(name, windowMs / 1000, { [ACTIONS]: JSON.stringify([now]) })) return { taken: true, report: false }
        continue
      }
      const annotations = { ...lease.metadata?.annotations }
      let times: number[]
      try { times = (JSON.parse(annotations[ACTIONS] ?? '[]') as number[]).filter((t) => typeof t === 'number' && t > now - windowMs) } catch { times = [] }
      const reported = Number(annotations[TRIPPED] ?? 0)
      if (times.length >= max) {
        if (reported > now - windowMs) return { taken: false, report: false }
        annotations[ACTIONS] = JSON.stringify(times)
        annotations[TRIPPED] = String(now)
        if (await this.#replace(lease, windowMs / 1000, annotations)) return { taken: false, report: true }
        continue
      }
      annotations[ACTIONS] = JSON.stringify([...times, now])
      if (await this.#replace(lease, windowMs / 1000, annotations)) return { taken: true, report: false }
    }
    return { taken: false, report: false }
  }
}
