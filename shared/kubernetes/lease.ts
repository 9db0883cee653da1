import { setTimeout as sleep } from 'node:timers/promises'
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { V1Lease } from '@kubernetes/client-node'
import { CoordinationV1Api, V1MicroTime, type KubeConfig } from './api.ts'
import { kubernetesError, kubernetesStatusCode } from './client.ts'
import { CaretakerError, Errors } from '../errors.ts'

/**
 * Leases (coordination.k8s.io/v1) as durable records that the cluster
 * arbitrates: every write is a create (409: someone else got there first)
 * or a replace or delete at the resourceVersion read (409: a concurrent
 * writer won). A Lease is live while `renewTime + leaseDurationSeconds` is
 * in the future; one whose holder stopped renewing may be taken over.
 */

export const microTime = (at = Date.now()): V1MicroTime => new V1MicroTime(at)

/**
 * This replica's pod name, when it is known to name one process: in a pod
 * (KUBERNETES_SERVICE_HOST is set in every container) the hostname, which
 * is the pod's name (Kubernetes sets a Pod's hostname to its metadata.name
 * unless spec.hostname says otherwise, kubernetes/kubernetes
 * pkg/kubelet/kubelet_pods.go GeneratePodHostNameAndDomain; not with
 * hostNetwork, where it is the node's, which a Knative Service does not
 * allow and no manifest here sets), or
 * CARETAKER_POD_NAME where it is given. One function process runs per pod,
 * so a holder under this name with another process id was this pod's
 * previous incarnation (the container restarted): it is dead. Outside a
 * cluster several processes share a host, so none is assumed.
 */
export const podName: string | undefined = process.env.CARETAKER_POD_NAME || (process.env.KUBERNETES_SERVICE_HOST ? hostname() : undefined)

/** This process's identity as a holder: the pod's name and a per-process id. */
export const processHolder = `${podName ?? hostname()}/${randomUUID().slice(0, 8)}`

/** Whether a holder identity (made from processHolder) belongs to this pod's previous, dead, incarnation. */
export function isPreviousIncarnation(holder: string | undefined): boolean {
  return podName !== undefined && !!holder && holder.startsWith(`${podName}/`) && !holder.startsWith(`${processHolder}/`) && holder !== processHolder
}

export function isLive(lease: V1Lease, at = Date.now()): boolean {
  const spec = lease.spec ?? {}
  if (!spec.holderIdentity) return false
  const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0
  return renewed + (spec.leaseDurationSeconds ?? 0) * 1000 > at
}

export class LeaseRecords {
  readonly #api: CoordinationV1Api
  readonly namespace: string

  constructor(kubeConfig: KubeConfig, namespace: string) {
    this.#api = kubeConfig.makeApiClient(CoordinationV1Api)
    this.namespace = namespace
  }

  async read(name: string): Promise<V1Lease | undefined> {
    try {
      return await this.#api.readNamespacedLease({ namespace: this.namespace, name })
    } catch (err) {
      if (kubernetesStatusCode(err) === 404) return undefined
      throw kubernetesError(err, `read Lease ${this.namespace}/${name}`)
    }
  }

  /** The created Lease, or undefined when one of that name exists. */
  async create(name: string, labels: Record<string, string>, annotations: Record<string, string>, spec: V1Lease['spec']): Promise<V1Lease | undefined> {
    try {
      return await this.#api.createNamespacedLease({ namespace: this.namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: this.namespace, labels, annotations }, spec } })
    } catch (err) {
      if (kubernetesStatusCode(err) === 409) return undefined
      throw kubernetesError(err, `create Lease ${this.namespace}/${name}`)
    }
  }

  /** The replaced Lease, or undefined when it changed since it was read (or is gone); `action` names the write in an error. */
  async replace(lease: V1Lease, action = 'update'): Promise<V1Lease | undefined> {
    const name = lease.metadata?.name ?? ''
    try {
      return await this.#api.replaceNamespacedLease({ namespace: this.namespace, name, body: lease })
    } catch (err) {
      const code = kubernetesStatusCode(err)
      if (code === 409 || code === 404) return undefined
      throw kubernetesError(err, `${action} Lease ${this.namespace}/${name}`)
    }
  }

