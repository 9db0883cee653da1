import { DURATION_PATTERN, parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { JsonSchema } from '../../shared/schema.ts'
import { parseMatcher } from './matchers.ts'

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet'

/** `name` and `namespace` fields are templates over the alert's labels: `{{ $labels.pod }}`. */
export type Action =
  | { type: 'restart'; kind: WorkloadKind; name: string; timeout?: string; health?: HealthCheck }
  | { type: 'deletePod'; name: string }
  | { type: 'scale'; kind: 'Deployment' | 'StatefulSet'; name: string; delta: number; min: number; max: number }
  | { type: 'runCronJob'; name: string }
  /**
   * Re-runs the CronJob that owns the Job `fromJob` names (its controller
   * ownerReference): kube-state-metrics' kube_job_failed, hence
   * KubeJobFailed, carries `job_name` and no CronJob label.
   */
  | { type: 'runCronJob'; fromJob: string }
  | { type: 'request'; eventType: string; data: Record<string, string> }
  | { type: 'notify'; message: string }

/**
 * After a restart has rolled out: GET `url` until it answers 2xx, at most
 * `attempts` times, `interval` apart, each bounded by `timeout` (the
 * runbooks' service-restart script). The URL is fixed in the config, not a
 * template: an alert's labels do not choose where the function connects.
 */
export interface HealthCheck { url: string; timeout?: string; attempts?: number; interval?: string }

/** A health check's bounds, its defaults filled in (a schema default inside `oneOf` is not applied). */
export function healthBounds(check: HealthCheck): { timeoutMs: number; attempts: number; intervalMs: number; timeout: string } {
  const timeout = check.timeout ?? '5s'
  return { timeout, timeoutMs: parseDuration(timeout) ?? 0, attempts: check.attempts ?? 5, intervalMs: parseDuration(check.interval ?? '2s') ?? 0 }
}

/** An action whose target is known: a `fromJob` resolved to its CronJob's name. */
export type ResolvedAction = Exclude<Action, { fromJob: string }>

export interface Rule {
  name: string
  /** Label matchers, Alertmanager syntax: `alertname="KubePodCrashLooping"`, `severity=~"critical|warning"`. */
  matchers: string[]
  /** Template of the target namespace (default `{{ $labels.namespace }}`). */
  namespace: string
  /** The namespaces the rule may act in: a target elsewhere is refused. */
  allowedNamespaces: string[]
  cooldown?: string
  /** Silence the alert in Alertmanager while the remediation runs. */
  silence: boolean
  actions: Action[]
}

export interface RespondToAlertConfig {
  rules: Rule[]
  /** Default cooldown per rule and target. */
  cooldown: string
  /** At most `actions` remediations per `window`, across all rules. */
  cap: { actions: number; window: string }
  /** Where the cooldown, cap and dedup Leases live. */
  stateNamespace: string
  /** Alertmanager's base URL (v2 API): each alert is confirmed there before anything is done, and silences. */
  alertmanagerUrl?: string
  /**
   * Confirm each alert with Alertmanager before acting (default true): with
   * Knative's default install anyone who reaches the Broker can send an
   * alert event. false only where the Broker's senders are authenticated.
   */
  verifyAlerts: boolean
  /** How long a silence lasts at most; it is expired when the alert resolves. */
  silenceFor: string
  /**
   * The retries of respond-to-alert's Trigger (`delivery.retry`): a failed
   * remediation answers 5xx so the Broker redelivers, and when attempt
   * 1 + retries fails too, dev.caretaker.alert.failed tells notify.
   */
  retries: number
  /**
   * How long the claim on an alert, and the cooldown taken with it, last
   * until the actions are done: a replica killed between claim and action
   * blocks the alert this long, no longer. Longer than a handling takes,
   * shorter than the Trigger's retries last, so a redelivery acts.
   */
  claimFor: string
  /**
   * How long a restart waits at most for its rollout (as `kubectl rollout
   * status`) and then its health check, unless the action sets `timeout`:
   * past it the action has failed. Must fit in CARETAKER_RUN_DEADLINE.
   */
  restartTimeout: string
  /**
   * Manual restarts (dev.caretaker.workload.restart.requested): refused
   * unless set, and then only in `namespaces`. `cooldown` (default the
   * function's) per workload: a restart of it within that time is refused.
   * A request's health URL must be a Service of the workload's namespace
   * (`<service>.<namespace>.svc[.cluster.local]`) or start with one of
   * `healthUrls`.
   */
  manualRestart?: ManualRestart
}

export interface ManualRestart { namespaces: string[]; cooldown?: string; healthUrls: string[] }

const duration = { type: 'string', pattern: DURATION_PATTERN }
const template = { type: 'string', minLength: 1, maxLength: 253 }
const kubeName = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }

