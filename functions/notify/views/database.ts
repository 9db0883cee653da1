import { clip, plural } from '../liquid.ts'
import type { Views } from './index.ts'
import { EventTypes } from '../../../shared/events/catalogue.ts'

/** maintain-databases: a target's report, a scheduled run over all, a degraded target. */

interface Finding { readonly task?: string; readonly check?: string; readonly severity?: string; readonly message?: string; readonly evidence?: Record<string, unknown> }

const KIND_NAMES: Record<string, string> = { postgres: 'PostgreSQL', redis: 'Redis' }
const RANK = ['ok', 'info', 'warning', 'critical']

/** The checks `_database-hint.liquid` has advice for (and any finding of the settings task). */
const HINTED = new Set(['connect', 'credentials', 'replication-lag', 'replication', 'idle-in-transaction', 'by-state', 'slowest-statements', 'dead-tuples', 'duplicate', 'fragmentation', 'last-save', 'saved', 'lock-unavailable', 'maintenance-failed', 'task-failed', 'work_mem'])

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

/** Findings at warning and above, the most severe first. */
function problems(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => RANK.indexOf(f.severity ?? '') >= 2).sort((a, b) => RANK.indexOf(b.severity ?? '') - RANK.indexOf(a.severity ?? ''))
}

/** `1 critical, 2 warnings`. */
function problemCounts(findings: readonly Finding[]): string {
  const critical = findings.filter((f) => f.severity === 'critical').length
  const warning = findings.filter((f) => f.severity === 'warning').length
  return [critical > 0 ? `${critical} critical` : undefined, warning > 0 ? plural(warning, 'warning') : undefined].filter(Boolean).join(', ')
}

/** The findings to give advice for: the first of each distinct check that has some, at most two; with the evidence the advice names. */
function hinted(findings: readonly Finding[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  const seen = new Set<string>()
  for (const f of findings) {
    const check = f.check ?? ''
    if ((!HINTED.has(check) && f.task !== 'settings') || seen.has(check)) continue
    seen.add(check)
    const e = f.evidence ?? {}
    out.push({ check: HINTED.has(check) ? check : 'settings', application: text(e.application), pid: typeof e.pid === 'number' ? e.pid : undefined, table: text(e.table), qualifiedTable: [text(e.database), text(e.table)].filter(Boolean).join('.') || undefined })
    if (out.length >= 2) break
  }
  return out
}

function findingView(findings: readonly Finding[]): Record<string, unknown> {
  const bad = problems(findings)
  return {
    problems: bad.map((f) => clip(f.message ?? f.check ?? 'finding', 140)),
    problemCounts: problemCounts(bad),
    problemChecks: [...new Set(bad.map((f) => f.check).filter((c): c is string => c !== undefined))],
    critical: bad.some((f) => f.severity === 'critical'),
    hints: hinted(bad),
  }
}

export const databaseViews: Views = {
  [EventTypes.DatabaseReported]: (d) => {
    const findings = d.findings ?? []
    const view = findingView(findings)
    const actions = d.actions ?? []
    const outcomes = new Map<string, number>()
    for (const a of actions) if (a.outcome) outcomes.set(a.outcome, (outcomes.get(a.outcome) ?? 0) + 1)
    const bad = problems(findings)
    const level = d.status ?? (bad.some((f) => f.severity === 'critical') ? 'critical' : bad.length > 0 ? 'warning' : 'ok')
    return {
      ...view,
      level,
      kindName: d.kind ? KIND_NAMES[d.kind] ?? d.kind : undefined,
      findingCount: findings.length,
      actionCount: actions.length,
      outcomes: [...outcomes].map(([o, n]) => `${n} ${o}`),
      failedActions: actions.filter((a) => a.outcome === 'failed').map((a) => `${a.action ?? '?'} ${a.target ?? ''}`.trim()),
    }
  },
  [EventTypes.DatabaseMaintenanceCompleted]: (d, event) => {
    const targets = [...(d.targets ?? [])].sort((a, b) => RANK.indexOf(b.status ?? '') - RANK.indexOf(a.status ?? ''))
    const critical = targets.filter((t) => t.status === 'critical').length
    const warning = targets.filter((t) => t.status === 'warning').length
    return {
      scheduleName: d.schedule ?? event.subject ?? 'scheduled',
      level: d.status ?? (critical > 0 ? 'critical' : warning > 0 ? 'warning' : 'ok'),
      criticalCount: critical,
      warningCount: warning,
      targetCount: targets.length,
      actionCount: targets.reduce((sum, t) => sum + (t.actions ?? 0), 0),
      // `orders (PostgreSQL) warning, 2 findings at warning or above`, the worst first.
      rows: targets.map((t) => `${t.target ?? '?'}${t.kind ? ` (${KIND_NAMES[t.kind] ?? t.kind})` : ''} ${t.status ?? '?'}${t.findings !== undefined && t.findings > 0 ? `, ${plural(t.findings, 'finding')} at warning or above` : ''}`),
      worst: targets[0] ? { target: targets[0].target, status: targets[0].status } : undefined,
    }
  },
  [EventTypes.DatabaseDegraded]: (d) => findingView(d.findings ?? []),
}
