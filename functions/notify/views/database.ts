import type { Severity } from '../config.ts'
import { capitalised, clip, facts, num, plural, rec, recs, sentence, some, str, strs, tally, took, written, type Data, type Template } from './read.ts'

// --- database -------------------------------------------------------------

const KIND_NAMES: Record<string, string> = { postgres: 'PostgreSQL', redis: 'Redis' }

export function dbKind(v: unknown): string | undefined {
  const k = str(v)
  return k ? KIND_NAMES[k] ?? k : undefined
}

export function severityRank(v: unknown): number {
  return ['ok', 'info', 'warning', 'critical'].indexOf(str(v) ?? '')
}

/** The first thing to do about a database finding, by check. */
const DATABASE_HINTS: Record<string, (f: Data, target: string) => string> = {
  connect: (_f, target) => `check that ${target} is up and reachable from caretaker (host, port, NetworkPolicy) and that its credentials are right`,
  credentials: (_f, target) => `check the Vault path of ${target}'s credentials and the function's Vault policy`,
  'replication-lag': () => 'check the replica: its network to the primary, its disk and its load',
  replication: () => 'check the replica\'s link to its primary (`INFO replication`) and the primary\'s reachability',
  'idle-in-transaction': (f) => {
    const e = rec(f.evidence)
    const pid = num(e.pid)
    return `find the application holding a transaction open${str(e.application) ? ` (${str(e.application)!})` : ''} and fix it${pid !== undefined ? `; \`SELECT pg_terminate_backend(${pid})\` ends it now` : ''}`
  },
  'by-state': () => 'look for a connection pool that grew or leaks before raising max_connections',
  'slowest-statements': () => 'review the slowest statements with the team that owns them (indexes, query plans)',
  'dead-tuples': (f) => {
    const e = rec(f.evidence)
    const table = [str(e.database), str(e.table)].filter(Boolean).join('.')
    return `check autovacuum on ${table || 'the table'}; the weekly VACUUM (ANALYZE) reclaims the space`
  },
  duplicate: () => 'drop one of the duplicate indexes, after checking that no constraint uses it',
  fragmentation: () => 'the monthly MEMORY PURGE (jemalloc) or a restart of the node frees the fragmented memory',
  'last-save': () => 'the last background save failed: check the node\'s disk space and its log; a restart now would lose the data since the last good save',
  saved: () => 'the background save did not succeed: check the node\'s disk space and its log',
  'lock-unavailable': (f) => `${str(rec(f.evidence).table) ?? 'a table'} was skipped because another session held its lock: nothing to fix unless it repeats; it runs again at the next schedule`,
  'maintenance-failed': () => 'read the error in the finding and fix it, then request the task again (dev.caretaker.database.maintenance.requested)',
  'task-failed': () => 'read the error in the finding and fix it, then request the task again (dev.caretaker.database.maintenance.requested)',
  work_mem: () => 'lower work_mem or max_connections so that a busy server cannot run out of memory',
}

export function databaseHints(findings: readonly Data[], target: string, max: number): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  for (const f of findings) {
    const check = str(f.check) ?? ''
    const hint = DATABASE_HINTS[check] ?? (str(f.task) === 'settings' ? () => 'review the server settings against its memory (the finding gives the advice)' : undefined)
    if (!hint || seen.has(check)) continue
    seen.add(check)
    out.push(hint(f, target))
    if (out.length >= max) break
  }
  return out
}

/** Findings at warning and above, the most severe first. */
export function problems(findings: readonly Data[]): Data[] {
  return findings.filter((f) => severityRank(f.severity) >= 2).sort((a, b) => severityRank(b.severity) - severityRank(a.severity))
}

export function problemCounts(findings: readonly Data[]): string {
  const critical = findings.filter((f) => f.severity === 'critical').length
  const warning = findings.filter((f) => f.severity === 'warning').length
  return [critical > 0 ? `${critical} critical` : undefined, warning > 0 ? plural(warning, 'warning') : undefined].filter(Boolean).join(', ')
}

const databaseTemplates: Record<string, Template> = {
  'dev.caretaker.database.reported': (_input, d) => {
    const target = str(d.target) ?? 'unknown target'
    const kind = dbKind(d.kind)
    const findings = recs(d.findings)
    const bad = problems(findings)
    const actions = recs(d.actions)
    const outcomes = [...tally(actions, 'outcome')].map(([o, n]) => `${n} ${o}`)
    const failedActions = actions.filter((a) => a.outcome === 'failed').map((a) => `${str(a.action) ?? '?'} ${str(a.target) ?? ''}`.trim())
    const tasks = strs(d.tasks)
    const status = severityRank(d.status) >= 0 ? str(d.status)! : bad.some((f) => f.severity === 'critical') ? 'critical' : bad.length > 0 ? 'warning' : 'ok'
    const severity: Severity = status === 'critical' ? 'critical' : status === 'warning' ? 'warning' : 'info'
    const hints = databaseHints(bad, target, 2)
    const label = `${target}${kind ? ` (${kind})` : ''}`
    return {
      severity,
      title: `Database report: ${label}: ${bad.length > 0 ? problemCounts(bad) : severity === 'info' ? 'OK' : status}`,
      what: bad.length > 0
        ? `${sentence(some(bad.map((f) => clip(str(f.message) ?? str(f.check) ?? 'finding', 140)), 2, '; '))}`
        : `${tasks.length > 0 ? `${plural(tasks.length, 'task')} ran (${some(tasks, 4)})` : 'The maintenance ran'}: ${plural(findings.length, 'finding')}, none at warning or above${actions.length > 0 ? `; actions: ${outcomes.join(', ')}` : ''}.`,
      where: `${kind ?? 'database'} target ${target}`,
      action: bad.length > 0
        ? `${severity === 'critical' ? 'Act now.' : 'Look at it today.'} ${hints.length > 0 ? hints.map((h) => sentence(capitalised(h))).join(' ') : 'Each finding\'s message and evidence are in the report.'}`
        : d.dryRun === true && actions.length > 0 ? 'Nothing was changed; the planned actions run without dry-run.' : 'Nothing to do.',
      facts: facts([
        ['Findings', findings.length > 0 ? `${findings.length}${bad.length > 0 ? ` (${problemCounts(bad)})` : ''}` : undefined],
        ['Checks', some([...new Set(bad.map((f) => str(f.check)).filter((c): c is string => c !== undefined))], 4)],
        ['Actions', outcomes.join(', ')],
        ['Failed actions', some(failedActions, 2)],
        ['Tasks', some(tasks, 6)],
        ['Took', took(d.durationMs)],
      ]),
    }
  },
  'dev.caretaker.database.maintenance.completed': (input, d) => {
    const schedule = str(d.schedule) ?? str(input.subject) ?? 'scheduled'
    const targets = recs(d.targets).sort((a, b) => severityRank(b.status) - severityRank(a.status))
    const critical = targets.filter((t) => t.status === 'critical')
    const warning = targets.filter((t) => t.status === 'warning')
    const status = severityRank(d.status) >= 0 ? str(d.status)! : critical.length > 0 ? 'critical' : warning.length > 0 ? 'warning' : 'ok'
    const severity: Severity = status === 'critical' ? 'critical' : status === 'warning' ? 'warning' : 'info'
    const actions = targets.reduce((sum, t) => sum + (num(t.actions) ?? 0), 0)
    const row = (t: Data) => {
      const n = num(t.findings)
      return `${str(t.target) ?? '?'}${dbKind(t.kind) ? ` (${dbKind(t.kind)!})` : ''} ${str(t.status) ?? '?'}${n !== undefined && n > 0 ? `, ${plural(n, 'finding')} at warning or above` : ''}`
    }
    const worst = targets[0]
    return {
      severity,
      title: severity === 'info'
        ? `${capitalised(schedule)} database maintenance: ${targets.length === 1 ? 'the target' : `all ${targets.length} targets`} OK`
        : `${capitalised(schedule)} database maintenance: ${[critical.length > 0 ? `${critical.length} critical` : undefined, warning.length > 0 ? `${warning.length} warning` : undefined].filter(Boolean).join(', ') || status} of ${plural(targets.length, 'target')}`,
      what: targets.length > 0 ? `${sentence(some(targets.map(row), 4, '; '))}` : 'No database target is configured.',
      where: `every configured database target (${targets.length})`,
      action: severity !== 'info' && worst
        ? `Start with ${str(worst.target) ?? 'the worst target'} (${str(worst.status) ?? status}): its database.degraded message lists the findings and what to do.`
        : d.dryRun === true && actions > 0 ? 'Nothing was changed; the planned actions run without dry-run.' : 'Nothing to do.',
      facts: facts([['Schedule', schedule], ['Targets', targets.length], ['Critical', critical.length], ['Warning', warning.length], ['Actions', actions]]),
    }
  },
  'dev.caretaker.database.degraded': (_input, d) => {
    const target = str(d.target) ?? 'unknown target'
    const bad = problems(recs(d.findings))
    const critical = d.status === 'critical' || bad.some((f) => f.severity === 'critical')
    const hints = databaseHints(bad, target, 2)
    const checks = [...new Set(bad.map((f) => str(f.check)).filter((c): c is string => c !== undefined))]
    return {
      severity: critical ? 'critical' : 'warning',
      title: `Database ${critical ? 'CRITICAL' : 'degraded'}: ${target}${bad.length > 0 ? ` (${problemCounts(bad)})` : ''}`,
      what: bad.length > 0
        ? sentence(some(bad.map((f) => clip(str(f.message) ?? str(f.check) ?? 'finding', 140)), 2, '; '))
        : `The maintenance of ${target} reported findings at ${str(d.status) ?? 'warning'} or above.`,
      where: `database target ${target}`,
      action: `${critical ? 'Act now.' : 'Look at it today.'} ${hints.length > 0 ? hints.map((h) => sentence(capitalised(h))).join(' ') : 'The target\'s report (dev.caretaker.database.reported) has each finding with its evidence.'}`,
      facts: facts([['Findings', bad.length > 0 ? `${bad.length} (${problemCounts(bad)})` : undefined], ['Checks', some(checks, 4)]]),
    }
  },
}

export const databaseViews = written(databaseTemplates)
