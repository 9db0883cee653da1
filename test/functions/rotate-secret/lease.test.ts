import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { acquireLease, leaseName, STEP_ANNOTATION } from '../../../functions/rotate-secret/lease.ts'
import { createKubeConfig } from '../../../shared/kubernetes/kubeconfig.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// The lock of one secret, as rotate-secret's own ServiceAccount holds it
// (the manifest's RBAC): renewed while held, so a long rotation keeps it; a
// second holder is refused; after release another may take it.

const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
for (const name of ['caretaker', 'production', 'databases']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
for (const doc of parseAllDocuments(await readFile(new URL('../../../manifests/rotate-secret/rbac.yaml', import.meta.url), 'utf8'))) kube.store.seed(doc.toJSON() as Record<string, unknown>)
const kc = createKubeConfig({ server: kube.url, token: kube.mintServiceAccountToken('caretaker', 'rotate-secret') })
const leases = kube.kubeConfig().makeApiClient(CoordinationV1Api)
const renewTime = async (secret: string) => new Date(String((await leases.readNamespacedLease({ namespace: 'caretaker', name: leaseName(secret) })).spec?.renewTime)).getTime()

t.test('a held Lease is renewed while the rotation runs, and refuses a second holder', async (t) => {
  const first = await acquireLease(kc, 'caretaker', 'long-one', 1500)
  t.equal(first.acquired, true)
  const acquiredAt = await renewTime('long-one')
  await sleep(1400)
  t.ok(await renewTime('long-one') > acquiredAt, 'renewed (every third of its duration, at least every second)')
  await sleep(1000)
  const second = await acquireLease(kc, 'caretaker', 'long-one', 1500)
  t.match(second, { acquired: false, holder: /\// }, 'still held past its first expiry: a second rotation is refused')
  if (first.acquired) await first.lock.release()
  const third = await acquireLease(kc, 'caretaker', 'long-one', 1500)
  t.equal(third.acquired, true, 'released: the next rotation takes it')
  if (third.acquired) await third.lock.release()
})

t.test('a waiting rotation does not take over a holder that renews; it reports the step the holder recorded', async (t) => {
  const live = await acquireLease(kc, 'caretaker', 'live-one', 1500)
  if (!live.acquired) throw new Error('not acquired')
  await live.lock.record('write')
  const lease = await leases.readNamespacedLease({ namespace: 'caretaker', name: leaseName('live-one') })
  t.equal(lease.metadata?.annotations?.[STEP_ANNOTATION], 'write', 'the step reached is on the Lease')
  const waited = await acquireLease(kc, 'caretaker', 'live-one', 1500, { waitMs: 5000 })
  t.match(waited, { acquired: false, step: 'write' }, 'the holder renewed while watched: alive, not taken over')
  await live.lock.release()
})

t.test('an expired Lease is taken over by a waiting rotation; the old holder learns it lost the Lease', async (t) => {
  const first = await acquireLease(kc, 'caretaker', 'expired-one', 1000)
  if (!first.acquired) throw new Error('not acquired')
  await first.lock.record('apply')
  // Freeze the holder as a SIGKILL would: its Lease is never renewed again.
  const lease = await leases.readNamespacedLease({ namespace: 'caretaker', name: leaseName('expired-one') })
  await leases.replaceNamespacedLease({ namespace: 'caretaker', name: leaseName('expired-one'), body: { ...lease, spec: { ...lease.spec, renewTime: new V1MicroTime(Date.now() - 60_000) } } })
  const second = await acquireLease(kc, 'caretaker', 'expired-one', 1000, { waitMs: 3000 })
  t.equal(second.acquired, true, 'taken over')
  if (second.acquired) t.match(second.takenOver, { holder: first.lock.holder, step: 'apply' }, 'with the holder and step it left')
  await t.rejects(first.lock.record('verify'), /taken over by another rotation/, 'the old holder may no longer write')
  t.equal(first.lock.lost, true)
  await first.lock.release()
  t.equal((await leases.readNamespacedLease({ namespace: 'caretaker', name: leaseName('expired-one') })).spec?.holderIdentity, second.acquired ? second.lock.holder : '', 'releasing a lost Lease leaves the new holder\'s alone')
  if (second.acquired) await second.lock.release()
})

t.test('a waiting rotation whose holder releases the Lease is refused: that holder was alive and finished', async (t) => {
  const first = await acquireLease(kc, 'caretaker', 'short-one', 30_000)
  if (!first.acquired) throw new Error('not acquired')
  const waiting = acquireLease(kc, 'caretaker', 'short-one', 30_000, { waitMs: 10_000 })
  await sleep(300)
  await first.lock.release()
  t.match(await waiting, { acquired: false, released: true })
  t.same((await leases.listNamespacedLease({ namespace: 'caretaker' })).items.filter((l) => l.metadata?.name === leaseName('short-one')), [], 'no Lease left')
})

t.test('a Lease given up with a journal left keeps its step record and is free at once', async (t) => {
  const first = await acquireLease(kc, 'caretaker', 'kept-one', 30_000)
  if (!first.acquired) throw new Error('not acquired')
  await first.lock.record('verify')
  await first.lock.release({ keepRecord: true })
  const lease = await leases.readNamespacedLease({ namespace: 'caretaker', name: leaseName('kept-one') })
  t.notOk(lease.spec?.holderIdentity, 'no holder')
  t.equal(lease.metadata?.annotations?.[STEP_ANNOTATION], 'verify', 'the step record is kept')
  const next = await acquireLease(kc, 'caretaker', 'kept-one', 30_000)
  t.equal(next.acquired, true, 'taken at once, no waiting')
  if (next.acquired) {
    t.match(next.takenOver, { step: 'verify' }, 'with the step the journal was left at')
    await next.lock.release()
  }
})
