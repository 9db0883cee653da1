import t from 'tap'
import { alertFindings } from '../../../functions/health-report/checks/alerts.ts'
import { externalSecretFinding } from '../../../functions/health-report/checks/external-secrets.ts'
import { volumeBackupFinding, volumeHealthFinding, volumeJobs, type RecurringJobLike } from '../../../functions/health-report/checks/longhorn.ts'
import { vaultHaFindings } from '../../../functions/health-report/checks/vault-ha.ts'
import { dayRecord, mergeHistory, parseHistory, weeklyDigest, type DayRecord } from '../../../functions/health-report/checks/digest.ts'
import type { Finding } from '../../../functions/health-report/findings.ts'

// The platform checks' judgements, pure: what is a finding, how severe,
// and how it reads.

const now = new Date('2026-12-07T07:30:00Z') // a Monday
const HOUR = 3_600_000
const DAY = 24 * HOUR
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString()

t.test('alerts: grouped by alertname, namespace and severity; counted by severity label; the oldest named', async (t) => {
  const policy = { criticalSeverities: ['critical'], ignoredSeverities: ['none', 'info'], minFiringMs: 5 * 60_000 }
  const { findings, summary } = alertFindings('http://am:9093', [
    { labels: { alertname: 'KubePodCrashLooping', severity: 'warning', namespace: 'production', pod: 'api-1' }, annotations: { summary: 'Pod is crash looping.' }, startsAt: ago(3 * HOUR), status: { state: 'active' } },
    { labels: { alertname: 'KubePodCrashLooping', severity: 'warning', namespace: 'production', pod: 'api-2' }, startsAt: ago(5 * HOUR), status: { state: 'active' } },
    { labels: { alertname: 'TargetDown', severity: 'critical', namespace: 'monitoring', job: 'node-exporter' }, startsAt: ago(HOUR) },
    { labels: { alertname: 'Watchdog', severity: 'none' }, startsAt: ago(30 * DAY) },
    { labels: { alertname: 'CPUThrottlingHigh', severity: 'info', namespace: 'production' }, startsAt: ago(HOUR) },
    { labels: { alertname: 'JustStarted', severity: 'critical' }, startsAt: ago(60_000) },
    { labels: { alertname: 'NoSeverity' }, startsAt: ago(HOUR) },
    { labels: { alertname: 'Suppressed', severity: 'critical' }, startsAt: ago(HOUR), status: { state: 'suppressed' } },
  ], now, policy)
  t.same(summary, { firing: 7, bySeverity: { warning: 2, critical: 2, none: 2, info: 1 }, oldest: { alertname: 'Watchdog', severity: 'none', startsAt: ago(30 * DAY) } }, 'every active alert counted, a suppressed one not')
  const lines = findings.map((f) => `${f.severity} ${f.object.namespace ?? '-'}/${f.object.name} ${f.reason} x${f.count}`)
  t.same(lines, ['warning production/KubePodCrashLooping Firing:warning x2', 'critical monitoring/TargetDown Firing:critical x1'], 'none/info ignored, one firing for less than minFiring not yet, one without severity counts as none')
  t.equal(findings[0]!.since, ago(5 * HOUR), 'since the oldest of the group')
  t.match(findings[0]!.message, /2 alerts firing in http:\/\/am:9093 \(oldest: pod=api-2\)/)
  t.match(findings[1]!.message, /job=node-exporter/)
})

