import type { V1Job } from '@kubernetes/client-node'
import { AppsV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi } from '../../shared/kubernetes/api.ts'
import { Gauge } from 'prom-client'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { configSchema, healthPolicy, type HealthCheck, type HealthReportConfig } from './config.ts'
import {
  backupFindings, backupJobCounts, certificateFindings, nodeFinding, podFinding, pvcFinding, statusFromCounts, vaultFinding,
  FindingList, WarningEventGroups, type CertificateLike, type VaultHealth,
} from './findings.ts'
import { pages } from './listing.ts'
import { listInNamespaces } from '../../shared/kubernetes/listing.ts'
import { REPLY_OBJECT_LIMIT } from '../../shared/events/outcome-list.ts'
import { runClusterCheck } from './checks/run.ts'
import { alertsCheck, externalSecretsCheck, longhornCheck, vaultHaCheck, type CheckResult } from './platform.ts'
import { dayRecord, weeklyDigest, type DayFigures } from './checks/digest.ts'
import { readHistory, recordDay } from './history.ts'
import type { AlertSummary } from './checks/alerts.ts'

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

const PING = 'dev.knative.sources.ping'
const REQUEST = 'dev.caretaker.health.report.requested'
const REPORTED = 'dev.caretaker.health.reported'
const DIGEST = 'dev.caretaker.health.digest'
const STATUS_VALUE = { healthy: 0, degraded: 1, critical: 2 } as const

interface Skipped { check: HealthCheck; reason: string }
interface Paging { limit: number; _continue?: string }

const where = (namespace: string | undefined) => (namespace ? ` in ${namespace}` : '')

