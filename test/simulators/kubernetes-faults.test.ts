import t from 'tap'
import { CoreV1Api, Watch } from '@kubernetes/client-node'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

const code = (err: unknown): number | undefined => (err as { code?: number }).code
const body = (err: unknown): Record<string, unknown> => {
  const b = (err as { body?: unknown }).body
  return typeof b === 'string' ? JSON.parse(b) as Record<string, unknown> : (b as Record<string, unknown>)
}
const headers = (err: unknown): Record<string, string> => (err as { headers?: Record<string, string> }).headers ?? {}

t.test('fault injection in the Kubernetes simulator', async (t) => {
  const sim = await startKubernetesSimulator()
  t.teardown(() => sim.close())
  const core = sim.kubeConfig().makeApiClient(CoreV1Api)
  sim.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { a: '1' } })
  t.afterEach(() => sim.faults.clear())
  const read = () => core.readNamespacedConfigMap({ name: 'cfg', namespace: 'default' })

  t.test('fail the next N matching requests, then succeed', async (t) => {
    sim.faults.add({ method: 'GET', path: '/api/v1/namespaces/default/configmaps/cfg', status: 500, count: 2 })
    const first = await read().catch((e: unknown) => e)
    t.equal(code(first), 500)
    t.same(body(first), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Internal error occurred: fault injected', reason: 'InternalError', details: { causes: [{ message: 'fault injected' }] }, code: 500 })
    t.equal(code(await read().catch((e: unknown) => e)), 500)
    t.equal((await read()).data?.a, '1', 'the third call succeeds')
    t.equal(sim.faults.list().length, 0, 'a used-up rule goes away')
  })

  t.test('only the matching method and path', async (t) => {
    sim.faults.add({ method: 'PATCH', path: '/api/v1/', status: 503 })
    sim.faults.add({ path: /\/secrets(\?|$)/, status: 500 })
    sim.faults.add({ path: '/api/v1/namespaces/other/', status: 500 })
    t.equal((await read()).data?.a, '1', 'a GET is not a PATCH; configmaps are not secrets')
    t.equal(code(await core.listNamespacedSecret({ namespace: 'default' }).catch((e: unknown) => e)), 500, 'a RegExp path')
    t.equal(sim.faults.list().length, 2, 'the PATCH rule and the other namespace\'s are still waiting')
  })

  t.test('429 and 503 carry Retry-After', async (t) => {
    sim.faults.add({ path: '/api/v1/namespaces/default/configmaps', status: 429 })
    const limited = await read().catch((e: unknown) => e)
    t.equal(code(limited), 429)
    t.equal(headers(limited)['retry-after'], '1')
    t.same(body(limited), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Too many requests, please try again later.', reason: 'TooManyRequests', details: { retryAfterSeconds: 1 }, code: 429 })

    sim.faults.add({ path: '/api/v1/namespaces/default/configmaps', status: 503 })
    const unavailable = await read().catch((e: unknown) => e)
    t.equal(code(unavailable), 503)
    t.equal(headers(unavailable)['retry-after'], '1')
    t.match(body(unavailable), { kind: 'Status', reason: 'ServiceUnavailable', message: 'the server is currently unable to handle the request', details: { retryAfterSeconds: 1 }, code: 503 })
  })

  t.test('a body of the test\'s own', async (t) => {
    const custom = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'etcdserver: request timed out', reason: 'InternalError', code: 500 }
    sim.faults.add({ path: '/api/v1/namespaces/default/configmaps/cfg', status: 500, body: custom })
    t.same(body(await read().catch((e: unknown) => e)), custom)
  })

  t.test('a failed write changes nothing', async (t) => {
    sim.faults.add({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', status: 503 })
    t.equal(code(await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'new' } } }).catch((e: unknown) => e)), 503)
    t.equal(sim.store.get('v1', 'ConfigMap', 'default', 'new'), undefined)
  })

  t.test('latency', async (t) => {
    sim.faults.add({ method: 'GET', path: '/api/v1/namespaces/default/configmaps/cfg', latencyMs: 200 })
    const started = performance.now()
    t.equal((await read()).data?.a, '1', 'the answer still comes')
    t.ok(performance.now() - started >= 190, 'after at least the delay')
    const again = performance.now()
    await read()
    t.ok(performance.now() - again < 190, 'one use only by default')
  })

  t.test('a dropped connection', async (t) => {
    sim.faults.add({ path: '/api/v1/namespaces/default/configmaps/cfg', drop: true })
    const err = await read().catch((e: unknown) => e)
    t.ok(err instanceof Error, 'the client fails')
    t.equal(code(err), undefined, 'without any HTTP answer')
    t.match(String((err as Error).message) + String((err as { code?: unknown }).code ?? ''), /socket hang up|ECONNRESET|network|fetch failed/i)
    t.equal((await read()).data?.a, '1', 'the next call goes through')
  })

  t.test('a dropped watch ends the watch with an error', async (t) => {
    sim.faults.add({ path: '/api/v1/namespaces/default/configmaps?', drop: true })
    const ended = await new Promise<unknown>((resolve) => {
      void new Watch(sim.kubeConfig()).watch('/api/v1/namespaces/default/configmaps', {}, () => undefined, (err: unknown) => resolve(err ?? 'ended without error')).catch((err: unknown) => resolve(err))
    })
    t.ok(ended instanceof Error, 'the watch reports an error')
  })

  t.test('the admin endpoint', async (t) => {
    const admin = { authorization: `Bearer ${sim.token}`, 'content-type': 'application/json' }
    const add = await fetch(`${sim.url}/__sim/faults`, { method: 'POST', headers: admin, body: JSON.stringify({ method: 'GET', path: '^/api/v1/namespaces/default/configmaps/.*$', regex: true, status: 503, count: 2 }) })
    t.equal(add.status, 201)
    const { id } = await add.json() as { id: string }
    t.type(id, 'string')
    const listed = await (await fetch(`${sim.url}/__sim/faults`, { headers: admin })).json() as { faults: Array<Record<string, unknown>> }
    t.match(listed.faults, [{ id, method: 'GET', path: new RegExp('^/api/v1/namespaces/default/configmaps/.*$').source, regex: true, status: 503, remaining: 2, hits: 0 }])
    t.equal(code(await read().catch((e: unknown) => e)), 503)
    t.match((await (await fetch(`${sim.url}/__sim/faults`, { headers: admin })).json() as { faults: unknown[] }).faults, [{ id, remaining: 1, hits: 1 }])
    t.equal((await fetch(`${sim.url}/__sim/faults/${id}`, { method: 'DELETE', headers: admin })).status, 204)
    t.equal((await read()).data?.a, '1')
    t.equal((await fetch(`${sim.url}/__sim/faults/${id}`, { method: 'DELETE', headers: admin })).status, 404, 'gone already')

    await fetch(`${sim.url}/__sim/faults`, { method: 'POST', headers: admin, body: JSON.stringify({ path: '/api/', latencyMs: 10, count: null }) })
    await fetch(`${sim.url}/__sim/faults`, { method: 'POST', headers: admin, body: JSON.stringify({ path: '/apis/', drop: true }) })
    t.equal(sim.faults.list().length, 2)
    t.match(sim.faults.list(), [{ remaining: Infinity }, { remaining: 1, drop: true }])
    t.equal((await fetch(`${sim.url}/__sim/faults`, { method: 'DELETE', headers: admin })).status, 204)
    t.equal(sim.faults.list().length, 0)

    const bad = await fetch(`${sim.url}/__sim/faults`, { method: 'POST', headers: admin, body: JSON.stringify({ status: 500 }) })
    t.equal(bad.status, 400)
    t.match(await bad.json(), { kind: 'Status', reason: 'BadRequest', message: 'a fault needs a "path"' })
    t.equal((await fetch(`${sim.url}/__sim/faults`, { method: 'POST', headers: admin, body: JSON.stringify({ path: '/api/' }) })).status, 400, 'a fault that does nothing')
  })

  t.test('the admin endpoint refuses anyone but the admin', async (t) => {
    const none = await fetch(`${sim.url}/__sim/faults`)
    t.equal(none.status, 401)
    const sa = sim.mintServiceAccountToken('caretaker', 'runbook')
    const refused = await fetch(`${sim.url}/__sim/faults`, { method: 'POST', headers: { authorization: `Bearer ${sa}` }, body: JSON.stringify({ path: '/', status: 500 }) })
    t.equal(refused.status, 403)
    t.match(await refused.json(), { kind: 'Status', reason: 'Forbidden', code: 403 })
    t.equal(sim.faults.list().length, 0, 'nothing was added')
  })
})
