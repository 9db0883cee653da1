import { BatchV1Api, type V1Job, type V1Pod } from '@kubernetes/client-node'
import t from 'tap'
import type { BackupSet, RestoreJobConfig } from '../../../functions/verify-backup/config.ts'
import {
  ARTIFACT_LABEL, artifactHash, parseRestoreResult, POSTGRES_IMAGE_UID, RESTORE_TEST_LABEL, restoreJob, restoreJobName, restoreVerdict, TERMINATION_MESSAGE_MAX, TERMINATION_MESSAGE_PATH,
} from '../../../functions/verify-backup/restore-job.ts'
import { kubernetesStatusCode } from '../../../shared/kubernetes/client.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// The restore Job's spec: pure, the same for the same artifact, accepted by
// the API server's validation; and the verdict read back from its Pod.

const config: RestoreJobConfig = {
  namespace: 'caretaker',
  image: 'docker.io/library/postgres:{major}',
  backups: { claimName: 'backups', mountPath: '/backups' },
  ttlSecondsAfterFinished: 3600,
  scratchSizeLimit: '20Gi',
  resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '2Gi' } },
}
const set: BackupSet = {
  name: 'postgresql', format: 'pg-dumpall-gzip', directory: '/backups/postgresql', pattern: 'all_*.sql.gz', rpo: '24h', minSizeBytes: 1, maxShrinkPercent: 50,
  restore: { mode: 'job', timeout: '8m', databases: ['app'], queries: [{ database: 'app', sql: 'select count(*) from orders', min: 100 }] },
}
const artifact = { name: 'all_20261122.sql.gz', path: '/backups/postgresql/all_20261122.sql.gz', size: 12345, modified: new Date('2026-11-22T02:00:00Z') }
const version = { server: '16.4 (Debian 16.4-1.pgdg120+2)', major: '16' }

t.test('the Job for one artifact', async (t) => {
  const job = restoreJob({ set, artifact, version, config, namespace: 'caretaker' })
  const hash = artifactHash(artifact)
  t.match(hash, /^[0-9a-f]{16}$/)
  t.equal(job.metadata!.name, `restore-postgresql-${hash}`)
  t.same(restoreJob({ set, artifact, version, config, namespace: 'caretaker' }), job, 'the same input gives the same Job (a redelivery creates nothing new)')
  t.not(restoreJob({ set, artifact: { ...artifact, size: 12346 }, version, config, namespace: 'caretaker' }).metadata!.name, job.metadata!.name, 'another version of the file is another Job')
  t.equal(job.metadata!.namespace, 'caretaker')
  t.equal(job.metadata!.labels![RESTORE_TEST_LABEL], 'postgresql')
  t.equal(job.metadata!.labels![ARTIFACT_LABEL], hash)
  t.same(job.spec!.template.metadata!.labels, job.metadata!.labels)
  t.equal(job.spec!.backoffLimit, 0)
  t.equal(job.spec!.activeDeadlineSeconds, 480, 'the set\'s restore timeout')
  t.equal(job.spec!.ttlSecondsAfterFinished, 3600)
  const pod = job.spec!.template.spec!
  t.equal(pod.restartPolicy, 'Never')
  t.match(pod.securityContext, { runAsNonRoot: true, runAsUser: POSTGRES_IMAGE_UID, fsGroup: POSTGRES_IMAGE_UID })
  const c = pod.containers[0]!
  t.equal(c.image, 'docker.io/library/postgres:16', 'the image of the dump\'s own major version')
  t.equal(c.terminationMessagePath, TERMINATION_MESSAGE_PATH)
  t.same(c.resources, config.resources)
  t.match(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true })
  t.same(c.volumeMounts!.find((m) => m.name === 'backups'), { name: 'backups', mountPath: '/backups', readOnly: true })
  t.same(pod.volumes!.find((v) => v.name === 'backups')!.persistentVolumeClaim, { claimName: 'backups', readOnly: true })
  t.ok(pod.volumes!.find((v) => v.name === 'work')!.emptyDir)
  const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]))
  t.same(env, { DUMP: artifact.path, WORK: '/restore', TERMINATION_LOG: TERMINATION_MESSAGE_PATH, REQUIRED_DATABASES: 'app', QUERY_COUNT: '1', QUERY_0_DATABASE: 'app', QUERY_0_SQL: 'select count(*) from orders' }, 'inputs as environment, never spliced into the script')
  t.match(c.command, ['/bin/sh', '-c', /ON_ERROR_STOP=1/])
})

t.test('Job names are DNS labels, whatever the set is called', async (t) => {
  const long = restoreJobName('a'.repeat(63), '0123456789abcdef')
  t.ok(long.length <= 63, long)
  t.match(long, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
  t.equal(restoreJobName('pg_main.eu', '0123456789abcdef'), 'restore-pg-main-eu-0123456789abcdef')
})

t.test('the API server accepts the Job once; the second create is a 409', async (t) => {
  const sim = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => sim.close())
  const batch = sim.kubeConfig().makeApiClient(BatchV1Api)
  const job = restoreJob({ set, artifact, version, config, namespace: 'caretaker' })
  const created = await batch.createNamespacedJob({ namespace: 'caretaker', body: job })
  t.equal(created.metadata!.name, job.metadata!.name)
  const again = await batch.createNamespacedJob({ namespace: 'caretaker', body: job }).then(() => 201, (err: unknown) => kubernetesStatusCode(err))
  t.equal(again, 409)
})

