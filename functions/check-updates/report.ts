import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { UPDATE_STATUSES } from '../../shared/events/types/updates.ts'
import type { CheckUpdatesConfig, ReleaseSource } from './config.ts'
import type { HelmRelease } from './helm.ts'
import { newestVersion, type ChartVersionEntry } from './repository.ts'
import { parseVersion, updateStatus } from './versions.ts'

/**
 * check-updates' pure decisions: which namespaces a request checks, where a
 * release's chart comes from, how its deployed version compares with the
 * newest in its repository, how the cluster's version compares with its
 * channel. Nothing here reads the API or a repository.
 */

export type Status = (typeof UPDATE_STATUSES)[number]

export interface ReleaseReport {
  namespace: string
  release: string
  revision: number
  chart: string
  version: string
  appVersion?: string
  repository?: string
  status: Status
  latest?: { version: string; appVersion?: string; created?: string }
  deprecated?: boolean
  reason?: string
}

export interface KubernetesReport { version?: string; channel?: string; latest?: string; status: Status; reason?: string }
export interface RepositoryReport { name: string; ok: boolean; charts?: number; reason?: string }

/** The namespaces a check covers: those a request names (each configured), else all configured. */
export function namespacesToCheck(config: CheckUpdatesConfig, wanted: string[] | undefined): string[] {
  if (!wanted) return config.namespaces
  const unknown = wanted.filter((n) => !config.namespaces.includes(n))
  if (unknown.length > 0) throw new CaretakerError(Errors.InvalidRequest, `namespace(s) ${unknown.join(', ')} are not configured for the update check; configured: ${config.namespaces.join(', ')}`)
  return wanted
}

/** A release's report before it is compared: unknown until it is. */
export function releaseBase(release: HelmRelease): ReleaseReport {
  return {
    namespace: release.namespace, release: release.name, revision: release.revision, chart: release.chart.name, version: release.chart.version,
    ...(release.chart.appVersion ? { appVersion: release.chart.appVersion } : {}), status: 'unknown',
  }
}

/** Where a release's chart is found: the release's own entry (config.releases) over its chart's (config.charts). */
export function sourceOf(config: CheckUpdatesConfig, release: HelmRelease): ReleaseSource | undefined {
  return config.releases[`${release.namespace}/${release.name}`]
    ?? (config.charts[release.chart.name] ? { repository: config.charts[release.chart.name]! } : undefined)
}

/** The deployed chart version against the newest version its repository lists (`versions` undefined: no such chart there). */
export function compareRelease(withRepo: ReleaseReport, source: ReleaseSource, chartName: string, versions: readonly ChartVersionEntry[] | undefined, includePrerelease: boolean): ReleaseReport {
  if (!versions) return { ...withRepo, reason: `repository ${source.repository} has no chart ${chartName}` }
  const newest = newestVersion(versions, includePrerelease)
  const installed = parseVersion(withRepo.version)
  if (!newest) return { ...withRepo, reason: `repository ${source.repository} lists no ${includePrerelease ? '' : 'released '}version of ${chartName}` }
  const latest = { version: newest.version, ...(newest.appVersion ? { appVersion: newest.appVersion } : {}), ...(newest.created ? { created: newest.created } : {}) }
  const deprecated = newest.deprecated ? { deprecated: true } : {}
  if (!installed) return { ...withRepo, latest, ...deprecated, reason: `the deployed chart version ${withRepo.version} is no semantic version` }
  return { ...withRepo, status: updateStatus(installed, newest.parsed), latest, ...deprecated }
}

/** The cluster's version against its channel's latest (`found`: the channel's latest, or why there is none). */
export function compareKubernetes(base: { version: string; channel: string }, found: { latest: string } | { reason: string }): KubernetesReport {
  if ('reason' in found) return { ...base, status: 'unknown', reason: found.reason }
  const current = parseVersion(base.version)
  const latest = parseVersion(found.latest)
  if (!current || !latest) return { ...base, latest: found.latest, status: 'unknown', reason: `${current ? found.latest : base.version} is no semantic version` }
  return { ...base, latest: found.latest, status: updateStatus(current, latest) }
}

/** Whether the cluster is behind its channel. */
export function kubernetesBehind(kubernetes: KubernetesReport | undefined): boolean {
  return kubernetes !== undefined && (kubernetes.status === 'update-available' || kubernetes.status === 'major-update')
}
