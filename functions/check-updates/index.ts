import type { VersionApi } from '@kubernetes/client-node'
import type { CloudEvent } from 'cloudevents'
import { CaretakerError, Errors, isCaretakerError } from '../../shared/errors.ts'
import { OutcomeList } from '../../shared/events/outcome-list.ts'
import { UPDATE_STATUSES } from '../../shared/events/types/updates.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import { pages } from '../../shared/kubernetes/listing.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { createChecker, kube, RepositoryIndexes, type Checker } from './checker.ts'
import { configSchema, type CheckUpdatesConfig } from './config.ts'
import { deployedReleases, readReleaseSecret, HELM_OWNER_SELECTOR, type HelmRelease } from './helm.ts'
import { channelLatest, fetchText, type RepositoryIndex } from './repository.ts'
import { compareKubernetes, compareRelease, kubernetesBehind, namespacesToCheck, releaseBase, sourceOf, type KubernetesReport, type ReleaseReport, type Status } from './report.ts'
import { EventTypes, isEvent } from '../../shared/events/catalogue.ts'

/**
 * check-updates: what could be upgraded, reported and never applied. Each
 * Helm release's deployed chart version against the newest version of its
 * chart in the configured repository's index.yaml, and the cluster's
 * Kubernetes (K3s) version against a release channel. Monthly, and on
 * request. Read-only: it lists Helm's release Secrets and reads /version.
 * The comparisons are pure in report.ts.
 */

const PING = EventTypes.Ping
const REQUEST = EventTypes.UpdatesCheckRequested
const REPORTED = EventTypes.UpdatesReported

type Listed = { action: Status; reasons: string[]; report: ReleaseReport }

/** One update check over these namespaces, in order: the releases, each against its repository, the cluster, the report. */
export async function check(c: Checker, namespaces: string[], context: HandlerContext): Promise<CloudEvent<unknown>> {
  const { version } = kube(c)
  const now = new Date()
  const list = new OutcomeList<Listed>({ keptAction: 'current' })
  const add = (report: ReleaseReport) => list.add({ action: report.status, reasons: [], report })

  // 1: The deployed release records (one that cannot be read is reported as unknown).
  const found = await readDeployedReleases(c, namespaces, context, add)

  // 2: Each release against the newest version of its chart in its repository.
  const indexes = new RepositoryIndexes(c, context.signal)
  for (const release of deployedReleases(found)) {
    stopIfShuttingDown(context)
    add(await checkRelease(c, release, indexes, context))
  }

  // 3: The cluster's version against its release channel.
  const kubernetes = c.config.kubernetes ? await kubernetesReport(c, version, c.config.kubernetes, context) : undefined

  // 4: The metrics and the report.
  const { objects, omitted } = list.listing()
  const counts = Object.fromEntries(UPDATE_STATUSES.map((s) => [s, list.count(s)])) as Record<Status, number>
  const deprecated = objects.filter((o) => o.report.deprecated).length
  c.releasesGauge.reset()
  for (const s of UPDATE_STATUSES) c.releasesGauge.set({ status: s }, counts[s])
  c.kubernetesGauge.set(kubernetesBehind(kubernetes) ? 1 : 0)
  c.lastCheck.set(now.getTime() / 1000)
  context.log.info({ namespaces, ...counts, kubernetes: kubernetes?.status }, 'update check made')
  return context.reply({
    type: REPORTED,
    data: {
      checkedAt: now.toISOString(), namespaces, counts, deprecated,
      ...(kubernetes ? { kubernetes } : {}),
      repositories: indexes.reports(),
      objects: objects.map((o) => o.report), ...(omitted ? { omitted } : {}),
    },
  })
}

function stopIfShuttingDown(context: HandlerContext): void {
  if (context.signal.aborted) throw new CaretakerError(Errors.ShuttingDown, 'the update check was interrupted by shutdown; it will be retried')
}

/**
 * The release records of the namespaces. Only the deployed revisions are read: Helm labels each record with its
 * status, and keeps up to --history-max superseded ones beside it, which are never needed here.
 */
export async function readDeployedReleases(c: Checker, namespaces: string[], context: HandlerContext, unreadable: (report: ReleaseReport) => void): Promise<HelmRelease[]> {
  const { core } = kube(c)
  const found: HelmRelease[] = []
  for (const namespace of namespaces) {
    stopIfShuttingDown(context)
    const listing = pages(`Helm release Secrets in ${namespace}`, c.config.pageSize,
      (p) => core.listNamespacedSecret({ namespace, labelSelector: `${HELM_OWNER_SELECTOR},status=deployed`, ...p }))
    for await (const secret of listing) {
      try {
        const release = readReleaseSecret(secret)
        if (release) found.push(release)
      } catch (err) {
        if (!isCaretakerError(err, Errors.ReleaseUnreadable)) throw err
        const labels = secret.metadata?.labels ?? {}
        context.log.warn({ namespace, secret: secret.metadata?.name, reason: err.message }, 'a Helm release record could not be read')
        unreadable({
          namespace, release: labels.name ?? secret.metadata?.name ?? '?', revision: Math.max(1, Number(labels.version) || 1),
          chart: '?', version: '?', status: 'unknown', reason: `its release record ${secret.metadata?.name ?? ''} cannot be read: ${err.message}`,
        })
      }
    }
  }
  return found
}

/** One release against its repository: a repository that cannot be read makes it unknown, with why. */
export async function checkRelease(c: Checker, release: HelmRelease, indexes: RepositoryIndexes, context: HandlerContext): Promise<ReleaseReport> {
  const base = releaseBase(release)
  const source = sourceOf(c.config, release)
  if (!source) return { ...base, reason: `chart ${release.chart.name} is in no configured repository (config.charts, config.releases)` }
  const chartName = source.chart ?? release.chart.name
  const withRepo = { ...base, repository: source.repository }
  let index: RepositoryIndex
  try {
    index = await indexes.get(source.repository)
  } catch (err) {
    if (!isCaretakerError(err, Errors.RepositoryUnreadable)) { stopIfShuttingDown(context); throw err }
    return { ...withRepo, reason: `repository ${source.repository} could not be read: ${err.message}` }
  }
  return compareRelease(withRepo, source, chartName, index.get(chartName), c.config.includePrerelease)
}

/** The cluster's /version against the latest of its K3s release channel. */
export async function kubernetesReport(c: Checker, api: VersionApi, channel: { channelsUrl: string; channel: string }, context: HandlerContext): Promise<KubernetesReport> {
  let gitVersion: string
  try {
    gitVersion = (await api.getCode()).gitVersion
  } catch (err) {
    throw kubernetesError(err, 'read /version')
  }
  const base = { version: gitVersion, channel: channel.channel }
  let text: string
  try {
    text = await fetchText(channel.channelsUrl, c.limits, context.signal)
  } catch (err) {
    if (!isCaretakerError(err, Errors.RepositoryUnreadable)) throw err
    return { ...base, status: 'unknown', reason: `the release channels could not be read: ${err.message}` }
  }
  return compareKubernetes(base, channelLatest(text, channel.channel))
}

export default defineFunction<CheckUpdatesConfig>({
  name: 'check-updates',
  description: 'reports the Helm releases whose charts have newer versions in their repositories, and the cluster\'s Kubernetes version against its release channel; never upgrades',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, metrics }) {
    const checker = createChecker(config, kubeConfig, metrics)
    return {
      async handle(context, event) {
        const wanted = isEvent(event, REQUEST) ? event.data.namespaces : undefined
        return check(checker, namespacesToCheck(config, wanted), context)
      },
    }
  },
})