  /** Deletes the Lease as it was read; false when it changed or is gone. */
  async delete(lease: V1Lease): Promise<boolean> {
    const name = lease.metadata?.name ?? ''
    try {
      await this.#api.deleteNamespacedLease({ namespace: this.namespace, name, body: { preconditions: { resourceVersion: lease.metadata?.resourceVersion } } })
      return true
    } catch (err) {
      const code = kubernetesStatusCode(err)
      if (code === 409 || code === 404) return false
      throw kubernetesError(err, `delete Lease ${this.namespace}/${name}`)
    }
  }

  async list(labelSelector: string, limit: number): Promise<V1Lease[]> {
    try {
      return (await this.#api.listNamespacedLease({ namespace: this.namespace, labelSelector, limit })).items
    } catch (err) {
      throw kubernetesError(err, `list Leases ${this.namespace}`)
    }
  }
}

/** Who held a Lease, the step it recorded, and when it last renewed. */
export interface LeaseHolderFacts { holder: string; step: string | null; renewedAt: string | null }

export type LeaseLockAttempt =
  | { acquired: true; lock: LeaseLock; takenOver?: LeaseHolderFacts }
  | ({ acquired: false; released?: boolean } & LeaseHolderFacts)

/** A Lease held as a lock: renewed while held, released at the end. */
export interface LeaseLock {
  readonly name: string
  readonly holder: string
  /** True once a write found the Lease taken over by another holder: stop touching anything. */
  readonly lost: boolean
  /** Records the step reached (and renews); throws Errors.LeaseLost when the Lease is no longer ours. */
  record(step: string): Promise<void>
  /**
   * Gives the Lease up: deleted; or, with `keepRecord` (the holder left work
   * for the next one), freed (no holder) with its step record kept, so the
   * next holder can say where this one stopped.
   */
  release(options?: { keepRecord?: boolean }): Promise<void>
}

export interface LeaseLockOptions {
  /** How long the Lease stays live unrenewed; it is renewed every third of this while held. */
  durationMs: number
  /**
   * How long to watch a Lease another holder has: if that holder renews or
   * releases it meanwhile, it is alive (refused); if it expires unrenewed,
   * its holder died and it is taken over. 0 (default): refused at once.
   */
  waitMs?: number
  labels?: Record<string, string>
  /** The annotation the step reached is recorded in (never a value). */
  stepAnnotation: string
  /** Default: this host and a fresh id, so each acquisition is its own holder. */
  holder?: string
  /** The message of the Errors.LeaseLost a write throws once the Lease was taken over. */
  lostMessage?: (lease: string) => string
  /** How answers name another holder and what a freed Lease kept (default `holder`, `record`; rotate-secret: `rotation`, `journal`). */
  words?: { holder?: string; record?: string }
}

const renewedAtOf = (lease: V1Lease): string | null => (lease.spec?.renewTime ? new Date(lease.spec.renewTime).toISOString() : null)

function expiresAt(lease: V1Lease): number {
  const spec = lease.spec ?? {}
  if (!spec.holderIdentity) return 0
  const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0
  return renewed + (spec.leaseDurationSeconds ?? 0) * 1000
}

/**
 * Takes the Lease `name` as a lock, as client-go's leader election takes
 * its Lease (kubernetes/client-go tools/leaderelection/leaderelection.go,
 * resourcelock/leaselock.go): a create, or a take-over of an expired Lease,
 * each write on the resourceVersion read, so a holder whose Lease was taken
 * over learns it at its next write. One held by a live holder is refused
 * (see `waitMs`). Renewals and step records write one after the other.
 */
export async function acquireLeaseLock(records: LeaseRecords, name: string, options: LeaseLockOptions): Promise<LeaseLockAttempt> {
  const where = `${records.namespace}/${name}`
  const holder = options.holder ?? `${hostname()}/${randomUUID()}`
  const stepOf = (lease: V1Lease): string | null => lease.metadata?.annotations?.[options.stepAnnotation] ?? null
  const facts = (lease: V1Lease): LeaseHolderFacts => ({ holder: lease.spec?.holderIdentity ?? 'unknown', renewedAt: renewedAtOf(lease), step: stepOf(lease) })
  const leaseDurationSeconds = Math.max(1, Math.round(options.durationMs / 1000))
  const spec = () => ({ holderIdentity: holder, leaseDurationSeconds, acquireTime: microTime(), renewTime: microTime() })
  const deadline = Date.now() + (options.waitMs ?? 0)
  let lease: V1Lease | undefined
  let takenOver: LeaseHolderFacts | undefined
  let seen: V1Lease | undefined
  while (!lease) {
    if (!seen) {
      lease = await records.create(name, options.labels ?? {}, {}, spec())
      if (lease) break
    }
    const existing = await records.read(name)
    if (!existing) {
      // Released by a holder that was alive after all (it finished), or gone between create and read.
      if (seen) return { acquired: false, ...facts(seen), released: true }
      continue
    }
    const refused = { acquired: false as const, ...facts(existing) }
    if (seen && (seen.spec?.holderIdentity !== existing.spec?.holderIdentity || renewedAtOf(seen) !== renewedAtOf(existing))) return refused
    seen ??= existing
    const expiry = expiresAt(existing)
    if (expiry >= Date.now()) {
      if (Date.now() >= deadline) return refused
      await sleep(Math.max(50, Math.min(1000, expiry - Date.now() + 50, deadline - Date.now())))
      continue
    }
    // Taking over an expired Lease: the resourceVersion makes a race with another taker a conflict.
    lease = await records.replace({ ...existing, spec: { ...spec(), leaseTransitions: (existing.spec?.leaseTransitions ?? 0) + 1 } }, 'take over')
    if (!lease) return { acquired: false, holder: `another ${options.words?.holder ?? 'holder'} (taken over just now)`, renewedAt: null, step: null }
    if (existing.spec?.holderIdentity || stepOf(existing)) takenOver = { holder: existing.spec?.holderIdentity || `none (released with its ${options.words?.record ?? 'record'} kept)`, step: stepOf(existing), renewedAt: renewedAtOf(existing) }
  }

  const lostError = () => new CaretakerError(Errors.LeaseLost, options.lostMessage?.(where) ?? `the Lease ${where} was taken over by another holder (this one stopped renewing it in time)`)
  let current = lease
  let lost = false
  let queue: Promise<unknown> = Promise.resolve()
  const write = (annotations?: Record<string, string>): Promise<void> => {
    const next = queue.then(async () => {
      if (lost) throw lostError()
      const metadata = annotations ? { ...current.metadata, annotations: { ...current.metadata?.annotations, ...annotations } } : current.metadata
      const renewed = await records.replace({ ...current, metadata, spec: { ...current.spec, renewTime: microTime() } }, 'renew')
      if (!renewed) {
        lost = true
        throw lostError()
      }
      current = renewed
    })
    queue = next.catch(() => undefined)
    return next
  }
  const timer = setInterval(() => { write().catch(() => undefined) }, Math.max(1000, options.durationMs / 3))
  timer.unref()

  return {
    acquired: true,
    ...(takenOver ? { takenOver } : {}),
    lock: {
      name,
      holder,
      get lost() { return lost },
      async record(step) {
        await write({ [options.stepAnnotation]: step })
      },
      async release(release = {}) {
        clearInterval(timer)
        await queue
        if (lost) return
        try {
          // Only our own Lease: one that expired and was taken over belongs to another holder now.
          const latest = await records.read(name)
          if (latest?.spec?.holderIdentity !== holder) return
          if (release.keepRecord) {
            // As client-go releases a Lease (leaderelection.go, release()): no holder, a 1 s duration, so it is free at once.
            const { holderIdentity: _, ...rest } = latest.spec
            await records.replace({ ...latest, spec: { ...rest, leaseDurationSeconds: 1, renewTime: microTime() } }, 'release')
            return
          }
          await records.delete(latest)
        } catch {
          // Unreachable: it expires on its own.
        }
      },
    },
  }
}
