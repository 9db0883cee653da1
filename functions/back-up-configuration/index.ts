import type { KubeConfig } from '../../shared/kubernetes/api.ts'
import type { CloudEvent } from 'cloudevents'
import { Counter, Gauge, type Registry } from 'prom-client'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { Vault } from '../../shared/vault/client.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { Secrets } from '../../shared/secret-ref.ts'
import { applyRetention, archiveName, ArchiveWriter } from './archive.ts'
import { checkConfig, configSchema, GRAFANA_PARTS, type BackUpConfigurationConfig, type Part } from './config.ts'
import { backUpGrafana } from './grafana-parts.ts'
import { backUpKubernetes } from './kubernetes-parts.ts'
import { EventTypes, isEvent } from '../../shared/events/catalogue.ts'

export { cleanObject } from './kubernetes-parts.ts'

/**
 * back-up-configuration: Grafana's dashboards and alerting configuration
 * (HTTP API, service account token) and the cluster's PrometheusRules and
 * ConfigMaps (Kubernetes API), as one dated archive with SHA256SUMS in the
 * backups volume, which verify-backup verifies as a `sha256sums-tar-gzip`
 * set. Daily from a PingSource, and on request before a change. A failure
 * anywhere leaves no archive (archive.ts) and is a retryable 5xx.
 */

const PING = EventTypes.Ping
const REQUEST = EventTypes.ConfigurationBackupRequested
const BACKED_UP = EventTypes.ConfigurationBackedUp

/** What back-up-configuration's steps share, built once per instance. */
export interface BackerUp {
  config: BackUpConfigurationConfig
  kubeConfig: KubeConfig | undefined
  secrets: Secrets
  runs: Counter<'result'>
  objects: Gauge<'part'>
  lastSuccess: Gauge
  lastSize: Gauge
}

export function createBackerUp(config: BackUpConfigurationConfig, kubeConfig: KubeConfig | undefined, vault: Vault | undefined, registry: Registry): BackerUp {
  const registers = [registry]
  return {
    config,
    kubeConfig,
    runs: new Counter({ name: 'caretaker_configuration_backups_total', help: 'Configuration backup runs, by result', labelNames: ['result'], registers }),
    objects: new Gauge({ name: 'caretaker_configuration_backup_objects', help: 'Objects in the last configuration archive, by part', labelNames: ['part'], registers }),
    lastSuccess: new Gauge({ name: 'caretaker_configuration_backup_last_success_timestamp_seconds', help: 'When the last configuration archive was written', registers }),
    lastSize: new Gauge({ name: 'caretaker_configuration_backup_size_bytes', help: 'Size of the last configuration archive', registers }),
    secrets: new Secrets(vault),
  }
}

/** The parts a run backs up: those a request names (each configured), else all configured. */
export function partsToBackUp(config: BackUpConfigurationConfig, wanted: Part[] | undefined): Part[] {
  if (!wanted) return config.parts
  const unconfigured = wanted.filter((p) => !config.parts.includes(p))
  if (unconfigured.length > 0) throw new CaretakerError(Errors.InvalidRequest, `parts ${unconfigured.join(', ')} are not configured here; configured: ${config.parts.join(', ')}`)
  return wanted
}

/** One backup: the archive opened, Grafana's parts, the cluster's, the manifest, the archive closed, retention, the report. */
export async function backUp(b: BackerUp, parts: Part[], reason: string | undefined, context: HandlerContext): Promise<CloudEvent<unknown>> {
  const { config } = b
  const started = new Date()
  const name = archiveName(config.output.prefix, started)
  const counts = Object.fromEntries(parts.map((p) => [p, 0])) as Record<Part, number>
  // 1: The parts into an archive under a temporary name; a failure anywhere leaves nothing.
  const writer = await ArchiveWriter.open(config.output.directory, name)
  try {
    if (parts.some((p) => GRAFANA_PARTS.includes(p))) await backUpGrafana(config, b.secrets, parts, writer, counts, context)
    if (parts.includes('prometheusrules') || parts.includes('configmaps')) await backUpKubernetes(config, b.kubeConfig, parts, writer, counts)
    writer.add('manifest.json', `${JSON.stringify({ createdAt: started.toISOString(), parts, counts, ...(reason ? { reason } : {}), grafana: config.grafana?.url ?? null, namespaces: config.kubernetes.namespaces }, null, 2)}\n`)
  } catch (err) {
    await writer.abort()
    throw err
  }
  // 2: The archive under its name, then the old ones beyond `keep` (only outside dry-run).
  const archive = await writer.finish()
  const retention = await applyRetention(config.output.directory, config.output.prefix, config.output.keep, context.dryRun, new Date())
  // 3: The metrics and the report.
  for (const [part, n] of Object.entries(counts)) b.objects.set({ part }, n)
  b.lastSuccess.set(Date.now() / 1000)
  b.lastSize.set(archive.size)
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

export default defineFunction<BackUpConfigurationConfig>({
  name: 'back-up-configuration',
  description: 'Grafana dashboards and alerting, PrometheusRules and ConfigMaps as one dated archive with SHA256SUMS',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, vault, metrics }) {
    checkConfig(config)
    const backerUp = createBackerUp(config, kubeConfig, vault, metrics)
    let running = false
    return {
      async handle(context, event) {
        const data: { parts?: Part[]; reason?: string } = isEvent(event, REQUEST) ? event.data : {}
        const parts = partsToBackUp(config, data.parts)
        // One run at a time: two would race for the same name and the same retention.
        if (running) throw new CaretakerError(Errors.EventInProgress, 'a configuration backup is in progress; retry later')
        running = true
        try {
          const result = await backUp(backerUp, parts, data.reason, context)
          backerUp.runs.inc({ result: 'written' })
          return result
        } catch (err) {
          backerUp.runs.inc({ result: 'failed' })
          throw err
        } finally {
          running = false
        }
      },
    }
  },
})