const finished = (type: 'Complete' | 'Failed', reason: string, message = ''): V1Job => ({
  ...restoreJob({ set, artifact, version, config, namespace: 'caretaker' }),
  status: { conditions: [{ type, status: 'True', reason, message }] },
})
const podWith = (message: string | undefined, waiting?: { reason: string; message: string }): V1Pod => ({
  metadata: { name: 'p' },
  status: { containerStatuses: [{ name: 'restore', image: 'x', imageID: '', ready: false, restartCount: 0, state: waiting ? { waiting } : { terminated: { exitCode: message ? 0 : 1, ...(message === undefined ? {} : { message }) } } }] },
})

t.test('the verdict from the Job and its Pod', async (t) => {
  const ok = restoreVerdict(set, finished('Complete', 'CompletionsReached'), podWith('{"v":1,"ok":true,"stage":"done","values":["250"],"restoreSeconds":3}'))
  t.equal(ok.ok, true, ok.message)
  t.match(ok.evidence, { queries: [{ database: 'app', value: 250, min: 100, ok: true }], image: 'docker.io/library/postgres:16' })

  const low = restoreVerdict(set, finished('Complete', 'CompletionsReached'), podWith('{"v":1,"ok":true,"stage":"done","values":["3"]}'))
  t.equal(low.ok, false)
  t.match(low.message, /returned 3, below the minimum 100/, 'the minimum is judged by the function, not believed from the Job')

  const sql = restoreVerdict(set, finished('Failed', 'BackoffLimitExceeded'), podWith('{"v":1,"ok":false,"stage":"restore","error":"ERROR:  relation \\"no_such_table\\" does not exist"}'))
  t.match(sql.message, /the dump does not restore: ERROR: {2}relation "no_such_table"/)

  const missing = restoreVerdict(set, finished('Failed', 'BackoffLimitExceeded'), podWith('{"v":1,"ok":false,"stage":"databases","missing":["app"]}'))
  t.match(missing.message, /database\(s\) app are missing/)

  const deadline = restoreVerdict(set, finished('Failed', 'DeadlineExceeded', 'Job was active longer than specified deadline'), podWith(undefined))
  t.equal(deadline.ok, false)
  t.match(deadline.message, /failed \(DeadlineExceeded: Job was active longer than specified deadline\)/)
  t.equal(deadline.evidence.reason, 'DeadlineExceeded')
  const gone = restoreVerdict(set, finished('Failed', 'DeadlineExceeded', 'Job was active longer than specified deadline'), undefined)
  t.match(gone.message, /is docker\.io\/library\/postgres:16 pullable from the cluster\?/, 'a Pod deleted at the deadline: the image is named as a suspect')

  const pull = restoreVerdict(set, finished('Failed', 'BackoffLimitExceeded'), podWith(undefined, { reason: 'ErrImagePull', message: 'image postgres:11 not found' }))
  t.match(pull.message, /ErrImagePull: image postgres:11 not found/)

  const none = restoreVerdict(set, finished('Failed', 'BackoffLimitExceeded'), undefined)
  t.match(none.message, /failed \(BackoffLimitExceeded/)
})

t.test('a result that does not fit the termination message', async (t) => {
  const cut = '{"v":1,"ok":true,"values":["' + 'x'.repeat(TERMINATION_MESSAGE_MAX) 
  t.match(parseRestoreResult(cut.slice(0, TERMINATION_MESSAGE_MAX)), { problem: /cut at 4096 bytes/ })
  t.match(parseRestoreResult(''), { problem: /empty/ })
  t.match(parseRestoreResult('{"ok":true}'), { problem: /not a version 1/ })
  t.match(parseRestoreResult('{"v":1,"ok":true,"stage":"done"}'), { result: { ok: true } })
})

t.test('config: a job-mode set', async (t) => {
  const { checkConfig } = await import('../../../functions/verify-backup/config.ts')
  const withSet = (s: Partial<BackupSet>) => ({ sets: [{ ...set, ...s }], restoreJob: config })
  t.doesNotThrow(() => checkConfig(withSet({}), 60_000), 'a Job\'s restore is bounded by the Job, not by the run\'s deadline')
  t.throws(() => checkConfig(withSet({ restore: { ...set.restore!, mode: 'inline' } }), 60_000), /does not fit in the run's deadline/)
  t.throws(() => checkConfig(withSet({ directory: '/srv/dumps' })), /restoreJob.backups.mountPath \(\/backups\)/, 'the artifact must be on the claim the Job mounts')
  const many = Array.from({ length: 21 }, (_, i) => ({ database: 'app', sql: `select ${i}`, min: 0 }))
  t.throws(() => checkConfig(withSet({ restore: { ...set.restore!, queries: many } })), /restore.queries: at most 20 in job mode/)
})
