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
  /** Raw figures the day's checks measured; absent in records written before they were kept, and per field when its check did not run. */
  figures?: DayFigures
}

/**
 * What a day's checks measured, beyond their findings (a container
 * restarting 40 times is one finding; a PVC going from 60% to 79% full is
 * none). Taken from what the checks read anyway: no API call of its own.
 */
export interface DayFigures {
  /**
   * `restarts`: the restartCount of each container whose last termination
   * ended within the restart window, summed, and how many such containers.
   * restartCount counts since the pod started (the kubelet keeps no
   * per-window count), so a container restarting every day adds its whole
   * count each day: comparable week to week, not an exact count.
   */
  restarts?: { count: number; containers: number }
  /** `backups`: the configured backups' Jobs started within their windows, by outcome. */
  backupJobs?: { failed: number; succeeded: number }
  /** `disk-usage`: percent of bytes used (one decimal) of the FILL_PER_DAY fullest filesystems: `Node/<node>` (nodefs), `Node/<node>:imagefs`, `<namespace>/<pvc>`. */
  fill?: Record<string, number>
  /** `alerts`: Alertmanager's firing alerts by severity label. */
  alerts?: Record<string, number>
}

export const PROBLEMS_PER_DAY = 100
/** Filesystems and PVCs whose fill a day keeps: the fullest. */
export const FILL_PER_DAY = 20
/** Alert severity labels a day keeps (labels are free text): the most frequent. */
const ALERT_SEVERITIES_PER_DAY = 10
/** The most days the history keeps (config.history.days). */
export const HISTORY_MAX_DAYS = 60
/**
 * A day's record at most, in bytes of JSON: HISTORY_MAX_DAYS of them stay
 * under a ConfigMap's 1 MiB (its data counted together, kubernetes/kubernetes
 * pkg/apis/core/validation/validation.go, ValidateConfigMap: MaxSecretSize
 * is shared by both). A record over it loses its last problems, then its
 * rarest reasons, then its least full volumes, until it fits.
 */
export const RECORD_MAX_BYTES = 15 * 1024
/** Reasons kept per day: the most frequent. */
const REASONS_PER_DAY = 100
const LIST_LIMIT = 50
/** Trends listed: the totals and checks first, then reasons (a day keeps at most REASONS_PER_DAY). */
const TRENDS_LIMIT = 200

export const dayOf = (d: Date) => d.toISOString().slice(0, 10)

export function problemKey(f: Finding): string {
  return `${f.check} ${f.reason} ${f.object.kind} ${f.object.namespace ? `${f.object.namespace}/` : ''}${f.object.name}`
}

const byCount = (a: [string, number], b: [string, number]) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
const bytes = (r: DayRecord) => Buffer.byteLength(JSON.stringify(r))

export function dayRecord(report: { checkedAt: string; status: Status; counts: Record<Severity, number>; findings: readonly Finding[]; byCheck: Record<string, number>; figures?: DayFigures }): DayRecord {
  const byReason: Record<string, number> = {}
  for (const f of report.findings) byReason[`${f.check}/${f.reason}`] = (byReason[`${f.check}/${f.reason}`] ?? 0) + 1
  const reasons = Object.entries(byReason).sort(byCount).slice(0, REASONS_PER_DAY)
  const record: DayRecord = {
    day: report.checkedAt.slice(0, 10),
    checkedAt: report.checkedAt,
    status: report.status,
    counts: { critical: report.counts.critical, warning: report.counts.warning },
    byCheck: { ...report.byCheck },
    byReason: Object.fromEntries(reasons),
    problems: [...report.findings].sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'critical' ? -1 : 1)).slice(0, PROBLEMS_PER_DAY).map(problemKey),
  }
  const f = report.figures
  if (f && Object.keys(f).length > 0) {
    record.figures = {
      ...(f.restarts ? { restarts: { ...f.restarts } } : {}),
      ...(f.backupJobs ? { backupJobs: { ...f.backupJobs } } : {}),
      ...(f.fill ? { fill: Object.fromEntries(Object.entries(f.fill).map(([k, v]): [string, number] => [k, Math.min(100, Math.max(0, Math.round(v * 10) / 10))]).sort(byCount).slice(0, FILL_PER_DAY)) } : {}),
      ...(f.alerts ? { alerts: Object.fromEntries(Object.entries(f.alerts).sort(byCount).slice(0, ALERT_SEVERITIES_PER_DAY)) } : {}),
    }
  }
  return fitted(record)
}

