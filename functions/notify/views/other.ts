import { clip, plural } from '../liquid.ts'
import type { Views } from './index.ts'
import { EventTypes } from '../../../shared/events/catalogue.ts'

/** check-updates, respond-to-alert's requested restarts, back-up-configuration. */

export const updateViews: Views = {
  [EventTypes.UpdatesReported]: (d) => {
    const releases = d.objects ?? []
    const of = (status: string) => releases.filter((r) => r.status === status)
    const count = (status: 'major-update' | 'update-available' | 'current' | 'unknown') => d.counts?.[status] ?? of(status).length
    // `production/podinfo 5.2.1 → 6.7.1`.
    const update = (r: (typeof releases)[number]) => `${[r.namespace, r.release].filter(Boolean).join('/') || 'a release'} ${r.version ?? '?'}${r.latest?.version ? ` → ${r.latest.version}` : ''}`
    const deprecated = releases.filter((r) => r.deprecated === true)
    const k8s = d.kubernetes ?? {}
    return {
      majorCount: count('major-update'),
      updateCount: count('update-available'),
      currentCount: count('current'),
      unknownCount: count('unknown'),
      updates: count('major-update') + count('update-available'),
      kubernetesBehind: k8s.status === 'update-available' || k8s.status === 'major-update',
      majorUpdates: of('major-update').map(update),
      minorUpdates: of('update-available').map(update),
      deprecatedCharts: deprecated.map((r) => `${r.chart ?? '?'} (${r.release ?? '?'})`),
      deprecatedCount: d.deprecated ?? deprecated.length,
      unchecked: of('unknown').map((r) => `${r.release ?? '?'} (${clip(r.reason ?? 'unknown', 60)})`),
    }
  },
}

export const workloadViews: Views = {
  [EventTypes.WorkloadRestarted]: (d) => ({
    workload: `${d.kind ?? 'workload'} ${d.target ?? ([d.namespace, d.name].filter(Boolean).join('/') || 'unnamed')}`,
    waited: typeof d.rolled === 'boolean',
  }),
  [EventTypes.WorkloadRestartFailed]: (d) => ({
    workload: `${d.kind ?? 'workload'} ${d.target ?? ([d.namespace, d.name].filter(Boolean).join('/') || 'unnamed')}`,
    waited: typeof d.rolled === 'boolean',
  }),
}

const PART_NAMES: Record<string, [string, string]> = {
  dashboards: ['dashboard', 'dashboards'], 'alert-rules': ['alert rule', 'alert rules'], 'contact-points': ['contact point', 'contact points'],
  policies: ['policy tree', 'policy trees'], prometheusrules: ['PrometheusRule', 'PrometheusRules'], configmaps: ['ConfigMap', 'ConfigMaps'],
}

export const configurationViews: Views = {
  [EventTypes.ConfigurationBackedUp]: (d) => ({
    // `12 dashboards`, `1 alert rule`: what the archive holds, by part.
    counted: Object.entries(d.counts ?? {}).filter((e): e is [string, number] => typeof e[1] === 'number')
      .map(([part, n]) => { const [one, many] = PART_NAMES[part] ?? [part, part]; return plural(n, one, many) }),
    archiveSize: d.archive?.size,
  }),
}
