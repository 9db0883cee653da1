import { AppsV1Api, type KubeConfig } from '../../../shared/kubernetes/api.ts'
import { parseDuration } from '../../../shared/duration.ts'
import { kubernetesError } from '../../../shared/kubernetes/client.ts'
import type { EventRecorder } from '../../../shared/kubernetes/events.ts'
import { waitForRollout } from '../../../shared/kubernetes/rollout.ts'
import type { HandlerContext } from '../../../shared/runtime/function.ts'
import { healthBounds, type HealthCheck, type ResolvedAction, type WorkloadKind } from '../config.ts'
import { render } from '../matchers.ts'
import type { Resume } from '../plan.ts'
import { ActionFailed, mergePatch, type ActionResult, type ActionRunner } from './action.ts'

/** A workload to restart, and how long and for what to wait afterwards. */
export interface RestartTarget { kind: WorkloadKind; namespace: string; name: string; timeout: string; wait: boolean; health?: HealthCheck }

/** What a restart runs with: the API, the audit Event's recorder and reason, and an earlier attempt's progress. */
export interface RestartStep {
  context: HandlerContext
  kube(): KubeConfig
  recorder: EventRecorder | undefined
  audit: { reason: string; message: string }
  resume?: Resume | undefined
  written?: ((r: Resume, message: string) => Promise<void>) | undefined
}

/**
 * GETs the health URL until it answers 2xx: at most `attempts` (5)
 * times, `interval` (2s) apart, each bounded by `timeout` (5s), all before `until`.
 * The last answer is reported (status code, or why there was none).
 */
export async function checkHealth(check: HealthCheck, until: number): Promise<{ healthy: boolean; status: string }> {
  const { timeoutMs, intervalMs, attempts, timeout } = healthBounds(check)
  let status = 'not checked: no time was left'
  for (let i = 0; i < attempts; i++) {
    const left = until - Date.now()
    if (left <= 0) break
    try {
      const res = await fetch(check.url, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(Math.min(timeoutMs, left)) })
      await res.body?.cancel()
      status = `HTTP ${res.status}`
      if (res.status >= 200 && res.status < 300) return { healthy: true, status }
    } catch (err) {
      status = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError') ? `no answer within ${timeout}` : 'unreachable'
    }
    if (i + 1 < attempts) await new Promise((r) => setTimeout(r, Math.max(0, Math.min(intervalMs, until - Date.now()))))
  }
  return { healthy: false, status }
}

/**
 * A rollout restart (`kubectl rollout restart`: the pod template's
 * restartedAt annotation), then, with `wait`, its rollout as `kubectl
 * rollout status` judges it and the health check, bounded by `timeout` and
 * the run's deadline: the runbooks' service-restart script. `resume` (an
 * earlier attempt wrote the restart) waits for that rollout instead of
 * restarting again; `written` records the write before the wait. A
 * restart written whose wait fails throws ActionFailed with what it got to.
 * Shared by the alert rules' restart action and manual restart requests.
 */
export async function restartWorkload(target: RestartTarget, { context, kube, recorder, audit, resume, written }: RestartStep): Promise<ActionResult> {
  const { kind, namespace, name, timeout } = target
  const at = `${namespace}/${name}`
  const base = { action: `restart ${kind}`, target: at }
  const waits = `wait up to ${timeout} for its rollout${target.health ? ` and then for ${target.health.url} to answer 2xx` : ''}`
  if (context.dryRun) return { ...base, done: false, dryRun: true, message: `would restart ${kind} ${at}${target.wait ? ` and ${waits}` : ' (without waiting for its rollout)'}` }
  const kubeConfig = kube()
  // Bounded by the timeout and by the run's deadline (CARETAKER_RUN_DEADLINE), whichever comes first.
  const until = Math.min(Date.now() + parseDuration(timeout)!, context.deadline)
  const byDeadline = context.deadline === until
  let generation: number
  let restarted: string
  if (resume) {
    // An earlier attempt wrote this restart: wait for that rollout rather than rolling the workload again.
    generation = resume.generation
    restarted = `restarted ${kind} ${at} (by an earlier attempt)`
  } else {
    const apps = kubeConfig.makeApiClient(AppsV1Api)
    const body = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } }
    try {
      const obj = kind === 'Deployment' ? await apps.patchNamespacedDeployment({ namespace, name, body }, mergePatch)
        : kind === 'StatefulSet' ? await apps.patchNamespacedStatefulSet({ namespace, name, body }, mergePatch)
          : await apps.patchNamespacedDaemonSet({ namespace, name, body }, mergePatch)
      generation = obj.metadata?.generation ?? 0
    } catch (err) { throw kubernetesError(err, `restart ${kind} ${at}`) }
    restarted = `restarted ${kind} ${at}`
    await written?.({ generation }, restarted)
    await recorder?.record({ apiVersion: 'apps/v1', kind, namespace, name }, { type: 'Normal', reason: audit.reason, action: 'Restart', message: audit.message })
  }
  if (!target.wait) return { ...base, done: true, message: `${restarted}; not waiting for its rollout (the request said wait: false)` }
  const rollout = await waitForRollout(kubeConfig, kind, namespace, name, generation, until, context.signal)
  if (!rollout.done) {
    const why = rollout.failed ? rollout.message : `not rolled out within ${byDeadline ? 'the run\'s deadline (CARETAKER_RUN_DEADLINE)' : timeout}: ${rollout.message}`
    throw new ActionFailed({ ...base, done: false, rolled: false, rollout: why, message: `${restarted}; ${why}` }, `${restarted}, but its rollout did not finish: ${why}`)
  }
  const rolledOut = { ...base, rolled: true, rollout: rollout.message }
  if (!target.health) return { ...rolledOut, done: true, message: `${restarted}; ${rollout.message}` }
  const health = await checkHealth(target.health, until)
  if (!health.healthy) {
    throw new ActionFailed({ ...rolledOut, done: false, healthy: false, healthStatus: health.status, message: `${restarted}; rolled out, but ${target.health.url} is not healthy (${health.status})` }, `${restarted} and rolled out, but ${target.health.url} did not answer 2xx (${health.status})`)
  }
  return { ...rolledOut, done: true, healthy: true, healthStatus: health.status, message: `${restarted}; ${rollout.message}; ${target.health.url} answered ${health.status}` }
}

/** A rule's restart: always waits for the rollout (and its health check, if set). */
export const restart: ActionRunner<Extract<ResolvedAction, { type: 'restart' }>> = {
  run(action, { context, kube, recorder, rule, labels, namespace, restartTimeout, resume, written }) {
    const target = { kind: action.kind, namespace, name: render(action.name, labels), timeout: action.timeout ?? restartTimeout, wait: true, ...(action.health ? { health: action.health } : {}) }
    const audit = { reason: 'AlertRemediated', message: `rule ${rule.name}: rollout restart for alert ${labels.alertname ?? ''}` }
    return restartWorkload(target, { context, kube, recorder, audit, resume, written })
  },
}
