/**
 * Retention with the semantics of `restic forget`: keep-last N keeps the N
 * newest; keep-hourly/daily/weekly/monthly/yearly N keep the newest snapshot
 * of each of the N most recent hours/days/ISO weeks/months/years that have
 * one, counted in the policy's time zone (calendar days across DST shifts).
 * A snapshot kept by several rules is kept once, with every reason. On top:
 * a maximum age, and a floor that always keeps the newest ready snapshot.
 * Not-ready snapshots take no slot and are never deleted; nor are those in
 * use, protected, or younger than the grace period.
 */
import { byCodeUnits } from '../../shared/order.ts'

export interface RetentionPolicy {
  keepLast?: number
  keepHourly?: number
  keepDaily?: number
  keepWeekly?: number
  keepMonthly?: number
  keepYearly?: number
  /** Milliseconds: older snapshots are deleted whatever the rules say (never the floor). */
  maxAgeMs?: number
  /** Milliseconds: younger snapshots are never deleted. */
  graceMs: number
  /** IANA zone the hour/day/week/month/year buckets are counted in. */
  timeZone: string
}

export interface SnapshotFacts {
  readonly id: string
  readonly createdAt: Date
  readonly ready: boolean
  readonly inUse: boolean
  readonly protected: boolean
}

export interface Decision {
  readonly id: string
  readonly keep: boolean
  /** Why it is kept (every reason) or deleted (one reason). */
  readonly reasons: string[]
}

type Bucket = 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly'

/**
 * Names of UTC itself (the config's default is Etc/UTC). Their calendar is
 * the Date's own UTC fields: no Intl.DateTimeFormat, whose first use reads
 * about 4.5 MiB of ICU's time zone data into the process.
 */
export const UTC_ZONES: ReadonlySet<string> = new Set(['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT', 'Etc/Zulu', 'Zulu'])

const formatters = new Map<string, Intl.DateTimeFormat>()
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', hourCycle: 'h23' })
    formatters.set(timeZone, f)
  }
  return f
}

/** Throws a RangeError for a name that is not an IANA time zone; what it checks is then ready for bucketOf. */
export function checkTimeZone(timeZone: string): void {
  if (!UTC_ZONES.has(timeZone)) formatter(timeZone)
}

function parts(date: Date, timeZone: string): { year: number; month: number; day: number; hour: number } {
  if (UTC_ZONES.has(timeZone)) return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hour: date.getUTCHours() }
  const p = Object.fromEntries(formatter(timeZone).formatToParts(date).map((x) => [x.type, x.value]))
  return { year: Number(p.year), month: Number(p.month), day: Number(p.day), hour: Number(p.hour) }
}

/** ISO 8601 week-numbering year and week of a calendar date (what Go's ISOWeek gives restic). */
function isoWeek(year: number, month: number, day: number): string {
  const d = new Date(Date.UTC(year, month - 1, day))
  const weekday = d.getUTCDay() || 7
  d.setUTCDate(d.getUTCDate() + 4 - weekday)
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1)
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7)
  return `${d.getUTCFullYear()}-W${week}`
}

export function bucketOf(date: Date, bucket: Bucket, timeZone: string): string {
  const p = parts(date, timeZone)
  switch (bucket) {
    case 'hourly': return `${p.year}-${p.month}-${p.day}T${p.hour}`
    case 'daily': return `${p.year}-${p.month}-${p.day}`
    case 'weekly': return isoWeek(p.year, p.month, p.day)
    case 'monthly': return `${p.year}-${p.month}`
    case 'yearly': return `${p.year}`
  }
}

const RULES: Array<[keyof RetentionPolicy, Bucket | 'last']> = [
  ['keepLast', 'last'], ['keepHourly', 'hourly'], ['keepDaily', 'daily'], ['keepWeekly', 'weekly'], ['keepMonthly', 'monthly'], ['keepYearly', 'yearly'],
]

/** Decide, for one volume's snapshots, what to keep and why. */
export function plan(snapshots: readonly SnapshotFacts[], policy: RetentionPolicy, now: Date): Decision[] {
  const newestFirst = [...snapshots].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || byCodeUnits(b.id, a.id))
  const ready = newestFirst.filter((s) => s.ready)
  const reasons = new Map<string, string[]>(newestFirst.map((s) => [s.id, []]))
  const why = (id: string, reason: string) => reasons.get(id)!.push(reason)

  for (const [field, bucket] of RULES) {
    const n = policy[field] as number | undefined
    if (!n) continue
    let kept = 0
    let last: string | undefined
    for (const s of ready) {
      if (kept >= n) break
      const b = bucket === 'last' ? s.id : bucketOf(s.createdAt, bucket, policy.timeZone)
      if (b === last) continue
      last = b
      kept++
      why(s.id, bucket === 'last' ? `keep-last ${n}` : `keep-${bucket} ${n} (${b})`)
    }
  }

  const floor = ready[0]
  return newestFirst.map((s) => {
    const age = now.getTime() - s.createdAt.getTime()
    // Safety first: these are never deleted, whatever the rules say.
    if (!s.ready) return { id: s.id, keep: true, reasons: ['not ready'] }
    if (s.inUse) return { id: s.id, keep: true, reasons: ['in use: a PVC is restored from it'] }
    if (s.protected) return { id: s.id, keep: true, reasons: ['protected by label'] }
    if (age < policy.graceMs) return { id: s.id, keep: true, reasons: ['within the grace period'] }
    if (s === floor) return { id: s.id, keep: true, reasons: ['the newest ready snapshot of its volume', ...reasons.get(s.id)!] }
    if (policy.maxAgeMs !== undefined && age > policy.maxAgeMs) return { id: s.id, keep: false, reasons: ['older than the maximum age'] }
    const kept = reasons.get(s.id)!
    return kept.length > 0 ? { id: s.id, keep: true, reasons: kept } : { id: s.id, keep: false, reasons: ['kept by no rule'] }
  })
}
