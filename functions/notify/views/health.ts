import { clip, plural, some } from '../liquid.ts'
import type { Views } from './index.ts'
import type { Loose } from '../../../shared/events/conform.ts'
import { EventTypes, type EventData } from '../../../shared/events/catalogue.ts'

type HealthDigestData = EventData<typeof EventTypes.HealthDigest>

/**
 * health-report: the daily report and the weekly digest, their findings,
 * trends and figures summarised.
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

/** A trend of the week: `pods 3 → 1`, `critical 0 → 2 (max 4)`. */
function trend(t: { readonly key?: string; readonly first?: number; readonly last?: number; readonly max?: number }): string {
  const key = (t.key ?? '?').replace(/^(check|reason):/, '')
  const first = t.first ?? 0
  const last = t.last ?? 0
  return `${key} ${first} → ${last}${t.max !== undefined && t.max > Math.max(first, last) ? ` (max ${t.max})` : ''}`
}

interface Fill { readonly volume?: string; readonly first?: number; readonly last?: number; readonly perWeek?: number; readonly daysToFull?: number; readonly soon?: boolean }

/** A volume's fill growth: `production/data 60% → 79% (+19 pp/week, full in ~11 days)`. */
function fill(g: Fill): string {
  const perWeek = g.perWeek ?? 0
  return `${g.volume ?? '?'} ${g.first ?? '?'}% → ${g.last ?? '?'}% (${perWeek > 0 ? '+' : ''}${perWeek} pp/week${g.daysToFull !== undefined ? `, full in ~${plural(g.daysToFull, 'day')}` : ''})`
}

function digestView(d: Loose<HealthDigestData>): Record<string, unknown> {
  const days = d.days ?? []
  const trends = d.trends ?? []
  const check = (t: (typeof trends)[number], sign: number) => (t.key?.startsWith('check:') ?? false) && Math.sign(t.change ?? 0) === sign
  const byStatus = new Map<string, number>()
  for (const x of days) if (x.status) byStatus.set(x.status, (byStatus.get(x.status) ?? 0) + 1)
  const figures = d.figures ?? {}
  const fills = figures.fill ?? []
  return {
    reportedCount: d.reported ?? days.length,
    latest: d.status ?? 'unknown',
    byStatus: [...byStatus].map(([s, n]) => `${n} ${s}`),
    totals: trends.filter((t) => t.key === 'critical' || t.key === 'warning').map(trend),
    rising: trends.filter((t) => check(t, 1)).map(trend),
    falling: trends.filter((t) => check(t, -1)).map(trend),
    recurringList: (d.recurring ?? []).map((r) => `${r.problem ?? '?'} (${r.days ?? '?'} days)`),
    findingsThisWeek: days.reduce((n, x) => n + (x.counts?.critical ?? 0) + (x.counts?.warning ?? 0), 0),
    findingsWeekBefore: d.previousWeek && Object.keys(d.previousWeek).length > 0 ? (d.previousWeek.counts?.critical ?? 0) + (d.previousWeek.counts?.warning ?? 0) : undefined,
    restartsPerDay: (figures.restarts?.days ?? []).map((x) => x.count ?? '?'),
    failedJobsPerDay: (figures.backupJobs?.days ?? []).map((x) => x.failed ?? '?'),
    filling: fills.filter((g) => g.soon === true).map(fill),
    growing: fills.filter((g) => g.soon !== true && (g.perWeek ?? 0) > 0).map(fill),
    alertsPerDay: (figures.alerts?.days ?? []).map((x) => x.firing ?? '?'),
  }
}

export const healthViews: Views = {
  [EventTypes.HealthDigest]: digestView,
  [EventTypes.HealthReported]: (d) => {
    const findings = d.findings ?? []
    const critical = findings.filter((f) => f.severity === 'critical')
    const warning = findings.filter((f) => f.severity === 'warning')
    const criticalCount = d.counts?.critical ?? critical.length
    const warningCount = d.counts?.warning ?? warning.length
    // Not in the schema, read as it comes: the checks that could not run.
    const raw = (d as Record<string, unknown>).skipped
    const text = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined)
    const skipped = (Array.isArray(raw) ? raw as unknown[] : []).filter((x): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x))
      .map((x) => `${text(x.check) ?? '?'} (${clip(text(x.reason) ?? 'skipped', 60)})`)
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
