import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { V1Lease } from '@kubernetes/client-node'
import { CoordinationV1Api, V1MicroTime, type KubeConfig } from '../../shared/kubernetes/api.ts'
import { kubernetesError, kubernetesStatusCode } from '../../shared/kubernetes/client.ts'
import { isPreviousIncarnation, processHolder } from '../../shared/kubernetes/lease.ts'

/**
 * One Kubernetes Lease per secret: the lock that keeps two rotations of the
 * same secret (two replicas, a sweep and a request) from interleaving. A
 * held Lease is renewed while the rotation runs (every third of its
 * duration, and at each step, which it records in an annotation); one whose
 * holder stopped renewing (a killed pod) expires after its duration and is
 * taken over by the next rotation, which first finishes or undoes what the
 * dead holder left (see journal.ts). Every write carries the resourceVersion
 * read, as client-go's leader election does
 * (kubernetes/client-go tools/leaderelection/resourcelock/leaselock.go), so a
 * holder whose Lease was taken over learns it at its next write. A Lease
 * held by this pod's previous incarnation (the container restarted; see
 * isPreviousIncarnation) is dead already and taken over at once.
 */

/** The annotation holding the step the holder has reached (never a value). */
export const STEP_ANNOTATION = 'rotate-secret.caretaker.dev/step'

export type LeaseAttempt =
  | { acquired: true; lock: SecretLock; takenOver?: { holder: string; step: string | null; renewedAt: string | null } }
  | { acquired: false; holder: string; renewedAt: string | null; step: string | null; released?: boolean }

export interface SecretLock {
  readonly name: string
  readonly holder: string
  /** True once a write found the Lease taken over by another holder: stop touching anything. */
  readonly lost: boolean
  /** Records the step reached (and renews); throws LeaseLost when the Lease is no longer ours. */
  record(step: string): Promise<void>
  /**
   * Gives the Lease up: deleted; or, with `keepRecord` (a journal is left
   * for the next holder), freed (no holder) with its step record kept, so
   * the next holder can say where the cut-off rotation stopped.
   */
  release(options?: { keepRecord?: boolean }): Promise<void>
}

export class LeaseLost extends Error {
  constructor(name: string) {
    super(`the Lease ${name} was taken over by another rotation (this one stopped renewing in time); that rotation resumes or rolls back what this one did`)
    this.name = 'LeaseLost'
  }
}

export function leaseName(secret: string): string {
  return `rotate-secret.${secret}`
}

const now = () => new V1MicroTime(Date.now())

function expiresAt(lease: V1Lease): number {
  const spec = lease.spec ?? {}
  if (!spec.holderIdentity || isPreviousIncarnation(spec.holderIdentity)) return 0
  const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0
  return renewed + (spec.leaseDurationSeconds ?? 0) * 1000
}

const renewedAtOf = (lease: V1Lease) => (lease.spec?.renewTime ? new Date(lease.spec.renewTime).toISOString() : null)
const stepOf = (lease: V1Lease) => lease.metadata?.annotations?.[STEP_ANNOTATION] ?? null

/**
 * Takes the secret's Lease. One held by a live holder is refused; with
 * `waitMs`, a held Lease is watched that long: if its holder renews it or
 * releases it, the holder is alive (refused); if it expires unrenewed, its
 * holder died and it is taken over.
 */
