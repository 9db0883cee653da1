// Minimal stand-ins for the controllers a runbook waits on: the Deployment,
// StatefulSet and DaemonSet rollout controllers, the CronJob and Job controllers, and the
// external-secrets controller (Vault KV backend). Each acts after `delayMs`,
// writes status through the status subresource and records Events like the real one.
import { recordEvent } from './events.ts'
import { kubeletRuns, type KubeletOptions } from './kubelet.ts'
import { FAIL_ANNOTATION, annotations, meta, str } from './controller-common.ts'
import type { ControllerContext, Obj, ObjectStore, Rec } from './controller-common.ts'
import { createRolloutControllers } from './rollout-controller.ts'
import { createJobControllers } from './job-controller.ts'
import { createExternalSecretController, syncVersion } from './external-secrets-controller.ts'

export type { Obj, ObjectStore } from './controller-common.ts'
export { FAIL_ANNOTATION, HOLD_ANNOTATION, CRONJOB_SCHEDULED_TIMESTAMP, FORCE_SYNC_ANNOTATION } from './controller-common.ts'

export interface ControllerOptions {
  /** false: nothing reacts on its own; the explicit calls (triggerCronJob, ...) still work. Default true. */
  enabled?: boolean
  /** How long a rollout, a Job or a sync takes. Default 50 ms; the sandbox uses about 1 s. */
  delayMs?: number
  /** The Vault that SecretStores with a `vault` provider read from (its address replaces spec.provider.vault.server). */
  vault?: { url: string, token: string }
  /** Clock for CronJob schedules and timestamps. */
  clock?: () => Date
  /** When set, CronJobs run on their own: every this many ms, due schedules start Jobs (runDueCronJobs). Off by default. */
  scheduleCheckMs?: number
  /**
   * Opt-in stand-in for the kubelet (kubelet.ts): Jobs in a `postgres:<major>`
   * image get a Pod that runs their command here, with that major's programs.
   */
  kubelet?: KubeletOptions
}

export interface Controllers {
  /** Makes the next (and every later) rollout of this object stick with Progressing=False/ProgressDeadlineExceeded. */
  failRollout(kind: 'Deployment' | 'StatefulSet' | 'DaemonSet', namespace: string, name: string, fail?: boolean): void
  /** Makes this Job fail with BackoffLimitExceeded instead of completing. */
  failJob(namespace: string, name: string, fail?: boolean): void
  /** Runs the CronJob now (or for `scheduledTime`), as the controller does at a schedule tick; returns the Job. */
  triggerCronJob(namespace: string, name: string, opts?: { scheduledTime?: Date, fail?: boolean, hold?: boolean }): Obj
  /** Ends a Job held running (HOLD_ANNOTATION) as its pod would: complete, or failed when it is told to fail. */
  finishHeldJob(namespace: string, name: string): void
  /** Starts the Jobs of every unsuspended CronJob whose schedule had a tick in (lastScheduleTime or creation, now]. */
  runDueCronJobs(now?: Date): Obj[]
  /** Points ExternalSecret syncs at a Vault started after the simulator (Vault's Kubernetes auth needs the simulator's URL first). */
  setVault(vault: { url: string, token: string }): void
  /** Resolves when no reconcile is pending or running. */
  idle(): Promise<void>
  close(): void
}

