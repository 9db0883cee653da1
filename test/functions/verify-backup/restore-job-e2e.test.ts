import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { BatchV1Api, type V1Job } from '@kubernetes/client-node'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import verifyBackup from '../../../functions/verify-backup/index.ts'
import { configSchema, type VerifyBackupConfig } from '../../../functions/verify-backup/config.ts'
import { RESTORE_TEST_LABEL } from '../../../functions/verify-backup/restore-job.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { postgresSkipReason } from '../../../sandbox/harness/postgres.ts'
import { startReceiver } from '../../mesh/receiver.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'
import { ORDERS, pgDumpall, place } from './artifacts.ts'

// The restore test as a Kubernetes Job, end to end: verify-backup creates the
// Job (once, whatever the redeliveries), the simulator's kubelet stand-in runs
// it with this machine's PostgreSQL of the dump's major, and the Job's
// completion event brings the verdict with the query results. A dump whose
// SQL breaks fails in the Job; one cut short never gets a Job; one from a
// PostgreSQL major not installed here fails because its image cannot run.

const HOUR = 3_600_000
const skip = postgresSkipReason()
if (skip) {
  t.pass(`skipped: ${skip}`)
} else {
  const root = await mkdtemp(join(tmpdir(), 'caretaker-restore-job-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  // The Job runs as the postgres user (the image's uid): it reads the claim like any other user.
  await chmod(root, 0o755)
  const sql = await pgDumpall()
  const major = /^-- Dumped from database version (\d+)/m.exec(sql)![1]!
  const source = join(root, 'source.sql.gz')
  const write = async (name: string, text: string) => { await writeFile(join(root, name), gzipSync(text)); return join(root, name) }
  await writeFile(source, gzipSync(sql))
  const broken = await write('broken.sql.gz', sql.replace(/^COPY public\.orders /m, 'INSERT INTO no_such_table VALUES (1);\nCOPY public.orders '))
  const cut = await write('cut.sql.gz', sql.slice(0, Math.floor(sql.length / 2)))
  const old = await write('old.sql.gz', sql.replaceAll(/^-- Dumped from database version \S+/gm, '-- Dumped from database version 11.22'))
  for (const [set, file] of [['pg', source], ['pg-broken', broken], ['pg-cut', cut], ['pg-old', old]] as const) {
    await place(file, join(root, set), 'all_databases_20261122_020000.sql.gz', 3 * HOUR)
    await chmod(join(root, set), 0o755)
  }
  const pgSet = (name: string, min = 1) => ({
    name, format: 'pg-dumpall-gzip', directory: join(root, name), pattern: 'all_databases_*.sql.gz', rpo: '24h',
    restore: { mode: 'job', timeout: '2m', databases: ['app'], queries: [{ database: 'app', sql: 'select count(*) from orders', min }] },
  })
  const config: VerifyBackupConfig = validateConfig({
    sets: [pgSet('pg', ORDERS), pgSet('pg-broken'), pgSet('pg-cut'), pgSet('pg-old')],
    restoreJob: { backups: { claimName: 'backups', mountPath: root } },
  }, configSchema, 'test')

  const kube = await startKubernetesSimulator({ controllers: { kubelet: { volumes: { backups: root } } } })
  t.teardown(() => kube.close())
  // Exactly the RBAC the manifest grants.
  const rbac = parseAllDocuments(await readFile(new URL('../../../manifests/verify-backup/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)
  for (const ns of ['caretaker', 'kube-system', 'databases', 'vault', 'gitea', 'longhorn-system']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  for (const obj of rbac) kube.store.seed(obj)
  const batch = kube.kubeConfig().makeApiClient(BatchV1Api)

  const sink = await startReceiver(() => ({ status: 202 }))
  t.teardown(() => sink.close())
  const fn = await startTestFunction(verifyBackup, {
    config,
    env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'verify-backup'), CARETAKER_DRY_RUN: 'false', K_SINK: `${sink.url}/broker` },
  })
  t.teardown(() => fn.stop())

  const send = async (type: string, data: unknown) => {
    const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(type), body: JSON.stringify(data) })
    const text = await res.text()
    return { status: res.status, type: res.headers.get('ce-type'), body: text ? JSON.parse(text) as Record<string, unknown> : undefined }
  }
  const request = (set: string) => send('dev.caretaker.backup.verify.requested', { set })
  const finishedJob = async (name: string): Promise<V1Job> => {
    for (let i = 0; i < 600; i++) {
      const job = await batch.readNamespacedJob({ namespace: 'caretaker', name })
      if (job.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')) return job
      await new Promise((r) => setTimeout(r, 200))
    }
    throw new Error(`Job ${name} did not finish`)
  }
  // What the ApiServerSource (Resource mode) delivers when the Job changes.
  const completion = (job: V1Job) => send('dev.knative.apiserver.resource.update', { ...job, apiVersion: 'batch/v1', kind: 'Job' })
  const restoreCheck = (body: Record<string, unknown> | undefined) => (body?.checks as Array<{ check: string; ok: boolean; message: string; evidence: Record<string, unknown> }>).find((c) => c.check === 'restore')

  t.test('a good dump: the Job is created once, its completion verifies with the query results', async (t) => {
    const first = await request('pg')
    t.equal(first.status, 200)
    t.equal(first.type, 'dev.caretaker.backup.restore.started')
    const restore = first.body!.restore as { job: string; image: string; existing: boolean; namespace: string }
    t.equal(restore.image, `docker.io/library/postgres:${major}`, 'the image of the dump\'s own major version')
    t.equal(restore.existing, false)
    t.same((first.body!.checks as Array<{ check: string }>).map((c) => c.check), ['presence', 'age', 'size', 'integrity'], 'the verification so far')
    const again = await request('pg')
    t.equal(again.type, 'dev.caretaker.backup.restore.started')
    t.match(again.body!.restore, { job: restore.job, existing: true }, 'a redelivery finds the Job there')
    const jobs = await batch.listNamespacedJob({ namespace: 'caretaker', labelSelector: `${RESTORE_TEST_LABEL}=pg` })
    t.equal(jobs.items.length, 1, 'created once')

    const job = await finishedJob(restore.job)
    t.ok(job.status!.conditions!.some((c) => c.type === 'Complete'), 'the Job completed')
    const done = await completion(job)
    t.equal(done.type, 'dev.caretaker.backup.verified', JSON.stringify(restoreCheck(done.body)))
    const check = restoreCheck(done.body)!
    t.equal(check.ok, true)
    t.match(check.evidence, { job: restore.job, queries: [{ database: 'app', value: ORDERS, min: ORDERS, ok: true }] })
    t.equal(done.body!.trigger, `restore-job:${restore.job}`)
    const redelivered = await completion(job)
    t.equal(redelivered.type, null, 'the same completion delivered again is judged once')
  })

  t.test('a dump whose SQL breaks fails in the Job with psql\'s first error', async (t) => {
    const started = await request('pg-broken')
    t.equal(started.type, 'dev.caretaker.backup.restore.started')
    const job = await finishedJob((started.body!.restore as { job: string }).job)
    t.ok(job.status!.conditions!.some((c) => c.type === 'Failed'))
    const done = await completion(job)
    t.equal(done.type, 'dev.caretaker.backup.verification.failed')
    t.equal(done.body!.failedCheck, 'restore')
    t.match(restoreCheck(done.body)!.message, /the dump does not restore: .*no_such_table/)
  })

  t.test('a dump cut short fails its integrity check: no Job is made', async (t) => {
    const res = await request('pg-cut')
    t.equal(res.type, 'dev.caretaker.backup.verification.failed')
    t.equal(res.body!.failedCheck, 'integrity')
    const jobs = await batch.listNamespacedJob({ namespace: 'caretaker', labelSelector: `${RESTORE_TEST_LABEL}=pg-cut` })
    t.equal(jobs.items.length, 0)
  })

  t.test('a dump from PostgreSQL 11: no such image runs here, and the verdict says so', async (t) => {
    const started = await request('pg-old')
    t.equal(started.type, 'dev.caretaker.backup.restore.started')
    t.match(started.body!.restore, { image: 'docker.io/library/postgres:11' })
    const job = await finishedJob((started.body!.restore as { job: string }).job)
    const done = await completion(job)
    t.equal(done.type, 'dev.caretaker.backup.verification.failed')
    t.match(restoreCheck(done.body)!.message, /failed .*ErrImagePull: image docker\.io\/library\/postgres:11 is not available here/)
  })

  t.test('the sweep hands each job-mode set\'s restore to its Job and lists them', async (t) => {
    const res = await send('dev.knative.sources.ping', { sweep: 'daily' })
    t.equal(res.type, 'dev.caretaker.backup.sweep.completed')
    t.match(res.body, { verified: 0, failed: 1, sets: [{ set: 'pg-cut', verified: false, failedCheck: 'integrity' }] })
    t.same((res.body!.restoring as Array<{ set: string }>).map((r) => r.set), ['pg', 'pg-broken', 'pg-old'], 'the sets whose restore runs on in a Job')
    const jobs = await batch.listNamespacedJob({ namespace: 'caretaker' })
    t.equal(jobs.items.length, 3, 'the Jobs of the same artifacts are not made again')
  })
}