export const configSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  properties: {
    cooldown: { ...duration, default: '30m' },
    cap: {
      type: 'object', additionalProperties: false, default: { actions: 10, window: '10m' },
      properties: { actions: { type: 'integer', minimum: 1, default: 10 }, window: { ...duration, default: '10m' } },
    },
    stateNamespace: { ...kubeName, default: 'caretaker' },
    alertmanagerUrl: { type: 'string', pattern: '^https?://' },
    silenceFor: { ...duration, default: '1h' },
    retries: { type: 'integer', minimum: 0, maximum: 100, default: 5 },
    verifyAlerts: { type: 'boolean', default: true },
    claimFor: { ...duration, default: '45s' },
    restartTimeout: { ...duration, default: '90s' },
    manualRestart: {
      type: 'object', additionalProperties: false, required: ['namespaces'],
      properties: {
        namespaces: { type: 'array', minItems: 1, items: kubeName },
        cooldown: duration,
        healthUrls: { type: 'array', items: { type: 'string', pattern: '^https?://[^/]+/', maxLength: 2048 }, default: [] },
      },
    },
    rules: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'matchers', 'allowedNamespaces', 'actions'],
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9][-a-z0-9]*$', maxLength: 63 },
          matchers: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          namespace: { ...template, default: '{{ $labels.namespace }}' },
          allowedNamespaces: { type: 'array', minItems: 1, items: kubeName },
          cooldown: duration,
          silence: { type: 'boolean', default: false },
          actions: {
            type: 'array',
            minItems: 1,
            items: {
              oneOf: [
                { type: 'object', additionalProperties: false, required: ['type', 'kind', 'name'], properties: { type: { const: 'restart' }, kind: { enum: ['Deployment', 'StatefulSet', 'DaemonSet'] }, name: template, timeout: duration,
                  health: { type: 'object', additionalProperties: false, required: ['url'], properties: { url: { type: 'string', pattern: '^https?://', maxLength: 2048 }, timeout: duration, attempts: { type: 'integer', minimum: 1, maximum: 100 }, interval: duration } } } },
                { type: 'object', additionalProperties: false, required: ['type', 'name'], properties: { type: { const: 'deletePod' }, name: template } },
                { type: 'object', additionalProperties: false, required: ['type', 'kind', 'name', 'delta', 'min', 'max'], properties: { type: { const: 'scale' }, kind: { enum: ['Deployment', 'StatefulSet'] }, name: template, delta: { type: 'integer' }, min: { type: 'integer', minimum: 0 }, max: { type: 'integer', minimum: 0 } } },
                { type: 'object', additionalProperties: false, required: ['type', 'name'], properties: { type: { const: 'runCronJob' }, name: template } },
                { type: 'object', additionalProperties: false, required: ['type', 'fromJob'], properties: { type: { const: 'runCronJob' }, fromJob: template } },
                { type: 'object', additionalProperties: false, required: ['type', 'eventType'], properties: { type: { const: 'request' }, eventType: { type: 'string', pattern: '^dev\\.caretaker\\.[a-z.]+\\.requested$' }, data: { type: 'object', additionalProperties: { type: 'string' }, default: {} } } },
                { type: 'object', additionalProperties: false, required: ['type', 'message'], properties: { type: { const: 'notify' }, message: { type: 'string', minLength: 1 } } },
              ],
            },
          },
        },
      },
    },
  },
}

/** How long a rule's actions may wait at most (its restarts' timeouts), in ms. */
export function waitBudgetMs(config: RespondToAlertConfig, rule: Rule): number {
  return rule.actions.reduce((sum, a) => sum + (a.type === 'restart' ? parseDuration(a.timeout ?? config.restartTimeout) ?? 0 : 0), 0)
}