/**
 * The record within RECORD_MAX_BYTES: its last problems, rarest reasons
 * and least full volumes dropped, in rounds: each list down to a floor
 * first (so none of them is emptied for another), then to nothing.
 */
function fitted(record: DayRecord): DayRecord {
  let size = bytes(record)
  if (size <= RECORD_MAX_BYTES) return record
  const problems = [...record.problems]
  const reasons = Object.entries(record.byReason)
  const fill = Object.entries(record.figures?.fill ?? {})
  const out = { ...record }
  const rounds: Array<[unknown[], number]> = [[problems, 20], [reasons, 20], [fill, 5], [problems, 0], [reasons, 0], [fill, 0]]
  for (const [list, floor] of rounds) {
    while (size > RECORD_MAX_BYTES && list.length > floor) {
      // Several at a time while far over: one JSON.stringify per step.
      list.splice(-Math.min(list.length - floor, Math.max(1, Math.floor((size - RECORD_MAX_BYTES) / 500))))
      out.problems = problems
      out.byReason = Object.fromEntries(reasons)
      if (out.figures?.fill) out.figures = { ...out.figures, fill: Object.fromEntries(fill) }
      size = bytes(out)
    }
  }
  return out
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
    .map((r) => {
      // Records of older versions have no figures; figures of the wrong shape are dropped, field by field.
      const { figures, ...rest } = r
      const checked = figuresOf(figures)
      return checked ? { ...rest, figures: checked } : rest
    })
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const numbers = (v: unknown): Record<string, number> | undefined =>
  isObject(v) ? Object.fromEntries(Object.entries(v).filter((e): e is [string, number] => isCount(e[1]))) : undefined

function figuresOf(value: unknown): DayFigures | undefined {
  if (!isObject(value)) return undefined
  const out: DayFigures = {}
  const r = value['restarts']
  if (isObject(r) && isCount(r['count']) && isCount(r['containers'])) out.restarts = { count: r['count'], containers: r['containers'] }
  const b = value['backupJobs']
  if (isObject(b) && isCount(b['failed']) && isCount(b['succeeded'])) out.backupJobs = { failed: b['failed'], succeeded: b['succeeded'] }
  const fill = numbers(value['fill'])
  if (fill) out.fill = fill
  const alerts = numbers(value['alerts'])
  if (alerts) out.alerts = alerts
  return Object.keys(out).length > 0 ? out : undefined
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
  /** The raw figures' trends, from the days that recorded them (none before they were kept). */
  figures?: WeekFigures
}

export interface FillGrowth {
  volume: string
  /** The first and last day of the week that recorded the volume (among the fullest), and its fill then, in percent. */
  from: string
  to: string
  first: number
  last: number
  /** Percentage points per week, from first to last. */
  perWeek: number
  /** Growing only: days until 100% at that pace (a naive straight line). */
  daysToFull?: number
  /** daysToFull within the configured horizon. */
  soon?: boolean
}

export interface WeekFigures {
  restarts?: { days: Array<{ day: string; count: number; containers: number }>; total: number; previousWeek?: { days: number; total: number } }
  backupJobs?: { days: Array<{ day: string; failed: number; succeeded: number }>; failed: number; succeeded: number }
  fill?: FillGrowth[]
  alerts?: { days: Array<{ day: string; firing: number; bySeverity: Record<string, number> }> }
}

const round1 = (v: number) => Math.round(v * 10) / 10

/**
 * Fill growth per volume: its first and last recorded fill of the week,
 * in percentage points per week, and for a growing one the days left
 * until full on a straight line through the two (flagged `soon` within
 * `horizonDays`). A volume recorded on one day only has no growth; one
 * flat or shrinking is not projected. The soonest full first.
 */
export function fillGrowth(records: readonly DayRecord[], horizonDays: number): FillGrowth[] {
  const DAY = 86_400_000
  const points = new Map<string, Array<{ day: string; fill: number }>>()
  for (const r of records) {
    for (const [volume, fill] of Object.entries(r.figures?.fill ?? {})) {
      const list = points.get(volume) ?? []
      list.push({ day: r.day, fill })
      points.set(volume, list)
    }
  }
  const out: FillGrowth[] = []
  for (const [volume, list] of points) {
    if (list.length < 2) continue
    const a = list[0]!
    const b = list.at(-1)!
    const days = (Date.parse(`${b.day}T00:00:00Z`) - Date.parse(`${a.day}T00:00:00Z`)) / DAY
    const perDay = (b.fill - a.fill) / days
    const g: FillGrowth = { volume, from: a.day, to: b.day, first: a.fill, last: b.fill, perWeek: round1(perDay * 7) }
    if (perDay > 0) {
      g.daysToFull = Math.max(0, Math.floor((100 - b.fill) / perDay))
      if (g.daysToFull <= horizonDays) g.soon = true
    }
    out.push(g)
  }
  return out.sort((x, y) => (x.daysToFull ?? Infinity) - (y.daysToFull ?? Infinity) || y.perWeek - x.perWeek || (x.volume < y.volume ? -1 : 1)).slice(0, LIST_LIMIT)
}

function weekFigures(records: readonly DayRecord[], previous: readonly DayRecord[], horizonDays: number): WeekFigures | undefined {
  const out: WeekFigures = {}
  const restarts = records.flatMap((r) => (r.figures?.restarts ? [{ day: r.day, ...r.figures.restarts }] : []))
  if (restarts.length > 0) {
    const before = previous.flatMap((r) => (r.figures?.restarts ? [r.figures.restarts.count] : []))
    out.restarts = {
      days: restarts, total: restarts.reduce((n, d) => n + d.count, 0),
      ...(before.length > 0 ? { previousWeek: { days: before.length, total: before.reduce((n, c) => n + c, 0) } } : {}),
    }
  }
  const jobs = records.flatMap((r) => (r.figures?.backupJobs ? [{ day: r.day, ...r.figures.backupJobs }] : []))
  if (jobs.length > 0) out.backupJobs = { days: jobs, failed: jobs.reduce((n, d) => n + d.failed, 0), succeeded: jobs.reduce((n, d) => n + d.succeeded, 0) }
  const fill = fillGrowth(records, horizonDays)
  if (fill.length > 0) out.fill = fill
  const alerts = records.flatMap((r) => (r.figures?.alerts ? [{ day: r.day, firing: Object.values(r.figures.alerts).reduce((n, c) => n + c, 0), bySeverity: { ...r.figures.alerts } }] : []))
  if (alerts.length > 0) out.alerts = { days: alerts }
  return Object.keys(out).length > 0 ? out : undefined
}

/**
 * The seven days up to and including `now`'s day compared: the status of
 * each day, per check and per reason the count on the first and last
 * reported day (and the most in between), the problems seen on at least
 * `recurringDays` days, the ones only the last day has (new) and the ones
 * the first day had and the last does not (resolved); and the week before
 * summed, when the history reaches back that far; and the raw figures'
 * trends (restarts and backup Jobs per day, fill growth per volume with
 * the days until full, firing alerts per day).
 */
export function weeklyDigest(history: readonly DayRecord[], now: Date, recurringDays: number, fillHorizonDays = 30): WeeklyDigest {
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
  const figures = weekFigures(records, previous, fillHorizonDays)

  return {
    kind: 'weekly', from, to,
    reported: records.length,
    missing: week.filter((d) => !byDay.has(d)),
    status: last?.status ?? 'unknown',
    days: records.map((r) => ({ day: r.day, status: r.status, counts: r.counts })),
    trends: trends.slice(0, TRENDS_LIMIT), recurring, new: fresh, resolved,
    ...(previous.length > 0 ? { previousWeek: { reported: previous.length, counts: { critical: previous.reduce((n, r) => n + r.counts.critical, 0), warning: previous.reduce((n, r) => n + r.counts.warning, 0) } } } : {}),
    ...(figures ? { figures } : {}),
  }
}
