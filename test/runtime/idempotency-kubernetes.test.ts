import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { CoordinationV1Api } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { countRequested, createCounterFunction, type CountedData } from '../fixtures/functions/counter.ts'
import { startTestFunction, type TestFunction } from '../../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'
import { createKubeConfig } from '../../shared/kubernetes/kubeconfig.ts'
import { KubernetesIdempotencyStore, leaseNameFor } from '../../shared/runtime/idempotency-kubernetes.ts'
import { idempotencyKey, type RecordedOutcome } from '../../shared/runtime/idempotency.ts'

// The durable idempotency store: one Lease per event in Caretaker's
// namespace, under the RBAC the manifests grant, shared by replicas and
// surviving restarts. Two replicas of a function, redeliveries spread across
// them, one replica restarted, one killed while holding a claim: every
// event's handler runs exactly once.

const NS = 'caretaker'
const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })
for (const d of parseAllDocuments(await readFile(new URL('../../manifests/core/idempotency-rbac.yaml', import.meta.url), 'utf8'))) kube.store.seed(d.toJSON() as Record<string, unknown>)
// The counter stands in for any function: it runs as verify-backup's ServiceAccount, one the manifest binds.
const token = kube.mintServiceAccountToken(NS, 'verify-backup')
const env = { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token, CARETAKER_IDEMPOTENCY: 'kubernetes', CARETAKER_NAMESPACE: NS }
const leases = kube.kubeConfig().makeApiClient(CoordinationV1Api)
const outcome: RecordedOutcome = { status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' }
const store = (holder: string, extra: { claimSeconds?: number; ttlSeconds?: number; functionName?: string } = {}) =>
  new KubernetesIdempotencyStore(createKubeConfig({ server: kube.url, token }), { functionName: 'counter', namespace: NS, holder, ...extra })

let seq = 0
const uniqueId = (label: string) => `${label}-${process.pid}-${++seq}`

async function deliver(fn: TestFunction, id: string, data: Record<string, unknown> = {}) {
  const res = await fetch(fn.url, { method: 'POST', headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/test/durable', 'ce-type': countRequested }, body: JSON.stringify(data) })
  return { status: res.status, duplicate: res.headers.get('caretaker-duplicate'), body: await res.text() }
}

t.test('claim, in progress on another replica, complete, done everywhere; under the manifest RBAC', async (t) => {
  const a = store('replica-a')
  const b = store('replica-b')
  t.teardown(async () => { await a.close(); await b.close() })
  const key = idempotencyKey('counter', '/src', uniqueId('claim'))
  t.same(await a.claim(key), { state: 'claimed' })
  t.same(await b.claim(key), { state: 'in-progress' }, 'the other replica sees the claim')
  const lease = await leases.readNamespacedLease({ namespace: NS, name: leaseNameFor(key) })
  t.equal(lease.spec?.holderIdentity, 'replica-a')
  t.equal(lease.metadata?.annotations?.['caretaker.dev/idempotency-state'], 'pending')
  await a.complete(key, outcome)
  t.same(await b.claim(key), { state: 'done', outcome }, 'the outcome is replayed by the other replica')
  const restarted = store('replica-a-restarted')
  t.teardown(() => restarted.close())
  t.same(await restarted.claim(key), { state: 'done', outcome }, 'and after a restart')
})

t.test('release gives the claim up; a claim whose holder died is taken over after its duration', async (t) => {
  const a = store('replica-a', { claimSeconds: 1 })
  const b = store('replica-b', { claimSeconds: 1 })
  t.teardown(async () => { await a.close(); await b.close() })
  const released = idempotencyKey('counter', '/src', uniqueId('release'))
  t.same(await a.claim(released), { state: 'claimed' })
  await a.release(released)
  t.same(await b.claim(released), { state: 'claimed' }, 'claimable again once released')
  await b.complete(released, outcome)

  const orphan = idempotencyKey('counter', '/src', uniqueId('killed'))
  const dying = store('replica-killed', { claimSeconds: 1 })
  t.same(await dying.claim(orphan), { state: 'claimed' })
  await dying.close() // the process is gone: no renewal, no release
  t.same(await b.claim(orphan), { state: 'in-progress' }, 'still held just after')
  await sleep(1500)
  t.same(await b.claim(orphan), { state: 'claimed' }, 'taken over once it expired')
  const lease = await leases.readNamespacedLease({ namespace: NS, name: leaseNameFor(orphan) })
  t.equal(lease.spec?.holderIdentity, 'replica-b')
  t.equal(lease.spec?.leaseTransitions, 1)
})

t.test('a held claim is renewed while the handler runs, so a long handler is not taken over', async (t) => {
  const a = store('replica-a', { claimSeconds: 1 })
  const b = store('replica-b', { claimSeconds: 1 })
  t.teardown(async () => { await a.close(); await b.close() })
  const key = idempotencyKey('counter', '/src', uniqueId('renewed'))
  t.same(await a.claim(key), { state: 'claimed' })
  await sleep(2500)
  t.same(await b.claim(key), { state: 'in-progress' }, 'renewed past its duration')
  await a.complete(key, outcome)
  t.same(await b.claim(key), { state: 'done', outcome })
})

t.test('expired records are swept; live ones stay', async (t) => {
  // A function of its own, so only this test's records are its to sweep.
  const a = store('replica-a', { ttlSeconds: 1, functionName: 'sweeper' })
  t.teardown(() => a.close())
  const old = idempotencyKey('counter', '/src', uniqueId('old'))
  t.same(await a.claim(old), { state: 'claimed' })
  await a.complete(old, outcome)
  await sleep(1200)
  const live = idempotencyKey('counter', '/src', uniqueId('live'))
  // The same store: its own sweep ran at its first claim and waits ten minutes for the next.
  t.same(await a.claim(live), { state: 'claimed' })
  t.equal(await a.sweep(), 1, 'the expired record is deleted')
  await t.rejects(leases.readNamespacedLease({ namespace: NS, name: leaseNameFor(old) }), 'gone')
  t.ok(await leases.readNamespacedLease({ namespace: NS, name: leaseNameFor(live) }), 'the live claim stays')
})

t.test('without the RBAC the store fails closed: 503, and the handler does not run', async (t) => {
  const outsider = kube.mintServiceAccountToken(NS, 'not-bound')
  const counter = createCounterFunction('outsider')
  const fn = await startTestFunction(counter.module, { env: { ...env, CARETAKER_KUBE_TOKEN: outsider } })
  t.teardown(() => fn.stop())
  const r = await deliver(fn, uniqueId('forbidden'))
  t.equal(r.status, 503)
  t.match(JSON.parse(r.body), { error: 'dependency_unavailable' })
  t.same(counter.handled, [], 'nothing ran without a durable claim')
})

t.test('two replicas through the runtime: redeliveries spread across them and across a restart run the handler once', async (t) => {
  const one = createCounterFunction('one')
  const two = createCounterFunction('two')
  let a = await startTestFunction(one.module, { env })
  const b = await startTestFunction(two.module, { env })
  t.teardown(async () => { await a.stop(); await b.stop() })
  const ids = Array.from({ length: 20 }, (_, i) => uniqueId(`event-${i}`))
  // Each event delivered to both replicas at once, then again to each.
  const first = await Promise.all(ids.flatMap((id) => [deliver(a, id, { sleepMs: 50 }), deliver(b, id, { sleepMs: 50 })]))
  t.ok(first.every((r) => r.status === 200 || r.status === 429), 'each delivery handled, a duplicate or told to retry')
  const again = await Promise.all(ids.flatMap((id) => [deliver(a, id), deliver(b, id)]))
  t.ok(again.every((r) => r.status === 200 && r.duplicate === 'true'), 'redeliveries replay the recorded reply')
  await a.stop()
  a = await startTestFunction(one.module, { env })
  const afterRestart = await Promise.all(ids.map((id) => deliver(a, id)))
  t.ok(afterRestart.every((r) => r.status === 200 && r.duplicate === 'true'), 'and after a restart')
  const handled = [...one.handled, ...two.handled]
  t.equal(handled.length, ids.length, 'every event handled once in all')
  t.same([...new Set(handled)].sort(), [...ids].sort())
  const replies = afterRestart.map((r) => JSON.parse(r.body) as CountedData)
  t.same(replies.map((r) => r.eventId).sort(), [...ids].sort(), 'each replayed reply is that event\'s own')

  const failing = uniqueId('transient')
  t.equal((await deliver(b, failing, { fail: 'transient' })).status, 503, 'a transient failure…')
  t.equal((await deliver(a, failing)).status, 200, '…releases the claim, and the retry on the other replica runs')
})

t.test('recording the outcome survives a transient API failure', async (t) => {
  const a = store('replica-a')
  const b = store('replica-b')
  t.teardown(async () => { await a.close(); await b.close() })
  const key = idempotencyKey('counter', '/src', uniqueId('complete-fault'))
  t.same(await a.claim(key), { state: 'claimed' })
  kube.faults.add({ method: 'PUT', path: /\/leases\//, status: 503, count: 2 })
  await a.complete(key, outcome)
  t.same(await b.claim(key), { state: 'done', outcome }, 'the outcome was recorded despite two refused writes')
})
