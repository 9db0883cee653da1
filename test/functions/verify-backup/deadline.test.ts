import { CloudEvent } from 'cloudevents'
import t from 'tap'
import verifyBackup from '../../../functions/verify-backup/index.ts'
import { configSchema, type VerifyBackupConfig } from '../../../functions/verify-backup/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { replyEvent, type Outcome } from '../../../shared/events/reply.ts'
import { createLogger } from '../../../shared/logger.ts'
import type { HandlerContext } from '../../../shared/runtime/function.ts'
import { startTestFunction } from '../../../sandbox/harness/function.ts'

// verify-backup within the run's deadline (CARETAKER_RUN_DEADLINE, below the
// Knative Service's timeoutSeconds): a restore test that cannot fit in it is
// a config error at start; a sweep leaves the sets it has no time for and asks
// for each again as a request of its own.

const config: VerifyBackupConfig = validateConfig({
  sets: [
    { name: 'etcd', format: 'etcd-snapshot', directory: '/nonexistent/etcd', pattern: 'etcd_*.db', rpo: '24h' },
    { name: 'postgresql', format: 'pg-dumpall-gzip', directory: '/nonexistent/postgresql', pattern: 'all_*.sql.gz', rpo: '24h', restore: { timeout: '2m', databases: ['app'], queries: [] } },
  ],
}, configSchema, 'test')

t.test('a restore timeout that does not fit in the run deadline is refused at start', async (t) => {
  await t.rejects(startTestFunction(verifyBackup, { config, env: { CARETAKER_RUN_DEADLINE: '120' } }), { message: /sets\[1\]\.restore\.timeout: 2m does not fit in the run's deadline \(CARETAKER_RUN_DEADLINE, 120s/ })
  const fits = await startTestFunction(verifyBackup, { config, env: { CARETAKER_RUN_DEADLINE: '121' } })
  await fits.stop()
  t.pass('2m fits in 121 s')
})

t.test('a sweep past its deadline verifies nothing more and asks for each set left', async (t) => {
  await verifyBackup.init({ config, kubeConfig: undefined, runDeadlineMs: 540_000 })
  t.teardown(() => verifyBackup.shutdown())
  const ping = new CloudEvent({ specversion: '1.0', id: 'sweep-late', source: '/apis/v1/namespaces/caretaker/pingsources/verify-backup-sweep', type: 'dev.knative.sources.ping', data: {} })
  const emitted: Array<CloudEvent<unknown>> = []
  const context = (deadline: number): HandlerContext => ({
    log: createLogger({ level: 'silent' }), dryRun: false, traceparent: undefined, signal: new AbortController().signal, identity: undefined, deadline,
    reply: <T>(outcome: Outcome<T>, index?: number) => replyEvent('verify-backup', ping, outcome, { index: index ?? 0 }),
    emit: async <T>(outcome: Outcome<T>, index: number) => { emitted.push(replyEvent('verify-backup', ping, outcome, { index })); return true },
  })
  const late = await verifyBackup.invoke(context(Date.now() - 1), ping)
  t.equal(late?.type, 'dev.caretaker.backup.sweep.completed')
  t.same(late?.data, { verified: 0, failed: 0, sets: [], deferred: ['etcd', 'postgresql'] })
  t.same(emitted.map((e) => [e.type, e.data]), [['dev.caretaker.backup.verify.requested', { set: 'etcd' }], ['dev.caretaker.backup.verify.requested', { set: 'postgresql' }]], 'each set left is asked for again')
  const again = emitted.map((e) => e.id)
  emitted.length = 0
  await verifyBackup.invoke(context(Date.now() - 1), ping)
  t.same(emitted.map((e) => e.id), again, 'a redelivered sweep asks with the same ids (the Broker and the idempotency store see one request each)')

  // Time left, but less than the restore test needs: only that set is left.
  emitted.length = 0
  const short = await verifyBackup.invoke(context(Date.now() + 60_000), ping)
  t.same((short?.data as { sets: Array<{ set: string }> }).sets.map((s) => s.set), ['etcd'], 'the set without a restore test is verified (it fails: no artifact here)')
  t.same((short?.data as { deferred: string[] }).deferred, ['postgresql'])
  t.same(emitted.filter((e) => e.type === 'dev.caretaker.backup.verify.requested').map((e) => e.data), [{ set: 'postgresql' }])
})
