import { AppsV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '../../shared/kubernetes/api.ts'
import type { CloudEvent } from 'cloudevents'
import { Gauge, type Registry } from 'prom-client'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { REPLY_OBJECT_LIMIT } from '../../shared/events/outcome-list.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { checkBackups, checkCertificates, checkEvents, checkNodes, checkPods, checkPvcs, checkVault, type CheckScope } from './checks/basic.ts'
import { dayRecord, weeklyDigest, type DayFigures } from './checks/digest.ts'
import { runClusterCheck } from './checks/run.ts'
import type { AlertSummary } from './checks/alerts.ts'
import { configSchema, healthPolicy, type HealthCheck, type HealthPolicy, type HealthReportConfig } from './config.ts'
import { statusFromCounts, FindingList, type Finding } from './findings.ts'
import { readHistory, recordDay } from './history.ts'
import { alertsCheck, externalSecretsCheck, longhornCheck, type CheckResult } from './platform.ts'
import { EventTypes, isEvent } from '../../shared/events/catalogue.ts'
import { pingField } from '../../shared/events/types/knative.ts'

/**
 * health-report: the runbooks' daily check as one structured report: nodes
 * not Ready, pods neither Running nor Completed, the last day's Warning
 * events, Certificates not Ready or expiring, Vault sealed or unhealthy,
 * backups failed or missing, PVCs stuck Pending; the cluster checks of
 * checks/ (node pressure, cordoned nodes, disk and PVC fill, resource use
 * and commitment, workloads short of replicas, pods not Ready, restarts);
 * Alertmanager's firing alerts, Longhorn volumes degraded or not backed up,
 * ExternalSecrets not synced, Vault's HA. Read-only, but for its own
 * history: the daily run records its counts (and raw figures: restarts,
 * backup Jobs, fill, firing alerts) in a ConfigMap, which the
 * weekly run (a PingSource with `{"report":"weekly"}`) compares into a
 * digest.
 */

const PING = EventTypes.Ping
const REQUEST = EventTypes.HealthReportRequested
const REPORTED = EventTypes.HealthReported
const DIGEST = EventTypes.HealthDigest
const STATUS_VALUE = { healthy: 0, degraded: 1, critical: 2 } as const

interface Skipped { check: HealthCheck; reason: string }

/** What health-report's steps share, built once per instance from its config. */
export interface Reporter {
  config: HealthReportConfig
  policy: HealthPolicy
  kubeConfig: KubeConfig | undefined
  /** The configured namespaces one by one, or (none configured) the whole cluster at once. */
  scopes: Array<string | undefined>
  statusGauge: Gauge
  findingsGauge: Gauge<'check' | 'severity'>
  lastReport: Gauge
}

export function createReporter(config: HealthReportConfig, kubeConfig: KubeConfig | undefined, registry: Registry): Reporter {
  const policy = healthPolicy(config)
  const registers = [registry]
  return {
    config,
    policy,
    kubeConfig,
    statusGauge: new Gauge({ name: 'caretaker_health_status', help: 'Overall status of the last health report: 0 healthy, 1 degraded, 2 critical', registers }),
    findingsGauge: new Gauge({ name: 'caretaker_health_findings', help: 'Findings of the last health report by check and severity', labelNames: ['check', 'severity'], registers }),
    scopes: config.namespaces.length > 0 ? [...config.namespaces] : [undefined],
    lastReport: new Gauge({ name: 'caretaker_health_last_report_timestamp_seconds', help: 'When the last health report was made', registers }),
  }
}

function kube(r: Reporter) {
  if (!r.kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'health-report needs the Kubernetes API, and none is configured')
  const kc = r.kubeConfig
  return { core: kc.makeApiClient(CoreV1Api), batch: kc.makeApiClient(BatchV1Api), customs: kc.makeApiClient(CustomObjectsApi), apps: kc.makeApiClient(AppsV1Api), kc }
}

/** One check: how many objects it looked at. Alertmanager's also gives its alert summary. */
export async function runCheck(check: HealthCheck, s: CheckScope, alerts: (a: AlertSummary) => void): Promise<number> {
  const take = (result: CheckResult): number => {
    if ('skipped' in result) { s.skip(result.skipped); return 0 }
    result.findings.forEach(s.add)
    if (result.alerts) alerts(result.alerts)
    return result.seen
  }
  const { config, policy, now } = s
  switch (check) {
    case 'nodes': return checkNodes(s)
    case 'pods': return checkPods(s)
    case 'events': return checkEvents(s)
    case 'certificates': return checkCertificates(s)
    case 'vault': return checkVault(s)
    case 'backups': return checkBackups(s)
    case 'pvcs': return checkPvcs(s)
    case 'node-pressure': case 'cordoned': case 'disk-usage': case 'resource-usage': case 'commitment': case 'workloads': case 'pods-not-ready': case 'restarts':
      return runClusterCheck(check, {
        core: s.core, apps: s.apps, customs: s.customs, scopes: s.scopes, kubeConfig: s.kubeConfig, pageSize: config.pageSize, now, graceMs: policy.graceMs, restartWindowMs: policy.restartWindowMs,
        thresholds: config.thresholds, add: s.add, skip: s.skip, figures: s.figures,
      })
    case 'alerts':
      if (!config.alertmanager) { s.skip('no Alertmanager address is configured'); return 0 }
      return take(await alertsCheck(config.alertmanager, policy, now))
    case 'longhorn': return take(await longhornCheck(s.customs, config, policy, now))
    case 'externalsecrets': return take(await externalSecretsCheck(s.customs, config, policy, s.scopes, now))
  }
}

/** The report: each check in turn, the overall status and metrics, the daily record for the digest, the reply. */
export async function report(r: Reporter, checks: HealthCheck[], context: HandlerContext, daily = false): Promise<CloudEvent<unknown>> {
  const { config } = r
  const { core, batch, customs, apps, kc } = kube(r)
  const now = new Date()
  const findings = new FindingList(REPLY_OBJECT_LIMIT)
  const skipped: Skipped[] = []
  const scanned: Partial<Record<HealthCheck, number>> = {}
  let alerts: AlertSummary | undefined
  const figures: DayFigures = {}

  // 1: Each check, in the configured (or requested) order.
  for (const check of checks) {
    if (context.signal.aborted) throw new CaretakerError(Errors.ShuttingDown, 'the health check was interrupted by shutdown; it will be retried')
    const scope: CheckScope = {
      config, policy: r.policy, core, batch, apps, customs, kubeConfig: kc, scopes: r.scopes, now, figures,
      listing: { kubeConfig: kc, namespaces: config.namespaces.length > 0 ? config.namespaces : undefined, pageSize: config.pageSize },
      add: (f: Finding | undefined) => findings.add(f),
      skip: (reason) => skipped.push({ check, reason }),
    }
    const seen = await runCheck(check, scope, (a) => { alerts = a })
    if (!skipped.some((s) => s.check === check)) scanned[check] = seen
  }

  // 2: The overall status, and the metrics.
  const { findings: listed, omitted } = findings.result()
  const counts = { critical: findings.total('critical'), warning: findings.total('warning') }
  const status = statusFromCounts(counts)
  r.statusGauge.set(STATUS_VALUE[status])
  r.lastReport.set(now.getTime() / 1000)
  r.findingsGauge.reset()
  for (const check of checks) {
    for (const severity of ['critical', 'warning'] as const) r.findingsGauge.set({ check, severity }, findings.count(check, severity))
  }
  context.log.info({ status, ...counts, scanned }, 'health report made')

  // 3: The daily run leaves its counts for the weekly digest; a failure to do so is told, not fatal: the report still goes out.
  // Recorded in dry-run too: dry-run holds back changes to the platform, and the history is Caretaker's own
  // bookkeeping (as its idempotency records are); an install held in dry-run would otherwise get empty digests.
  let history: { recorded: boolean; days?: number; error?: string } | undefined
  if (daily) {
    const byCheck = Object.fromEntries(checks.map((c) => [c, findings.count(c, 'critical') + findings.count(c, 'warning')]))
    try {
      if (alerts) figures.alerts = alerts.bySeverity
      const kept = await recordDay(core, { namespace: config.history.namespace, name: config.history.configMap }, dayRecord({ checkedAt: now.toISOString(), status, counts, findings: listed, byCheck, figures }), config.history.days)
      history = { recorded: true, days: kept.length }
    } catch (err) {
      const error = err instanceof CaretakerError ? err.message : 'unexpected error'
      context.log.warn({ error }, 'the daily counts were not recorded for the weekly digest')
      history = { recorded: false, error }
    }
  }
  return context.reply({
    type: REPORTED,
    data: {
      status, checkedAt: now.toISOString(), checks, counts, scanned, ...(skipped.length > 0 ? { skipped } : {}), findings: listed, ...(omitted ? { omitted } : {}),
      ...(alerts ? { alerts } : {}), ...(history ? { history } : {}),
    },
  })
}

/** The weekly digest: the last days' records compared. */
export async function digest(r: Reporter, context: HandlerContext): Promise<CloudEvent<unknown>> {
  const { core } = kube(r)
  const { config } = r
  const { records } = await readHistory(core, { namespace: config.history.namespace, name: config.history.configMap })
  const data = weeklyDigest(records, new Date(), config.history.recurringDays, r.policy.fillHorizonMs / 86_400_000)
  context.log.info({ reported: data.reported, status: data.status }, 'weekly health digest made')
  return context.reply({ type: DIGEST, data })
}

export default defineFunction<HealthReportConfig>({
  name: 'health-report',
  description: 'the daily platform health check: nodes, pods, warning events, certificates, Vault, backups, PVCs',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, metrics }) {
    const reporter = createReporter(config, kubeConfig, metrics)
    return {
      async handle(context, event) {
        if (isEvent(event, REQUEST)) return report(reporter, event.data.checks ?? config.checks, context)
        if (pingField(event.data, 'report') === 'weekly') return digest(reporter, context)
        return report(reporter, config.checks, context, true)
      },
    }
  },
})
