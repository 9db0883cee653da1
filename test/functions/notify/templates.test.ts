import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import t from 'tap'
import { NOTIFIABLE } from '../../../functions/notify/index.ts'
import { emailMessage, logLine, mattermostPayload, slackPayload, webhookPayload, type Counts } from '../../../functions/notify/formats.ts'
import { hasSpecificTemplate, humanType, inferSeverity, renderMessage } from '../../../functions/notify/templates.ts'
import { catalogue } from '../../../shared/events/catalogue.ts'
import { EventDataValidator } from '../../../shared/events/validation.ts'
import { EXAMPLE_TIME, exampleData } from './samples.ts'

// Every outbound type in the catalogue at test time renders to a message a
// person can act on, in every channel format. Types with a recorded snapshot
// must render exactly as recorded (templates.snapshots.json; regenerate with
// UPDATE_SNAPSHOTS=1 and read the diff). A type added since is still checked
// for a complete, readable message, and listed as not yet recorded.

const SNAPSHOTS = new URL('./templates.snapshots.json', import.meta.url)
const LINKS = [{ label: 'Runbook', url: 'https://wiki.example.org/runbooks/{family}' }]
const channel = { name: 'ops', kind: 'mattermost' as const }
const noCounts: Counts = { repeats: 0, heldBack: 0 }

const outbound = [...catalogue.values()].filter((d) => d.direction === 'outbound' && !d.type.startsWith('dev.caretaker.notification.'))
const recorded = existsSync(SNAPSHOTS) ? JSON.parse(readFileSync(SNAPSHOTS, 'utf8')) as Record<string, unknown> : {}
const updating = process.env.UPDATE_SNAPSHOTS === '1'
const current: Record<string, unknown> = {}

t.test('notify accepts every outbound type of the catalogue but its own', async (t) => {
  t.same([...NOTIFIABLE].sort(), outbound.map((d) => d.type).sort())
  t.notOk(NOTIFIABLE.includes('dev.caretaker.notification.sent'), 'its own reply would loop')
  t.ok(outbound.length >= 10, `${outbound.length} outbound types`)
})

