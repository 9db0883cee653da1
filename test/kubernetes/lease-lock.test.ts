import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node'
import { acquireLeaseLock, LeaseRecords } from '../../shared/kubernetes/lease.ts'
import { Errors } from '../../shared/errors.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

// A Lease held as a lock (shared/kubernetes/lease.ts), over the Kubernetes
// simulator's coordination.k8s.io API: renewed while held, a second holder
// refused, an expired one taken over, released for the next.

const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'caretaker' } })
const records = new LeaseRecords(kube.kubeConfig(), 'caretaker')
const leases = kube.kubeConfig().makeApiClient(CoordinationV1Api)
const STEP = 'test.caretaker.dev/step'
const options = (durationMs: number, waitMs?: number) => ({ durationMs, stepAnnotation: STEP, labels: { 'app.kubernetes.io/managed-by': 'caretaker-test' }, ...(waitMs === undefined ? {} : { waitMs }) })
const read = (name: string) => leases.readNamespacedLease({ namespace: 'caretaker', name })

t.test('a held Lease is renewed while held, and refuses a second holder', async (t) => {
  const first = await acquireLeaseLock(records, 'long-one', options(1500))
  if (!first.acquired) throw new Error('not acquired')
  const lease = await read('long-one')
  t.equal(lease.metadata?.labels?.['app.kubernetes.io/managed-by'], 'caretaker-test', 'with its labels')
  t.equal(lease.spec?.holderIdentity, first.lock.holder)
  const acquiredAt = new Date(String(lease.spec?.renewTime)).getTime()
  await sleep(1400)
  t.ok(new Date(String((await read('long-one')).spec?.renewTime)).getTime() > acquiredAt, 'renewed (every third of its duration, at least every second)')
  await sleep(1000)
  t.match(await acquireLeaseLock(records, 'long-one', options(1500)), { acquired: false, holder: first.lock.holder }, 'still held past its first expiry: refused')
  await first.lock.release()
  const third = await acquireLeaseLock(records, 'long-one', options(1500))
  t.equal(third.acquired, true, 'released: the next holder takes it')
  if (third.acquired) await third.lock.release()
})

t.test('a waiting holder does not take over one that renews; it reports the step recorded', async (t) => {
  const live = await acquireLeaseLock(records, 'live-one', options(1500))
  if (!live.acquired) throw new Error('not acquired')
  await live.lock.record('write')
  t.equal((await read('live-one')).metadata?.annotations?.[STEP], 'write', 'the step reached is on the Lease')
  t.match(await acquireLeaseLock(records, 'live-one', options(1500, 5000)), { acquired: false, step: 'write' }, 'renewed while watched: alive, not taken over')
  await live.lock.release()
})

t.test('an expired Lease is taken over; the old holder learns it lost the Lease', async (t) => {
  const first = await acquireLeaseLock(records, 'expired-one', { ...options(1000), lostMessage: (lease) => `lost ${lease}` })
  if (!first.acquired) throw new Error('not acquired')
  await first.lock.record('apply')
  // Freeze the holder as a SIGKILL would: its Lease is never renewed again.
  const lease = await read('expired-one')
  await leases.replaceNamespacedLease({ namespace: 'caretaker', name: 'expired-one', body: { ...lease, spec: { ...lease.spec, renewTime: new V1MicroTime(Date.now() - 60_000) } } })
  const second = await acquireLeaseLock(records, 'expired-one', options(1000, 3000))
  if (!second.acquired) throw new Error('not taken over')
  t.match(second.takenOver, { holder: first.lock.holder, step: 'apply' }, 'with the holder and step it left')
  t.equal((await read('expired-one')).spec?.leaseTransitions, 1, 'a transition counted')
  await t.rejects(first.lock.record('verify'), { code: Errors.LeaseLost.code, message: 'lost caretaker/expired-one' }, 'the old holder may no longer write')
  t.equal(first.lock.lost, true)
  await first.lock.release()
  t.equal((await read('expired-one')).spec?.holderIdentity, second.lock.holder, 'releasing a lost Lease leaves the new holder\'s alone')
  await second.lock.release()
})

t.test('a waiting holder whose holder releases the Lease is refused: that holder was alive and finished', async (t) => {
  const first = await acquireLeaseLock(records, 'short-one', options(30_000))
  if (!first.acquired) throw new Error('not acquired')
  const waiting = acquireLeaseLock(records, 'short-one', options(30_000, 10_000))
  await sleep(300)
  await first.lock.release()
  t.match(await waiting, { acquired: false, released: true })
  t.equal(await records.read('short-one'), undefined, 'no Lease left')
})

t.test('a Lease given up with its record kept keeps its step and is free at once', async (t) => {
  const first = await acquireLeaseLock(records, 'kept-one', options(30_000))
  if (!first.acquired) throw new Error('not acquired')
  await first.lock.record('verify')
  await first.lock.release({ keepRecord: true })
  const lease = await read('kept-one')
  t.notOk(lease.spec?.holderIdentity, 'no holder')
  t.equal(lease.metadata?.annotations?.[STEP], 'verify', 'the step record is kept')
  const next = await acquireLeaseLock(records, 'kept-one', options(30_000))
  if (!next.acquired) throw new Error('not taken at once')
  t.match(next.takenOver, { holder: 'none (released with its record kept)', step: 'verify' }, 'with the step it was left at')
  await next.lock.release({ keepRecord: true })
  const worded = await acquireLeaseLock(records, 'kept-one', { ...options(30_000), words: { record: 'journal' } })
  if (!worded.acquired) throw new Error('not taken at once')
  t.equal(worded.takenOver?.holder, 'none (released with its journal kept)', 'in the words given')
  await worded.lock.release()
})
