import type { Finding, Severity } from '../findings.ts'

/**
 * The weekly digest's judgement. Each daily report leaves a small record
 * of itself (a `DayRecord`) in a bounded history; the weekly run compares
 * the last seven of them. Pure: the caller reads and writes the history
 * (history.ts keeps it in a ConfigMap).
 */

export type Status = 'healthy' | 'degraded' | 'critical'

export interface DayRecord {
  /** The UTC day, YYYY-MM-DD: one record per day, a later report of the same day replaces it. */
  day: string
  checkedAt: string
  status: Status
  counts: Record<Severity, number>
  /** Findings by check, critical + warning: `pods` → 3. */
  byCheck: Record<string, number>
  /** Findings by check and reason: `pods/CrashLoopBackOff` → 2, `backups/BackupFailed` → 1. */
  byReason: Record<string, number>
  /** The listed findings as `check reason Kind namespace/name`, at most PROBLEMS_PER_DAY, critical first. */
  problems: string[]
}

export const PROBLEMS_PER_DAY = 100
/** Reasons kept per day: the most frequent. */
const REASONS_PER_DAY = 100
const LIST_LIMIT = 50
/** Trends listed: the totals and checks first, then reasons (a day keeps at most REASONS_PER_DAY). */
const TRENDS_LIMIT = 200

export const dayOf = (d: Date) => d.toISOString().slice(0, 10)

export function problemKey(f: Finding): string {
  return `${f.check} ${f.reason} ${f.object.kind} ${f.object.namespace ? `${f.object.namespace}/` : ''}${f.object.name}`
}

export function dayRecord(report: { checkedAt: string; status: Status; counts: Record<Severity, number>; findings: readonly Finding[]; byCheck: Record<string, number> }): DayRecord {
  const byReason: Record<string, number> = {}
  for (const f of report.findings) byReason[`${f.check}/${f.reason}`] = (byReason[`${f.check}/${f.reason}`] ?? 0) + 1
  const reasons = Object.entries(byReason).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, REASONS_PER_DAY)
  return {
    day: report.checkedAt.slice(0, 10),
    checkedAt: report.checkedAt,
    status: report.status,
    counts: { critical: report.counts.critical, warning: report.counts.warning },
    byCheck: { ...report.byCheck },
    byReason: Object.fromEntries(reasons),
    problems: [...report.findings].sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'critical' ? -1 : 1)).slice(0, PROBLEMS_PER_DAY).map(problemKey),
  }
}

/** The history with `record` in it: one per day (a later report of the same day wins), oldest first, the last `keepDays` days only. */
export function mergeHistory(history: readonly DayRecord[], record: DayRecord, keepDays: number): DayRecord[] {
  const byDay = new Map(history.map((r) => [r.day, r]))
  const same = byDay.get(record.day)
  if (!same || same.checkedAt <= record.checkedAt) byDay.set(record.day, record)
  const oldest = dayOf(new Date(Date.parse(`${record.day}T00:00:00Z`) - (keepDays - 1) * 86_400_000))
  return [...byDay.values()].filter((r) => r.day >= oldest).sort((a, b) => (a.day < b.day ? -1 : 1)).slice(-keepDays)
}

/** A history read back from storage: records that do not have the shape are dropped, not trusted. */
export function parseHistory(text: string | undefined): DayRecord[] {
  if (!text) return []
  let value: unknown
  try { value = JSON.parse(text) } catch { return [] }
  if (!Array.isArray(value)) return []
  return value.filter((r): r is DayRecord => typeof r === 'object' && r !== null
    && typeof (r as DayRecord).day === 'string' && /^\d{4}-\d{2}-\d{2}$/.test((r as DayRecord).day)
    && typeof (r as DayRecord).checkedAt === 'string' && ['healthy', 'degraded', 'critical'].includes((r as DayRecord).status)
    && typeof (r as DayRecord).counts === 'object' && typeof (r as DayRecord).byCheck === 'object' && typeof (r as DayRecord).byReason === 'object' && Array.isArray((r as DayRecord).problems))
}

export interface Trend { key: string; first: number; last: number; max: number; change: number }

