import t from 'tap'
import type { V1Job, V1Pod } from '@kubernetes/client-node'
import {
  dayRecord, fillGrowth, mergeHistory, parseHistory, weeklyDigest, FILL_PER_DAY, HISTORY_MAX_DAYS, PROBLEMS_PER_DAY, RECORD_MAX_BYTES,
  type DayFigures, type DayRecord,
} from '../../../functions/health-report/checks/digest.ts'
import { restartsInWindow } from '../../../functions/health-report/checks/workloads.ts'
import { backupJobCounts, type Finding } from '../../../functions/health-report/findings.ts'

// The weekly digest's raw figures, pure: what a day records (bounded in
// size), how the week compares them (restarts, backup Jobs, fill growth and
// the days until full), and records of the version before them still read.

const now = new Date('2026-12-07T07:30:00Z') // a Monday: the week is 12-01 .. 12-07
const HOUR = 3_600_000
const DAY = 24 * HOUR
const day = (d: string, figures?: DayFigures): DayRecord =>
  dayRecord({ checkedAt: `${d}T07:00:05.000Z`, status: 'healthy', counts: { critical: 0, warning: 0 }, findings: [], byCheck: {}, ...(figures ? { figures } : {}) })

t.test('fill growth: points per week, the days until full for a growing volume, flagged within the horizon; none for one shrinking, flat or seen once', async (t) => {
  const history = [
    day('2026-12-01', { fill: { 'production/data': 60, 'Node/worker-1': 50, 'databases/shrinking': 80, 'Node/worker-2': 40 } }),
    day('2026-12-02', { fill: { 'production/data': 63, 'Node/worker-1': 50.2, 'databases/shrinking': 78, 'Node/worker-2': 40, 'production/new': 10 } }),
    // 12-03 .. 12-06 not reported
    day('2026-12-07', { fill: { 'production/data': 79, 'Node/worker-1': 51, 'databases/shrinking': 70, 'Node/worker-2': 40 } }),
  ]
  const g = weeklyDigest(history, now, 3, 30).figures!.fill!
  t.same(g.map((x) => x.volume), ['production/data', 'Node/worker-1', 'Node/worker-2', 'databases/shrinking'], 'soonest full first; a volume recorded on one day only has no growth')
  t.same(g[0], { volume: 'production/data', from: '2026-12-01', to: '2026-12-07', first: 60, last: 79, perWeek: 22.2, daysToFull: 6, soon: true }, '19 points in 6 days: 21 left at 3.17 a day is 6 days')
  t.same(g[1], { volume: 'Node/worker-1', from: '2026-12-01', to: '2026-12-07', first: 50, last: 51, perWeek: 1.2, daysToFull: 294 }, 'growing slowly: projected, not flagged')
  t.same(g[2], { volume: 'Node/worker-2', from: '2026-12-01', to: '2026-12-07', first: 40, last: 40, perWeek: 0 }, 'flat: not projected')
  t.same(g[3], { volume: 'databases/shrinking', from: '2026-12-01', to: '2026-12-07', first: 80, last: 70, perWeek: -11.7 }, 'shrinking: not projected')
  t.notOk(fillGrowth(history, 5).find((x) => x.volume === 'production/data')!.soon, 'six days out is beyond a five-day horizon')
  // Missing days at either end: the span is between the days that recorded it.
  const late = fillGrowth([day('2026-12-03', { fill: { v: 90 } }), day('2026-12-05', { fill: { v: 94 } })], 30)
  t.same(late, [{ volume: 'v', from: '2026-12-03', to: '2026-12-05', first: 90, last: 94, perWeek: 14, daysToFull: 3, soon: true }])
  t.same(fillGrowth([day('2026-12-01', { fill: { v: 99 } }), day('2026-12-02', { fill: { v: 100 } })], 30)[0]!.daysToFull, 0, 'full already')
})