export async function acquireLease(kubeConfig: KubeConfig, namespace: string, secret: string, durationMs: number, options: { waitMs?: number } = {}): Promise<LeaseAttempt> {
  const api = kubeConfig.makeApiClient(CoordinationV1Api)
  const name = leaseName(secret)
  const holder = `${processHolder}/${randomUUID()}`
  const leaseDurationSeconds = Math.max(1, Math.round(durationMs / 1000))
  const spec = () => ({ holderIdentity: holder, leaseDurationSeconds, acquireTime: now(), renewTime: now() })
  const deadline = Date.now() + (options.waitMs ?? 0)
  let lease: V1Lease | undefined
  let takenOver: { holder: string; step: string | null; renewedAt: string | null } | undefined
  let seen: V1Lease | undefined
  while (!lease) {
    if (!seen) {
      try {
        lease = await api.createNamespacedLease({ namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'caretaker-rotate-secret' } }, spec: spec() } })
        break
      } catch (err) {
        if (kubernetesStatusCode(err) !== 409) throw kubernetesError(err, `create Lease ${namespace}/${name}`)
      }
    }
    let existing: V1Lease
    try {
      existing = await api.readNamespacedLease({ namespace, name })
    } catch (readErr) {
      if (kubernetesStatusCode(readErr) !== 404) throw kubernetesError(readErr, `read Lease ${namespace}/${name}`)
      // Released by a holder that was alive after all (it finished), or gone between create and read.
      if (seen) return { acquired: false, holder: seen.spec?.holderIdentity ?? 'unknown', renewedAt: renewedAtOf(seen), step: stepOf(seen), released: true }
      continue
    }
    const refused = { acquired: false as const, holder: existing.spec?.holderIdentity ?? 'unknown', renewedAt: renewedAtOf(existing), step: stepOf(existing) }
    if (seen && (seen.spec?.holderIdentity !== existing.spec?.holderIdentity || renewedAtOf(seen) !== renewedAtOf(existing))) return refused
    seen ??= existing
    const expiry = expiresAt(existing)
    if (expiry >= Date.now()) {
      if (Date.now() >= deadline) return refused
      await sleep(Math.max(50, Math.min(1000, expiry - Date.now() + 50, deadline - Date.now())))
      continue
    }
    try {
      // Taking over an expired Lease: the resourceVersion makes a race with another taker a 409.
      lease = await api.replaceNamespacedLease({ namespace, name, body: { ...existing, spec: { ...spec(), leaseTransitions: (existing.spec?.leaseTransitions ?? 0) + 1 } } })
      if (existing.spec?.holderIdentity || stepOf(existing)) takenOver = { holder: existing.spec?.holderIdentity || 'none (released with its journal kept)', step: stepOf(existing), renewedAt: renewedAtOf(existing) }
    } catch (replaceErr) {
      if (kubernetesStatusCode(replaceErr) === 409) return { acquired: false, holder: 'another rotation (taken over just now)', renewedAt: null, step: null }
      throw kubernetesError(replaceErr, `take over Lease ${namespace}/${name}`)
    }
  }

  let current = lease
  let lost = false
  // Renewals and step records write one after the other, each on the resourceVersion of the last.
  let queue: Promise<unknown> = Promise.resolve()
  const write = (annotations?: Record<string, string>) => {
    const next = queue.then(async () => {
      if (lost) throw new LeaseLost(`${namespace}/${name}`)
      const metadata = annotations ? { ...current.metadata, annotations: { ...current.metadata?.annotations, ...annotations } } : current.metadata
      try {
        current = await api.replaceNamespacedLease({ namespace, name, body: { ...current, metadata, spec: { ...current.spec, renewTime: now() } } })
      } catch (err) {
        const status = kubernetesStatusCode(err)
        if (status === 409 || status === 404) {
          lost = true
          throw new LeaseLost(`${namespace}/${name}`)
        }
        throw kubernetesError(err, `renew Lease ${namespace}/${name}`)
      }
    })
    queue = next.catch(() => undefined)
    return next
  }
  const timer = setInterval(() => { write().catch(() => undefined) }, Math.max(1000, durationMs / 3))
  timer.unref()

  return {
    acquired: true,
    ...(takenOver ? { takenOver } : {}),
    lock: {
      name,
      holder,
      get lost() { return lost },
      async record(step) {
        await write({ [STEP_ANNOTATION]: step })
      },
      async release(options = {}) {
        clearInterval(timer)
        await queue
        if (lost) return
        try {
          // Only our own Lease: one that expired and was taken over belongs to another rotation now.
          const latest = await api.readNamespacedLease({ namespace, name })
          if (latest.spec?.holderIdentity !== holder) return
          if (options.keepRecord) {
            // As client-go releases a Lease (kubernetes/client-go tools/leaderelection/leaderelection.go, release()): no holder, a 1 s duration, so it is free at once.
            const { holderIdentity: _, ...rest } = latest.spec
            await api.replaceNamespacedLease({ namespace, name, body: { ...latest, spec: { ...rest, leaseDurationSeconds: 1, renewTime: now() } } })
            return
          }
          await api.deleteNamespacedLease({ namespace, name, body: { preconditions: { resourceVersion: latest.metadata?.resourceVersion } } })
        } catch {
          // Gone already, or unreachable: it expires on its own.
        }
      },
    },
  }
}

/** A secret's Lease as a holder left it: what the recovery at process start looks for. */
export interface LeftLease {
  holder: string | null
  step: string | null
  renewedAt: string | null
  /** Why nobody holds it any more: given up with a journal kept, expired unrenewed, or held by this pod's previous incarnation. */
  left: 'released' | 'expired' | 'previous-incarnation'
}

/**
 * The secret's Lease when its holder is gone (see LeftLease); undefined
 * when there is none, or its holder is alive (it renews it): that holder,
 * or the next after it, deals with its own rotation. Read by name: the
 * Role grants no list.
 */
export async function leftLease(kubeConfig: KubeConfig, namespace: string, secret: string): Promise<LeftLease | undefined> {
  const api = kubeConfig.makeApiClient(CoordinationV1Api)
  let lease: V1Lease
  try {
    lease = await api.readNamespacedLease({ namespace, name: leaseName(secret) })
  } catch (err) {
    if (kubernetesStatusCode(err) === 404) return undefined
    throw kubernetesError(err, `read Lease ${namespace}/${leaseName(secret)}`)
  }
  const holder = lease.spec?.holderIdentity || null
  const left = !holder ? 'released' : isPreviousIncarnation(holder) ? 'previous-incarnation' : expiresAt(lease) < Date.now() ? 'expired' : undefined
  return left ? { holder, step: stepOf(lease), renewedAt: renewedAtOf(lease), left } : undefined
}
