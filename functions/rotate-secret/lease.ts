import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node'
import { kubernetesError, kubernetesStatusCode } from '../../shared/kubernetes/client.ts'

/**
 * One Kubernetes Lease per secret: the lock that keeps two rotations of the
 * same secret (two replicas, a sweep and a request) from interleaving. A
 * held Lease is renewed while the rotation runs; one whose holder stopped
 * renewing expires after its duration and may be taken over.
 */

export type LeaseAttempt =
  | { acquired: true; lock: SecretLock }
  | { acquired: false; holder: string; renewedAt: string | null }

export interface SecretLock {
  readonly name: string
  readonly holder: string
  release(): Promise<void>
}

export function leaseName(secret: string): string {
  return `rotate-secret.${secret}`
}

const now = () => new V1MicroTime(Date.now())

function expired(lease: V1Lease, at: number): boolean {
  const spec = lease.spec ?? {}
  if (!spec.holderIdentity) return true
  const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0
  return renewed + (spec.leaseDurationSeconds ?? 0) * 1000 < at
}

export async function acquireLease(kubeConfig: KubeConfig, namespace: string, secret: string, durationMs: number): Promise<LeaseAttempt> {
  const api = kubeConfig.makeApiClient(CoordinationV1Api)
  const name = leaseName(secret)
  const holder = `${hostname()}/${randomUUID()}`
  const leaseDurationSeconds = Math.max(1, Math.round(durationMs / 1000))
  const spec = () => ({ holderIdentity: holder, leaseDurationSeconds, acquireTime: now(), renewTime: now() })
  let lease: V1Lease
  try {
    lease = await api.createNamespacedLease({ namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'caretaker-rotate-secret' } }, spec: spec() } })
  } catch (err) {
    if (kubernetesStatusCode(err) !== 409) throw kubernetesError(err, `create Lease ${namespace}/${name}`)
    let existing: V1Lease
    try {
      existing = await api.readNamespacedLease({ namespace, name })
    } catch (readErr) {
      throw kubernetesError(readErr, `read Lease ${namespace}/${name}`)
    }
    if (!expired(existing, Date.now())) {
      return { acquired: false, holder: existing.spec?.holderIdentity ?? 'unknown', renewedAt: existing.spec?.renewTime ? new Date(existing.spec.renewTime).toISOString() : null }
    }
    try {
      // Taking over an expired Lease: the resourceVersion makes a race with another taker a 409.
      lease = await api.replaceNamespacedLease({ namespace, name, body: { ...existing, spec: { ...spec(), leaseTransitions: (existing.spec?.leaseTransitions ?? 0) + 1 } } })
    } catch (replaceErr) {
      if (kubernetesStatusCode(replaceErr) === 409) return { acquired: false, holder: 'another rotation (taken over just now)', renewedAt: null }
      throw kubernetesError(replaceErr, `take over Lease ${namespace}/${name}`)
    }
  }

  let current = lease
  let renewing: Promise<unknown> = Promise.resolve()
  const timer = setInterval(() => {
    renewing = api.replaceNamespacedLease({ namespace, name, body: { ...current, spec: { ...current.spec, renewTime: now() } } })
      .then((l) => { current = l })
      .catch(() => undefined)
  }, Math.max(1000, durationMs / 3))
  timer.unref()

  return {
    acquired: true,
    lock: {
      name,
      holder,
      async release() {
        clearInterval(timer)
        await renewing
        try {
          // Only our own Lease: one that expired and was taken over belongs to another rotation now.
          const latest = await api.readNamespacedLease({ namespace, name })
          if (latest.spec?.holderIdentity !== holder) return
          await api.deleteNamespacedLease({ namespace, name, body: { preconditions: { resourceVersion: latest.metadata?.resourceVersion } } })
        } catch {
          // Gone already, or unreachable: it expires on its own.
        }
      },
    },
  }
}
