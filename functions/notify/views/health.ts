import { clip, some } from '../liquid.ts'
import type { Views } from './index.ts'
import { num, plural, rec, recs, str, strs, tally, facts, written, type Data, type Template } from './read.ts'

/**
 * health-report: the daily report (its view gives the findings summarised;
 * its template writes the message) and the weekly digest (whose view still
 * writes the message's sentences).
 */

interface HealthObject { readonly kind?: string; readonly namespace?: string; readonly name?: string }
interface HealthFinding { readonly check?: string; readonly severity?: string; readonly object?: HealthObject; readonly reason?: string; readonly message?: string; readonly count?: number }

/** `namespace/name`, or the name alone. */
function nsName(o: HealthObject): string | undefined {
  return o.name ? (o.namespace ? `${o.namespace}/${o.name}` : o.name) : undefined
}

/** `Pod production/api-x`. */
function objectName(o: HealthObject): string {
  return [o.kind, nsName(o)].filter(Boolean).join(' ') || 'unknown object'
}

/** `Node worker-3 (KubeletNotReady)`, `Pod production/api-x (CrashLoopBackOff ×12)`. */
function finding(f: HealthFinding): string {
  return `${objectName(f.object ?? {})}${f.reason ? ` (${f.reason}${f.count !== undefined && f.count > 1 ? ` ×${f.count}` : ''})` : ''}`
}

/** The checks `_health-hint.liquid` has a first step for. */
const HINTED = new Set(['nodes', 'vault', 'backups', 'certificates', 'pods', 'pvcs', 'events', 'alerts', 'longhorn', 'externalsecrets'])

