import type { Fact } from '../templates.ts'
import { and, bytes, clip, facts, num, plural, rec, recs, sentence, some, stamp, str, strs, took, written, type Data, type Template } from './read.ts'

// --- updates --------------------------------------------------------------

/** `production/podinfo 5.2.1 → 6.7.1`. */
export function releaseUpdate(r: Data): string {
  const name = [str(r.namespace), str(r.release)].filter(Boolean).join('/') || 'a release'
  const latest = str(rec(r.latest).version)
  return `${name} ${str(r.version) ?? '?'}${latest ? ` → ${latest}` : ''}`
}

const updateTemplates: Record<string, Template> = {
  'dev.caretaker.updates.reported': (_input, d) => {
    const releases = recs(d.objects)
    const counts = rec(d.counts)
    const count = (status: string) => num(counts[status]) ?? releases.filter((r) => r.status === status).length
    const major = releases.filter((r) => r.status === 'major-update')
    const minor = releases.filter((r) => r.status === 'update-available')
    const unknown = releases.filter((r) => r.status === 'unknown')
    const deprecated = releases.filter((r) => r.deprecated === true)
    const k8s = rec(d.kubernetes)
    const k8sBehind = k8s.status === 'update-available' || k8s.status === 'major-update'
    const updates = count('major-update') + count('update-available')
    const namespaces = strs(d.namespaces)
    const parts = [
      major.length > 0 ? `Major updates: ${some(major.map(releaseUpdate), 3, '; ')}.` : undefined,
      minor.length > 0 ? `Updates: ${some(minor.map(releaseUpdate), 3, '; ')}.` : undefined,
      deprecated.length > 0 ? `Deprecated charts: ${some(deprecated.map((r) => `${str(r.chart) ?? '?'} (${str(r.release) ?? '?'})`), 3, '; ')}.` : undefined,
      unknown.length > 0 ? `Not checked: ${some(unknown.map((r) => `${str(r.release) ?? '?'} (${clip(str(r.reason) ?? 'unknown', 60)})`), 3, '; ')}.` : undefined,
      str(k8s.version) ? `Kubernetes ${str(k8s.version)!}${str(k8s.latest) ? `, ${str(k8s.channel) ?? 'channel'} latest ${str(k8s.latest)!}` : ''}${str(k8s.reason) ? ` (${clip(str(k8s.reason)!, 80)})` : ''}.` : undefined,
    ].filter((p): p is string => p !== undefined)
    const title = updates === 0 && !k8sBehind
      ? `Everything up to date${count('unknown') > 0 ? `, ${plural(count('unknown'), 'release')} not checked` : ''}`
      : `Updates available: ${[updates > 0 ? plural(updates, 'Helm release') : undefined, k8sBehind ? `Kubernetes ${str(k8s.latest) ?? ''}`.trim() : undefined].filter(Boolean).join(' and ')}`
    return {
      severity: major.length > 0 || deprecated.length > 0 || count('unknown') > 0 ? 'warning' : 'info',
      title,
      what: parts.join(' ') || 'No Helm release was found in the checked namespaces.',
      where: namespaces.length > 0 ? `${namespaces.length === 1 ? 'namespace' : 'namespaces'} ${some(namespaces, 5)}` : 'the cluster',
      action: [
        updates > 0 || k8sBehind ? 'Plan the upgrades: read each chart\'s release notes (a major update may break its values), upgrade in a maintenance window, one at a time. Nothing was upgraded.' : 'Nothing to upgrade.',
        deprecated.length > 0 ? 'Find a replacement for the deprecated charts.' : undefined,
        count('unknown') > 0 ? 'Map the unchecked releases to a repository (config.charts) or fix the repository that could not be read.' : undefined,
      ].filter(Boolean).join(' '),
      facts: facts([
        ['Major updates', count('major-update')],
        ['Updates', count('update-available')],
        ['Current', count('current')],
        ['Not checked', count('unknown')],
        ['Deprecated', num(d.deprecated) ?? deprecated.length],
        ['Kubernetes', str(k8s.version) ? `${str(k8s.version)!} (${str(k8s.status) ?? 'unknown'})` : undefined],
        ['Checked', stamp(d.checkedAt)],
      ]),
    }
  },
}

/** respond-to-alert's manual restarts: `<Kind> <namespace>/<name>`. */
export function workloadName(d: Data): string {
  const target = str(d.target) ?? [str(d.namespace), str(d.name)].filter(Boolean).join('/')
  return `${str(d.kind) ?? 'workload'} ${target || 'unnamed'}`
}

export function rolloutFacts(d: Data): Fact[] {
  const yes = (v: unknown, word: string, not: string) => (v === true ? word : v === false ? not : undefined)
  return facts([['Workload', workloadName(d)], ['Requested by', str(d.requestedBy)], ['Reason', str(d.reason)], ['Rollout', str(d.rollout)],
    ['Rolled out', yes(d.rolled, 'yes', 'no')], ['Health', str(d.healthStatus) ? `${yes(d.healthy, 'healthy', 'not healthy') ?? ''} (${str(d.healthStatus)})`.trim() : undefined],
    ['Error', str(d.error)], ['Attempts', num(d.attempts)]])
}

