import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node'
import { kubernetesError, kubernetesStatusCode } from './client.ts'

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

  /** The replaced Lease, or undefined when it changed since it was read. */
  async replace(lease: V1Lease): Promise<V1Lease | undefined> {
    const name = lease.metadata?.name ?? ''
    try {
      return await this.#api.replaceNamespacedLease({ namespace: this.namespace, name, body: lease })
    } catch (err) {
      const code = kubernetesStatusCode(err)
      if (code === 409 || code === 404) return undefined
      throw kubernetesError(err, `update Lease ${this.namespace}/${name}`)
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
