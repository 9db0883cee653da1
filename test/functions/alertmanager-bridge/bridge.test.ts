import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import bridge, { alertEventId } from '../../../functions/alertmanager-bridge/index.ts'
import { startTestFunction } from '../../harness/function.ts'
import { startReceiver } from '../../mesh/receiver.ts'

// The bridge over HTTP: Alertmanager's real payloads in, one CloudEvent per
// alert out to K_SINK; 200 only when every event was accepted.

const upstream = new URL('../../../../shared/upstream/events/alertmanager/', import.meta.url)
const sample = async (name: string): Promise<string> => {
  if (existsSync(new URL(name, upstream))) return readFile(new URL(name, upstream), 'utf8')
  if (process.env.CI === 'true') throw new Error('../shared/upstream/events/alertmanager/ is missing')
  t.comment('../shared/upstream/events/alertmanager/ is absent: a written-out payload is used')
  return JSON.stringify({ version: '4', receiver: 'Critical', status: 'firing', externalURL: 'http://am:9093', groupLabels: { alertname: 'KubePodCrashLooping' }, alerts: [{ status: 'firing', labels: { alertname: 'KubePodCrashLooping', namespace: 'pp1', pod: 'dd1-0' }, annotations: {}, startsAt: '2020-02-26T07:05:04.989876849Z', endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: 'a4c6c4f7a49ca0ae' }] })
}

let brokerUp = true
const broker = await startReceiver(() => ({ status: brokerUp ? 202 : 503 }))
t.teardown(() => broker.close())
const token = 'alertmanager-shared-token-0123456789'
const fn = await startTestFunction(bridge, { config: { bearerToken: token }, env: { K_SINK: `${broker.url}/broker` } })
t.teardown(() => fn.stop())
const post = (body: string, auth = `Bearer ${token}`) => fetch(`${fn.url}/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body })

t.test('one CloudEvent per alert, id from fingerprint, status and startsAt', async (t) => {
  const payload = JSON.parse(await sample('firing-cputhrottlinghigh-8-alerts.json')) as { alerts: Array<{ fingerprint: string; status: string; startsAt: string }>; externalURL: string; version?: string }
  payload.version ??= '4'
  const before = broker.requests.length
  const res = await post(JSON.stringify(payload))
  t.equal(res.status, 200)
  t.same(await res.json(), { forwarded: payload.alerts.length })
  const sent = broker.requests.slice(before)
  t.equal(sent.length, payload.alerts.length)
  t.equal(sent[0]?.headers['ce-type'], 'dev.caretaker.alert.firing')
  t.equal(sent[0]?.headers['ce-source'], payload.externalURL, 'the source is the Alertmanager URL')
  t.same(new Set(sent.map((r) => r.headers['ce-id'])), new Set(payload.alerts.map((a) => alertEventId(a as never))))
  const data = JSON.parse(sent[0]!.body.toString()) as Record<string, unknown>
  t.ok(data.groupLabels && data.receiver && 'externalURL' in data, 'group labels, receiver and external URL in the data')
  const again = await post(JSON.stringify(payload))
  t.equal(again.status, 200)
  t.same(broker.requests.slice(before + payload.alerts.length).map((r) => r.headers['ce-id']), sent.map((r) => r.headers['ce-id']), 'a re-sent notification carries the same ids')
})

t.test('resolved alerts become resolved events', async (t) => {
  const payload = JSON.parse(await sample('resolved-fire.json')) as { version?: string; alerts: unknown[] }
  payload.version ??= '4'
  const before = broker.requests.length
  t.equal((await post(JSON.stringify(payload))).status, 200)
  t.ok(broker.requests.slice(before).every((r) => r.headers['ce-type'] === 'dev.caretaker.alert.resolved'))
})

t.test('a malformed payload is a 400 that says what is wrong', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['not json', /not JSON/],
    [JSON.stringify({ version: '3', alerts: [] }), /version "4"/],
    [JSON.stringify({ version: '4', receiver: 'x', alerts: [{ status: 'odd', labels: {}, fingerprint: 'f', startsAt: '2026-01-01T00:00:00Z' }] }), /alerts\[0\]\.status/],
    [JSON.stringify({ version: '4', receiver: 'x', alerts: [{ status: 'firing', labels: { a: 1 }, fingerprint: 'f', startsAt: '2026-01-01T00:00:00Z' }] }), /labels/],
  ]
  for (const [body, message] of cases) {
    const res = await post(body)
    t.equal(res.status, 400)
    t.match(((await res.json()) as { message: string }).message, message)
  }
})

t.test('credentials as in Alertmanager http_config; never echoed', async (t) => {
  const body = await sample('firing-kubepodcrashlooping.json')
  const wrong = await post(body, 'Bearer not-the-token-at-all-xxxxxxx')
  t.equal(wrong.status, 401)
  t.notMatch(await wrong.text(), token)
  t.equal((await post(body, '')).status, 401)
  t.notMatch(fn.logText(), token, 'the token is never logged')
})

t.test('the broker down: 5xx so Alertmanager retries', async (t) => {
  brokerUp = false
  t.teardown(() => { brokerUp = true })
  const body = await sample('firing-kubepodcrashlooping.json')
  const res = await post(JSON.stringify({ version: '4', ...JSON.parse(body) as object }))
  t.equal(res.status, 503)
})
