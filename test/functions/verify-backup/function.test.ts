import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { BatchV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import verifyBackup from '../../../functions/verify-backup/index.ts'
import { configSchema, type VerifyBackupConfig } from '../../../functions/verify-backup/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction, type TestFunction } from '../../../sandbox/harness/function.ts'
import { etcdSkipReason } from '../../../sandbox/harness/etcd.ts'
import { postgresSkipReason } from '../../../sandbox/harness/postgres.ts'
import { redisSkipReason } from '../../../sandbox/harness/redis.ts'
import { startReceiver } from '../../mesh/receiver.ts'
import { HOLD_ANNOTATION } from '../../../sandbox/simulators/kubernetes/controllers.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'
import { buildRealArtifacts, place } from './artifacts.ts'

// verify-backup end to end through the runtime over HTTP: its three
// triggers, with the Kubernetes simulator holding the CronJobs, Jobs and
// Longhorn Backups and enforcing exactly the RBAC of the manifest.

const HOUR = 3_600_000
const upstream = new URL('../../../../shared/upstream/events/knative/', import.meta.url)

const skip = postgresSkipReason() || redisSkipReason() || etcdSkipReason()
if (skip) {
  t.pass(`skipped: ${skip}`)
} else {
  const art = await buildRealArtifacts()
  const root = await mkdtemp(join(tmpdir(), 'caretaker-backups-'))
  t.teardown(async () => {
    await art.cleanup()
    await rm(root, { recursive: true, force: true })
  })
  const dir = (set: string) => join(root, set)
  await place(art.pgDump, dir('postgresql'), 'all_databases_20261122_020000.sql.gz', 3 * HOUR)
  await place(art.etcdSnapshot, dir('etcd'), 'etcd_20261122_010000.db', 4 * HOUR)
  await place(art.etcdSnapshot, dir('etcd'), 'etcd_20261118_010000.db', 100 * HOUR)
  await place(art.redisRdb, dir('redis'), 'dump_20261120_030000.rdb', 50 * HOUR)
  await place(art.vaultSnapshot, dir('vault'), 'vault_20261122_020000.snap', 3 * HOUR)
  await place(art.gitBundle, dir('gitea'), 'gitea_20261120.bundle', 40 * HOUR)

  const config: VerifyBackupConfig = validateConfig({
    sets: [
      { name: 'postgresql', format: 'pg-dumpall-gzip', directory: dir('postgresql'), pattern: 'all_databases_*.sql.gz', rpo: '24h', cronJob: { namespace: 'databases', name: 'postgres-backup' },
        restore: { timeout: '2m', databases: ['app'], queries: [{ database: 'app', sql: 'select count(*) from orders', min: 1 }] } },
      { name: 'etcd', format: 'etcd-snapshot', directory: dir('etcd'), pattern: 'etcd_*.db', rpo: '24h', cronJob: { namespace: 'kube-system', name: 'etcd-backup' } },
      { name: 'redis', format: 'redis-rdb', directory: dir('redis'), pattern: 'dump_*.rdb', rpo: '24h', cronJob: { namespace: 'databases', name: 'redis-backup' } },
      { name: 'vault', format: 'vault-raft-snapshot', directory: dir('vault'), pattern: 'vault_*.snap', rpo: '24h', cronJob: { namespace: 'vault', name: 'vault-backup' } },
      { name: 'gitea', format: 'git-bundle', directory: dir('gitea'), pattern: 'gitea_*.bundle', rpo: '7d' },
      { name: 'longhorn', format: 'longhorn', rpo: '24h', longhorn: { namespace: 'longhorn-system', volumes: ['pvc-postgres-data'] } },
      { name: 'longhorn-gitea', format: 'longhorn', rpo: '24h', longhorn: { namespace: 'longhorn-system', volumes: ['pvc-gitea-data'] } },
    ],
  }, configSchema, 'test')

  const kube = await startKubernetesSimulator()
  t.teardown(() => kube.close())
  const admin = kube.kubeConfig()
  // Exactly the RBAC the manifest grants.
  const rbac = parseAllDocuments(await readFile(new URL('../../../manifests/verify-backup/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)
  for (const ns of ['caretaker', 'kube-system', 'databases', 'vault', 'gitea', 'longhorn-system']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  for (const obj of rbac) kube.store.seed(obj)
  const cronJob = (namespace: string, name: string) => kube.store.seed({
    apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name, namespace },
    spec: { schedule: '0 2 * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'backup', image: 'postgres:16' }] } } } } },
  })
  const pgCron = cronJob('databases', 'postgres-backup')
  cronJob('databases', 'redis-backup')
  cronJob('kube-system', 'etcd-backup')
  cronJob('vault', 'vault-backup')
  const job = (name: string, owner: Record<string, unknown>, state: 'Complete' | 'Failed' | 'running') => {
    const meta = owner.metadata as { name: string; namespace: string; uid: string }
    const now = new Date().toISOString()
    return kube.store.seed({
      apiVersion: 'batch/v1', kind: 'Job',
      metadata: {
        name, namespace: meta.namespace, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: meta.name, uid: meta.uid, controller: true }],
        // A running Job stays running however slow the machine: the simulated job controller would finish it otherwise.
        ...(state === 'running' ? { annotations: { [HOLD_ANNOTATION]: 'true' } } : {}),
      },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'backup', image: 'postgres:16' }] } } },
      status: state === 'running' ? { active: 1, startTime: now } : {
        startTime: now, ...(state === 'Complete' ? { succeeded: 1, completionTime: now } : { failed: 1 }),
        conditions: [{ type: state, status: 'True', lastProbeTime: now, lastTransitionTime: now, ...(state === 'Failed' ? { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' } : {}) }],
      },
    })
  }
  const customs = admin.makeApiClient(CustomObjectsApi)
  const longhornBackup = async (name: string, volume: string, status: Record<string, unknown>) => {
    const target = { group: 'longhorn.io', version: 'v1beta2', namespace: 'longhorn-system', plural: 'backups' }
    await customs.createNamespacedCustomObject({ ...target, body: { apiVersion: 'longhorn.io/v1beta2', kind: 'Backup', metadata: { name, namespace: 'longhorn-system' }, spec: { snapshotName: `snap-${name}` } } })
    await customs.patchNamespacedCustomObjectStatus({ ...target, name, body: { status: { volumeName: volume, ...status } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
  }
  await longhornBackup('backup-pg-1', 'pvc-postgres-data', { state: 'Completed', backupCreatedAt: new Date(Date.now() - 29 * HOUR).toISOString(), size: '104857600' })
  await longhornBackup('backup-pg-2', 'pvc-postgres-data', { state: 'Completed', backupCreatedAt: new Date(Date.now() - 5 * HOUR).toISOString(), size: '110100480' })
  await longhornBackup('backup-gitea-1', 'pvc-gitea-data', { state: 'Error', error: 'backup target unreachable', backupCreatedAt: new Date(Date.now() - 2 * HOUR).toISOString() })

  const sink = await startReceiver(() => ({ status: 202 }))
  t.teardown(() => sink.close())
  const token = kube.mintServiceAccountToken('caretaker', 'verify-backup')
  const fn: TestFunction = await startTestFunction(verifyBackup, {
    config,
    env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token, CARETAKER_DRY_RUN: 'false', K_SINK: `${sink.url}/broker` },
  })
  t.teardown(() => fn.stop())

  const send = async (type: string, data: unknown, extra: Record<string, string> = {}) => {
    const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(type, extra), body: JSON.stringify(data) })
    const text = await res.text()
    return { status: res.status, type: res.headers.get('ce-type'), subject: res.headers.get('ce-subject'), body: text ? JSON.parse(text) as Record<string, unknown> : undefined }
  }
  const eventsOn = async (namespace: string, name: string) =>
    (await admin.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace })).items.filter((e) => e.involvedObject.name === name)
  const metricValue = async (name: string, set: string): Promise<number | undefined> => {
    const text = await (await fetch(`${fn.url}/metrics`)).text()
    const m = new RegExp(`^${name}\\{set="${set}"\\} (\\S+)$`, 'm').exec(text)
    return m ? Number(m[1]) : undefined
  }

  t.test('a manual request verifies one set, restore test included', async (t) => {
    const res = await send('dev.caretaker.backup.verify.requested', { set: 'postgresql' })
    t.equal(res.status, 200)
    t.equal(res.type, 'dev.caretaker.backup.verified')
    t.equal(res.subject, 'postgresql')
    const checks = res.body?.checks as Array<{ check: string; ok: boolean }>
    t.same(checks.map((c) => c.check), ['presence', 'age', 'size', 'integrity', 'restore'])
    t.equal((res.body?.artifact as { name: string }).name, 'all_databases_20261122_020000.sql.gz')
    const events = await eventsOn('databases', 'postgres-backup')
    t.equal(events.length, 1, 'a Kubernetes Event is recorded on the CronJob')
    t.equal(events[0]?.reason, 'BackupVerified')
    t.equal(events[0]?.involvedObject.uid, (pgCron.metadata as { uid: string }).uid, 'attached to the CronJob by uid')
    t.equal(await metricValue('caretaker_backup_last_verification_success', 'postgresql'), 1)
    t.ok((await metricValue('caretaker_backup_newest_artifact_size_bytes', 'postgresql'))! > 0)
  })

  t.test('a stale set fails with the failed check named', async (t) => {
    const res = await send('dev.caretaker.backup.verify.requested', { set: 'redis' })
    t.equal(res.status, 200, 'a failed backup is a successful verification: not retried')
    t.equal(res.type, 'dev.caretaker.backup.verification.failed')
    t.equal(res.body?.failedCheck, 'age')
    t.equal(await metricValue('caretaker_backup_last_verification_success', 'redis'), 0)
    const events = await eventsOn('databases', 'redis-backup')
    t.equal(events[0]?.type, 'Warning')
    t.equal(events[0]?.reason, 'BackupVerificationFailed')
  })

  t.test('a manual request may name one artifact', async (t) => {
    const res = await send('dev.caretaker.backup.verify.requested', { path: join(dir('etcd'), 'etcd_20261122_010000.db') })
    t.equal(res.type, 'dev.caretaker.backup.verified')
    t.equal(res.subject, 'etcd')
  })

  t.test('a request naming an older artifact verifies that one, and leaves the set\'s newest-artifact metrics alone', async (t) => {
    const age = await metricValue('caretaker_backup_newest_artifact_age_seconds', 'etcd')
    t.ok(age !== undefined && age < 5 * 3600, 'the newest etcd snapshot, 4 hours old, was verified before')
    const res = await send('dev.caretaker.backup.verify.requested', { path: join(dir('etcd'), 'etcd_20261118_010000.db') })
    t.equal(res.type, 'dev.caretaker.backup.verified', 'not failed on the set\'s RPO: it is not the set\'s newest')
    t.match(res.body, { artifact: { name: 'etcd_20261118_010000.db' }, newestArtifact: 'etcd_20261122_010000.db' })
    const checks = res.body?.checks as Array<{ check: string; message: string }>
    t.match(checks.find((c) => c.check === 'age')?.message, /^etcd_20261118_010000\.db is 4d 4h old \(by its modification time\); a requested artifact older than the newest \(etcd_20261122_010000\.db\)/)
    t.equal(await metricValue('caretaker_backup_newest_artifact_age_seconds', 'etcd'), age, 'the newest artifact\'s age gauge is not this one\'s')
  })

  t.test('bad requests are 400s that say what to fix, and verify nothing', async (t) => {
    const before = await metricValue('caretaker_backup_last_verification_timestamp_seconds', 'etcd')
    const unknown = await send('dev.caretaker.backup.verify.requested', { set: 'mongodb' })
    t.equal(unknown.status, 400)
    t.equal(unknown.body?.error, 'invalid_request')
    t.match(String(unknown.body?.message), /no backup set named "mongodb"; configured sets: postgresql, etcd/)
    const outside = await send('dev.caretaker.backup.verify.requested', { path: '/etc/passwd' })
    t.equal(outside.status, 400, 'a path outside every set\'s directory is refused, never read')
    const escape = await send('dev.caretaker.backup.verify.requested', { path: join(dir('etcd'), '..', '..', 'etc', 'etcd_x.db') })
    t.equal(escape.status, 400, 'so is one that climbs out with ..')
    const neither = await send('dev.caretaker.backup.verify.requested', {})
    t.equal(neither.status, 400)
    t.equal(neither.body?.error, 'invalid_event_data', 'data naming neither set nor path fails its schema')
    t.equal(await metricValue('caretaker_backup_last_verification_timestamp_seconds', 'etcd'), before)
  })

  t.test('a completed backup Job verifies its set, once', async (t) => {
    const sample = existsSync(new URL('apiserversource-resource-update-k8s-event.structured.json', upstream))
      ? JSON.parse(await readFile(new URL('apiserversource-resource-update-k8s-event.structured.json', upstream), 'utf8')) as Record<string, string>
      : undefined
    if (!sample) {
      if (process.env.CI === 'true') t.fail('../shared/upstream/events/knative/ is missing')
      else t.comment('../shared/upstream/events/knative/ is absent: the ApiServerSource attributes are written out here instead')
    }
    const done = job('postgres-backup-29400120', pgCron, 'Complete')
    const meta = done.metadata as { name: string; namespace: string }
    // The attributes an ApiServerSource in Resource mode sends (as in the upstream sample).
    const attrs = {
      'ce-source': sample?.source ?? 'https://10.96.0.1:443',
      'ce-subject': `/apis/batch/v1/namespaces/${meta.namespace}/jobs/${meta.name}`,
      'ce-kind': 'Job', 'ce-name': meta.name, 'ce-namespace': meta.namespace,
    }
    const eventsBefore = (await eventsOn('databases', 'postgres-backup')).length
    const first = await send('dev.knative.apiserver.resource.update', done, { ...attrs, 'ce-id': 'job-event-1' })
    t.equal(first.type, 'dev.caretaker.backup.verified')
    t.equal(first.body?.trigger, `job:${meta.name}`)
    const again = await send('dev.knative.apiserver.resource.update', done, { ...attrs, 'ce-id': 'job-event-1' })
    t.equal(again.status, 200, 'a redelivered event gets the recorded reply')
    const later = await send('dev.knative.apiserver.resource.update', done, { ...attrs, 'ce-id': 'job-event-2' })
    t.equal(later.status, 204, 'a later update of the same finished Job does not verify again')
    t.equal((await eventsOn('databases', 'postgres-backup')).length, eventsBefore + 1, 'one verification, one Event')

    const running = job('postgres-backup-29400180', pgCron, 'running')
    t.equal((await send('dev.knative.apiserver.resource.update', running, { ...attrs, 'ce-id': 'job-event-3' })).status, 204, 'a running Job is not verified yet')

    const failed = job('postgres-backup-29400240', pgCron, 'Failed')
    const res = await send('dev.knative.apiserver.resource.update', failed, { ...attrs, 'ce-id': 'job-event-4' })
    t.equal(res.type, 'dev.caretaker.backup.verification.failed', 'a failed backup Job is a failed backup')
    t.equal(res.body?.failedCheck, 'job')
    t.match((res.body?.checks as Array<{ message: string }>)[0]?.message, /BackoffLimitExceeded/)

    const other = job('report-29400120', cronJob('databases', 'nightly-report'), 'Complete')
    t.equal((await send('dev.knative.apiserver.resource.update', other, { ...attrs, 'ce-id': 'job-event-5' })).status, 204, 'Jobs of other CronJobs are ignored')
  })

  t.test('a forged Job event is not believed: the Job is read back from the API', async (t) => {
    const attrs = { 'ce-source': 'https://10.96.0.1:443', 'ce-kind': 'Job' }
    const metricBefore = await metricValue('caretaker_backup_last_verification_timestamp_seconds', 'postgresql')
    const verifications = async () => (await eventsOn('databases', 'postgres-backup')).filter((e) => e.reason?.startsWith('BackupVerif')).length
    const eventsBefore = await verifications()
    const nowIso = new Date().toISOString()
    const finishedCopy = (obj: Record<string, unknown>) => ({
      ...obj, status: { startTime: nowIso, succeeded: 1, completionTime: nowIso, conditions: [{ type: 'Complete', status: 'True', lastProbeTime: nowIso, lastTransitionTime: nowIso }] },
    })

    // The event says Complete; the API says the Job still runs.
    const running = job('postgres-backup-29400300', pgCron, 'running')
    const stillRunning = await send('dev.knative.apiserver.resource.update', finishedCopy(running), { ...attrs, 'ce-id': 'forged-1' })
    t.equal(stillRunning.status, 204, 'a Job still running in the API is not verified, whatever the event says')

    // The event names a Job the API does not have.
    const ghost = finishedCopy({ ...running, metadata: { ...(running.metadata as object), name: 'postgres-backup-29400360', uid: 'not-a-real-uid' } })
    t.equal((await send('dev.knative.apiserver.resource.update', ghost, { ...attrs, 'ce-id': 'forged-2' })).status, 204, 'a Job that does not exist is ignored')
    t.equal((await send('dev.knative.apiserver.ref.update', { kind: 'Job', namespace: 'databases', name: 'postgres-backup-29400420', apiVersion: 'batch/v1' }, { ...attrs, 'ce-id': 'forged-3' })).status, 204, 'in Reference mode too')

    // A finished Job of that name exists, but the event's uid is another one.
    const real = job('postgres-backup-29400480', pgCron, 'Complete')
    const otherUid = { ...real, metadata: { ...(real.metadata as object), uid: 'a-forged-uid' } }
    t.equal((await send('dev.knative.apiserver.resource.update', otherUid, { ...attrs, 'ce-id': 'forged-4' })).status, 204, 'a uid the API does not have is ignored')

    t.equal(await metricValue('caretaker_backup_last_verification_timestamp_seconds', 'postgresql'), metricBefore, 'no verification ran')
    t.equal(await verifications(), eventsBefore, 'and no verification Event was recorded')
    t.ok(fn.logLines().some((l) => l.msg === 'the Job of the event does not exist: ignored'), 'said in the log')

    // The same Job, once the API says it finished, is verified.
    const genuine = await send('dev.knative.apiserver.resource.update', real, { ...attrs, 'ce-id': 'forged-5' })
    t.equal(genuine.type, 'dev.caretaker.backup.verified', 'the real finished Job is verified')
  })

  t.test('Reference mode: the Job is read through the API', async (t) => {
    const done = job('etcd-backup-29400060', (await admin.makeApiClient(BatchV1Api).readNamespacedCronJob({ namespace: 'kube-system', name: 'etcd-backup' })) as unknown as Record<string, unknown>, 'Complete')
    const meta = done.metadata as { name: string; namespace: string }
    const res = await send('dev.knative.apiserver.ref.update', { kind: 'Job', namespace: meta.namespace, name: meta.name, apiVersion: 'batch/v1' }, { 'ce-id': 'ref-1', 'ce-source': 'https://10.96.0.1:443' })
    t.equal(res.type, 'dev.caretaker.backup.verified')
    t.equal(res.subject, 'etcd')
  })

  t.test('the daily sweep verifies every set and emits one event per set', async (t) => {
    const before = sink.on('/broker').length
    const res = await send('dev.knative.sources.ping', {}, { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/verify-backup-sweep', 'ce-id': 'sweep-1' })
    t.equal(res.status, 200)
    t.equal(res.type, 'dev.caretaker.backup.sweep.completed')
    const sets = res.body?.sets as Array<{ set: string; verified: boolean; failedCheck?: string }>
    const names = ['postgresql', 'etcd', 'redis', 'vault', 'gitea', 'longhorn', 'longhorn-gitea']
    t.same(sets.map((s) => s.set), names)
    t.same(sets.filter((s) => !s.verified).map((s) => `${s.set}:${s.failedCheck}`), ['redis:age', 'longhorn-gitea:integrity'],
      'only the stale set and the volume whose Longhorn backup errored fail')
    t.same(res.body?.verified, 5)
    const emitted = sink.on('/broker').slice(before)
    t.equal(emitted.length, names.length, 'one event per set went to K_SINK')
    t.same(emitted.map((e) => e.headers['ce-subject']), names)
    t.equal(emitted[2]?.headers['ce-type'], 'dev.caretaker.backup.verification.failed')
  })

  t.test('Longhorn sets are read from the Backup objects', async (t) => {
    const good = await send('dev.caretaker.backup.verify.requested', { set: 'longhorn' })
    t.equal(good.type, 'dev.caretaker.backup.verified')
    t.match(good.body?.checks, [{ check: 'longhorn' }, { check: 'presence', message: /backup-pg-2/ }, { check: 'integrity' }, { check: 'age' }, { check: 'size' }], 'the newest Backup is the one checked')
    const bad = await send('dev.caretaker.backup.verify.requested', { set: 'longhorn-gitea' })
    t.equal(bad.body?.failedCheck, 'integrity')
    t.match((bad.body?.checks as Array<{ message: string }>).at(-1)?.message, /is Error: backup target unreachable/)
  })

  t.test('dry-run: the verification runs, no Event is written', async (t) => {
    const before = (await eventsOn('vault', 'vault-backup')).length
    const res = await send('dev.caretaker.backup.verify.requested', { set: 'vault' }, { 'ce-dryrun': 'true' })
    t.equal(res.type, 'dev.caretaker.backup.verified')
    t.equal((await eventsOn('vault', 'vault-backup')).length, before)
  })

  t.test('the backups are never modified', async (t) => {
    const after = await readFile(join(dir('postgresql'), 'all_databases_20261122_020000.sql.gz'))
    t.same(after, await readFile(art.pgDump), 'the dump is byte for byte what the backup wrote')
  })
}
