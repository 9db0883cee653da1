import { join } from 'node:path'
import t from 'tap'
import { createLogger } from '../../shared/logger.ts'
import { startMesh } from '../../sandbox/mesh/index.ts'
import { postBinary, startReceiver } from './receiver.ts'

const fixtures = new URL('./fixtures/', import.meta.url).pathname
const logger = createLogger({ level: 'silent' })

t.test('a reply event goes back to the broker and reaches a second Trigger', async (t) => {
  // The worker answers in structured mode; the mesh must still deliver the outcome in binary mode.
  const worker = await startReceiver((request) => ({
    status: 200,
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({
      specversion: '1.0', id: `outcome-of-${String(request.headers['ce-id'])}`, type: 'com.example.outcome.done',
      source: '/caretaker/worker', datacontenttype: 'application/json', data: { ok: true },
    }),
  }))
  const notify = await startReceiver()
  const echo = await startReceiver()
  t.teardown(() => Promise.all([worker.close(), notify.close(), echo.close()]))
  const mesh = await startMesh({ dir: join(fixtures, 'reply'), services: { worker: worker.url, notify: notify.url, echo: echo.url }, logger })
  t.teardown(() => mesh.close())

  t.equal(await postBinary(mesh.ingressUrl, { id: 'req-1', type: 'com.example.request', source: '/manual' }, '{}'), 202)
  await mesh.broker.idle()
  t.equal(worker.requests.length, 1)
  t.equal(notify.requests.length, 1)
  t.match(notify.requests[0]!.headers, { 'ce-id': 'outcome-of-req-1', 'ce-type': 'com.example.outcome.done', 'ce-source': '/caretaker/worker' })
  t.same(JSON.parse(notify.requests[0]!.body.toString('utf8')), { ok: true })
  t.equal(echo.requests.length, 0)
})

t.test('the hop limit ends a reply loop', async (t) => {
  let n = 0
  const echo = await startReceiver(() => ({
    status: 200,
    headers: { 'ce-specversion': '1.0', 'ce-id': `loop-${++n}`, 'ce-type': 'com.example.loop', 'ce-source': '/echo' },
  }))
  t.teardown(() => echo.close())
  const mesh = await startMesh({ dir: join(fixtures, 'reply'), services: { worker: echo.url, notify: echo.url, echo: echo.url }, logger, hopLimit: 3 })
  t.teardown(() => mesh.close())
  t.equal(await postBinary(mesh.ingressUrl, { id: 'loop-0', type: 'com.example.loop', source: '/manual' }), 202)
  await mesh.broker.idle()
  t.same(echo.requests.map((r) => r.headers['ce-id']), ['loop-0', 'loop-1', 'loop-2', 'loop-3'], 'the original plus three fed-back replies')
})

t.test('a 2xx without a CloudEvent ends the chain', async (t) => {
  const worker = await startReceiver(() => ({ status: 204 }))
  const notify = await startReceiver()
  t.teardown(() => Promise.all([worker.close(), notify.close()]))
  const mesh = await startMesh({ dir: join(fixtures, 'reply'), services: { worker: worker.url, notify: notify.url, echo: notify.url }, logger })
  t.teardown(() => mesh.close())
  t.equal(await postBinary(mesh.ingressUrl, { id: 'req-2', type: 'com.example.request', source: '/manual' }), 202)
  await mesh.broker.idle()
  t.equal(worker.requests.length, 1)
  t.equal(notify.requests.length, 0)
  t.same(mesh.broker.deadLetters, [])
})