for (const def of outbound) {
  t.test(`${def.type} renders a complete message`, async (t) => {
    const example = exampleData(def.type, def.schema)
    const validator = new EventDataValidator([def.type], catalogue)
    try {
      validator.check(def.type, example.data)
      t.pass('the example data is valid for the type')
    } catch (err) {
      if (hasSpecificTemplate(def.type)) throw err
      t.comment(`the generated example for ${def.type} does not satisfy its schema (${(err as Error).message}); rendered anyway`)
    }
    const m = renderMessage({ type: def.type, subject: example.subject, data: example.data, time: EXAMPLE_TIME }, LINKS)
    for (const field of ['title', 'what', 'where', 'action'] as const) t.ok(m[field].trim().length > 0, `${field} is filled`)
    t.ok(['info', 'warning', 'critical'].includes(m.severity))
    t.ok(m.title.length <= 200, 'the title fits a notification line')
    const counts: Counts = { repeats: 2, since: EXAMPLE_TIME, heldBack: 1 }
    const email = emailMessage(m, counts, 'prod-eu1')
    const rendered = [
      logLine(m, counts, 'prod-eu1'),
      JSON.stringify(mattermostPayload(m, counts, channel, 'prod-eu1')),
      JSON.stringify(slackPayload(m, counts, channel, 'prod-eu1')),
      JSON.stringify(webhookPayload(m, counts, 'prod-eu1', { id: '1', source: '/x', type: def.type, subject: example.subject, data: example.data })),
      email.subject, email.text, email.html,
    ].join('\n')
    for (const bad of ['undefined', '[object Object]', 'NaN']) t.notOk(rendered.includes(bad), `no "${bad}" in any format`)
    t.notOk(/[\r\n]/.test(email.subject), 'one-line e-mail subject')
    t.match(rendered, /Repeated 2 more times/)
    t.match(rendered, /https:\/\/wiki\.example\.org\/runbooks\//)

    const snapshot = { severity: m.severity, subject: emailMessage(m, noCounts, 'prod-eu1').subject, text: logLine(m, noCounts, 'prod-eu1') }
    current[def.type] = snapshot
    if (updating) return
    if (def.type in recorded) t.same(snapshot, recorded[def.type], 'renders as recorded (after an intended change: UPDATE_SNAPSHOTS=1 npx tap test/functions/notify/templates.test.ts, then review the diff)')
    else t.comment(`${def.type} has no recorded snapshot yet: run with UPDATE_SNAPSHOTS=1 and review`)
  })
}

t.test('the known types have their own templates: every outbound type of the catalogue', async (t) => {
  for (const def of outbound) t.ok(hasSpecificTemplate(def.type), def.type)
  const failed = renderMessage({ type: 'dev.caretaker.backup.verification.failed', subject: 'redis', data: { set: 'redis', failedCheck: 'age', checks: [{ check: 'age', ok: false, message: 'newest is 50h old, RPO 24h' }] }, time: EXAMPLE_TIME })
  t.equal(failed.severity, 'critical')
  t.equal(failed.what, 'The age check failed: newest is 50h old, RPO 24h')
  t.match(failed.action, /older than the set's RPO/)
  // verify-backup's failure codes (size-shrunk): the action of the check that failed; the age from the name's time.
  const shrunk = renderMessage({ type: 'dev.caretaker.backup.verification.failed', subject: 'redis', data: {
    set: 'redis', failedCheck: 'size-shrunk', artifact: { name: 'dump_20261122_030000.rdb', size: 10, modified: EXAMPLE_TIME, time: new Date(Date.parse(EXAMPLE_TIME) - 7_200_000).toISOString() },
    checks: [{ check: 'size', failure: 'size-shrunk', ok: false, message: 'dump_20261122_030000.rdb is 90.0% smaller than dump_20261121_030000.rdb (100 → 10 bytes)' }],
  }, time: EXAMPLE_TIME })
  t.equal(shrunk.what, 'The size-shrunk check failed: dump_20261122_030000.rdb is 90.0% smaller than dump_20261121_030000.rdb (100 → 10 bytes)')
  t.match(shrunk.action, /too small or shrank sharply/)
  t.match(JSON.stringify(shrunk.facts), /2h old/)
  const sweepOk = renderMessage({ type: 'dev.caretaker.backup.sweep.completed', subject: undefined, data: { verified: 2, failed: 0, sets: [{ set: 'a', verified: true }, { set: 'b', verified: true }] }, time: EXAMPLE_TIME })
  t.equal(sweepOk.severity, 'info')
  t.equal(sweepOk.title, 'Backup sweep: all 2 sets verified')
})

t.test('a type added later gets a sensible generic message', async (t) => {
  // As another function would add it: an outbound type notify has never seen.
  const m = renderMessage({
    type: 'dev.caretaker.quota.expiring', subject: 'production/compute',
    data: { namespace: 'production', name: 'compute', notAfter: '2026-11-30T00:00:00Z', daysLeft: 7, owners: ['team-a'], password: 'hunter2', apiToken: 'tok-123' }, time: EXAMPLE_TIME,
  }, LINKS)
  t.notOk(hasSpecificTemplate('dev.caretaker.quota.expiring'))
  t.equal(m.severity, 'warning', 'expiring reads as a warning')
  t.equal(m.title, 'Quota expiring: production/compute')
  t.equal(m.where, 'production/compute')
  t.match(m.action, /today/)
  t.same(m.facts.map((f) => `${f.label}=${f.value}`), ['Namespace=production', 'Name=compute', 'Not After=2026-11-30T00:00:00Z', 'Days Left=7', 'Owners=1 item'], 'fields named like a secret are never shown')
  t.same(m.links, [{ label: 'Runbook', url: 'https://wiki.example.org/runbooks/quota' }])
})

t.test('severity from the data\'s words, then the type\'s', async (t) => {
  t.equal(inferSeverity('dev.caretaker.health.reported', { status: 'critical' }), 'critical')
  t.equal(inferSeverity('dev.caretaker.health.reported', { status: 'ok' }), 'info')
  t.equal(inferSeverity('dev.caretaker.database.degraded', { status: 'warning' }), 'warning')
  t.equal(inferSeverity('dev.caretaker.database.degraded', { status: 'ok' }), 'warning', 'the type\'s word when the data says less')
  t.equal(inferSeverity('dev.caretaker.database.degraded', { status: 'critical' }), 'critical')
  t.equal(inferSeverity('dev.caretaker.secret.rotation.failed', {}), 'critical')
  t.equal(inferSeverity('dev.caretaker.alert.skipped', {}), 'warning')
  t.equal(inferSeverity('dev.caretaker.snapshots.pruned', { failed: 0 }), 'info')
  t.equal(inferSeverity('dev.caretaker.x.done', { failed: 3 }), 'warning')
  t.equal(humanType('dev.caretaker.database.maintenance.completed'), 'Database maintenance completed')
})

t.test('an outcome its function only planned says so in the title', async (t) => {
  const m = renderMessage({ type: 'dev.caretaker.resources.cleaned', subject: undefined, data: { dryRun: true, capReached: false, counts: {}, objects: [] }, time: EXAMPLE_TIME })
  t.equal(m.title, 'Clean-up planned: nothing to delete (dry-run: nothing was changed)')
  const plan = renderMessage({ type: 'dev.caretaker.secret.rotated', subject: 'postgres-app', data: { secret: 'postgres-app', trigger: 'request', dryRun: true, plan: { vault: { mount: 'secret', path: 'databases/postgres/app', currentVersion: 7 }, target: 'PostgreSQL role app', externalSecrets: [], restarts: [{ kind: 'Deployment', namespace: 'production', name: 'api' }] } }, time: EXAMPLE_TIME })
  t.equal(plan.title, 'Secret rotation planned: postgres-app (dry-run: nothing was changed)')
  t.equal(plan.what, 'A rotation of postgres-app would set a new password on PostgreSQL role app, write version 8 of secret/databases/postgres/app and restart Deployment production/api.')
  t.match(plan.action, /^Nothing was changed/)
})

t.test('templates never throw on unexpected data, nor print what they could not read', async (t) => {
  const odd = { secrets: [null, 1, { secret: 5 }], findings: [null, { object: 'x', count: 'many' }], certificates: [{ expiresInSeconds: 'soon' }], policies: [{ deleted: '3' }], objects: [{}], actions: [{}], targets: [{}], sets: [{}], checks: [{}], workloads: [{}], consumers: [{}], rollback: [{}], counts: 'x', scanned: [1], vault: 'x', target: 5, plan: 'x', labels: 'x', artifact: 7, dryRun: true }
  for (const def of outbound) {
    for (const data of [{}, null, 'text', [1, 2], odd]) {
      const render = () => renderMessage({ type: def.type, subject: undefined, data, time: EXAMPLE_TIME })
      t.doesNotThrow(render, `${def.type} with ${JSON.stringify(data).slice(0, 30)}`)
      const text = logLine(render(), noCounts, 'prod-eu1')
      t.notMatch(text, /undefined|NaN|\[object Object\]/, `${def.type}: nothing unreadable printed`)
    }
  }
})

t.test('a rotation that failed and was not rolled back is critical and says what to fix by hand', async (t) => {
  const example = exampleData('dev.caretaker.secret.rotation.failed', {})
  const m = renderMessage({ type: 'dev.caretaker.secret.rotation.failed', subject: 'postgres-app', data: example.data, time: EXAMPLE_TIME })
  t.equal(m.severity, 'critical')
  t.equal(m.title, 'Secret rotation FAILED: postgres-app (step sync, NOT rolled back)')
  t.match(m.what, /The rollback did NOT complete \(undo of write failed\); Vault holds the new value/)
  t.match(m.action, /^Fix by hand now: .*Vault and the target both keep the NEW credential: make sure every ExternalSecret has synced it and every consumer has restarted with it/)
  t.match(m.action, /fix the cause of the sync failure: the ExternalSecret/)
  t.match(m.facts, [{ label: 'Failed step', value: 'sync' }, { label: 'Rolled back', value: 'NO' }, { label: 'Undo', value: 'write FAILED, apply ok' }])

  const targetKeepsNew = renderMessage({ type: 'dev.caretaker.secret.rotation.failed', subject: 'postgres-app', data: { ...(example.data as object), failedStep: 'restart', credentialInVault: 'previous', rollback: [{ step: 'write', ok: true, message: 'ok' }, { step: 'apply', ok: false, message: 'refused' }] }, time: EXAMPLE_TIME })
  t.equal(targetKeepsNew.severity, 'critical')
  t.match(targetKeepsNew.action, /set the target's password back to the value in Vault now/)

  const rolledBack = renderMessage({ type: 'dev.caretaker.secret.rotation.failed', subject: 'postgres-app', data: { secret: 'postgres-app', trigger: 'sweep', failedStep: 'verify', reason: 'login failed (28P01)', changed: true, rolledBack: true, credentialInVault: 'previous', rollback: [{ step: 'apply', ok: true, message: 'the previous credential is back' }] }, time: EXAMPLE_TIME })
  t.equal(rolledBack.severity, 'warning', 'rolled back: nothing is broken')
  t.equal(rolledBack.title, 'Secret rotation FAILED: postgres-app (step verify, rolled back)')
  t.match(rolledBack.action, /^Nothing is broken; postgres-app was not rotated and stays due\. Fix the cause: why the new credential cannot log in/)

  const locked = renderMessage({ type: 'dev.caretaker.secret.rotation.failed', subject: 'redis-app', data: { secret: 'redis-app', trigger: 'request', failedStep: 'lock', reason: 'another rotation of redis-app holds its lock; nothing was changed', changed: false, rolledBack: true, credentialInVault: 'previous', heldBy: 'rotate-secret-7f9' }, time: EXAMPLE_TIME })
  t.equal(locked.severity, 'warning')
  t.equal(locked.title, 'Secret rotation not started: redis-app (another rotation holds the lock)')
  t.match(locked.action, /Lease rotate-secret\.redis-app is stale/)
})

t.test('the health report counts its findings and names the first ones', async (t) => {
  const example = exampleData('dev.caretaker.health.reported', {})
  const m = renderMessage({ type: 'dev.caretaker.health.reported', subject: undefined, data: example.data, time: EXAMPLE_TIME })
  t.equal(m.severity, 'critical')
  t.equal(m.title, 'Cluster health CRITICAL: 2 critical findings, 4 warnings')
  t.match(m.what, /^Critical: Node worker-3 \(NodeStatusUnknown\); Job backups\/redis-backup-29400120 \(BackupFailed\)\. Warning: .* and 1 more\.$/)
  t.equal(m.where, 'node worker-3; namespaces backups, monitoring, production')
  t.match(m.action, /^Act now on the critical ones: `kubectl describe node worker-3`/)
  t.match(m.facts, [{ label: 'Critical', value: '2' }, { label: 'Warning', value: '4' }, { label: 'By check', value: 'nodes 1, backups 1, certificates 1, pods 1, pvcs 1, events 1' }])
  const degraded = renderMessage({ type: 'dev.caretaker.health.reported', subject: undefined, data: { status: 'degraded', checkedAt: EXAMPLE_TIME, checks: ['pods'], counts: { critical: 0, warning: 1 }, findings: [{ check: 'pods', severity: 'warning', object: { kind: 'Pod', namespace: 'production', name: 'api-1' }, reason: 'ImagePullBackOff', message: 'phase Pending' }] }, time: EXAMPLE_TIME })
  t.equal(degraded.severity, 'warning')
  t.equal(degraded.title, 'Cluster health degraded: 1 warning')
  t.match(degraded.action, /kubectl describe pod -n production api-1/)
  const healthy = renderMessage({ type: 'dev.caretaker.health.reported', subject: undefined, data: { status: 'healthy', checkedAt: EXAMPLE_TIME, checks: ['nodes', 'pods'], counts: { critical: 0, warning: 0 }, findings: [] }, time: EXAMPLE_TIME })
  t.equal(healthy.severity, 'info')
  t.equal(healthy.title, 'Cluster health OK: 2 checks passed')
  t.equal(healthy.action, 'Nothing to do.')
})

t.test('an expiring certificate says when, what was done, and what to run', async (t) => {
  const example = exampleData('dev.caretaker.certificate.expiring', {})
  const m = renderMessage({ type: 'dev.caretaker.certificate.expiring', subject: 'production/api-tls', data: example.data, time: EXAMPLE_TIME })
  t.equal(m.severity, 'warning')
  t.equal(m.title, 'Certificate expiring in 6d 3h: production/api-tls')
  t.equal(m.what, 'production/api-tls expires at 2026-11-28 09:12 UTC, within the 14d threshold; a renewal was requested earlier and has not succeeded yet.')
  t.match(m.action, /`cmctl renew -n production api-tls`/)
  const expired = renderMessage({ type: 'dev.caretaker.certificate.expiring', subject: 'production/api-tls', data: { ...(example.data as object), notAfter: '2026-11-22T04:00:00.000Z', expiresInSeconds: -7200, severity: 'critical', ready: false, readyReason: 'Expired', readyMessage: 'Certificate expired' }, time: EXAMPLE_TIME })
  t.equal(expired.severity, 'critical')
  t.equal(expired.title, 'Certificate EXPIRED: production/api-tls (2h ago)')
  t.match(expired.action, /^Clients get TLS errors now\. cert-manager cannot issue it: `cmctl status certificate -n production api-tls`/)
  const report = renderMessage({ type: 'dev.caretaker.certificates.reported', subject: undefined, data: exampleData('dev.caretaker.certificates.reported', {}).data, time: EXAMPLE_TIME })
  t.equal(report.title, 'Certificates: 1 expiring, 1 not Ready (of 6)')
  t.equal(report.what, 'Expiring: production/api-tls (in 6d 3h). Not Ready: staging/web-tls (DoesNotExist). Renewal requested for 1 Certificate.')
})

t.test('lists are summarised, never dumped', async (t) => {
  const objects = Array.from({ length: 500 }, (_, i) => ({ kind: 'Job', namespace: 'batch', name: `job-${i}`, action: 'deleted', reasons: ['finished more than 7d ago'] }))
  const m = renderMessage({ type: 'dev.caretaker.resources.cleaned', subject: undefined, data: { dryRun: false, capReached: false, counts: { deleted: 500 }, objects }, time: EXAMPLE_TIME })
  t.equal(m.title, 'Clean-up: 500 deleted (500 Jobs)')
  t.equal(m.what, 'Deleted 500 Jobs: batch/job-0, batch/job-1, batch/job-2 and 497 more.')
  const findings = Array.from({ length: 300 }, (_, i) => ({ check: 'pods', severity: 'warning', object: { kind: 'Pod', namespace: 'ns', name: `p-${i}` }, reason: 'Evicted', message: 'x' }))
  const h = renderMessage({ type: 'dev.caretaker.health.reported', subject: undefined, data: { status: 'degraded', checkedAt: EXAMPLE_TIME, checks: ['pods'], counts: { critical: 0, warning: 300 }, findings }, time: EXAMPLE_TIME })
  t.ok(h.what.length < 300, 'the health report stays short')
  t.match(h.what, /and 297 more/)
})

t.test('no field holding a secret value is ever printed', async (t) => {
  for (const def of outbound) {
    const example = exampleData(def.type, def.schema)
    const data = example.data && typeof example.data === 'object' ? { ...(example.data as object), password: 'pw-S3CRET', token: 'tok-S3CRET', value: 'val-S3CRET' } : example.data
    const m = renderMessage({ type: def.type, subject: example.subject, data, time: EXAMPLE_TIME })
    t.notMatch(logLine(m, noCounts, 'prod-eu1'), /S3CRET/, def.type)
  }
})

t.teardown(() => {
  if (updating) writeFileSync(SNAPSHOTS, `${JSON.stringify({ ...recorded, ...current }, null, 2)}\n`)
})

t.test('the weekly health digest names the trends and the recurring problems', async (t) => {
  const example = exampleData('dev.caretaker.health.digest', {})
  const m = renderMessage({ type: 'dev.caretaker.health.digest', subject: undefined, data: example.data, time: EXAMPLE_TIME })
  t.equal(m.severity, 'warning')
  t.equal(m.title, 'Weekly health digest 2026-11-16 – 2026-11-22: 3 degraded, 3 critical, 2 recurring problems')
  t.match(m.what, /^Findings: critical 0 → 2, warning 3 → 4\. Rising: backups 0 → 1\. Falling: pods 2 → 1\. Recurring: pods CrashLoopBackOff Pod production\/api-7d9c5-x2kqp \(6 days\)/)
  t.match(m.what, /Resolved: pods Evicted Pod production\/web-5f6d8-k2j9x\./)
  t.same(m.facts.map((f) => `${f.label}=${f.value}`), ['Days reported=6 of 7', 'Missing=2026-11-19', 'Latest status=critical', 'Findings this week=19', 'Week before=13 in 7 days'])
  const none = renderMessage({ type: 'dev.caretaker.health.digest', subject: undefined, data: { kind: 'weekly', from: '2026-11-16', to: '2026-11-22', reported: 0, missing: [], status: 'unknown', days: [], trends: [], recurring: [] }, time: EXAMPLE_TIME })
  t.equal(none.title, 'Weekly health digest: no daily report recorded')
  t.match(none.what, /history ConfigMap/)
})

t.test('the weekly health digest tells the raw figures: restarts, failed backup Jobs, volumes filling up, firing alerts', async (t) => {
  const example = exampleData('dev.caretaker.health.digest', {})
  const figures = {
    restarts: { days: [{ day: '2026-11-20', count: 12, containers: 1 }, { day: '2026-11-22', count: 41, containers: 4 }], total: 53, previousWeek: { days: 7, total: 20 } },
    backupJobs: { days: [{ day: '2026-11-20', failed: 0, succeeded: 1 }, { day: '2026-11-22', failed: 1, succeeded: 0 }], failed: 1, succeeded: 1 },
    fill: [
      { volume: 'production/data', from: '2026-11-16', to: '2026-11-22', first: 60, last: 79, perWeek: 22.2, daysToFull: 6, soon: true },
      { volume: 'Node/worker-1', from: '2026-11-16', to: '2026-11-22', first: 50, last: 51, perWeek: 1.2, daysToFull: 294 },
      { volume: 'databases/old', from: '2026-11-16', to: '2026-11-22', first: 80, last: 70, perWeek: -11.7 },
    ],
    alerts: { days: [{ day: '2026-11-20', firing: 3, bySeverity: { warning: 3 } }, { day: '2026-11-22', firing: 5, bySeverity: { warning: 4, critical: 1 } }] },
  }
  const m = renderMessage({ type: 'dev.caretaker.health.digest', subject: undefined, data: { ...example.data as Record<string, unknown>, recurring: [], figures }, time: EXAMPLE_TIME })
  t.match(m.what, /Restarts per day: 12, 41 \(53 this week, 20 the week before in 7 days\)\. Failed backup Jobs per day: 0, 1 \(1 failed, 1 succeeded\)\. Filling up: production\/data 60% → 79% \(\+22\.2 pp\/week, full in ~6 days\)\. Growing: Node\/worker-1 50% → 51% \(\+1\.2 pp\/week, full in ~294 days\)\. Firing alerts per day: 3, 5\.$/)
  t.notMatch(m.what, /databases\/old/, 'a shrinking volume is not told')
  t.equal(m.severity, 'warning', 'a volume full within the horizon is worth a look')
  t.match(m.action, /^A volume fills up within the horizon at this week's pace: grow it or free space\.$/)
  t.match(m.facts, [{}, {}, {}, {}, {}, { label: 'Restarts this week', value: '53' }, { label: 'Soonest full', value: 'production/data 60% → 79% (+22.2 pp/week, full in ~6 days)' }])
})
