import { parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { HandlerContext } from '../../shared/runtime/function.ts'
import { NotConfigured, describeRef, type Secrets } from '../../shared/secret-ref.ts'
import { safeName, type ArchiveWriter } from './archive.ts'
import type { BackUpConfigurationConfig, Part } from './config.ts'
import { GrafanaClient } from './grafana.ts'

/** Grafana's client with its service account token, read from its Secret (or Vault) at each run. */
export async function grafanaClient(config: BackUpConfigurationConfig, secrets: Secrets, context: HandlerContext): Promise<GrafanaClient> {
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

/**
 * Grafana's parts into the archive, as its HTTP API returns them: each
 * dashboard by folder, the alert rules, contact points and notification
 * policy tree as the provisioning API exports them.
 */
export async function backUpGrafana(config: BackUpConfigurationConfig, secrets: Secrets, parts: Part[], writer: ArchiveWriter, counts: Record<Part, number>, context: HandlerContext): Promise<void> {
  const grafana = await grafanaClient(config, secrets, context)
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
