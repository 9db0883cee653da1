import { join } from 'node:path'
import t from 'tap'
import { createLogger } from '../../shared/logger.ts'
import { startMesh } from '../../sandbox/mesh/index.ts'
import { postBinary, startReceiver } from './receiver.ts'

const fixtures = new URL('./fixtures/', import.meta.url).pathname
const logger = createLogger({ level: 'silent' })

t.test('routes each event only to the Triggers whose filter matches', async (t) => {
  const recorder = await startReceiver()
  t.teardown(() => recorder.close())
  const mesh = await startMesh({ dir: join(fixtures, 'routing'), services: { recorder: recorder.url }, logger })
  t.teardown(() => mesh.close())

  const table: { attributes: Record<string, string>; expected: string[] }[] = [
    { attributes: { type: 'com.example.backup.verified', source: '/caretaker/backup' }, expected: ['/by-attributes'] },
    { attributes: { type: 'com.example.backup.verified', source: '/elsewhere' }, expected: [] },
    { attributes: { type: 'com.example.any', source: '/s', subject: 'whatever' }, expected: ['/any-source'] },
    { attributes: { type: 'com.example.any', source: '/s' }, expected: [] },
    { attributes: { type: 'com.example.exact', source: '/s' }, expected: ['/exact'] },
    { attributes: { type: 'com.example.exact.more', source: '/s' }, expected: [] },
    { attributes: { type: 'com.example.prefix.one', source: '/s' }, expected: ['/prefix'] },
    { attributes: { type: 'com.example.backup.failed', source: '/s' }, expected: ['/suffix'] },
    { attributes: { type: 'com.example.nested', source: '/s', subject: 'a' }, expected: ['/nested'] },
    { attributes: { type: 'com.example.nested', source: '/s', subject: 'c' }, expected: [] },
    { attributes: { type: 'com.example.nested', source: '/s', subject: 'b', severity: 'low' }, expected: [] },
    { attributes: { type: 'com.example.nested', source: '/s', subject: 'b', severity: 'high' }, expected: ['/nested'] },
    { attributes: { type: 'com.example.both', source: '/s' }, expected: ['/both'] },
    { attributes: { type: 'com.example.never', source: '/s' }, expected: [] },
  ]
  for (const [index, row] of table.entries()) {
    const before = recorder.requests.length
    const id = `evt-${index}`
    t.equal(await postBinary(mesh.ingressUrl, { id, ...row.attributes }, '{"n":1}'), 202, `${row.attributes.type} accepted`)
    await mesh.broker.idle()
    const got = recorder.requests.slice(before)
    t.same(got.map((r) => r.path), row.expected, `${JSON.stringify(row.attributes)} -> ${JSON.stringify(row.expected)}`)
    for (const request of got) t.equal(request.headers['ce-id'], id)
  }
  t.same(mesh.broker.deadLetters, [])
})

t.test('delivers in binary mode with every attribute and the data unchanged', async (t) => {
  const recorder = await startReceiver()
  t.teardown(() => recorder.close())
  const mesh = await startMesh({ dir: join(fixtures, 'routing'), services: { recorder: recorder.url }, logger })
  t.teardown(() => mesh.close())
  const structured = JSON.stringify({
    specversion: '1.0', id: 's-1', type: 'com.example.exact', source: '/caretaker/manual', subject: 'db',
    time: '2026-03-01T10:00:00.000Z', datacontenttype: 'application/json', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    dryrun: 'true', data: { hello: 'world' },
  })
  const response = await fetch(mesh.ingressUrl, {
    method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: structured, signal: AbortSignal.timeout(5000),
  })
  t.equal(response.status, 202)
  await mesh.broker.idle()
  const [delivered] = recorder.on('/exact')
  t.ok(delivered, 'delivered to the exact trigger')
  t.match(delivered!.headers, {
    'ce-specversion': '1.0', 'ce-id': 's-1', 'ce-type': 'com.example.exact', 'ce-source': '/caretaker/manual', 'ce-subject': 'db',
    'ce-time': '2026-03-01T10:00:00Z', 'ce-traceparent': '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'ce-dryrun': 'true',
    'content-type': /^application\/json/,
  })
  t.same(JSON.parse(delivered!.body.toString('utf8')), { hello: 'world' })

  // An event sent without `time` must not gain one on the way.
  t.equal(await postBinary(mesh.ingressUrl, { id: 'b-1', type: 'com.example.exact', source: '/s' }), 202)
  await mesh.broker.idle()
  const second = recorder.on('/exact')[1]
  t.equal(second?.headers['ce-id'], 'b-1')
  t.equal(second?.headers['ce-time'], undefined)
  t.equal(second?.body.length, 0)
})

t.test('rejects what is not a valid CloudEvent with 400', async (t) => {
  const mesh = await startMesh({ dir: join(fixtures, 'empty'), services: {}, logger })
  t.teardown(() => mesh.close())
  const plain = await fetch(mesh.ingressUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(5000) })
  t.equal(plain.status, 400)
  t.match(await plain.json(), { error: 'not_a_cloudevent' })
  t.equal(await postBinary(mesh.ingressUrl, { id: 'x', type: 'only-type' }), 400, 'source missing')
  t.equal(await postBinary(mesh.ingressUrl, { id: 'x', type: 't', source: '/s' }), 202, 'an empty mesh still accepts events')
})
