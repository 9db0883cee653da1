import t from 'tap'
import { configSchema, type VerifyBackupConfig } from '../../../functions/verify-backup/config.ts'
import { backupJobSet, fitsBeforeDeadline, jobState, setOfRequest, sweepSummary } from '../../../functions/verify-backup/sets.ts'
import { validateConfig } from '../../../shared/config.ts'

// verify-backup's choices of what to verify are pure: a table each, no file, no API.

const config: VerifyBackupConfig = validateConfig({
  sets: [
    { name: 'etcd', format: 'etcd-snapshot', directory: '/backups/etcd', pattern: 'etcd_*.db', rpo: '24h', cronJob: { namespace: 'kube-system', name: 'etcd-backup' } },
    { name: 'postgresql', format: 'pg-dumpall-gzip', directory: '/backups/postgresql', pattern: 'all_*.sql.gz', rpo: '24h', restore: { timeout: '2m', databases: ['app'], queries: [] } },
  ],
}, configSchema, 'test')

t.test('a request names a set, an artifact of a set, or both in agreement', async (t) => {
  t.equal(setOfRequest(config, { set: 'etcd' }).name, 'etcd')
  t.equal(setOfRequest(config, { path: '/backups/postgresql/all_2026.sql.gz' }).name, 'postgresql')
  t.equal(setOfRequest(config, { set: 'etcd', path: '/backups/etcd/etcd_1.db' }).name, 'etcd')
  t.throws(() => setOfRequest(config, { set: 'nope' }), { code: 'invalid_request' })
  t.throws(() => setOfRequest(config, { path: '/backups/etcd/other.txt' }), { code: 'invalid_request' }, 'not matching any set\'s pattern')
  t.throws(() => setOfRequest(config, { set: 'etcd', path: '/backups/postgresql/all_1.sql.gz' }), { code: 'invalid_request' }, 'outside the named set\'s directory')
})

t.test('a Job\'s state and the set whose CronJob owns it', async (t) => {
  const job = (conditions: Array<{ type: string; status: string }>, owner?: string) => ({ metadata: { namespace: 'kube-system', ...(owner ? { ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: owner, uid: 'u' }] } : {}) }, status: { conditions } })
  t.equal(jobState(job([{ type: 'Complete', status: 'True' }])), 'complete')
  t.equal(jobState(job([{ type: 'Failed', status: 'True' }])), 'failed')
  t.equal(jobState(job([{ type: 'Complete', status: 'False' }])), 'running')
  t.equal(backupJobSet(config, job([], 'etcd-backup'))?.name, 'etcd')
  t.equal(backupJobSet(config, job([], 'other')), undefined)
})

t.test('a sweep starts a set only when its restore test still fits before the deadline', async (t) => {
  const [etcd, postgresql] = config.sets
  t.ok(fitsBeforeDeadline(etcd!, Infinity))
  t.ok(fitsBeforeDeadline(postgresql!, Date.now() + 3 * 60_000))
  t.notOk(fitsBeforeDeadline(postgresql!, Date.now() + 60_000), 'a 2m restore test does not fit in a minute')
  t.notOk(fitsBeforeDeadline(etcd!, Date.now() - 1), 'nothing starts past the deadline')
  t.same(sweepSummary([], ['etcd'], []), { verified: 0, failed: 0, sets: [], deferred: ['etcd'] })
})
