import { join } from 'node:path'
import t from 'tap'
import bridge from '../../../functions/alertmanager-bridge/index.ts'
import { createLogger } from '../../../shared/logger.ts'
import { startMesh } from '../../../sandbox/mesh/index.ts'
import { decodeHeaderValue, encodeHeaderValue } from '../../../shared/runtime/cloudevent-http.ts'
import { startTestFunction } from '../../../sandbox/harness/function.ts'
import { startReceiver } from '../../mesh/receiver.ts'

// Hostile alerts: labels with any Unicode or control character, an empty
// alertname, a body nested deep. The bridge forwards what it can (200) and
// refuses what is malformed (400, {error, message}); never a 5xx loop.

const token = 'alertmanager-shared-token-0123456789'
const alert = (labels: Record<string, string>, fingerprint: string) => ({ status: 'firing', labels, annotations: {}, startsAt: '2026-01-01T00:00:00Z', fingerprint })
const hook = (alerts: unknown[]) => JSON.stringify({ version: '4', receiver: 'r', status: 'firing', externalURL: 'http://am:9093', alerts })

t.test('Unicode and control characters in labels reach the broker percent-encoded; an empty alertname falls back to the fingerprint', async (t) => {
  const broker = await startReceiver(() => ({ status: 202 }))
  t.teardown(() => broker.close())
  const fn = await startTestFunction(bridge, { config: { bearerToken: token }, env: { K_SINK: `${broker.url}/broker` } })
  t.teardown(() => fn.stop())
  const names = ['Disk full 😀', 'Zeile\nzwei\r\u0000\u007f', '"quoted" 100%', '\u202eevil']
  const res = await fetch(`${fn.url}/alertmanager`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: hook([...names.map((alertname, i) => alert({ alertname, note: alertname }, `f${i}`)), alert({ alertname: ' ' }, 'fblank')]),
  })
  t.equal(res.status, 200)
  t.same(await res.json(), { forwarded: names.length + 1 })
  const subjects = broker.requests.map((r) => String(r.headers['ce-subject']))
  t.same(new Set(subjects), new Set([...names.map(encodeHeaderValue), 'fblank']))
  t.ok(subjects.every((s) => /^[\x21-\x7e]+$/.test(s)), 'printable ASCII on the wire')
  t.same(new Set(subjects.map((s) => decodeHeaderValue(s, 'subject'))), new Set([...names, 'fblank']))
})

t.test('through the local mesh, which refuses what Knative refuses: every alert is accepted', async (t) => {
  const mesh = await startMesh({ dir: join(new URL('../../mesh/fixtures/', import.meta.url).pathname, 'routing'), services: { recorder: 'http://127.0.0.1:1' }, logger: createLogger({ level: 'silent' }) })
  t.teardown(() => mesh.close())
  const fn = await startTestFunction(bridge, { config: { bearerToken: token }, env: { K_SINK: mesh.ingressUrl } })
  t.teardown(() => fn.stop())
  const res = await fetch(`${fn.url}/alertmanager`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: hook([alert({ alertname: 'ünïcödé\t\n' }, 'm1'), alert({ alertname: '' }, 'm2'), alert({ alertname: '   ' }, 'm3')]),
  })
  t.equal(res.status, 200, 'not a 503 that Alertmanager would retry forever')
})

t.test('a body nested deep is a 400 in the documented shape', async (t) => {
  const fn = await startTestFunction(bridge, { config: { bearerToken: token }, env: { K_SINK: 'http://127.0.0.1:1/' } })
  t.teardown(() => fn.stop())
  for (const depth of [100, 5_000, 100_000]) {
    const res = await fetch(`${fn.url}/alertmanager`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: `{"version":"4","alerts":${'['.repeat(depth)}${']'.repeat(depth)}}`,
    })
    t.equal(res.status, 400, `${depth} levels`)
    t.match(await res.json(), { error: 'invalid_request', message: /deeper than 64 levels/ })
  }
})