t.test('longhorn: degraded and faulted volumes', async (t) => {
  const policy = { degradedCriticalMs: DAY, backupMaxAgeMs: 2 * DAY }
  const volume = (status: Record<string, unknown>) => ({ metadata: { name: 'pvc-1', namespace: 'longhorn-system' }, spec: { numberOfReplicas: 3 }, status: { kubernetesStatus: { namespace: 'databases', pvcName: 'data-0' }, ...status } })
  t.equal(volumeHealthFinding(volume({ robustness: 'healthy', state: 'attached' }), now, policy), undefined)
  t.equal(volumeHealthFinding(volume({ robustness: 'unknown', state: 'detached' }), now, policy), undefined, 'a detached volume is unknown, and fine')
  t.match(volumeHealthFinding(volume({ robustness: 'degraded', state: 'attached', lastDegradedAt: ago(2 * HOUR) }), now, policy), { severity: 'warning', reason: 'Degraded', message: /PVC databases\/data-0.*3 wanted/, since: ago(2 * HOUR) })
  t.match(volumeHealthFinding(volume({ robustness: 'degraded', state: 'attached', lastDegradedAt: ago(2 * DAY) }), now, policy), { severity: 'critical', reason: 'Degraded' }, 'degraded longer than degradedCritical')
  t.match(volumeHealthFinding(volume({ robustness: 'faulted', state: 'detached', conditions: [{ type: 'Scheduled', status: 'False', reason: 'ReplicaSchedulingFailure', message: 'insufficient storage' }] }), now, policy), { severity: 'critical', reason: 'Faulted', message: /ReplicaSchedulingFailure: insufficient storage/ })
})

t.test('longhorn: which RecurringJobs back a volume up, by Longhorn\'s label convention', async (t) => {
  const policy = { degradedCriticalMs: DAY, backupMaxAgeMs: 2 * DAY }
  const jobs: RecurringJobLike[] = [
    { metadata: { name: 'backup-daily' }, spec: { task: 'backup', groups: ['default'] } },
    { metadata: { name: 'snapshot-hourly' }, spec: { task: 'snapshot', groups: ['default', 'fast'] } },
    { metadata: { name: 'backup-weekly' }, spec: { task: 'backup-force-create', groups: ['weekly'] } },
  ]
  const vol = (labels: Record<string, string>, status: Record<string, unknown> = { lastBackupAt: ago(HOUR) }) => ({ metadata: { name: 'pvc-1', namespace: 'longhorn-system', labels, creationTimestamp: ago(10 * DAY) }, status })
  const names = (labels: Record<string, string>) => volumeJobs(vol(labels), jobs).map((j) => j.metadata?.name)
  t.same(names({}), ['backup-daily', 'snapshot-hourly'], 'no recurring-job label: the default group')
  t.same(names({ 'recurring-job.longhorn.io/source': 'enabled' }), ['backup-daily', 'snapshot-hourly'], 'the PVC-source marker is no job label')
  t.same(names({ 'recurring-job-group.longhorn.io/fast': 'enabled' }), ['snapshot-hourly'], 'a group label replaces the default group')
  t.same(names({ 'recurring-job.longhorn.io/backup-weekly': 'enabled' }), ['backup-weekly'], 'a job by name')
  t.same(names({ 'recurring-job-group.longhorn.io/default': 'disabled' }), [], 'a label not enabled still opts out of the default')
  t.match(volumeBackupFinding(vol({ 'recurring-job-group.longhorn.io/fast': 'enabled' }), jobs, now, policy), { severity: 'warning', reason: 'NoBackupJob', message: /only snapshot-hourly \(snapshot\)/ })
  t.equal(volumeBackupFinding(vol({}), jobs, now, policy), undefined, 'covered and backed up an hour ago')
  t.equal(volumeBackupFinding(vol({ 'recurring-job.longhorn.io/backup-weekly': 'enabled' }), jobs, now, policy), undefined, 'backup-force-create backs up too')
  t.match(volumeBackupFinding(vol({}, { lastBackupAt: ago(3 * DAY) }), jobs, now, policy), { reason: 'BackupStale', message: /backup-daily should back it up/ })
  t.match(volumeBackupFinding(vol({}, {}), jobs, now, policy), { reason: 'NeverBackedUp' })
  t.match(volumeBackupFinding(vol({}), [], now, policy), { reason: 'NoBackupJob' }, 'no RecurringJob at all')
})