/** The findings to give a first step for: the first of each distinct check that has one, at most two. */
function hinted(findings: readonly HealthFinding[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  const seen = new Set<string>()
  for (const f of findings) {
    if (!f.check || seen.has(f.check)) continue
    seen.add(f.check)
    const o = f.object ?? {}
    if (HINTED.has(f.check)) out.push({ check: f.check, kind: o.kind, namespace: o.namespace, name: o.name, qualified: nsName(o), objectName: objectName(o), reason: f.reason, message: f.message })
    if (out.length >= 2) break
  }
  return out
}

/** A digest trend: `pods 3 → 1`, `critical 0 → 2 (max 4)`. */
export function trendText(t: Data): string {
  const key = (str(t.key) ?? '?').replace(/^(check|reason):/, '')
  const max = num(t.max)
  const first = num(t.first) ?? 0
  const last = num(t.last) ?? 0
  return `${key} ${first} → ${last}${max !== undefined && max > Math.max(first, last) ? ` (max ${max})` : ''}`
}

/** A volume's fill growth: `production/data 60% → 79% (+19 pp/week, full in ~11 days)`. */
export function fillText(g: Data): string {
  const perWeek = num(g.perWeek) ?? 0
  const days = num(g.daysToFull)
  return `${str(g.volume) ?? '?'} ${String(num(g.first) ?? '?')}% → ${String(num(g.last) ?? '?')}% (${perWeek > 0 ? '+' : ''}${perWeek} pp/week${days !== undefined ? `, full in ~${plural(days, 'day')}` : ''})`
}

/** The digest's raw figures in a few sentences, and whether a volume fills up within the horizon. */
export function figuresText(figures: Data): { parts: string[]; filling: Data[] } {
  const restarts = rec(figures.restarts)
  const jobs = rec(figures.backupJobs)
  const fill = recs(figures.fill)
  const filling = fill.filter((g) => g.soon === true)
  const growing = fill.filter((g) => g.soon !== true && (num(g.perWeek) ?? 0) > 0)
  const alerts = recs(rec(figures.alerts).days)
  const previous = rec(restarts.previousWeek)
  const parts = [
    recs(restarts.days).length > 0 ? `Restarts per day: ${recs(restarts.days).map((d) => String(num(d.count) ?? '?')).join(', ')} (${String(num(restarts.total) ?? '?')} this week${num(previous.total) !== undefined ? `, ${String(num(previous.total))} the week before in ${plural(num(previous.days) ?? 0, 'day')}` : ''}).` : undefined,
    (num(jobs.failed) ?? 0) > 0 ? `Failed backup Jobs per day: ${recs(jobs.days).map((d) => String(num(d.failed) ?? '?')).join(', ')} (${String(num(jobs.failed))} failed, ${String(num(jobs.succeeded) ?? 0)} succeeded).` : undefined,
    filling.length > 0 ? `Filling up: ${some(filling.map(fillText), 3, '; ')}.` : undefined,
    growing.length > 0 ? `Growing: ${some(growing.map(fillText), 3, '; ')}.` : undefined,
    alerts.length > 0 ? `Firing alerts per day: ${alerts.map((d) => String(num(d.firing) ?? '?')).join(', ')}.` : undefined,
  ].filter((p): p is string => p !== undefined)
  return { parts, filling }
}


const healthTemplates: Record<string, Template> = {
  'dev.caretaker.health.digest': (_input, d) => {
    const days = recs(d.days)
    const reported = num(d.reported) ?? days.length
    const missing = strs(d.missing)
    const trends = recs(d.trends)
    const totals = trends.filter((t) => t.key === 'critical' || t.key === 'warning')
    const rising = trends.filter((t) => str(t.key)?.startsWith('check:') && (num(t.change) ?? 0) > 0)
    const falling = trends.filter((t) => str(t.key)?.startsWith('check:') && (num(t.change) ?? 0) < 0)
    const recurring = recs(d.recurring).map((r) => `${str(r.problem) ?? '?'} (${String(num(r.days) ?? '?')} days)`)
    const fresh = strs(d.new)
    const resolved = strs(d.resolved)
    const byStatus = tally(days, 'status')
    const status = d.status === 'critical' || d.status === 'degraded' || d.status === 'healthy' ? d.status : 'unknown'
    const previous = rec(d.previousWeek)
    const previousCounts = rec(previous.counts)
    const thisWeek = days.reduce((n, x) => n + (num(rec(x.counts).critical) ?? 0) + (num(rec(x.counts).warning) ?? 0), 0)
    const lastWeek = (num(previousCounts.critical) ?? 0) + (num(previousCounts.warning) ?? 0)
    const figures = figuresText(rec(d.figures))
    const restarts = rec(rec(d.figures).restarts)
    const parts = [
      totals.length > 0 ? `Findings: ${totals.map(trendText).join(', ')}.` : undefined,
      rising.length > 0 ? `Rising: ${some(rising.map(trendText), 4)}.` : undefined,
      falling.length > 0 ? `Falling: ${some(falling.map(trendText), 4)}.` : undefined,
      recurring.length > 0 ? `Recurring: ${some(recurring, 3, '; ')}.` : undefined,
      fresh.length > 0 ? `New on the last day: ${some(fresh, 3, '; ')}.` : undefined,
      resolved.length > 0 ? `Resolved: ${some(resolved, 3, '; ')}.` : undefined,
      ...figures.parts,
    ].filter((p): p is string => p !== undefined)
    const fillAction = figures.filling.length > 0 ? `${figures.filling.length === 1 ? 'A volume fills' : 'Volumes fill'} up within the horizon at this week's pace: grow ${figures.filling.length === 1 ? 'it' : 'them'} or free space.` : undefined
    return {
      severity: status === 'critical' || recurring.length > 0 || figures.filling.length > 0 ? 'warning' : 'info',
      title: reported === 0 ? 'Weekly health digest: no daily report recorded'
        : `Weekly health digest ${str(d.from) ?? '?'} – ${str(d.to) ?? '?'}: ${[...byStatus].map(([s, n]) => `${n} ${s}`).join(', ')}${recurring.length > 0 ? `, ${plural(recurring.length, 'recurring problem')}` : ''}`,
      what: reported === 0 ? 'No daily health report was recorded this week: is the daily check running, and may it write its history ConfigMap?' : (parts.join(' ') || 'No findings all week.'),
      where: 'the cluster, daily reports of the week',
      action: [
        recurring.length > 0 ? 'The recurring problems did not go away by themselves: give each an owner this week.' : undefined,
        fillAction,
        recurring.length === 0 && !fillAction && missing.length > 0 ? 'Some days have no report: check health-report\'s daily runs.' : undefined,
      ].filter((a) => a !== undefined).join(' ') || 'Nothing to do.',
      facts: facts([
        ['Days reported', `${reported} of 7`],
        ['Missing', some(missing, 7)],
        ['Latest status', status],
        ['Findings this week', reported > 0 ? thisWeek : undefined],
        ['Week before', Object.keys(previous).length > 0 ? `${lastWeek} in ${String(num(previous.reported) ?? '?')} days` : undefined],
        ['Restarts this week', num(restarts.total)],
        ['Soonest full', figures.filling[0] ? fillText(figures.filling[0]) : undefined],
      ]),
    }
  },
}

export const healthViews: Views = {
  ...written(healthTemplates),
  'dev.caretaker.health.reported': (d) => {
    const findings = d.findings ?? []
    const critical = findings.filter((f) => f.severity === 'critical')
    const warning = findings.filter((f) => f.severity === 'warning')
    const criticalCount = d.counts?.critical ?? critical.length
    const warningCount = d.counts?.warning ?? warning.length
    // Not in the schema, read as it comes: the checks that could not run.
    const skipped = recs((d as Record<string, unknown>).skipped).map((s) => `${str(s.check) ?? '?'} (${clip(str(s.reason) ?? 'skipped', 60)})`)
    const nodes = findings.map((f) => f.object ?? {}).filter((o) => o.kind === 'Node').map((o) => o.name).filter((n): n is string => n !== undefined)
    const namespaces = [...new Set(findings.map((f) => f.object?.namespace).filter((n): n is string => n !== undefined))].sort()
    const byCheck = new Map<string, number>()
    for (const f of findings) if (f.check) byCheck.set(f.check, (byCheck.get(f.check) ?? 0) + 1)
    return {
      level: d.status ?? (criticalCount > 0 ? 'critical' : warningCount > 0 ? 'degraded' : 'healthy'),
      criticalCount, warningCount,
      findingCount: findings.length,
      criticalList: critical.map(finding),
      warningList: warning.map(finding),
      skippedList: skipped,
      // `node worker-3`, `namespaces backups, monitoring, production`.
      places: [
        nodes.length > 0 ? `${nodes.length === 1 ? 'node' : 'nodes'} ${some([...new Set(nodes)])}` : undefined,
        namespaces.length > 0 ? `${namespaces.length === 1 ? 'namespace' : 'namespaces'} ${some(namespaces, 5)}` : undefined,
      ].filter((w) => w !== undefined),
      byCheck: [...byCheck].map(([check, n]) => `${check} ${n}`),
      objectsRead: Object.entries(d.scanned ?? {}).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1])).map(([check, n]) => `${check} ${n}`),
      criticalHints: hinted(critical),
      warningHints: hinted(warning),
    }
  },
}