t.test('restarts and backup Jobs per day, the week against the week before; firing alerts per day; days without a report left out', async (t) => {
  const history = [
    day('2026-11-28', { restarts: { count: 10, containers: 2 } }), // the week before
    day('2026-11-29', { restarts: { count: 6, containers: 1 } }),
    day('2026-12-01', { restarts: { count: 12, containers: 1 }, backupJobs: { failed: 0, succeeded: 2 }, alerts: { warning: 2, none: 1 } }),
    day('2026-12-02', { restarts: { count: 30, containers: 3 }, backupJobs: { failed: 1, succeeded: 1 } }),
    // 12-03 missing
    day('2026-12-04'), // a day recorded without figures (its checks did not run)
    day('2026-12-07', { restarts: { count: 41, containers: 4 }, backupJobs: { failed: 2, succeeded: 0 }, alerts: { critical: 1 } }),
  ]
  const d = weeklyDigest(history, now, 3)
  t.same(d.missing, ['2026-12-03', '2026-12-05', '2026-12-06'])
  t.same(d.figures!.restarts, {
    days: [{ day: '2026-12-01', count: 12, containers: 1 }, { day: '2026-12-02', count: 30, containers: 3 }, { day: '2026-12-07', count: 41, containers: 4 }],
    total: 83, previousWeek: { days: 2, total: 16 },
  })
  t.same(d.figures!.backupJobs, { days: [{ day: '2026-12-01', failed: 0, succeeded: 2 }, { day: '2026-12-02', failed: 1, succeeded: 1 }, { day: '2026-12-07', failed: 2, succeeded: 0 }], failed: 3, succeeded: 3 })
  t.same(d.figures!.alerts, { days: [{ day: '2026-12-01', firing: 3, bySeverity: { warning: 2, none: 1 } }, { day: '2026-12-07', firing: 1, bySeverity: { critical: 1 } }] })
  t.notOk(d.figures!.fill, 'no fill recorded: none compared')
})

t.test('records of the version before the figures are read: the digest compares what they have', async (t) => {
  // As yesterday's version wrote them: no `figures`.
  const old = [1, 2, 3].map((n) => ({ day: `2026-12-0${n}`, checkedAt: `2026-12-0${n}T07:00:05.000Z`, status: 'degraded', counts: { critical: 0, warning: 1 }, byCheck: { pods: 1 }, byReason: { 'pods/CrashLoopBackOff': 1 }, problems: ['pods CrashLoopBackOff Pod production/api-1'] }))
  const onlyOld = parseHistory(JSON.stringify(old))
  t.equal(onlyOld.length, 3)
  const d = weeklyDigest(onlyOld, now, 3)
  t.match(d, { reported: 3, recurring: [{ days: 3 }] })
  t.notOk('figures' in d, 'no figures: none reported')
  const mixed = parseHistory(JSON.stringify([
    ...old,
    { ...old[0], day: '2026-12-06', checkedAt: '2026-12-06T07:00:05.000Z', figures: { restarts: { count: 5, containers: 1 }, fill: { a: 50, b: 'x' }, backupJobs: { failed: -1, succeeded: 0 }, alerts: 'none' } },
    { ...old[0], day: '2026-12-07', checkedAt: '2026-12-07T07:00:05.000Z', figures: { restarts: { count: 7, containers: 1 }, fill: { a: 52 } } },
  ]))
  t.same(mixed[3]!.figures, { restarts: { count: 5, containers: 1 }, fill: { a: 50 } }, 'figures of the wrong shape are dropped, field by field')
  const m = weeklyDigest(mixed, now, 3)
  t.same(m.figures!.restarts, { days: [{ day: '2026-12-06', count: 5, containers: 1 }, { day: '2026-12-07', count: 7, containers: 1 }], total: 12 })
  t.same(m.figures!.fill, [{ volume: 'a', from: '2026-12-06', to: '2026-12-07', first: 50, last: 52, perWeek: 14, daysToFull: 24, soon: true }])
})