/**
 * What a schema cannot say: unique names, parseable matchers, bounds in
 * order; `runDeadlineMs` (CARETAKER_RUN_DEADLINE), which every rule's waits
 * must fit in.
 */
export function checkConfig(config: RespondToAlertConfig, runDeadlineMs?: number): void {
  const seen = new Set<string>()
  const bad = (at: string, problem: string): never => { throw new CaretakerError(Errors.InvalidConfig, `config.${at}: ${problem}`) }
  for (const [i, rule] of config.rules.entries()) {
    if (seen.has(rule.name)) bad(`rules[${i}].name`, `"${rule.name}" is used by another rule`)
    seen.add(rule.name)
    for (const [j, m] of rule.matchers.entries()) {
      try { parseMatcher(m) } catch (err) { bad(`rules[${i}].matchers[${j}]`, (err as Error).message) }
    }
    for (const [j, a] of rule.actions.entries()) {
      if (a.type === 'scale' && a.min > a.max) bad(`rules[${i}].actions[${j}]`, 'min is above max')
      if (a.type === 'restart' && a.timeout !== undefined && (parseDuration(a.timeout) ?? 0) <= 0) bad(`rules[${i}].actions[${j}].timeout`, 'must be longer than zero')
      if (a.type === 'restart' && a.health && healthBounds(a.health).timeoutMs <= 0) bad(`rules[${i}].actions[${j}].health.timeout`, 'must be longer than zero')
    }
    if (rule.silence && !config.alertmanagerUrl) bad(`rules[${i}].silence`, 'silences need alertmanagerUrl')
    if (rule.cooldown !== undefined && parseDuration(rule.cooldown) === undefined) bad(`rules[${i}].cooldown`, 'not a duration')
    if (runDeadlineMs !== undefined && waitBudgetMs(config, rule) >= runDeadlineMs) {
      bad(`rules[${i}]`, `its restarts may wait ${waitBudgetMs(config, rule) / 1000}s (restartTimeout or each restart's timeout), which does not fit in the run's deadline (CARETAKER_RUN_DEADLINE, ${runDeadlineMs / 1000}s, below the Knative Service's timeoutSeconds): make them shorter`)
    }
  }
  if (config.verifyAlerts && !config.alertmanagerUrl) bad('alertmanagerUrl', 'needed to confirm each alert with Alertmanager before acting (alert events reach the function unauthenticated); set verifyAlerts: false only where the Broker\'s senders are authenticated')
  if ((parseDuration(config.claimFor) ?? 0) <= 0) bad('claimFor', 'must be longer than zero')
  if ((parseDuration(config.cap.window) ?? 0) <= 0) bad('cap.window', 'must be longer than zero')
  if ((parseDuration(config.restartTimeout) ?? 0) <= 0) bad('restartTimeout', 'must be longer than zero')
  if (config.manualRestart && runDeadlineMs !== undefined && (parseDuration(config.restartTimeout) ?? 0) >= runDeadlineMs) {
    bad('restartTimeout', `a manual restart may wait ${config.restartTimeout}, which does not fit in the run's deadline (CARETAKER_RUN_DEADLINE, ${runDeadlineMs / 1000}s): make it shorter`)
  }
}

/**
 * Whether a manual request's health URL may be fetched for a workload in
 * `namespace`: a Service of that namespace (cluster DNS,
 * `<service>.<namespace>.svc[.cluster.local]`), or a URL under one of the
 * configured prefixes. A request does not choose any other place the
 * function connects to.
 */
export function healthUrlAllowed(url: string, namespace: string, prefixes: readonly string[]): boolean {
  let parsed: URL
  try { parsed = new URL(url) } catch { return false }
  if (parsed.username || parsed.password) return false
  const host = parsed.hostname
  const local = [`.${namespace}.svc`, `.${namespace}.svc.cluster.local`]
  if (local.some((suffix) => host.endsWith(suffix) && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(host.slice(0, -suffix.length)))) return true
  return prefixes.some((p) => parsed.href.startsWith(new URL(p).href))
}
