import { CoreV1Api, VersionApi } from '../../shared/kubernetes/api.ts'
import { Gauge } from 'prom-client'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import { OutcomeList } from '../../shared/events/outcome-list.ts'
import { UPDATE_STATUSES } from '../../shared/events/types/updates.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { pages } from '../health-report/listing.ts'
import { checkPolicy, configSchema, type CheckUpdatesConfig } from './config.ts'
import { deployedReleases, readReleaseSecret, HELM_OWNER_SELECTOR, ReleaseDecodeError, type HelmRelease } from './helm.ts'
import { channelLatest, fetchText, FetchFailure, newestVersion, parseRepositoryIndex, type RepositoryIndex } from './repository.ts'
import { parseVersion, updateStatus } from './versions.ts'

/**
 * check-updates: what could be upgraded, reported and never applied. Each
 * Helm release's deployed chart version against the newest version of its
 * chart in the configured repository's index.yaml, and the cluster's
 * Kubernetes (K3s) version against a release channel. Monthly, and on
 * request. Read-only: it lists Helm's release Secrets and reads /version.
 */

const PING = 'dev.knative.sources.ping'
const REQUEST = 'dev.caretaker.updates.check.requested'
const REPORTED = 'dev.caretaker.updates.reported'

type Status = (typeof UPDATE_STATUSES)[number]

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

interface KubernetesReport { version?: string; channel?: string; latest?: string; status: Status; reason?: string }
interface RepositoryReport { name: string; ok: boolean; charts?: number; reason?: string }

