import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createLogger } from '../../shared/logger.ts'
import { knativeTime } from '../../sandbox/mesh/delivery.ts'
import { startMesh, type Mesh } from '../../sandbox/mesh/index.ts'
import { startReceiver, type Receiver } from './receiver.ts'

/**
 * The ingress refuses and preserves exactly what Knative's MT broker does
 * (knative/eventing pkg/broker/ingress/ingress_handler.go with
 * cloudevents/sdk-go v2 binding.ToEvent + event.Validate).
 */

const fixtures = new URL('./fixtures/', import.meta.url).pathname
const logger = createLogger({ level: 'silent' })

async function setup(t: Test): Promise<{ mesh: Mesh; recorder: Receiver }> {
  const recorder = await startReceiver()
  const mesh = await startMesh({ dir: join(fixtures, 'routing'), services: { recorder: recorder.url }, logger })
  t.teardown(async () => {
    await mesh.close()
    await recorder.close()
  })
  return { mesh, recorder }
}

/** A raw POST: fetch would add a text/plain content type to a string body, so the body goes as bytes. */
async function post(url: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, {
    method: 'POST', headers, ...(body === undefined ? {} : { body: new TextEncoder().encode(body) }), signal: AbortSignal.timeout(10_000),
  })
  return { status: response.status, body: await response.text() }
}

const binary = (attrs: Record<string, string>): Record<string, string> =>
  Object.fromEntries([['ce-specversion', '1.0'], ...Object.entries(attrs).map(([k, v]) => [`ce-${k}`, v])])

t.test('an event without id is refused with 400, in both modes; no id is invented', async (t) => {
  const { mesh, recorder } = await setup(t)
  for (const id of [undefined, '', '   ']) {
    const attrs: Record<string, string> = { type: 'com.example.exact', source: '/s', ...(id === undefined ? {} : { id }) }
    const sent = await post(mesh.ingressUrl, binary(attrs), '{}')
    t.equal(sent.status, 400, `binary, id ${JSON.stringify(id)}`)
    t.match(JSON.parse(sent.body), { error: 'invalid_cloudevent', message: /id/ })
    const structured = await post(mesh.ingressUrl, { 'content-type': 'application/cloudevents+json' }, JSON.stringify({ specversion: '1.0', ...attrs, data: {} }))
    t.equal(structured.status, 400, `structured, id ${JSON.stringify(id)}`)
  }
  t.equal((await post(mesh.ingressUrl, binary({ id: 'x', type: 'com.example.exact' }))).status, 400, 'without source')
  t.equal((await post(mesh.ingressUrl, binary({ id: 'x', source: '/s' }))).status, 400, 'without type')
  t.equal((await post(mesh.ingressUrl, binary({ id: 'x', type: 'com.example.exact', source: '/s', subject: ' ' }))).status, 400, 'an empty subject')
  t.equal((await post(mesh.ingressUrl, binary({ id: 'x', type: 'com.example.exact', source: '/s', time: 'yesterday' }))).status, 400, 'a time that is not RFC 3339')
  t.equal((await post(mesh.ingressUrl, { ...binary({ id: 'x', type: 'com.example.exact', source: '/s' }), 'ce-specversion': '0.2' })).status, 400, 'an unknown specversion')
  t.equal((await post(mesh.ingressUrl, { ...binary({ id: 'x', type: 'com.example.exact', source: '/s' }), 'ce-bad_name': 'v' })).status, 400, 'an invalid extension name')
  t.equal((await post(mesh.ingressUrl, { 'content-type': 'application/cloudevents+json' }, JSON.stringify({ specversion: '1.0', id: 1, type: 'com.example.exact', source: '/s' }))).status, 400, 'a numeric id')
  t.equal((await post(mesh.ingressUrl, { 'content-type': 'application/cloudevents+json' }, JSON.stringify({ specversion: '1.0', id: 'x', type: 'com.example.exact', source: '/s', ext: { a: 1 } }))).status, 400, 'an object extension')
  await mesh.broker.idle()
  t.equal(recorder.requests.length, 0, 'nothing was delivered')
})