t.test('a day keeps the fullest volumes only, and a worst-case history stays under a ConfigMap\'s 1 MiB', async (t) => {
  const fill = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`ns/claim-${i}`, i / 5]))
  const r = day('2026-12-07', { fill })
  t.equal(Object.keys(r.figures!.fill!).length, FILL_PER_DAY)
  t.equal(Object.values(r.figures!.fill!)[0], 99.8, 'the fullest first')
  t.equal(Math.min(...Object.values(r.figures!.fill!)), 96, 'and no less full one kept')
  t.same(day('2026-12-07', { fill: { a: 104.2, b: 12.345 } }).figures, { fill: { a: 100, b: 12.3 } }, 'one decimal, at most 100 (used bytes from usedBytes can pass the capacity)')

  // The longest names Kubernetes allows, in every list a record has.
  const long = (prefix: string, i: number, n = 253) => `${prefix}${i}-`.padEnd(n, 'x')
  const findings: Finding[] = Array.from({ length: 500 }, (_, i) => ({
    check: 'pods', severity: i < 50 ? 'critical' : 'warning', object: { kind: 'PersistentVolumeClaim', namespace: long('ns', i, 63), name: long('pod', i) },
    reason: long('Reason', i, 120), message: '',
  }))
  const worst = (d: string) => dayRecord({
    checkedAt: `${d}T07:00:05.000Z`, status: 'critical', counts: { critical: 50, warning: 450 }, findings,
    byCheck: Object.fromEntries(['nodes', 'pods', 'events', 'certificates', 'vault', 'backups', 'pvcs', 'node-pressure', 'cordoned', 'disk-usage', 'resource-usage', 'commitment', 'workloads', 'pods-not-ready', 'restarts', 'alerts', 'longhorn', 'externalsecrets'].map((c) => [c, 999_999])),
    figures: {
      restarts: { count: 9_999_999, containers: 99_999 }, backupJobs: { failed: 9_999, succeeded: 9_999 },
      fill: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`${long('ns', i, 63)}/${long('claim', i)}`, 99.9])),
      alerts: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [long('severity', i, 63), 9_999])),
    },
  })
  const one = worst('2026-12-07')
  t.ok(Buffer.byteLength(JSON.stringify(one)) <= RECORD_MAX_BYTES, 'one day within its share')
  t.ok(one.problems.length >= 20 && one.problems.length < PROBLEMS_PER_DAY, 'the last problems dropped to fit, not all')
  t.ok(one.problems.every((p, i) => p.includes(`pod${i}-`)), 'critical (first) problems kept')
  t.ok(Object.keys(one.figures!.fill!).length >= 5 && Object.keys(one.byReason).length >= 20, 'some volumes and reasons kept')
  let history: DayRecord[] = []
  for (let i = 0; i < HISTORY_MAX_DAYS + 5; i++) history = mergeHistory(history, worst(new Date(Date.parse('2026-10-01T00:00:00Z') + i * DAY).toISOString().slice(0, 10)), HISTORY_MAX_DAYS)
  t.equal(history.length, HISTORY_MAX_DAYS)
  const size = Buffer.byteLength(JSON.stringify(history))
  t.ok(size < 1024 * 1024 - 4096, `${HISTORY_MAX_DAYS} worst-case days are ${size} bytes, under 1 MiB with room for the ConfigMap's other fields`)
  t.same(day('2026-12-07', { restarts: { count: 3, containers: 1 } }).figures, { restarts: { count: 3, containers: 1 } }, 'a small record is kept whole')
})

t.test('the raw figures as the checks measure them: restarts within the window, backup Jobs in theirs', async (t) => {
  const ago = (ms: number) => new Date(now.getTime() - ms).toISOString()
  const container = (name: string, restartCount: number, finishedAgo?: number) => ({
    name, image: 'x', imageID: '', ready: true, restartCount,
    ...(finishedAgo !== undefined ? { lastState: { terminated: { exitCode: 1, finishedAt: ago(finishedAgo) as unknown as Date } } } : {}),
  })
  const pod: V1Pod = { status: { initContainerStatuses: [container('init', 3, HOUR)], containerStatuses: [container('a', 12, 10 * 60_000), container('b', 50, 3 * DAY), container('c', 0)] } }
  t.same(restartsInWindow(pod, now, DAY), { count: 15, containers: 2 }, 'init and regular containers that restarted within the day; not the one that restarted days ago')
  t.same(restartsInWindow({}, now, DAY), { count: 0, containers: 0 })

  const job = (name: string, startedAgo: number, outcome: 'Complete' | 'Failed' | undefined, owner = 'redis-backup'): V1Job => ({
    metadata: { name, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: owner, uid: 'u' }] },
    status: { startTime: ago(startedAgo) as unknown as Date, ...(outcome ? { conditions: [{ type: outcome, status: 'True' }] } : {}) },
  })
  const jobs = [job('a', HOUR, 'Failed'), job('b', 2 * HOUR, 'Complete'), job('c', 3 * HOUR, 'Failed'), job('d', 5 * 60_000, undefined), job('e', 2 * DAY, 'Failed'), job('f', HOUR, 'Failed', 'other')]
  t.same(backupJobCounts({ name: 'redis-backup' }, jobs, now, DAY), { failed: 2, succeeded: 1 }, 'in the window, of that CronJob; a running one in neither')
})
