import { CoreV1Api, CustomObjectsApi } from '../../shared/kubernetes/api.ts'
import { Counter, Gauge } from 'prom-client'
import { stringify } from 'yaml'
import { parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import { listAll } from '../../shared/kubernetes/deleter.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { Secrets, NotConfigured, describeRef } from '../notify/delivery.ts'
import { applyRetention, archiveName, ArchiveWriter, safeName } from './archive.ts'
import { checkConfig, configSchema, GRAFANA_PARTS, type BackUpConfigurationConfig, type Part } from './config.ts'
import { GrafanaClient } from './grafana.ts'

/**
 * back-up-configuration: Grafana's dashboards and alerting configuration
 * (HTTP API, service account token) and the cluster's PrometheusRules and
 * ConfigMaps (Kubernetes API), as one dated archive with SHA256SUMS in the
 * backups volume, which verify-backup verifies as a `sha256sums-tar-gzip`
 * set. Daily from a PingSource, and on request before a change. A failure
 * anywhere leaves no archive (archive.ts) and is a retryable 5xx.
 */

const PING = 'dev.knative.sources.ping'
const REQUEST = 'dev.caretaker.configuration.backup.requested'
const BACKED_UP = 'dev.caretaker.configuration.backed-up'

/** Server-set fields `kubectl get -o yaml` shows and a re-apply must not carry. */
const SERVER_FIELDS = ['managedFields', 'resourceVersion', 'uid', 'creationTimestamp', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const

type Obj = { apiVersion?: string; kind?: string; metadata?: Record<string, unknown>; status?: unknown; [key: string]: unknown }

/** The object as YAML to re-apply: apiVersion and kind first, server fields and status dropped. */
export function cleanObject(apiVersion: string, kind: string, o: Obj): Record<string, unknown> {
  // A typed client's Dates become RFC 3339 strings, as on the wire.
  const plain = JSON.parse(JSON.stringify(o)) as Obj
  const metadata = Object.fromEntries(Object.entries(plain.metadata ?? {}).filter(([key]) => !(SERVER_FIELDS as readonly string[]).includes(key)))
  const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...rest } = plain
  return { apiVersion, kind, metadata, ...rest }
}

export default defineFunction<BackUpConfigurationConfig>({
  name: 'back-up-configuration',
  description: 'Grafana dashboards and alerting, PrometheusRules and ConfigMaps as one dated archive with SHA256SUMS',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, vault, metrics: registry }) {
    checkConfig(config)
    const registers = [registry]
    const runs = new Counter({ name: 'caretaker_configuration_backups_total', help: 'Configuration backup runs, by result', labelNames: ['result'], registers })
    const objects = new Gauge({ name: 'caretaker_configuration_backup_objects', help: 'Objects in the last configuration archive, by part', labelNames: ['part'], registers })
    const lastSuccess = new Gauge({ name: 'caretaker_configuration_backup_last_success_timestamp_seconds', help: 'When the last configuration archive was written', registers })
    const lastSize = new Gauge({ name: 'caretaker_configuration_backup_size_bytes', help: 'Size of the last configuration archive', registers })
    const secrets = new Secrets(vault)
    let running = false

    async function grafanaClient(context: HandlerContext): Promise<GrafanaClient> {
      const g = config.grafana!
      let token
      try {
        token = await secrets.resolve(g.token)
      } catch (err) {
        if (err instanceof NotConfigured) throw new CaretakerError(Errors.DependencyUnavailable, `grafana: the service account token is not there (${describeRef(g.token)}): create the Secret or fix grafana.token`)
        throw err
      }
      return new GrafanaClient(g.url, token, parseDuration(g.timeout)!, context.signal)
    }

    async function backUpGrafana(parts: Part[], writer: ArchiveWriter, counts: Record<Part, number>, context: HandlerContext): Promise<void> {
      const grafana = await grafanaClient(context)
      if (parts.includes('dashboards')) {
        for await (const hit of grafana.dashboards(config.grafana!.pageSize)) {
          const { bytes } = await grafana.get(`/api/dashboards/uid/${encodeURIComponent(hit.uid)}`, `dashboard ${hit.uid}`)
          writer.add(`grafana/dashboards/${safeName(hit.folderUid || 'general')}/${safeName(hit.uid)}.json`, bytes)
          counts.dashboards++
        }
      }
      const lists: Array<[Part, string, string]> = [
        ['alert-rules', '/api/v1/provisioning/alert-rules', 'alert-rules.json'],
        ['contact-points', '/api/v1/provisioning/contact-points', 'contact-points.json'],
      ]
      for (const [part, path, file] of lists) {
        if (!parts.includes(part)) continue
        const { bytes, json } = await grafana.get(path, part)
        writer.add(`grafana/${file}`, bytes)
        counts[part] = Array.isArray(json) ? json.length : 0
      }
      if (parts.includes('policies')) {
        const { bytes } = await grafana.get('/api/v1/provisioning/policies', 'policies')
        writer.add('grafana/policies.json', bytes)
        counts.policies = 1
      }
    }

    async function backUpKubernetes(parts: Part[], writer: ArchiveWriter, counts: Record<Part, number>): Promise<void> {
      if (!kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'back-up-configuration needs the Kubernetes API for prometheusrules and configmaps, and none is configured')
      const custom = kubeConfig.makeApiClient(CustomObjectsApi)
      const core = kubeConfig.makeApiClient(CoreV1Api)
      const { namespaces, pageSize, prometheusRuleSelector, configMapSelector } = config.kubernetes
      for (const namespace of namespaces) {
        if (parts.includes('prometheusrules')) {
          const rules = await listAll<Obj>(pageSize, (page) => custom.listNamespacedCustomObject({ group: 'monitoring.coreos.com', version: 'v1', plural: 'prometheusrules', namespace, ...page, ...(prometheusRuleSelector ? { labelSelector: prometheusRuleSelector } : {}) }))
            .catch((err: unknown) => { throw kubernetesError(err, `list PrometheusRules in ${namespace}`) })
          for (const o of rules) {
            writer.add(`kubernetes/${namespace}/prometheusrules/${safeName(String(o.metadata?.name))}.yaml`, stringify(cleanObject('monitoring.coreos.com/v1', 'PrometheusRule', o)))
            counts.prometheusrules++
          }
        }
        if (parts.includes('configmaps')) {
          const maps = await listAll(pageSize, (page) => core.listNamespacedConfigMap({ namespace, ...page, ...(configMapSelector ? { labelSelector: configMapSelector } : {}) }))
            .catch((err: unknown) => { throw kubernetesError(err, `list ConfigMaps in ${namespace}`) })
          for (const o of maps) {
            writer.add(`kubernetes/${namespace}/configmaps/${safeName(String(o.metadata?.name))}.yaml`, stringify(cleanObject('v1', 'ConfigMap', o as Obj)))
            counts.configmaps++
          }
        }
      }
    }

    async function backUp(parts: Part[], reason: string | undefined, context: HandlerContext) {
      const started = new Date()
      const name = archiveName(config.output.prefix, started)
      const counts = Object.fromEntries(parts.map((p) => [p, 0])) as Record<Part, number>
      const writer = await ArchiveWriter.open(config.output.directory, name)
      try {
        if (parts.some((p) => GRAFANA_PARTS.includes(p))) await backUpGrafana(parts, writer, counts, context)
        if (parts.includes('prometheusrules') || parts.includes('configmaps')) await backUpKubernetes(parts, writer, counts)
        writer.add('manifest.json', `${JSON.stringify({ createdAt: started.toISOString(), parts, counts, ...(reason ? { reason } : {}), grafana: config.grafana?.url ?? null, namespaces: config.kubernetes.namespaces }, null, 2)}\n`)
      } catch (err) {
        await writer.abort()
        throw err
      }
      const archive = await writer.finish()
      const retention = await applyRetention(config.output.directory, config.output.prefix, config.output.keep, context.dryRun, new Date())
      for (const [part, n] of Object.entries(counts)) objects.set({ part }, n)
      lastSuccess.set(Date.now() / 1000)
      lastSize.set(archive.size)
      context.log.info({ archive: archive.name, size: archive.size, sha256: archive.sha256, counts, deleted: retention.deleted, would_delete: retention.wouldDelete, dry_run: context.dryRun }, 'configuration backed up')
      return context.reply({
        type: BACKED_UP,
        subject: archive.name,
        data: {
          archive, counts, parts, ...(reason ? { reason } : {}),
          startedAt: started.toISOString(), durationMs: Date.now() - started.getTime(),
          retention: { keep: config.output.keep, kept: retention.kept, deleted: retention.deleted, wouldDelete: retention.wouldDelete, dryRun: context.dryRun },
        },
      })
    }

    return {
      async handle(context, event) {
        let parts = config.parts
        let reason: string | undefined
        if (event.type === REQUEST) {
          const data = (event.data ?? {}) as { parts?: Part[]; reason?: string }
          reason = data.reason
          if (data.parts) {
            const unconfigured = data.parts.filter((p) => !config.parts.includes(p))
            if (unconfigured.length > 0) throw new CaretakerError(Errors.InvalidRequest, `parts ${unconfigured.join(', ')} are not configured here; configured: ${config.parts.join(', ')}`)
            parts = data.parts
          }
        }
        // One run at a time: two would race for the same name and the same retention.
        if (running) throw new CaretakerError(Errors.EventInProgress, 'a configuration backup is in progress; retry later')
        running = true
        try {
          const result = await backUp(parts, reason, context)
          runs.inc({ result: 'written' })
          return result
        } catch (err) {
          runs.inc({ result: 'failed' })
          throw err
        } finally {
          running = false
        }
      },
    }
  },
})
