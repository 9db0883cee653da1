import t from 'tap'
import { countDateTimeFormats } from '../../intl.ts'
import { checkConfig, type PruneConfig, type PrunePolicy } from '../../../functions/prune-snapshots/config.ts'
import { bucketOf, plan, UTC_ZONES, type RetentionPolicy, type SnapshotFacts } from '../../../functions/prune-snapshots/retention.ts'

// The GFS rules keep exactly what `restic forget` keeps for the same
// timestamps; every expectation below was worked out by hand.

const snap = (id: string, iso: string, extra: Partial<SnapshotFacts> = {}): SnapshotFacts =>
  ({ id, createdAt: new Date(iso), ready: true, inUse: false, protected: false, ...extra })
const base: RetentionPolicy = { graceMs: 0, timeZone: 'Etc/UTC' }
const now = new Date('2026-11-22T20:00:00Z')
const kept = (snaps: SnapshotFacts[], policy: Partial<RetentionPolicy>, at = now) =>
  plan(snaps, { ...base, ...policy }, at).filter((d) => d.keep).map((d) => d.id).sort()

const history = [
  snap('s1', '2026-11-22T18:00:00Z'), // Sunday: ISO week 47
  snap('s2', '2026-11-22T06:00:00Z'),
  snap('s3', '2026-11-21T23:00:00Z'),
  snap('s4', '2026-11-21T01:00:00Z'),
  snap('s5', '2026-11-20T12:00:00Z'),
  snap('s6', '2026-11-19T12:00:00Z'),
  snap('s7', '2026-11-15T12:00:00Z'), // ISO week 46
  snap('s8', '2026-10-31T12:00:00Z'), // October
  snap('s9', '2025-12-31T12:00:00Z'), // 2025
]

t.test('each rule alone, in UTC', async (t) => {
  const cases: Array<[string, Partial<RetentionPolicy>, string[]]> = [
    ['keep-last 2', { keepLast: 2 }, ['s1', 's2']],
    ['keep-daily 3: the newest of each of the last 3 days', { keepDaily: 3 }, ['s1', 's3', 's5']],
    ['keep-hourly 2', { keepHourly: 2 }, ['s1', 's2']],
    ['keep-weekly 2: ISO weeks 47 and 46', { keepWeekly: 2 }, ['s1', 's7']],
    ['keep-monthly 2', { keepMonthly: 2 }, ['s1', 's8']],
    ['keep-yearly 2', { keepYearly: 2 }, ['s1', 's9']],
    ['keep-daily 100: one per day that has one', { keepDaily: 100 }, ['s1', 's3', 's5', 's6', 's7', 's8', 's9']],
    ['no rule: only the floor', {}, ['s1']],
  ]
  for (const [name, policy, expected] of cases) t.same(kept(history, policy), expected, name)
})

t.test('rules combine: kept once, every reason listed', async (t) => {
  const decisions = plan(history, { ...base, keepLast: 1, keepDaily: 2, keepMonthly: 2 }, now)
  const byId = new Map(decisions.map((d) => [d.id, d]))
  t.same(decisions.filter((d) => d.keep).map((d) => d.id).sort(), ['s1', 's3', 's8'])
  t.same(byId.get('s1')?.reasons, ['the newest ready snapshot of its volume', 'keep-last 1', 'keep-daily 2 (2026-11-22)', 'keep-monthly 2 (2026-11)'])
  t.same(byId.get('s3')?.reasons, ['keep-daily 2 (2026-11-21)'])
  t.same(byId.get('s8')?.reasons, ['keep-monthly 2 (2026-10)'])
  t.same(byId.get('s2')?.reasons, ['kept by no rule'], 'one reason for a deletion')
})

t.test('buckets are counted in the policy\'s time zone', async (t) => {
  // In New York (UTC-5) s4 (01:00Z on the 21st) is 20:00 on the 20th: the newest of that day.
  t.same(kept(history, { keepDaily: 3, timeZone: 'America/New_York' }), ['s1', 's3', 's4'])
  t.same(kept(history, { keepDaily: 3 }), ['s1', 's3', 's5'], 'not s4 when counted in UTC')
})

t.test('DST: calendar days and local hours across the shifts', async (t) => {
  // Europe/Berlin springs forward on 2026-03-29: 22:30Z is 23:30 on the 28th, 23:30Z is 00:30 on the 29th.
  const spring = [snap('a', '2026-03-28T23:30:00Z'), snap('b', '2026-03-28T22:30:00Z')]
  t.same(kept(spring, { keepDaily: 2, timeZone: 'Europe/Berlin' }, new Date('2026-03-30T00:00:00Z')), ['a', 'b'], 'two local days')
  t.same(kept(spring, { keepDaily: 2 }, new Date('2026-03-30T00:00:00Z')), ['a'], 'one UTC day (a is the floor)')
  // It falls back on 2026-10-25: 02:00–03:00 local happens twice (00:30Z and 01:30Z are both 02:30).
  const autumn = [snap('h4', '2026-10-25T02:30:00Z'), snap('h3', '2026-10-25T01:30:00Z'), snap('h2', '2026-10-25T00:30:00Z'), snap('h1', '2026-10-24T23:30:00Z')]
  t.equal(bucketOf(new Date('2026-10-25T00:30:00Z'), 'hourly', 'Europe/Berlin'), bucketOf(new Date('2026-10-25T01:30:00Z'), 'hourly', 'Europe/Berlin'), 'the repeated hour is one bucket, as with restic')
  t.same(kept(autumn, { keepHourly: 3, timeZone: 'Europe/Berlin' }, new Date('2026-10-26T00:00:00Z')), ['h1', 'h3', 'h4'])
})

