import { gzipSync } from 'node:zlib'
import { encodeReleaseData } from '../../../functions/check-updates/helm.ts'
import { DAY, iso, type Ctx } from './context.ts'

/**
 * A Helm 3 release record, as Helm's Secret driver writes it (check-updates
 * reads these): one Secret per revision, the release JSON gzipped and
 * base64-encoded in `data.release`.
 */
export function helmRelease(ctx: Ctx, namespace: string, name: string, revision: number, status: string, chart: { name: string, version: string, appVersion: string }) {
  const release = {
    name, namespace, version: revision,
    info: { first_deployed: iso(ctx.ago(200 * DAY)), last_deployed: iso(ctx.ago(40 * DAY)), deleted: '', description: status === 'deployed' ? 'Upgrade complete' : 'Superseded', status },
    chart: { metadata: { apiVersion: 'v2', name: chart.name, version: chart.version, appVersion: chart.appVersion, type: 'application' }, templates: [], values: {} },
    config: {}, manifest: '',
  }
  const obj = {
    apiVersion: 'v1', kind: 'Secret', type: 'helm.sh/release.v1',
    metadata: { name: `sh.helm.release.v1.${name}.v${revision}`, namespace, creationTimestamp: iso(ctx.ago(40 * DAY)), labels: { owner: 'helm', name, status, version: String(revision) } },
    data: { release: encodeReleaseData(release, (b) => gzipSync(b, { level: 9 })) },
  }
  ctx.put(obj)
}