t.test('time keeps its nanoseconds and is written as sdk-go writes it (UTC, RFC3339Nano)', async (t) => {
  t.equal(knativeTime('2026-01-01T01:00:00.123456789+01:00'), '2026-01-01T00:00:00.123456789Z')
  t.equal(knativeTime('2026-03-01T10:00:00.500Z'), '2026-03-01T10:00:00.5Z')
  t.equal(knativeTime('2026-03-01T10:00:00.000Z'), '2026-03-01T10:00:00Z')
  t.equal(knativeTime('2026-03-01T10:00:00.1234567891Z'), '2026-03-01T10:00:00.123456789Z', 'beyond nanoseconds is cut, as Go does')
  t.equal(knativeTime('2024-02-29T23:59:59-00:30'), '2024-03-01T00:29:59Z')
  for (const bad of ['2026-03-01t10:00:00Z', '2026-03-01T10:00:00z', '2026-02-30T00:00:00Z', '2026-03-01T24:00:00Z', '2026-03-01T10:00:60Z', '2026-03-01 10:00:00Z', '2026-03-01T10:00:00']) {
    t.throws(() => knativeTime(bad), bad)
  }

  const { mesh, recorder } = await setup(t)
  t.equal((await post(mesh.ingressUrl, binary({ id: 't-1', type: 'com.example.exact', source: '/s', time: '2026-01-01T01:00:00.123456789+01:00' }))).status, 202)
  t.equal((await post(mesh.ingressUrl, { 'content-type': 'application/cloudevents+json' },
    JSON.stringify({ specversion: '1.0', id: 't-2', type: 'com.example.exact', source: '/s', time: '2026-01-01T00:00:00.000001Z' }))).status, 202)
  await mesh.broker.idle()
  t.same(recorder.on('/exact').map((r) => r.headers['ce-time']), ['2026-01-01T00:00:00.123456789Z', '2026-01-01T00:00:00.000001Z'])
})

t.test('no content type is added, data bytes and header values travel verbatim', async (t) => {
  const { mesh, recorder } = await setup(t)
  // Binary without a content type, a body that is not JSON.
  t.equal((await post(mesh.ingressUrl, binary({ id: 'c-1', type: 'com.example.exact', source: '/s' }), 'plain words')).status, 202)
  // Structured without datacontenttype: the data member's own JSON text, spacing and key order as sent.
  const dataText = '{ "b" : 1,\n  "a": [1, 2.50, "\\u00e9"] }'
  t.equal((await post(mesh.ingressUrl, { 'content-type': 'application/cloudevents+json' },
    `{"specversion":"1.0","id":"c-2","type":"com.example.exact","source":"/s","count":7,"flag":true,"data":${dataText}}`)).status, 202)
  // A percent-encoded subject (the HTTP binding's encoding) is neither decoded nor encoded again.
  t.equal((await post(mesh.ingressUrl, binary({ id: 'c-3', type: 'com.example.exact', source: '/s', subject: 'caf%C3%A9%20%E2%82%AC%0A' }))).status, 202)
  // A non-JSON datacontenttype in structured mode: data is a JSON string, sent as its text.
  t.equal((await post(mesh.ingressUrl, { 'content-type': 'application/cloudevents+json' },
    JSON.stringify({ specversion: '1.0', id: 'c-4', type: 'com.example.exact', source: '/s', datacontenttype: 'text/plain', data: 'line one\nline two' }))).status, 202)
  await mesh.broker.idle()
  const [first, second, third, fourth] = recorder.on('/exact')
  t.equal(first?.headers['content-type'], undefined, 'no content type where the sender set none')
  t.equal(first?.body.toString('utf8'), 'plain words')
  t.equal(second?.headers['content-type'], undefined)
  t.equal(second?.body.toString('utf8'), dataText, 'the data text unchanged')
  t.match(second?.headers, { 'ce-count': '7', 'ce-flag': 'true' })
  t.equal(second?.headers['ce-time'], undefined, 'no time invented')
  t.equal(third?.headers['ce-subject'], 'caf%C3%A9%20%E2%82%AC%0A')
  t.equal(fourth?.headers['content-type'], 'text/plain')
  t.equal(fourth?.body.toString('utf8'), 'line one\nline two')
})

t.test('deeply nested data neither crashes the mesh nor is refused below json-iterator’s limit', async (t) => {
  const { mesh, recorder } = await setup(t)
  const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n)
  // Binary: data is bytes, never parsed.
  t.equal((await post(mesh.ingressUrl, { ...binary({ id: 'n-1', type: 'com.example.exact', source: '/s' }), 'content-type': 'application/json' }, deep(50_000))).status, 202)
  // Structured: json-iterator reads up to 10,000 levels (its maxDepth) and refuses deeper.
  const envelope = (id: string, n: number): string => `{"specversion":"1.0","id":"${id}","type":"com.example.exact","source":"/s","data":${deep(n)}}`
  t.equal((await post(mesh.ingressUrl, { 'content-type': 'application/cloudevents+json' }, envelope('n-2', 5_000))).status, 202)
  const refused = await post(mesh.ingressUrl, { 'content-type': 'application/cloudevents+json' }, envelope('n-3', 20_000))
  t.equal(refused.status, 400)
  t.match(JSON.parse(refused.body), { error: 'invalid_cloudevent', message: /deeper than 10000/ })
  await mesh.broker.idle()
  const delivered = recorder.on('/exact')
  t.same(delivered.map((r) => r.headers['ce-id']), ['n-1', 'n-2'])
  t.equal(delivered[0]?.body.length, 100_000)
  t.equal(delivered[1]?.body.toString('utf8'), deep(5_000))
})