t.test('ISO weeks at the turn of the year', async (t) => {
  t.equal(bucketOf(new Date('2026-12-31T12:00:00Z'), 'weekly', 'Etc/UTC'), '2026-W53', 'Thursday 31 Dec 2026 is week 53 of 2026')
  t.equal(bucketOf(new Date('2027-01-03T12:00:00Z'), 'weekly', 'Etc/UTC'), '2026-W53', 'and Sunday 3 Jan 2027 still is')
  t.equal(bucketOf(new Date('2027-01-04T12:00:00Z'), 'weekly', 'Etc/UTC'), '2027-W1')
  t.equal(bucketOf(new Date('2025-12-29T12:00:00Z'), 'weekly', 'Etc/UTC'), '2026-W1', 'Monday 29 Dec 2025 opens week 1 of 2026')
})

t.test('UTC by its own names: the same buckets as ICU gives, without Intl', async (t) => {
  // Etc/Universal is UTC too, but not one of the names read without Intl: ICU computes its buckets.
  t.notOk(UTC_ZONES.has('Etc/Universal'))
  const buckets = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const
  let seed = 7
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647
  const dates = [new Date('2026-12-31T23:59:59.999Z'), new Date('2027-01-01T00:00:00Z'), new Date('2024-02-29T12:00:00Z'), new Date(0)]
  for (let i = 0; i < 500; i++) dates.push(new Date(Date.UTC(1990, 0, 1) + Math.floor(random() * 60 * 365 * 86_400_000)))
  const differing: string[] = []
  for (const zone of UTC_ZONES) {
    for (const date of dates) {
      for (const b of buckets) {
        if (bucketOf(date, b, zone) !== bucketOf(date, b, 'Etc/Universal')) differing.push(`${zone} ${b} ${date.toISOString()}`)
      }
    }
  }
  t.same(differing, [], `${UTC_ZONES.size} names × ${dates.length} dates × ${buckets.length} buckets`)

  const constructed = countDateTimeFormats(t)
  let n = 0
  const policy = (timeZone: string): PrunePolicy => ({ name: `p${++n}`, kind: 'VolumeSnapshot', namespaces: ['apps'], keepDaily: 7, grace: '1h', timeZone })
  const config = (policies: PrunePolicy[]): PruneConfig => ({ protectionLabel: 'caretaker.dev/protected', limits: { maxDeletionsPerRun: 10, deletesPerSecond: 1, pageSize: 100, attempts: 3 }, policies })
  checkConfig(config([...UTC_ZONES].map(policy)))
  for (const zone of UTC_ZONES) bucketOf(now, 'daily', zone)
  t.equal(constructed(), 0, 'no Intl.DateTimeFormat for UTC')
  // A zone no other test here has used: its formatter is not made yet.
  checkConfig(config([policy('Asia/Tokyo')]))
  t.equal(constructed(), 1, 'any other zone is checked by Intl')
  bucketOf(now, 'daily', 'Asia/Tokyo')
  t.equal(constructed(), 1, 'and its buckets use the formatter the check made')
  t.throws(() => checkConfig(config([policy('Mars/Olympus')])), /not an IANA time zone/)
})

t.test('never deleted: not ready, in use, protected, within the grace period', async (t) => {
  const snaps = [
    snap('new', '2026-11-22T19:30:00Z'),
    snap('broken', '2026-11-22T10:00:00Z', { ready: false }),
    snap('restoring', '2026-11-01T00:00:00Z', { inUse: true }),
    snap('keepme', '2026-01-01T00:00:00Z', { protected: true }),
    snap('old', '2026-02-01T00:00:00Z'),
  ]
  const d = new Map(plan(snaps, { ...base, graceMs: 3_600_000, maxAgeMs: 86_400_000 }, now).map((x) => [x.id, x]))
  t.same(d.get('new'), { id: 'new', keep: true, reasons: ['within the grace period'] })
  t.same(d.get('broken'), { id: 'broken', keep: true, reasons: ['not ready'] })
  t.same(d.get('restoring'), { id: 'restoring', keep: true, reasons: ['in use: a PVC is restored from it'] })
  t.same(d.get('keepme'), { id: 'keepme', keep: true, reasons: ['protected by label'] })
  t.same(d.get('old'), { id: 'old', keep: false, reasons: ['older than the maximum age'] })
})

t.test('a not-ready snapshot takes no slot', async (t) => {
  const snaps = [snap('bad', '2026-11-22T18:00:00Z', { ready: false }), snap('good', '2026-11-22T06:00:00Z'), snap('older', '2026-11-21T06:00:00Z')]
  t.same(kept(snaps, { keepDaily: 1 }), ['bad', 'good'], 'the day\'s slot goes to the ready one')
})

t.test('the floor: the newest ready snapshot survives a policy that would delete everything', async (t) => {
  const snaps = [snap('broken', '2026-11-22T18:00:00Z', { ready: false }), snap('x', '2026-10-01T00:00:00Z'), snap('y', '2026-09-01T00:00:00Z')]
  const d = plan(snaps, { ...base, maxAgeMs: 1000 }, now)
  t.same(d.filter((x) => x.keep).map((x) => x.id).sort(), ['broken', 'x'])
  t.same(d.find((x) => x.id === 'x')?.reasons, ['the newest ready snapshot of its volume'])
})