t.test('externalsecrets: Ready not True, with the operator\'s reason and message', async (t) => {
  const policy = { graceMs: 15 * 60_000, criticalAfterMs: DAY }
  const es = (conditions?: unknown[], extra: Record<string, unknown> = {}) => ({ metadata: { name: 'db', namespace: 'apps', creationTimestamp: ago(10 * DAY) }, status: { ...(conditions ? { conditions } : {}), ...extra } }) as Parameters<typeof externalSecretFinding>[0]
  t.equal(externalSecretFinding(es([{ type: 'Ready', status: 'True', reason: 'SecretSynced' }]), now, policy), undefined)
  t.match(externalSecretFinding(es([{ type: 'Ready', status: 'False', reason: 'SecretSyncedError', message: 'could not get secret data from provider', lastTransitionTime: ago(HOUR) }], { refreshTime: ago(2 * HOUR) }), now, policy),
    { severity: 'warning', reason: 'NotReady:SecretSyncedError', message: `could not get secret data from provider (last synced ${ago(2 * HOUR)})`, since: ago(HOUR) })
  t.match(externalSecretFinding(es([{ type: 'Ready', status: 'False', reason: 'SecretSyncedError', lastTransitionTime: ago(2 * DAY) }]), now, policy), { severity: 'critical' }, 'not Ready longer than criticalAfter')
  t.match(externalSecretFinding(es(), now, policy), { severity: 'warning', reason: 'NotSynced' }, 'no condition at all, past the grace')
  t.equal(externalSecretFinding({ metadata: { name: 'new', creationTimestamp: ago(60_000) } }, now, policy), undefined, 'a new one is given the grace')
})

t.test('vault HA: no leader, too few standbys, members sealed or unreachable', async (t) => {
  const a = 'https://vault:8200'
  const leader = { reachable: true as const, status: 200, haEnabled: true, isSelf: true, leaderAddress: 'https://vault-0:8200' }
  const m = (address: string, status: number, sealed = false) => ({ address, health: { reachable: true as const, status, sealed } })
  t.same(vaultHaFindings(a, leader, [], 0), [], 'a leader, no members configured')
  t.same(vaultHaFindings(a, leader, [m('v0', 200), m('v1', 429), m('v2', 473)], 2), [], 'one active, a standby and a performance standby')
  t.match(vaultHaFindings(a, { reachable: true, status: 200, haEnabled: true, isSelf: false, leaderAddress: '' }, [], 0), [{ severity: 'critical', reason: 'NoLeader' }])
  t.same(vaultHaFindings(a, { reachable: true, status: 500, errors: ['Vault is sealed'] }, [], 0), [], 'sealed is the health part\'s finding')
  t.match(vaultHaFindings(a, { reachable: true, status: 200, haEnabled: false, isSelf: false, leaderAddress: '' }, [m('v0', 200)], 1), [{ reason: 'HaNotEnabled' }, { severity: 'critical', reason: 'TooFewStandbys' }])
  const lines = vaultHaFindings(a, leader, [m('v0', 200), m('v1', 503, true), { address: 'v2', health: { reachable: false, error: 'ECONNREFUSED' } }], 2).map((f) => `${f.severity} ${f.object.kind} ${f.object.name} ${f.reason}`)
  t.same(lines, ['warning VaultMember v1 MemberSealed', 'warning VaultMember v2 MemberUnreachable', `critical Vault ${a} TooFewStandbys`])
  t.match(vaultHaFindings(a, leader, [m('v0', 200), m('v1', 200), m('v2', 429)], 1), [{ severity: 'critical', reason: 'SeveralActive' }])
  t.match(vaultHaFindings(a, { reachable: false, error: 'ETIMEDOUT' }, [], 0), [{ severity: 'warning', reason: 'LeaderUnknown' }])
})