export interface WeeklyDigest {
  kind: 'weekly'
  from: string
  to: string
  reported: number
  missing: string[]
  status: Status | 'unknown'
  days: Array<{ day: string; status: Status; counts: Record<Severity, number> }>
  trends: Trend[]
  recurring: Array<{ problem: string; days: number; firstSeen: string; lastSeen: string }>
  new: string[]
  resolved: string[]
  previousWeek?: { reported: number; counts: Record<Severity, number> }
}

/**
 * The seven days up to and including `now`'s day compared: the status of
 * each day, per check and per reason the count on the first and last
 * reported day (and the most in between), the problems seen on at least
 * `recurringDays` days, the ones only the last day has (new) and the ones
 * the first day had and the last does not (resolved); and the week before
 * summed, when the history reaches back that far.
 */
export function weeklyDigest(history: readonly DayRecord[], now: Date, recurringDays: number): WeeklyDigest {
  const DAY = 86_400_000
  const today = Date.parse(`${dayOf(now)}T00:00:00Z`)
  const week = Array.from({ length: 7 }, (_, i) => dayOf(new Date(today - (6 - i) * DAY)))
  const from = week[0]!
  const to = week[6]!
  const byDay = new Map(history.map((r) => [r.day, r]))
  const records = week.map((d) => byDay.get(d)).filter((r): r is DayRecord => r !== undefined)
  const first = records[0]
  const last = records.at(-1)

  const trends: Trend[] = []
  const trend = (key: string, value: (r: DayRecord) => number) => {
    const values = records.map(value)
    const t = { key, first: values[0] ?? 0, last: values.at(-1) ?? 0, max: Math.max(0, ...values) }
    if (t.max > 0) trends.push({ ...t, change: t.last - t.first })
  }
  trend('critical', (r) => r.counts.critical)
  trend('warning', (r) => r.counts.warning)
  const checks = new Set(records.flatMap((r) => Object.keys(r.byCheck)))
  for (const c of [...checks].sort()) trend(`check:${c}`, (r) => r.byCheck[c] ?? 0)
  const reasons = new Set(records.flatMap((r) => Object.keys(r.byReason)))
  for (const k of [...reasons].sort()) trend(`reason:${k}`, (r) => r.byReason[k] ?? 0)

  const seen = new Map<string, { days: number; firstSeen: string; lastSeen: string }>()
  for (const r of records) {
    for (const p of new Set(r.problems)) {
      const s = seen.get(p)
      if (s) { s.days++; s.lastSeen = r.day } else seen.set(p, { days: 1, firstSeen: r.day, lastSeen: r.day })
    }
  }
  const recurring = [...seen.entries()].filter(([, s]) => s.days >= recurringDays)
    .sort((a, b) => b[1].days - a[1].days || (a[0] < b[0] ? -1 : 1)).slice(0, LIST_LIMIT)
    .map(([problem, s]) => ({ problem, ...s }))
  const earlier = new Set(records.slice(0, -1).flatMap((r) => r.problems))
  const lastSet = new Set(last?.problems ?? [])
  const fresh = records.length > 1 ? [...lastSet].filter((p) => !earlier.has(p)).sort().slice(0, LIST_LIMIT) : []
  const resolved = records.length > 1 ? [...new Set(first!.problems)].filter((p) => !lastSet.has(p)).sort().slice(0, LIST_LIMIT) : []

  const before = new Set(Array.from({ length: 7 }, (_, i) => dayOf(new Date(today - (13 - i) * DAY))))
  const previous = history.filter((r) => before.has(r.day))

  return {
    kind: 'weekly', from, to,
    reported: records.length,
    missing: week.filter((d) => !byDay.has(d)),
    status: last?.status ?? 'unknown',
    days: records.map((r) => ({ day: r.day, status: r.status, counts: r.counts })),
    trends: trends.slice(0, TRENDS_LIMIT), recurring, new: fresh, resolved,
    ...(previous.length > 0 ? { previousWeek: { reported: previous.length, counts: { critical: previous.reduce((n, r) => n + r.counts.critical, 0), warning: previous.reduce((n, r) => n + r.counts.warning, 0) } } } : {}),
  }
}