export function startControllers(store: ObjectStore, options: ControllerOptions = {}): Controllers {
  const delay = options.delayMs ?? 50
  const clock = options.clock ?? (() => new Date())
  const timers = new Set<NodeJS.Timeout>()
  const running = new Set<Promise<unknown>>()
  const failing = new Set<string>()
  const chains = new Map<string, Promise<void>>()
  let closed = false

  const key = (kind: string, ns: string, name: string) => `${kind}/${ns}/${name}`
  const later = (ms: number, k: string, fn: () => void | Promise<void>) => {
    if (closed) return
    const timer = setTimeout(() => {
      timers.delete(timer)
      // One reconcile at a time per object, in order.
      const next = (chains.get(k) ?? Promise.resolve()).then(fn).catch(() => undefined)
      chains.set(k, next)
      running.add(next)
      void next.finally(() => { running.delete(next); if (chains.get(k) === next) chains.delete(k) })
    }, ms)
    timers.add(timer)
  }
  const event = (o: Obj, type: 'Normal' | 'Warning', reason: string, message: string, component: string) => {
    try { recordEvent(store, o, type, reason, message, component) } catch { /* an Event is best effort, as in client-go */ }
  }
  const isFailing = (o: Obj, kind: string) => failing.has(key(kind, str(meta(o).namespace), str(meta(o).name))) || annotations(o)[FAIL_ANNOTATION] === 'true'
  const watching = options.enabled !== false
  const ctx: ControllerContext = { store, delay, clock, watching, key, later, event, isFailing }
  const { reconcileDeployment, reconcileStatefulSet, reconcileDaemonSet } = createRolloutControllers(ctx)
  const { startJob, finishJob, runJobPod, triggerCronJob, runDueCronJobs } = createJobControllers(ctx, options.kubelet)
  const externalSecrets = createExternalSecretController(ctx, options.vault)
  const { syncExternalSecret } = externalSecrets

  // ---- Wiring -----------------------------------------------------------------------------
  const attempted = new Map<string, string>()
  const unsubscribe = watching ? store.onChange(({ type, object }) => {
    if (type === 'DELETED') return
    const m = meta(object)
    const ns = str(m.namespace)
    const name = str(m.name)
    const st = (object.status ?? {}) as Rec
    const stale = Number(st.observedGeneration ?? 0) !== Number(m.generation ?? 1)
    switch (`${str(object.apiVersion)}/${str(object.kind)}`) {
      case 'apps/v1/Deployment': if (stale) later(delay, key('Deployment', ns, name), () => reconcileDeployment(ns, name)); break
      case 'apps/v1/StatefulSet': if (stale) later(delay, key('StatefulSet', ns, name), () => reconcileStatefulSet(ns, name)); break
      case 'apps/v1/DaemonSet': if (stale) later(delay, key('DaemonSet', ns, name), () => reconcileDaemonSet(ns, name)); break
      case 'batch/v1/Job':
        if (type !== 'ADDED') break
        if (options.kubelet && kubeletRuns(object, options.kubelet)) {
          later(0, key('Job', ns, name), () => runJobPod(ns, name))
          break
        }
        later(0, key('Job', ns, name), () => startJob(ns, name)); later(delay, key('Job', ns, name), () => finishJob(ns, name))
        break
      case 'external-secrets.io/v1/ExternalSecret': {
        // Once per spec/labels/annotations version: a failed sync is retried on the next change (force-sync), not in a loop.
        const version = syncVersion(object)
        const k = key('ExternalSecret', ns, name)
        if (st.syncedResourceVersion !== version && attempted.get(k) !== version) { attempted.set(k, version); later(delay, k, () => syncExternalSecret(ns, name)) }
        break
      }
    }
  }) : () => undefined

  const scheduler = options.scheduleCheckMs ? setInterval(() => { if (!closed) runDueCronJobs() }, options.scheduleCheckMs) : undefined
  scheduler?.unref()

  return {
    failRollout(kind, ns, name, fail = true) { if (fail) failing.add(key(kind, ns, name)); else failing.delete(key(kind, ns, name)) },
    failJob(ns, name, fail = true) { if (fail) failing.add(key('Job', ns, name)); else failing.delete(key('Job', ns, name)) },
    triggerCronJob,
    finishHeldJob(ns, name) {
      const j = store.get('batch/v1', 'Job', ns, name)
      if (j) later(0, key('Job', ns, name), () => finishJob(ns, name, { failed: isFailing(j, 'Job') }))
    },
    runDueCronJobs,
    setVault(v) { externalSecrets.setVault(v) },
    async idle() {
      for (let i = 0; i < 1000 && (timers.size || running.size); i++) {
        if (running.size) await Promise.allSettled([...running])
        else await new Promise((r) => setTimeout(r, Math.max(5, Math.min(delay, 20))))
      }
    },
    close() { closed = true; clearInterval(scheduler); unsubscribe(); for (const t of timers) clearTimeout(t); timers.clear() },
  }
}