const finding = (check: Finding['check'], reason: string, name: string, severity: Finding['severity'] = 'warning'): Finding => ({ check, severity, object: { kind: 'Pod', namespace: 'production', name }, reason, message: '' })
const record = (day: string, findings: Finding[]): DayRecord => {
  const counts = { critical: findings.filter((f) => f.severity === 'critical').length, warning: findings.filter((f) => f.severity === 'warning').length }
  const byCheck: Record<string, number> = {}
  for (const f of findings) byCheck[f.check] = (byCheck[f.check] ?? 0) + 1
  return dayRecord({ checkedAt: `${day}T07:00:05.000Z`, status: counts.critical > 0 ? 'critical' : counts.warning > 0 ? 'degraded' : 'healthy', counts, findings, byCheck })
}

t.test('the history: one record per day, bounded, a later report of the day wins; bad records dropped', async (t) => {
  let h: DayRecord[] = []
  for (let d = 1; d <= 20; d++) h = mergeHistory(h, record(`2026-11-${String(d).padStart(2, '0')}`, []), 14)
  t.equal(h.length, 14)
  t.equal(h[0]!.day, '2026-11-07', 'the oldest days fall out')
  const again = mergeHistory(h, { ...record('2026-11-20', [finding('pods', 'CrashLoopBackOff', 'a')]), checkedAt: '2026-11-20T09:00:00.000Z' }, 14)
  t.equal(again.length, 14, 'the same day twice is one record')
  t.equal(again.at(-1)!.counts.warning, 1, 'the later report of the day wins')
  t.same(mergeHistory(again, record('2026-11-20', []), 14), again, 'an older redelivery does not replace a newer report')
  t.same(parseHistory(JSON.stringify([...again.slice(0, 2), { day: 'x' }, 42])).length, 2)
  t.same(parseHistory('not json'), [])
})

t.test('the weekly digest: status per day, trends, recurring, new and resolved problems, the week before', async (t) => {
  const crash = finding('pods', 'CrashLoopBackOff', 'api-1')
  const evicted = finding('pods', 'Evicted', 'web-3')
  const backup = finding('backups', 'BackupFailed', 'redis-backup', 'critical')
  const days: DayRecord[] = [
    record('2026-11-26', [crash]), // the week before
    record('2026-12-01', [crash, evicted]),
    record('2026-12-02', [crash, evicted]),
    record('2026-12-03', [crash]),
    // 12-04 missing: no daily report that day
    record('2026-12-05', [crash, backup]),
    record('2026-12-06', [crash, backup]),
    record('2026-12-07', [crash, backup]),
  ]
  const d = weeklyDigest(days, now, 3)
  t.match(d, { kind: 'weekly', from: '2026-12-01', to: '2026-12-07', reported: 6, missing: ['2026-12-04'], status: 'critical' })
  t.same(d.days.map((x) => `${x.day} ${x.status}`), ['2026-12-01 degraded', '2026-12-02 degraded', '2026-12-03 degraded', '2026-12-05 critical', '2026-12-06 critical', '2026-12-07 critical'])
  const trend = (key: string) => d.trends.find((x) => x.key === key)
  t.same(trend('critical'), { key: 'critical', first: 0, last: 1, max: 1, change: 1 })
  t.same(trend('reason:pods/Evicted'), { key: 'reason:pods/Evicted', first: 1, last: 0, max: 1, change: -1 })
  t.same(trend('check:backups'), { key: 'check:backups', first: 0, last: 1, max: 1, change: 1 })
  t.same(d.recurring, [
    { problem: 'pods CrashLoopBackOff Pod production/api-1', days: 6, firstSeen: '2026-12-01', lastSeen: '2026-12-07' },
    { problem: 'backups BackupFailed Pod production/redis-backup', days: 3, firstSeen: '2026-12-05', lastSeen: '2026-12-07' },
  ], 'seen on at least three days, most days first')
  t.same(d.new, [], 'the backup failure began before the last day')
  t.same(d.resolved, ['pods Evicted Pod production/web-3'])
  t.same(d.previousWeek, { reported: 1, counts: { critical: 0, warning: 1 } })
  const empty = weeklyDigest([], now, 3)
  t.match(empty, { reported: 0, status: 'unknown', days: [], trends: [], recurring: [], missing: { length: 7 } })
  t.notOk('previousWeek' in empty)
})
