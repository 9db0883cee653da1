import type { CloudEvent } from 'cloudevents'
import { AppsV1Api, BatchV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '../../shared/kubernetes/api.ts'
import { Counter } from 'prom-client'
import { parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { kubernetesError, kubernetesStatusCode } from '../../shared/kubernetes/client.ts'
import { readWorkload, waitForRollout } from '../../shared/kubernetes/rollout.ts'
import { EventRecorder } from '../../shared/kubernetes/events.ts'
import { PROOF_BY } from '../../shared/runtime/proof.ts'
import { defineFunction, type FunctionModule, type HandlerContext } from '../../shared/runtime/function.ts'
import { checkConfig, configSchema, healthBounds, type Action, type HealthCheck, type ResolvedAction, type RespondToAlertConfig, type Rule, type WorkloadKind, healthUrlAllowed } from './config.ts'
import { matchesAll, parseMatcher, render, type Matcher } from './matchers.ts'
import { alertKey, AlertState, type ActionRecord } from './state.ts'

/**
 * respond-to-alert: matches Alertmanager alerts against rules and runs their
 * bounded actions, with cooldown per rule and target, a cap per window
 * across rules, redelivery dedup (all three on Leases), dry-run, an audit
 * Event and a reply saying what was done and why, or why not.
 */

const FIRING = 'dev.caretaker.alert.firing'
const RESOLVED = 'dev.caretaker.alert.resolved'
/** How often expired state Leases are swept, how long past expiry they are kept, and how many one sweep deletes. */
const SWEEP_EVERY_MS = 10 * 60_000
const SWEEP_GRACE_MS = 60 * 60_000
const SWEEP_MAX = 200

const REMEDIATED = 'dev.caretaker.alert.remediated'
const SKIPPED = 'dev.caretaker.alert.skipped'
const NOTIFICATION = 'dev.caretaker.alert.notification'
const FAILED = 'dev.caretaker.alert.failed'
const RESTART_REQUESTED = 'dev.caretaker.workload.restart.requested'
const RESTARTED = 'dev.caretaker.workload.restarted'
const RESTART_FAILED = 'dev.caretaker.workload.restart.failed'
const DEDUP_MS = 24 * 3_600_000
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)

export interface Alert {
  fingerprint: string
  status: 'firing' | 'resolved'
  labels: Record<string, string>
  annotations?: Record<string, string>
  startsAt: string
  endsAt?: string
}

/** The data of a manual restart request (shared/events/types/workload.ts). */
interface RestartRequest { kind: WorkloadKind; namespace: string; name: string; wait?: boolean; health?: HealthCheck; reason: string }

/** The alert names a target that cannot be acted on (a Job gone, or not a CronJob's): skipped, not retried. */
class TargetError extends Error {}

interface ActionResult {
  action: string
  target?: string
  done: boolean
  dryRun?: boolean
  message: string
  /** Done by an earlier attempt at this alert (recorded on its claim): not run again. */
  alreadyDone?: boolean
  /** A restart: whether its rollout finished (as `kubectl rollout status`), and what its status said last. */
  rolled?: boolean
  rollout?: string
  /** A restart with a health check: whether the URL answered 2xx, and its last answer (status, or why none). */
  healthy?: boolean
  healthStatus?: string
}

/** An action that failed part-way (a restart written whose rollout or health check failed): what it got to, for the report. */
class ActionFailed extends CaretakerError {
  readonly result: ActionResult
  constructor(result: ActionResult, message: string) {
    super(Errors.DependencyFailed, message)
    this.result = result
  }
}

/** Where a restart of an earlier attempt got: written at `generation`, so a retry waits instead of restarting again. */
interface Resume { generation: number }

/** A fresh module (one per replica: a test may host two in one process). */
export function createRespondToAlert(): FunctionModule {
  return defineFunction<RespondToAlertConfig>({
  name: 'respond-to-alert',
  description: 'bounded, audited responses to Alertmanager alerts: restart, delete pod, scale, re-run a CronJob, request, silence, notify; and manual restarts that wait for the rollout and a health URL',
  accepts: [FIRING, RESOLVED, RESTART_REQUESTED],
  configSchema,
  setup({ config, kubeConfig, log, metrics: registry, runDeadlineMs }) {
    checkConfig(config, runDeadlineMs)
    const registers = [registry]
    const actionsTaken = new Counter({ name: 'caretaker_alert_actions_total', help: 'Remediation actions by rule, action type and result (done, dry-run, failed)', labelNames: ['rule', 'action', 'result'], registers })
    const skipped = new Counter({ name: 'caretaker_alert_skipped_total', help: 'Alerts not acted on, by why: no-rule, template, unconfirmed, namespace, target, duplicate, cooldown, cap; restart requests refused: manual-namespace, manual-health, manual-cooldown, manual-cap', labelNames: ['reason'], registers })
    const rules = config.rules.map((rule) => ({ rule, matchers: rule.matchers.map(parseMatcher) as Matcher[] }))
    const state = kubeConfig ? new AlertState(kubeConfig, config.stateNamespace) : undefined
    const recorder = kubeConfig ? new EventRecorder(kubeConfig, 'respond-to-alert', log) : undefined
    const capWindow = parseDuration(config.cap.window)!
    const silenceMs = parseDuration(config.silenceFor)!
    // The Trigger's default backoff (exponential from PT2S, 5 retries: 4 + 8 + 16 + 32 + 64 s) outlasts the default 45 s.
    const claimMs = parseDuration(config.claimFor)!

    // Expired Leases are swept now and then, in the background of an event: a busy platform's dedup records would
    // otherwise pile up in the namespace. A sweep failing is logged and tried again at the next interval.
    let lastSweep = 0
    function sweepNowAndThen(): void {
      if (!state || Date.now() - lastSweep < SWEEP_EVERY_MS) return
      lastSweep = Date.now()
      void state.sweepExpired(Math.max(silenceMs, SWEEP_GRACE_MS), SWEEP_MAX)
        .then((deleted) => { if (deleted > 0) log.info({ deleted }, 'expired state Leases deleted') })
        .catch((err: unknown) => log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'could not sweep expired state Leases; trying again later'))
    }

    function needKube(): { kube: KubeConfig; state: AlertState } {
      if (!kubeConfig || !state) throw new CaretakerError(Errors.DependencyUnavailable, 'respond-to-alert needs the Kubernetes API, and none is configured')
      return { kube: kubeConfig, state }
    }

    async function alertmanager(path: string, init: RequestInit): Promise<Response> {
      try {
        const res = await fetch(new URL(path, config.alertmanagerUrl!.replace(/\/?$/, '/')), { ...init, signal: AbortSignal.timeout(10_000) })
        if (res.status >= 500) throw new CaretakerError(Errors.DependencyUnavailable, `Alertmanager answered ${res.status} to ${init.method} ${path}`)
        return res
      } catch (err) {
        if (err instanceof CaretakerError) throw err
        throw new CaretakerError(Errors.DependencyUnavailable, `Alertmanager is unreachable (${init.method} ${path})`)
      }
    }

    async function silence(alert: Alert, rule: Rule): Promise<string | undefined> {
      const now = Date.now()
      const res = await alertmanager('api/v2/silences', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          matchers: Object.entries(alert.labels).map(([name, value]) => ({ name, value, isRegex: false, isEqual: true })),
          startsAt: new Date(now).toISOString(),
          endsAt: new Date(now + silenceMs).toISOString(),
          createdBy: 'caretaker/respond-to-alert',
          comment: `respond-to-alert rule ${rule.name} is remediating ${alert.labels.alertname ?? 'this alert'}`,
        }),
      })
      if (!res.ok) throw new CaretakerError(Errors.DependencyFailed, `Alertmanager refused the silence (${res.status})`)
      return ((await res.json()) as { silenceID?: string }).silenceID
    }

    async function expireSilence(id: string): Promise<void> {
      // Already over (it ran out, or someone expired it): nothing to do.
      const current = await alertmanager(`api/v2/silence/${encodeURIComponent(id)}`, { method: 'GET' })
      if (current.status === 404) return
      if (current.ok && ((await current.json()) as { status?: { state?: string } }).status?.state === 'expired') return
      const res = await alertmanager(`api/v2/silence/${encodeURIComponent(id)}`, { method: 'DELETE' })
      if (!res.ok && res.status !== 404) throw new CaretakerError(Errors.DependencyFailed, `Alertmanager refused to expire silence ${id} (${res.status})`)
    }

    /**
     * Whether Alertmanager has this very alert firing: an alert with the same
     * fingerprint, labels and startsAt among GET /api/v2/alerts filtered by
     * its labels (active, silenced, inhibited and unprocessed alike). The API
     * leaves out resolved alerts (prometheus/alertmanager api/v2/api.go,
     * alertFilter: EndsAt before now). Its startsAt has millisecond precision
     * (strfmt.DateTime), the webhook's nanoseconds: compared to the millisecond.
     */
    async function firingInAlertmanager(alert: Alert): Promise<boolean> {
      const query = new URLSearchParams()
      // OpenMetrics escapes in the quoted value, as pkg/labels/parse.go reads them.
      for (const [name, value] of Object.entries(alert.labels)) query.append('filter', `${name}="${value.replace(/[\\"\n]/g, (c) => c === '\n' ? '\\n' : `\\${c}`)}"`)
      for (const flag of ['active', 'silenced', 'inhibited', 'unprocessed']) query.set(flag, 'true')
      const res = await alertmanager(`api/v2/alerts?${query}`, { method: 'GET' })
      if (!res.ok) throw new CaretakerError(Errors.DependencyFailed, `Alertmanager refused the query for alert ${alert.fingerprint} (${res.status})`)
      const found = (await res.json()) as Array<{ fingerprint?: string; labels?: Record<string, string>; startsAt?: string }>
      const ms = (t: string | undefined) => Math.floor(Date.parse(t ?? ''))
      const names = Object.keys(alert.labels)
      return found.some((a) => a.fingerprint === alert.fingerprint
        && Object.keys(a.labels ?? {}).length === names.length && names.every((n) => a.labels?.[n] === alert.labels[n])
        && (alert.status === 'resolved' || ms(a.startsAt) === ms(alert.startsAt)))
    }

    /**
     * GETs the health URL until it answers 2xx: at most `attempts` (5)
     * times, `interval` (2s) apart, each bounded by `timeout` (5s), all before `until`.
     * The last answer is reported (status code, or why there was none).
     */
    async function healthCheck(check: HealthCheck, until: number): Promise<{ healthy: boolean; status: string }> {
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
    async function restartWorkload(
      target: { kind: WorkloadKind; namespace: string; name: string; timeout: string; wait: boolean; health?: HealthCheck },
      context: HandlerContext, audit: { reason: string; message: string },
      resume?: Resume, written?: (r: Resume, message: string) => Promise<void>,
    ): Promise<ActionResult> {
      const { kind, namespace, name, timeout } = target
      const at = `${namespace}/${name}`
      const base = { action: `restart ${kind}`, target: at }
      const waits = `wait up to ${timeout} for its rollout${target.health ? ` and then for ${target.health.url} to answer 2xx` : ''}`
      if (context.dryRun) return { ...base, done: false, dryRun: true, message: `would restart ${kind} ${at}${target.wait ? ` and ${waits}` : ' (without waiting for its rollout)'}` }
      const { kube } = needKube()
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
        const apps = kube.makeApiClient(AppsV1Api)
        const body = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } }
        try {
          const obj = kind === 'Deployment' ? await apps.patchNamespacedDeployment({ namespace, name, body }, merge)
            : kind === 'StatefulSet' ? await apps.patchNamespacedStatefulSet({ namespace, name, body }, merge)
              : await apps.patchNamespacedDaemonSet({ namespace, name, body }, merge)
          generation = obj.metadata?.generation ?? 0
        } catch (err) { throw kubernetesError(err, `restart ${kind} ${at}`) }
        restarted = `restarted ${kind} ${at}`
        await written?.({ generation }, restarted)
        await recorder?.record({ apiVersion: 'apps/v1', kind, namespace, name }, { type: 'Normal', reason: audit.reason, action: 'Restart', message: audit.message })
      }
      if (!target.wait) return { ...base, done: true, message: `${restarted}; not waiting for its rollout (the request said wait: false)` }
      const rollout = await waitForRollout(kube, kind, namespace, name, generation, until, context.signal)
      if (!rollout.done) {
        const why = rollout.failed ? rollout.message : `not rolled out within ${byDeadline ? 'the run\'s deadline (CARETAKER_RUN_DEADLINE)' : timeout}: ${rollout.message}`
        throw new ActionFailed({ ...base, done: false, rolled: false, rollout: why, message: `${restarted}; ${why}` }, `${restarted}, but its rollout did not finish: ${why}`)
      }
      const rolledOut = { ...base, rolled: true, rollout: rollout.message }
      if (!target.health) return { ...rolledOut, done: true, message: `${restarted}; ${rollout.message}` }
      const health = await healthCheck(target.health, until)
      if (!health.healthy) {
        throw new ActionFailed({ ...rolledOut, done: false, healthy: false, healthStatus: health.status, message: `${restarted}; rolled out, but ${target.health.url} is not healthy (${health.status})` }, `${restarted} and rolled out, but ${target.health.url} did not answer 2xx (${health.status})`)
      }
      return { ...rolledOut, done: true, healthy: true, healthStatus: health.status, message: `${restarted}; ${rollout.message}; ${target.health.url} answered ${health.status}` }
    }

    async function run(action: ResolvedAction, namespace: string, labels: Record<string, string>, context: HandlerContext, rule: Rule, alert: Alert, index: number, resume?: Resume, written?: (r: Resume, message: string) => Promise<void>): Promise<ActionResult> {
      const dry = context.dryRun
      const at = (name: string) => `${namespace}/${name}`
      switch (action.type) {
        case 'restart':
          return restartWorkload({ kind: action.kind, namespace, name: render(action.name, labels), timeout: action.timeout ?? config.restartTimeout, wait: true, ...(action.health ? { health: action.health } : {}) }, context,
            { reason: 'AlertRemediated', message: `rule ${rule.name}: rollout restart for alert ${labels.alertname ?? ''}` }, resume, written)
        case 'deletePod': {
          const name = render(action.name, labels)
          if (dry) return { action: 'delete Pod', target: at(name), done: false, dryRun: true, message: `would delete Pod ${at(name)}` }
          const core = needKube().kube.makeApiClient(CoreV1Api)
          try {
            await core.deleteNamespacedPod({ namespace, name })
          } catch (err) {
            // Gone already: a retry after a later action failed (the claim is given back and every action runs again),
            // or the Pod went by itself. What the action asks for holds; deleting it is not done twice, nor reported so.
            if (kubernetesStatusCode(err) === 404) return { action: 'delete Pod', target: at(name), done: true, message: `Pod ${at(name)} is gone already` }
            throw kubernetesError(err, `delete Pod ${at(name)}`)
          }
          await recorder?.record({ apiVersion: 'v1', kind: 'Pod', namespace, name }, { type: 'Normal', reason: 'AlertRemediated', action: 'Delete', message: `rule ${rule.name}: deleted for alert ${labels.alertname ?? ''}` })
          return { action: 'delete Pod', target: at(name), done: true, message: `deleted Pod ${at(name)}` }
        }
        case 'scale': {
          const name = render(action.name, labels)
          const apps = needKube().kube.makeApiClient(AppsV1Api)
          let current: number
          try {
            current = action.kind === 'Deployment'
              ? (await apps.readNamespacedDeployment({ namespace, name })).spec?.replicas ?? 1
              : (await apps.readNamespacedStatefulSet({ namespace, name })).spec?.replicas ?? 1
          } catch (err) { throw kubernetesError(err, `read ${action.kind} ${at(name)}`) }
          const wanted = Math.min(action.max, Math.max(action.min, current + action.delta))
          const base = { action: `scale ${action.kind}`, target: at(name) }
          if (wanted === current) return { ...base, done: false, message: `${action.kind} ${at(name)} stays at ${current} replicas (bounds ${action.min}..${action.max})` }
          if (dry) return { ...base, done: false, dryRun: true, message: `would scale ${action.kind} ${at(name)} from ${current} to ${wanted}` }
          const body = { spec: { replicas: wanted } }
          try {
            if (action.kind === 'Deployment') await apps.patchNamespacedDeployment({ namespace, name, body }, merge)
            else await apps.patchNamespacedStatefulSet({ namespace, name, body }, merge)
          } catch (err) { throw kubernetesError(err, `scale ${action.kind} ${at(name)}`) }
          await recorder?.record({ apiVersion: 'apps/v1', kind: action.kind, namespace, name }, { type: 'Normal', reason: 'AlertRemediated', action: 'Scale', message: `rule ${rule.name}: scaled from ${current} to ${wanted} for alert ${labels.alertname ?? ''}` })
          return { ...base, done: true, message: `scaled ${action.kind} ${at(name)} from ${current} to ${wanted}` }
        }
        case 'runCronJob': {
          const name = render(action.name, labels)
          if (dry) return { action: 'create Job from CronJob', target: at(name), done: false, dryRun: true, message: `would create a Job from CronJob ${at(name)}` }
          const batch = needKube().kube.makeApiClient(BatchV1Api)
          try {
            const cron = await batch.readNamespacedCronJob({ namespace, name })
            const jobName = `${name.slice(0, 40)}-alert-${Math.floor(Date.now() / 1000).toString(36)}`
            await batch.createNamespacedJob({ namespace, body: {
              apiVersion: 'batch/v1', kind: 'Job',
              metadata: { name: jobName, namespace, annotations: { 'cronjob.kubernetes.io/instantiate': 'manual' }, labels: cron.spec?.jobTemplate.metadata?.labels ?? {},
                ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name, uid: cron.metadata!.uid!, controller: true }] },
              spec: cron.spec!.jobTemplate.spec!,
            } })
            await recorder?.record({ apiVersion: 'batch/v1', kind: 'CronJob', namespace, name, ...(cron.metadata?.uid ? { uid: cron.metadata.uid } : {}) }, { type: 'Normal', reason: 'AlertRemediated', action: 'Run', message: `rule ${rule.name}: created Job ${jobName} for alert ${labels.alertname ?? ''}` })
            return { action: 'create Job from CronJob', target: at(name), done: true, message: `created Job ${namespace}/${jobName}` }
          } catch (err) { throw kubernetesError(err, `create a Job from CronJob ${at(name)}`) }
        }
        case 'request': {
          const data = Object.fromEntries(Object.entries(action.data).map(([k, v]) => [k, render(v, labels)]))
          if (dry) return { action: `request ${action.eventType}`, done: false, dryRun: true, message: `would emit ${action.eventType}` }
          const sent = await context.emit({ type: action.eventType, data }, index)
          if (!sent) throw new CaretakerError(Errors.DependencyUnavailable, `the request ${action.eventType} was not accepted by the broker`)
          return { action: `request ${action.eventType}`, done: true, message: `emitted ${action.eventType}` }
        }
        case 'notify': {
          const message = render(action.message, labels)
          if (dry) return { action: 'notify', done: false, dryRun: true, message: `would notify: ${message}` }
          const sent = await context.emit({ type: NOTIFICATION, subject: alert.labels.alertname, data: { alertname: labels.alertname ?? '', severity: labels.severity ?? '', message, rule: rule.name, labels } }, index)
          if (!sent) throw new CaretakerError(Errors.DependencyUnavailable, 'the notification was not accepted by the broker')
          return { action: 'notify', done: true, message }
        }
      }
    }

    /** An action's identity in the record of what was done: its type and target, so a changed plan skips nothing else. */
    function actionId(action: ResolvedAction, namespace: string, labels: Record<string, string>): string {
      switch (action.type) {
        case 'restart': case 'scale': return `${action.type}:${action.kind}:${namespace}/${render(action.name, labels)}`
        case 'deletePod': case 'runCronJob': return `${action.type}:${namespace}/${render(action.name, labels)}`
        case 'request': return `request:${action.eventType}`
        case 'notify': return 'notify'
      }
    }

    /** The action and target fields of an action's result, for one that is not run. */
    function describe(action: ResolvedAction, namespace: string, labels: Record<string, string>): { action: string; target?: string } {
      switch (action.type) {
        case 'restart': case 'scale': return { action: `${action.type} ${action.kind}`, target: `${namespace}/${render(action.name, labels)}` }
        case 'deletePod': return { action: 'delete Pod', target: `${namespace}/${render(action.name, labels)}` }
        case 'runCronJob': return { action: 'create Job from CronJob', target: `${namespace}/${render(action.name, labels)}` }
        case 'request': return { action: `request ${action.eventType}` }
        case 'notify': return { action: 'notify' }
      }
    }

    function targetOf(rule: Rule, actions: readonly Action[], labels: Record<string, string>): { namespace: string; key: string; target: string } {
      const namespace = render(rule.namespace, labels)
      const names = actions.map((a) => 'name' in a ? `${a.type}:${render(a.name, labels)}` : 'fromJob' in a ? `${a.type}:job/${render(a.fromJob, labels)}` : a.type)
      return { namespace, target: `${namespace}/${names.join(',')}`, key: `${rule.name}\0${namespace}\0${names.join('\0')}` }
    }

    /**
     * The actions with their targets known: a runCronJob `fromJob` becomes the
     * CronJob that controls that Job (its ownerReference, as the CronJob
     * controller sets it: kubernetes/kubernetes pkg/controller/cronjob,
     * getJobFromTemplate2). A Job gone, or not run by a CronJob, is a TargetError.
     */
    async function resolveActions(actions: readonly Action[], namespace: string, labels: Record<string, string>): Promise<ResolvedAction[]> {
      const out: ResolvedAction[] = []
      for (const a of actions) {
        if (!('fromJob' in a)) { out.push(a); continue }
        const job = render(a.fromJob, labels)
        let read
        try {
          read = await needKube().kube.makeApiClient(BatchV1Api).readNamespacedJob({ namespace, name: job })
        } catch (err) {
          if (kubernetesStatusCode(err) === 404) throw new TargetError(`Job ${namespace}/${job} is gone, so the CronJob to re-run is not known`)
          throw kubernetesError(err, `read Job ${namespace}/${job}`)
        }
        const owner = read.metadata?.ownerReferences?.find((o) => o.kind === 'CronJob' && o.apiVersion.startsWith('batch/') && o.controller === true)
        if (!owner) throw new TargetError(`Job ${namespace}/${job} is not run by a CronJob`)
        out.push({ type: 'runCronJob', name: owner.name })
      }
      return out
    }

    /**
     * A manual restart (dev.caretaker.workload.restart.requested): the same
     * restart step as a rule's, guarded as the rules are: only in
     * manualRestart.namespaces, a cooldown per workload, the cap across
     * everything the function does, and a claim per request (its CloudEvent
     * source and id) on which the written restart is recorded, so a retry
     * after a failed wait waits for that rollout instead of rolling again.
     */
    async function handleRestartRequest(context: HandlerContext, event: CloudEvent<unknown>): Promise<CloudEvent<unknown>> {
      const req = event.data as RestartRequest
      const target = `${req.namespace}/${req.name}`
      const wait = req.wait !== false
      const by = (event as unknown as Record<string, unknown>)[PROOF_BY]
      const base = { kind: req.kind, namespace: req.namespace, name: req.name, target, reason: req.reason, ...(typeof by === 'string' ? { requestedBy: by } : {}), ...(context.dryRun ? { dryRun: true } : {}) }
      const who = { kind: req.kind, target, requested_by: base.requestedBy }
      const manual = config.manualRestart
      const refuse = (why: 'namespace' | 'health' | 'cooldown' | 'cap', message: string, details: Record<string, unknown> = {}): never => {
        skipped.inc({ reason: `manual-${why}` })
        context.log.warn({ ...who, reason: message }, 'restart request refused')
        throw new CaretakerError(Errors.Forbidden, message, { details: { refused: why, ...details } })
      }
      if (!manual) refuse('namespace', `respond-to-alert takes no manual restarts: set manualRestart.namespaces in its config to the namespaces whose workloads may be restarted on request (and grant its ServiceAccount patch on ${req.kind.toLowerCase()}s there)`)
      if (!manual!.namespaces.includes(req.namespace)) {
        refuse('namespace', `namespace ${req.namespace} is not among manualRestart.namespaces (${manual!.namespaces.join(', ')}): add it to respond-to-alert's config to allow restarting ${req.kind} ${target} on request`, { namespace: req.namespace, allowed: manual!.namespaces })
      }
      if (req.health && !wait) throw new CaretakerError(Errors.InvalidEventData, 'data.health needs data.wait: the health check runs once the rollout has finished; drop health or wait: false')
      if (req.health && !healthUrlAllowed(req.health.url, req.namespace, manual!.healthUrls)) {
        refuse('health', `data.health.url must be a Service of namespace ${req.namespace} (http://<service>.${req.namespace}.svc[.cluster.local][:port]/...) or start with one of manualRestart.healthUrls (${manual!.healthUrls.join(', ') || 'none set'}): add its prefix there to allow it`, { url: withoutCredentials(req.health.url) })
      }
      // A workload that does not exist is the request's mistake (400, not retried), not the API failing.
      try {
        await readWorkload(needKube().kube, req.kind, req.namespace, req.name)
      } catch (err) {
        if (err instanceof CaretakerError && err.details?.code === 404) throw new CaretakerError(Errors.InvalidEventData, `${req.kind} ${target} does not exist: check data.kind, data.namespace and data.name`)
        throw err
      }
      const step = { kind: req.kind, namespace: req.namespace, name: req.name, timeout: config.restartTimeout, wait, ...(req.health ? { health: req.health } : {}) }
      const audit = { reason: 'RestartRequested', message: `restart requested${base.requestedBy ? ` by ${base.requestedBy}` : ''}: ${req.reason}`.slice(0, 1024) }
      const cooldown = manual!.cooldown ?? config.cooldown
      if (context.dryRun) {
        const planned = await restartWorkload(step, context, audit)
        context.log.info({ ...who, plan: planned.message }, 'dry-run: restart planned')
        return context.reply({ type: RESTARTED, subject: target, data: { ...base, message: `${planned.message}; not done: dry-run (send the request with dryrun=false to restart; a restart of ${target} is then refused for ${cooldown} after it)` } })
      }
      const { state: st } = needKube()
      // The request's own claim: the runtime's idempotency store answers a redelivery of a finished request; this claim
      // carries the restart an earlier, failed attempt wrote, and counts attempts for the last one's failure event.
      const key = `restart-request\0${event.source}\0${event.id}`
      const cooldownKey = `manual-restart\0${req.kind}\0${target}`
      const claim = await st.claimAlert(key, event.id, claimMs)
      if (!claim.claimed) {
        if (claim.state === 'in-progress') throw new CaretakerError(Errors.EventInProgress, `the restart request ${event.id} is being handled by an earlier delivery; retry later`)
        const records = await st.actionsDone(key)
        return context.reply({ type: RESTARTED, subject: target, data: { ...base, alreadyRestarted: true, message: `already done by an earlier delivery of this request: ${records.find((r) => r.phase === 'done')?.message ?? `restarted ${req.kind} ${target}`}` } })
      }
      const cooldownMs = parseDuration(cooldown)!
      // A refused request leaves its claim failed, not done: a redelivery is refused again (or acts once the cooldown
      // is over), never answered as if it had restarted.
      if (!await st.takeCooldown(cooldownKey, claimMs)) {
        await st.failAlert(key, claimMs)
        refuse('cooldown', `${req.kind} ${target} was restarted less than ${cooldown} ago (manualRestart.cooldown): a restart is refused until the cooldown has passed; wait, or if it must roll now use kubectl rollout restart`, { cooldown })
      }
      const slot = await st.takeCapSlot(config.cap.actions, capWindow)
      if (!slot.taken) {
        await st.releaseCooldown(cooldownKey)
        await st.failAlert(key, claimMs)
        refuse('cap', `respond-to-alert has reached its cap of ${config.cap.actions} actions per ${config.cap.window} (cap): the restart is refused until the window passes`, { cap: config.cap })
      }
      const records = await st.actionsDone(key)
      const earlier = records.find((r) => r.index === 1 && r.phase === 'restarted' && r.generation !== undefined)
      const heartbeat = setInterval(() => {
        void Promise.all([st.renewClaim(key, event.id, claimMs), st.renewCooldown(cooldownKey, claimMs)]).catch((e: unknown) => {
          context.log.warn({ ...who, reason: e instanceof Error ? e.message : String(e) }, 'could not renew the claim on the restart request; it runs out after claimFor')
        })
      }, Math.max(100, claimMs / 3))
      let result: ActionResult
      const id = `restart:${req.kind}:${target}`
      try {
        result = await restartWorkload(step, context, audit, earlier ? { generation: earlier.generation! } : undefined, async (r, message) => {
          await st.recordAction(key, { index: 1, action: id, phase: 'restarted', generation: r.generation, message }).catch(() => false).then((ok) => {
            if (!ok) context.log.warn(who, 'could not record the restart as written; a retry would restart again')
          })
        })
      } catch (err) {
        clearInterval(heartbeat)
        actionsTaken.inc({ rule: 'manual', action: 'restart', result: 'failed' })
        const forget = (what: string) => (e: unknown) => context.log.warn({ reason: e instanceof Error ? e.message : String(e) }, `could not give back the ${what}; it runs out by itself`)
        await st.releaseCooldown(cooldownKey).catch(forget('cooldown'))
        await st.failAlert(key, claimMs).catch(forget('claim'))
        const error = err instanceof CaretakerError ? err : new CaretakerError(Errors.Internal, err instanceof Error ? err.message : String(err))
        const last = claim.attempt >= config.retries + 1
        context.log.error({ ...who, attempt: claim.attempt, last, reason: error.message }, last ? 'requested restart failed on the last attempt' : 'requested restart failed; the Broker retries')
        if (last) {
          const got = err instanceof ActionFailed ? err.result : undefined
          await context.emit({ type: RESTART_FAILED, subject: target, data: { ...base, ...pick(got), message: got?.message ?? error.message, error: error.code, attempts: claim.attempt } }, 1)
        }
        throw error
      }
      clearInterval(heartbeat)
      actionsTaken.inc({ rule: 'manual', action: 'restart', result: 'done' })
      try {
        await st.recordAction(key, { index: 1, action: id, phase: 'done', message: result.message })
        await st.confirmCooldown(cooldownKey, cooldownMs)
        await st.finishAlert(key, DEDUP_MS)
      } catch (err) {
        // Done: a failure to record it must not have the Broker redeliver (that would restart twice).
        context.log.warn({ ...who, reason: err instanceof Error ? err.message : String(err) }, 'restarted, but the cooldown and dedup record could not be made final; they run out after claimFor')
      }
      context.log.info({ ...who, result: result.message }, 'restarted on request')
      return context.reply({ type: RESTARTED, subject: target, data: { ...base, ...pick(result), ...(earlier ? { alreadyRestarted: true } : {}), message: result.message } })
    }

    /** A URL as it may be shown: user and password dropped. */
    function withoutCredentials(url: string): string {
      try {
        const u = new URL(url)
        u.username = ''
        u.password = ''
        return u.href
      } catch { return 'an unparseable URL' }
    }

    /** The rollout and health fields of a restart's result, for the outcome events. */
    function pick(r: ActionResult | undefined): Pick<ActionResult, 'rolled' | 'rollout' | 'healthy' | 'healthStatus'> {
      if (!r) return {}
      return { ...(r.rolled !== undefined ? { rolled: r.rolled } : {}), ...(r.rollout !== undefined ? { rollout: r.rollout } : {}), ...(r.healthy !== undefined ? { healthy: r.healthy } : {}), ...(r.healthStatus !== undefined ? { healthStatus: r.healthStatus } : {}) }
    }

    return {
      async handle(context, event) {
        if (!context.dryRun) sweepNowAndThen()
        if (event.type === RESTART_REQUESTED) return handleRestartRequest(context, event)
        const alert = event.data as Alert
        const alertname = alert.labels.alertname ?? ''
        const base = { alertname, fingerprint: alert.fingerprint, ...(context.dryRun ? { dryRun: true } : {}) }
        const skip = (why: 'no-rule' | 'template' | 'unconfirmed' | 'namespace' | 'target' | 'duplicate' | 'cooldown' | 'cap', reason: string, extra: Record<string, unknown> = {}) => {
          skipped.inc({ reason: why })
          context.log.info({ alertname, fingerprint: alert.fingerprint, reason, ...extra }, 'alert skipped')
          return context.reply({ type: SKIPPED, subject: alertname, data: { ...base, ...extra, reason } })
        }
        const found = rules.find((r) => matchesAll(r.matchers, alert.labels))
        if (!found) return skip('no-rule', 'no rule matches the alert')
        const { rule } = found
        let target: ReturnType<typeof targetOf>
        try { target = targetOf(rule, rule.actions, alert.labels) } catch (err) { return skip('template', `rule ${rule.name}: ${(err as Error).message}`, { rule: rule.name }) }
        let actions: ResolvedAction[] | undefined
        const resolve = async () => {
          actions = await resolveActions(rule.actions, target.namespace, alert.labels)
          target = targetOf(rule, actions, alert.labels)
        }
        // Alert events reach the function unauthenticated (Knative's default install): Alertmanager, the source of
        // truth, must have a firing alert firing, and a resolved one no longer firing, before anything is done.
        if (config.verifyAlerts && await firingInAlertmanager(alert) !== (alert.status === 'firing')) {
          return skip('unconfirmed', alert.status === 'firing'
            ? `unconfirmed: Alertmanager has no firing alert ${alert.fingerprint} with these labels and startsAt`
            : `unconfirmed: Alertmanager still has alert ${alert.fingerprint} firing`, { rule: rule.name, target: target.target })
        }
        // A resolved alert's silence is under the resolved target; its Job may be gone by now (then the silence runs out).
        if (alert.status === 'resolved' && !context.dryRun) await resolve().catch((err: unknown) => { if (!(err instanceof TargetError)) throw err })
        let who = { rule: rule.name, target: target.target }

        if (alert.status === 'resolved') {
          if (context.dryRun) return context.reply({ type: REMEDIATED, subject: alertname, data: { ...base, ...who, reason: 'resolved; dry-run: the silence is left as it is', actions: [] } })
          const { state: st } = needKube()
          const id = rule.silence ? await st.silenceOf(target.key) : undefined
          if (id) {
            await expireSilence(id)
            await st.setSilence(target.key, undefined)
          }
          return context.reply({ type: REMEDIATED, subject: alertname, data: { ...base, ...who, reason: 'resolved', actions: [], ...(id ? { silenceId: id } : {}) } })
        }

        if (!rule.allowedNamespaces.includes(target.namespace)) {
          return skip('namespace', `namespace ${target.namespace} is not among the rule's allowed namespaces (${rule.allowedNamespaces.join(', ')})`, who)
        }
        try {
          await resolve()
        } catch (err) {
          if (err instanceof TargetError) return skip('target', `rule ${rule.name}: ${err.message}`, who)
          throw err
        }
        who = { rule: rule.name, target: target.target }
        const resolved = actions ?? []
        const cooldownMs = parseDuration(rule.cooldown ?? config.cooldown)!
        const key = alertKey(alert)
        let attempt = 0
        if (!context.dryRun) {
          const { state: st } = needKube()
          // A re-sent notification of the same alert (same fingerprint, status, startsAt) acts once; the claim lasts
          // claimMs until the actions are done, so neither a failure nor a holder killed midway blocks the alert.
          const claim = await st.claimAlert(key, event.id, claimMs)
          if (!claim.claimed) {
            // The Broker redelivers this very event while its claim is live: the holder died or is still at it. The
            // retry comes back when the claim is finished (a duplicate then) or has expired (it acts then).
            if (claim.state === 'in-progress' && claim.sameEvent) throw new CaretakerError(Errors.EventInProgress, `alert ${alertname} (${alert.fingerprint}) is being handled by an earlier delivery of this event; retry later`)
            return skip('duplicate', claim.state === 'done' ? 'duplicate: this alert was handled already' : 'duplicate: this alert is being handled by another delivery', who)
          }
          attempt = claim.attempt
          if (!await st.takeCooldown(target.key, claimMs)) {
            await st.finishAlert(key, DEDUP_MS)
            return skip('cooldown', `cooldown: rule ${rule.name} acted on ${target.target} less than ${rule.cooldown ?? config.cooldown} ago`, who)
          }
          const slot = await st.takeCapSlot(config.cap.actions, capWindow)
          if (!slot.taken) {
            await st.releaseCooldown(target.key)
            await st.finishAlert(key, DEDUP_MS)
            if (slot.report) {
              context.log.warn({ cap: config.cap }, 'alert storm: the action cap is reached; further alerts are skipped until the window passes')
              await recorder?.record({ apiVersion: 'v1', kind: 'Namespace', name: config.stateNamespace, namespace: config.stateNamespace }, { type: 'Warning', reason: 'AlertStormCapReached', action: 'Skip', message: `respond-to-alert reached its cap of ${config.cap.actions} actions per ${config.cap.window}; alerts are skipped until the window passes` })
            }
            return skip('cap', slot.report ? `cap reached: ${config.cap.actions} actions per ${config.cap.window} (alert storm; reported once)` : 'cap reached', who)
          }
        }
        const results: ActionResult[] = []
        let silenceId: string | undefined
        // While the actions run (a restart waits for its rollout), the claim and the cooldown are renewed every third of
        // claimFor: a live holder keeps them, a killed one leaves them to run out after claimFor as before.
        const heartbeat = context.dryRun ? undefined : setInterval(() => {
          const { state: st } = needKube()
          void Promise.all([st.renewClaim(key, event.id, claimMs), st.renewCooldown(target.key, claimMs)]).catch((e: unknown) => {
            context.log.warn({ ...who, alertname, reason: e instanceof Error ? e.message : String(e) }, 'could not renew the claim on the alert; it runs out after claimFor')
          })
        }, Math.max(100, claimMs / 3))
        try {
          if (rule.silence && !context.dryRun) {
            silenceId = await silence(alert, rule)
            if (silenceId) await needKube().state.setSilence(target.key, silenceId)
          }
          // What earlier attempts at this alert got through (recorded on its claim): not done again.
          const records = context.dryRun ? [] : await needKube().state.actionsDone(key)
          const record = (r: ActionRecord) => needKube().state.recordAction(key, r).then((ok) => {
            if (!ok) context.log.warn({ ...who, alertname, action: r.action }, 'could not record the action as done; a retry would run it again')
          }, (e: unknown) => context.log.warn({ ...who, alertname, action: r.action, reason: e instanceof Error ? e.message : String(e) }, 'could not record the action as done; a retry would run it again'))
          for (const [i, action] of resolved.entries()) {
            const index = i + 1
            const id = actionId(action, target.namespace, alert.labels)
            const earlier = records.find((r) => r.index === index && r.action === id)
            if (earlier?.phase === 'done') {
              results.push({ ...describe(action, target.namespace, alert.labels), done: true, alreadyDone: true, message: `already done by an earlier attempt: ${earlier.message}` })
              continue
            }
            const resume = earlier?.phase === 'restarted' && earlier.generation !== undefined ? { generation: earlier.generation } : undefined
            let result: ActionResult
            try {
              result = await run(action, target.namespace, alert.labels, context, rule, alert, index, resume, (r, message) => record({ index, action: id, phase: 'restarted', generation: r.generation, message }))
            } catch (err) {
              actionsTaken.inc({ rule: rule.name, action: action.type, result: 'failed' })
              if (err instanceof ActionFailed) results.push(err.result)
              throw err
            }
            results.push(result)
            actionsTaken.inc({ rule: rule.name, action: action.type, result: context.dryRun ? 'dry-run' : 'done' })
            if (!context.dryRun) await record({ index, action: id, phase: 'done', message: result.message })
          }
        } catch (err) {
          clearInterval(heartbeat)
          if (context.dryRun) throw err
          // Give back what would block the retry: the cooldown and the claim on the alert (the cap slot stays used).
          // Should this fail too, both run out by themselves after claimMs.
          const forget = (what: string) => (e: unknown) => context.log.warn({ reason: e instanceof Error ? e.message : String(e) }, `could not give back the ${what}; it runs out by itself`)
          await state?.releaseCooldown(target.key).catch(forget('cooldown'))
          await state?.failAlert(key, claimMs).catch(forget('claim'))
          if (silenceId) await expireSilence(silenceId).catch(forget('silence'))
          const error = err instanceof CaretakerError ? err : new CaretakerError(Errors.Internal, err instanceof Error ? err.message : String(err))
          const last = attempt >= config.retries + 1
          context.log.error({ ...who, alertname, attempt, last, reason: error.message }, last ? 'alert remediation failed on the last attempt' : 'alert remediation failed; the Broker retries')
          if (last) {
            // The Trigger's last attempt: tell notify it failed. The error reply still dead-letters the alert event.
            await context.emit({ type: FAILED, subject: alertname, data: { ...base, ...who, reason: `rule ${rule.name} failed after ${attempt} attempts: ${error.message}`, error: error.code, attempts: attempt, actions: results } }, rule.actions.length + 1)
          }
          throw error
        }
        clearInterval(heartbeat)
        if (!context.dryRun) {
          // The actions are done: a failure to record it must not have the Broker redeliver (that would act twice).
          // Unrecorded, the claim and the cooldown run out after claimMs; the next notification of the alert may act.
          const { state: st } = needKube()
          try {
            await st.confirmCooldown(target.key, cooldownMs)
            await st.finishAlert(key, DEDUP_MS)
          } catch (err) {
            context.log.warn({ ...who, alertname, reason: err instanceof Error ? err.message : String(err) }, 'remediated, but the cooldown and dedup record could not be made final; they run out after claimFor')
          }
        }
        context.log.info({ ...who, alertname, actions: results.map((r) => r.message) }, context.dryRun ? 'dry-run: alert remediation planned' : 'alert remediated')
        const skippedAsDone = results.filter((r) => r.alreadyDone).map((r) => r.target ? `${r.action} ${r.target}` : r.action)
        const reason = context.dryRun ? `dry-run: rule ${rule.name} would act` : `rule ${rule.name} matched${skippedAsDone.length ? `; skipped as already done by an earlier attempt: ${skippedAsDone.join(', ')}` : ''}`
        return context.reply({ type: REMEDIATED, subject: alertname, data: { ...base, ...who, reason, actions: results, ...(skippedAsDone.length ? { skippedAsDone } : {}), ...(silenceId ? { silenceId } : {}) } })
      },
    }
  },
})
}

export default createRespondToAlert()