export default defineFunction<CheckUpdatesConfig>({
  name: 'check-updates',
  description: 'reports the Helm releases whose charts have newer versions in their repositories, and the cluster\'s Kubernetes version against its release channel; never upgrades',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, metrics: registry }) {
    const { timeoutMs } = checkPolicy(config)
    const registers = [registry]
    const releasesGauge = new Gauge({ name: 'caretaker_updates_releases', help: 'Helm releases of the last update check by status', labelNames: ['status'], registers })
    const kubernetesGauge = new Gauge({ name: 'caretaker_updates_kubernetes_behind', help: '1 when the last update check found the cluster behind its release channel\'s latest version, else 0', registers })
    const lastCheck = new Gauge({ name: 'caretaker_updates_last_check_timestamp_seconds', help: 'When the last update check was made', registers })
    const repositories = new Map(config.repositories.map((r) => [r.name, r]))
    const limits = { timeoutMs, maxBytes: config.maxIndexBytes }

    function kube() {
      if (!kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'check-updates needs the Kubernetes API, and none is configured')
      return { core: kubeConfig.makeApiClient(CoreV1Api), version: kubeConfig.makeApiClient(VersionApi) }
    }

    async function check(namespaces: string[], context: HandlerContext) {
      const { core, version } = kube()
      const now = new Date()
      const stopIfShuttingDown = () => {
        if (context.signal.aborted) throw new CaretakerError(Errors.ShuttingDown, 'the update check was interrupted by shutdown; it will be retried')
      }
      const list = new OutcomeList<{ action: Status; reasons: string[]; report: ReleaseReport }>({ keptAction: 'current' })
      const add = (report: ReleaseReport) => list.add({ action: report.status, reasons: [], report })

      // Only the deployed revisions are read: Helm labels each record with its status, and keeps up to
      // --history-max superseded ones beside it, which are never needed here.
      const found: HelmRelease[] = []
      for (const namespace of namespaces) {
        stopIfShuttingDown()
        const listing = pages(`Helm release Secrets in ${namespace}`, config.pageSize,
          (p) => core.listNamespacedSecret({ namespace, labelSelector: `${HELM_OWNER_SELECTOR},status=deployed`, ...p }))
        for await (const secret of listing) {
          try {
            const release = readReleaseSecret(secret)
            if (release) found.push(release)
          } catch (err) {
            if (!(err instanceof ReleaseDecodeError)) throw err
            const labels = secret.metadata?.labels ?? {}
            context.log.warn({ namespace, secret: secret.metadata?.name, reason: err.message }, 'a Helm release record could not be read')
            add({
              namespace, release: labels.name ?? secret.metadata?.name ?? '?', revision: Math.max(1, Number(labels.version) || 1),
              chart: '?', version: '?', status: 'unknown', reason: `its release record ${secret.metadata?.name ?? ''} cannot be read: ${err.message}`,
            })
          }
        }
      }

      // Each repository's index is read once per check, and only when a release needs it.
      const indexes = new Map<string, Promise<RepositoryIndex>>()
      const repositoryReports = new Map<string, RepositoryReport>()
      const indexOf = (name: string): Promise<RepositoryIndex> => {
        let pending = indexes.get(name)
        if (!pending) {
          const repo = repositories.get(name)!
          const url = `${repo.url.replace(/\/+$/, '')}/index.yaml`
          pending = fetchText(url, limits, context.signal).then(parseRepositoryIndex)
          pending.then(
            (index) => repositoryReports.set(name, { name, ok: true, charts: index.size }),
            (err: unknown) => { if (err instanceof FetchFailure) repositoryReports.set(name, { name, ok: false, reason: err.message }) },
          )
          indexes.set(name, pending)
        }
        return pending
      }

      for (const release of deployedReleases(found)) {
        stopIfShuttingDown()
        const base: ReleaseReport = {
          namespace: release.namespace, release: release.name, revision: release.revision, chart: release.chart.name, version: release.chart.version,
          ...(release.chart.appVersion ? { appVersion: release.chart.appVersion } : {}), status: 'unknown',
        }
        const source = config.releases[`${release.namespace}/${release.name}`]
          ?? (config.charts[release.chart.name] ? { repository: config.charts[release.chart.name]! } : undefined)
        if (!source) { add({ ...base, reason: `chart ${release.chart.name} is in no configured repository (config.charts, config.releases)` }); continue }
        const chartName = source.chart ?? release.chart.name
        const withRepo = { ...base, repository: source.repository }
        let index: RepositoryIndex
        try {
          index = await indexOf(source.repository)
        } catch (err) {
          if (!(err instanceof FetchFailure)) { stopIfShuttingDown(); throw err }
          add({ ...withRepo, reason: `repository ${source.repository} could not be read: ${err.message}` })
          continue
        }
        const versions = index.get(chartName)
        if (!versions) { add({ ...withRepo, reason: `repository ${source.repository} has no chart ${chartName}` }); continue }
        const newest = newestVersion(versions, config.includePrerelease)
        const installed = parseVersion(release.chart.version)
        if (!newest) { add({ ...withRepo, reason: `repository ${source.repository} lists no ${config.includePrerelease ? '' : 'released '}version of ${chartName}` }); continue }
        const latest = { version: newest.version, ...(newest.appVersion ? { appVersion: newest.appVersion } : {}), ...(newest.created ? { created: newest.created } : {}) }
        const deprecated = newest.deprecated ? { deprecated: true } : {}
        if (!installed) { add({ ...withRepo, latest, ...deprecated, reason: `the deployed chart version ${release.chart.version} is no semantic version` }); continue }
        add({ ...withRepo, status: updateStatus(installed, newest.parsed), latest, ...deprecated })
      }

      const kubernetes = config.kubernetes ? await kubernetesReport(version, config.kubernetes, context) : undefined

      const { objects, omitted } = list.listing()
      const counts = Object.fromEntries(UPDATE_STATUSES.map((s) => [s, list.count(s)])) as Record<Status, number>
      const deprecated = objects.filter((o) => o.report.deprecated).length
      releasesGauge.reset()
      for (const s of UPDATE_STATUSES) releasesGauge.set({ status: s }, counts[s])
      kubernetesGauge.set(kubernetes && (kubernetes.status === 'update-available' || kubernetes.status === 'major-update') ? 1 : 0)
      lastCheck.set(now.getTime() / 1000)
      context.log.info({ namespaces, ...counts, kubernetes: kubernetes?.status }, 'update check made')
      return context.reply({
        type: REPORTED,
        data: {
          checkedAt: now.toISOString(), namespaces, counts, deprecated,
          ...(kubernetes ? { kubernetes } : {}),
          repositories: [...repositoryReports.values()].sort((a, b) => a.name.localeCompare(b.name)),
          objects: objects.map((o) => o.report), ...(omitted ? { omitted } : {}),
        },
      })
    }

    async function kubernetesReport(api: VersionApi, channel: { channelsUrl: string; channel: string }, context: HandlerContext): Promise<KubernetesReport> {
      let gitVersion: string
      try {
        gitVersion = (await api.getCode()).gitVersion
      } catch (err) {
        throw kubernetesError(err, 'read /version')
      }
      const base = { version: gitVersion, channel: channel.channel }
      let text: string
      try {
        text = await fetchText(channel.channelsUrl, limits, context.signal)
      } catch (err) {
        if (!(err instanceof FetchFailure)) throw err
        return { ...base, status: 'unknown', reason: `the release channels could not be read: ${err.message}` }
      }
      const found = channelLatest(text, channel.channel)
      if ('reason' in found) return { ...base, status: 'unknown', reason: found.reason }
      const current = parseVersion(gitVersion)
      const latest = parseVersion(found.latest)
      if (!current || !latest) return { ...base, latest: found.latest, status: 'unknown', reason: `${current ? found.latest : gitVersion} is no semantic version` }
      return { ...base, latest: found.latest, status: updateStatus(current, latest) }
    }

    return {
      async handle(context, event) {
        let namespaces = config.namespaces
        if (event.type === REQUEST) {
          const wanted = (event.data as { namespaces?: string[] } | undefined)?.namespaces
          if (wanted) {
            const unknown = wanted.filter((n) => !config.namespaces.includes(n))
            if (unknown.length > 0) throw new CaretakerError(Errors.InvalidRequest, `namespace(s) ${unknown.join(', ')} are not configured for the update check; configured: ${config.namespaces.join(', ')}`)
            namespaces = wanted
          }
        }
        return check(namespaces, context)
      },
    }
  },
})