export default defineFunction<HealthReportConfig>({
  name: 'health-report',
  description: 'the daily platform health check: nodes, pods, warning events, certificates, Vault, backups, PVCs',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, metrics: registry }) {
    const policy = healthPolicy(config)
    const registers = [registry]
    const statusGauge = new Gauge({ name: 'caretaker_health_status', help: 'Overall status of the last health report: 0 healthy, 1 degraded, 2 critical', registers })
    const findingsGauge = new Gauge({ name: 'caretaker_health_findings', help: 'Findings of the last health report by check and severity', labelNames: ['check', 'severity'], registers })
    // The configured namespaces one by one, or (none configured) the whole cluster at once.
    const scopes: Array<string | undefined> = config.namespaces.length > 0 ? [...config.namespaces] : [undefined]
    const lastReport = new Gauge({ name: 'caretaker_health_last_report_timestamp_seconds', help: 'When the last health report was made', registers })

    function kube() {
      if (!kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'health-report needs the Kubernetes API, and none is configured')
      return { core: kubeConfig.makeApiClient(CoreV1Api), batch: kubeConfig.makeApiClient(BatchV1Api), customs: kubeConfig.makeApiClient(CustomObjectsApi), apps: kubeConfig.makeApiClient(AppsV1Api), kc: kubeConfig }
    }

    async function vaultHealth(address: string): Promise<VaultHealth> {
      const url = `${address.replace(/\/+$/, '')}/v1/sys/health?standbyok=true&perfstandbyok=true`
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(policy.vaultTimeoutMs), redirect: 'error' })
        const body = await res.json().catch(() => ({})) as { sealed?: boolean; initialized?: boolean; standby?: boolean; version?: string }
        return {
          reachable: true, status: res.status,
          ...(typeof body.sealed === 'boolean' ? { sealed: body.sealed } : {}),
          ...(typeof body.initialized === 'boolean' ? { initialized: body.initialized } : {}),
          ...(typeof body.standby === 'boolean' ? { standby: body.standby } : {}),
          ...(typeof body.version === 'string' ? { version: body.version } : {}),
        }
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } }
        const error = e.name === 'TimeoutError' ? `no answer within ${config.vault?.timeout ?? ''}` : (e.cause?.code ?? e.name)
        return { reachable: false, error }
      }
    }

    async function report(checks: HealthCheck[], context: HandlerContext, daily = false) {
      const { core, batch, customs, apps, kc } = kube()
      // Many namespaces: one cluster-wide list kept to them where the RBAC allows it (shared/kubernetes/listing.ts).
      const listing = { kubeConfig: kc, namespaces: config.namespaces.length > 0 ? config.namespaces : undefined, pageSize: config.pageSize }
      const now = new Date()
      const findings = new FindingList(REPLY_OBJECT_LIMIT)
      const skipped: Skipped[] = []
      const scanned: Partial<Record<HealthCheck, number>> = {}
      const page = config.pageSize
      const stopIfShuttingDown = () => {
        if (context.signal.aborted) throw new CaretakerError(Errors.ShuttingDown, 'the health check was interrupted by shutdown; it will be retried')
      }
      const add = (f: Parameters<FindingList['add']>[0]) => findings.add(f)
      let alerts: AlertSummary | undefined
      // Raw figures for the day's record (the weekly digest's trends), from what the checks read anyway.
      const figures: DayFigures = {}
      const take = (check: HealthCheck, result: CheckResult): number => {
        if ('skipped' in result) { skipped.push({ check, reason: result.skipped }); return 0 }
        result.findings.forEach(add)
        if (result.alerts) alerts = result.alerts
        return result.seen
      }

      for (const check of checks) {
        stopIfShuttingDown()
        let seen = 0
        switch (check) {
          case 'nodes':
            for await (const node of pages('Nodes', page, (p) => core.listNode(p))) { seen++; add(nodeFinding(node)) }
            break
          case 'pods':
            for await (const pod of listInNamespaces({ ...listing, what: 'Pods', resource: { group: '', resource: 'pods' }, namespaced: (namespace, p) => core.listNamespacedPod({ namespace, ...p }), clusterWide: (p) => core.listPodForAllNamespaces(p) })) { seen++; add(podFinding(pod, now, policy.graceMs)) }
            break
          case 'events': {
            const groups = new WarningEventGroups(now, policy.eventWindowMs)
            const fieldSelector = 'type=Warning'
            for await (const event of listInNamespaces({ ...listing, what: 'Warning Events', resource: { group: '', resource: 'events' }, namespaced: (namespace, p) => core.listNamespacedEvent({ namespace, fieldSelector, ...p }), clusterWide: (p) => core.listEventForAllNamespaces({ fieldSelector, ...p }) })) { seen++; groups.add(event) }
            groups.findings().forEach(add)
            break
          }
          case 'certificates':
            try {
              for (const namespace of scopes) {
                const target = { group: 'cert-manager.io', version: 'v1', plural: 'certificates' }
                const list = namespace ? (p: Paging) => customs.listNamespacedCustomObject({ ...target, namespace, ...p }) : (p: Paging) => customs.listClusterCustomObject({ ...target, ...p })
                for await (const cert of pages<CertificateLike>(`Certificates${where(namespace)}`, page, list)) {
                  seen++
                  certificateFindings(cert, now, policy.certificateExpiryMs).forEach(add)
                }
              }
            } catch (err) {
              if (!(err instanceof CaretakerError && err.details?.code === 404)) throw err
              skipped.push({ check, reason: 'cert-manager is not installed: the cluster serves no Certificates' })
            }
            break
          case 'vault':
            if (!config.vault) { skipped.push({ check, reason: 'no Vault address is configured' }); break }
            seen = 1
            {
              const health = vaultFinding(config.vault.address, await vaultHealth(config.vault.address))
              add(health)
              if (!health) (await vaultHaCheck(config.vault, policy)).forEach(add)
              seen += config.vault.members.length
            }
            break
          case 'backups': {
            const byNamespace = new Map<string, V1Job[]>()
            for (const namespace of new Set(config.backups.map((b) => b.namespace))) {
              const jobs: V1Job[] = []
              for await (const job of pages(`Jobs in ${namespace}`, page, (p) => batch.listNamespacedJob({ namespace, ...p }))) {
                if (job.metadata?.ownerReferences?.some((o) => o.kind === 'CronJob' && config.backups.some((b) => b.namespace === namespace && b.name === o.name))) jobs.push(job)
              }
              byNamespace.set(namespace, jobs)
            }
            const jobCounts = { failed: 0, succeeded: 0 }
            config.backups.forEach((b, i) => {
              seen++
              const jobs = byNamespace.get(b.namespace) ?? []
              backupFindings(b, jobs, now, policy.backupWindowMs[i]!).forEach(add)
              const n = backupJobCounts(b, jobs, now, policy.backupWindowMs[i]!)
              jobCounts.failed += n.failed
              jobCounts.succeeded += n.succeeded
            })
            figures.backupJobs = jobCounts
            break
          }
          case 'pvcs':
            for await (const pvc of listInNamespaces({ ...listing, what: 'PersistentVolumeClaims', resource: { group: '', resource: 'persistentvolumeclaims' }, namespaced: (namespace, p) => core.listNamespacedPersistentVolumeClaim({ namespace, ...p }), clusterWide: (p) => core.listPersistentVolumeClaimForAllNamespaces(p) })) { seen++; add(pvcFinding(pvc, now, policy.graceMs)) }
            break
          case 'node-pressure': case 'cordoned': case 'disk-usage': case 'resource-usage': case 'commitment': case 'workloads': case 'pods-not-ready': case 'restarts':
            seen = await runClusterCheck(check, {
              core, apps, customs, scopes, kubeConfig: kc, pageSize: page, now, graceMs: policy.graceMs, restartWindowMs: policy.restartWindowMs,
              thresholds: config.thresholds, add, skip: (reason) => skipped.push({ check, reason }), figures,
            })
            break
          case 'alerts':
            if (!config.alertmanager) { skipped.push({ check, reason: 'no Alertmanager address is configured' }); break }
            seen = take(check, await alertsCheck(config.alertmanager, policy, now))
            break
          case 'longhorn':
            seen = take(check, await longhornCheck(customs, config, policy, now))
            break
          case 'externalsecrets':
            seen = take(check, await externalSecretsCheck(customs, config, policy, scopes, now))
            break
        }
        if (!skipped.some((s) => s.check === check)) scanned[check] = seen
      }

      const { findings: listed, omitted } = findings.result()
      const counts = { critical: findings.total('critical'), warning: findings.total('warning') }
      const status = statusFromCounts(counts)
      statusGauge.set(STATUS_VALUE[status])
      lastReport.set(now.getTime() / 1000)
      findingsGauge.reset()
      for (const check of checks) {
        for (const severity of ['critical', 'warning'] as const) findingsGauge.set({ check, severity }, findings.count(check, severity))
      }
      context.log.info({ status, ...counts, scanned }, 'health report made')
      // The daily run leaves its counts for the weekly digest; a failure to do so is told, not fatal: the report still goes out.
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

    async function digest(context: HandlerContext) {
      const { core } = kube()
      const { records } = await readHistory(core, { namespace: config.history.namespace, name: config.history.configMap })
      const data = weeklyDigest(records, new Date(), config.history.recurringDays, policy.fillHorizonMs / 86_400_000)
      context.log.info({ reported: data.reported, status: data.status }, 'weekly health digest made')
      return context.reply({ type: DIGEST, data })
    }

    return {
      async handle(context, event) {
        if (event.type === REQUEST) {
          const requested = (event.data as { checks?: HealthCheck[] } | undefined)?.checks
          return report(requested ?? config.checks, context)
        }
        const ping = (event.data ?? {}) as { report?: unknown }
        if (ping.report === 'weekly') return digest(context)
        return report(config.checks, context, true)
      },
    }
  },
})
