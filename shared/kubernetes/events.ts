import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { V1ObjectReference } from '@kubernetes/client-node'
import { BatchV1Api, CoreV1Api, type KubeConfig } from './api.ts'
import type { Logger } from '../logger.ts'
import { kubernetesError } from './client.ts'

/**
 * Records Kubernetes Events on the objects a function acts on, the way
 * controllers do, so `kubectl describe` shows what Caretaker did. Recording
 * is best effort: a refused Event is logged, never fails the work it reports.
 */

export interface EventNote {
  readonly type: 'Normal' | 'Warning'
  readonly reason: string
  readonly message: string
  readonly action: string
}

export class EventRecorder {
  readonly #core: CoreV1Api
  readonly #batch: BatchV1Api
  readonly #component: string
  readonly #log: Logger

  constructor(kubeConfig: KubeConfig, component: string, log: Logger) {
    this.#core = kubeConfig.makeApiClient(CoreV1Api)
    this.#batch = kubeConfig.makeApiClient(BatchV1Api)
    this.#component = component
    this.#log = log
  }

  /** An Event on a CronJob (its uid is looked up so the Event attaches to it). */
  async onCronJob(namespace: string, name: string, note: EventNote): Promise<boolean> {
    let uid: string | undefined
    try {
      uid = (await this.#batch.readNamespacedCronJob({ namespace, name })).metadata?.uid
    } catch (err) {
      this.#log.warn({ cronJob: `${namespace}/${name}`, reason: kubernetesError(err, 'read CronJob').message }, 'event not recorded: CronJob not readable')
      return false
    }
    return this.record({ apiVersion: 'batch/v1', kind: 'CronJob', namespace, name, ...(uid ? { uid } : {}) }, note)
  }

  async record(target: V1ObjectReference, note: EventNote): Promise<boolean> {
    const now = new Date()
    const namespace = target.namespace ?? 'default'
    try {
      await this.#core.createNamespacedEvent({
        namespace,
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: `${target.name}.${randomBytes(8).toString('hex')}`, namespace },
          involvedObject: target,
          type: note.type,
          reason: note.reason,
          message: note.message.slice(0, 1024),
          action: note.action,
          source: { component: this.#component },
          reportingComponent: `caretaker.dev/${this.#component}`,
          reportingInstance: hostname(),
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      })
      return true
    } catch (err) {
      this.#log.warn({ target: `${target.kind}/${namespace}/${target.name}`, reason: kubernetesError(err, 'create Event').message }, 'event not recorded')
      return false
    }
  }
}