const workloadTemplates: Record<string, Template> = {
  'dev.caretaker.workload.restarted': (_input, d) => {
    const what = workloadName(d)
    const dryRun = d.dryRun === true
    const message = str(d.message) ?? `restarted ${what}`
    if (dryRun) {
      return {
        severity: 'info',
        title: `Restart planned (dry-run): ${what}`,
        what: `${sentence(clip(message, 300))}`,
        where: what,
        action: 'Nothing was restarted. Send the request again with dryrun=false to restart it.',
        facts: rolloutFacts(d),
      }
    }
    const waited = typeof d.rolled === 'boolean'
    return {
      severity: 'info',
      title: `Restarted on request: ${what}${d.rolled === true ? ' (rolled out' : ''}${d.healthy === true ? ', healthy)' : d.rolled === true ? ')' : ''}`,
      what: `${sentence(clip(message, 300))}${str(d.reason) ? ` Reason given: ${sentence(clip(str(d.reason)!, 200))}` : ''}`,
      where: what,
      action: waited ? 'Nothing to do.' : `The rollout was not waited for: check it with kubectl -n ${str(d.namespace) ?? '<namespace>'} rollout status ${(str(d.kind) ?? 'deployment').toLowerCase()}/${str(d.name) ?? '<name>'}.`,
      facts: rolloutFacts(d),
    }
  },
  'dev.caretaker.workload.restart.failed': (_input, d) => {
    const what = workloadName(d)
    const rolled = d.rolled === true
    const cause = rolled ? 'it rolled out, but its health check did not answer 2xx' : typeof d.rolled === 'boolean' ? 'its rollout did not finish' : 'the restart could not be done'
    const attempts = num(d.attempts)
    return {
      severity: 'critical',
      title: `Requested restart failed: ${what} (${cause})`,
      what: `respond-to-alert could not restart ${what}${attempts ? ` after ${plural(attempts, 'attempt')}` : ''}: ${sentence(clip(str(d.message) ?? 'no reason given', 300))}`,
      where: what,
      action: rolled
        ? `The new pods run but the service is not healthy: look at their logs and the health endpoint, and roll back (kubectl -n ${str(d.namespace) ?? '<namespace>'} rollout undo ${(str(d.kind) ?? 'deployment').toLowerCase()}/${str(d.name) ?? '<name>'}) if the new pods are the cause.`
        : `Look at the rollout (kubectl -n ${str(d.namespace) ?? '<namespace>'} rollout status ${(str(d.kind) ?? 'deployment').toLowerCase()}/${str(d.name) ?? '<name>'}) and its pods' events; fix what keeps them from becoming ready, or what the error says (permissions, the API).`,
      facts: rolloutFacts(d),
    }
  },
}

// --- configuration --------------------------------------------------------

const CONFIGURATION_PART_NAMES: Record<string, [string, string]> = {
  dashboards: ['dashboard', 'dashboards'], 'alert-rules': ['alert rule', 'alert rules'], 'contact-points': ['contact point', 'contact points'],
  policies: ['policy tree', 'policy trees'], prometheusrules: ['PrometheusRule', 'PrometheusRules'], configmaps: ['ConfigMap', 'ConfigMaps'],
}

const configurationTemplates: Record<string, Template> = {
  'dev.caretaker.configuration.backed-up': (_input, d) => {
    const archive = rec(d.archive)
    const retention = rec(d.retention)
    const name = str(archive.name) ?? 'the configuration archive'
    const counted = Object.entries(rec(d.counts)).filter(([, n]) => num(n) !== undefined)
      .map(([part, n]) => { const [one, many] = CONFIGURATION_PART_NAMES[part] ?? [part, part]; return plural(num(n)!, one, many) })
    const deleted = strs(retention.deleted)
    const wouldDelete = strs(retention.wouldDelete)
    const reason = str(d.reason)
    return {
      severity: 'info',
      title: `Configuration backed up: ${name}`,
      what: `${counted.length > 0 ? `${and(counted)} written` : 'An archive written'}${reason ? ` (${clip(reason, 120)})` : ''}; its SHA256SUMS lists every file.`,
      where: str(archive.path) ?? name,
      action: wouldDelete.length > 0
        ? `Nothing to do for the backup. Dry-run: ${plural(wouldDelete.length, 'older archive')} beyond the ${num(retention.keep) ?? '?'} kept would be deleted (${some(wouldDelete, 2)}); run without dry-run to delete them.`
        : 'Nothing to do: verify-backup checks the archive in its configuration set.',
      facts: facts([
        ['Archive', name],
        ['Size', bytes(archive.size)],
        ['SHA-256', str(archive.sha256)],
        ['Files', num(archive.files)],
        ['Deleted', deleted.length > 0 ? some(deleted, 3) : undefined],
        ['Took', took(d.durationMs)],
      ]),
    }
  },
}

export const updateViews = written(updateTemplates)
export const workloadViews = written(workloadTemplates)
export const configurationViews = written(configurationTemplates)
