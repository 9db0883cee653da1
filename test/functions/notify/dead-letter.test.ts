import { readdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import notify from '../../../functions/notify/index.ts'
import { configSchema, type NotifyConfig } from '../../../functions/notify/config.ts'
import { destinationName, readDeadLetter } from '../../../functions/notify/dead-letter.ts'
import { validateConfig } from '../../../shared/config.ts'
import { createLogger } from '../../../shared/logger.ts'
import { startMesh } from '../../../sandbox/mesh/index.ts'
import { CloudEvent } from 'cloudevents'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { postBinary, startReceiver } from '../../mesh/receiver.ts'

// The project's own triggers/ in the local mesh: a function that keeps
// failing makes the Broker give up on an event, which reaches notify's
// dead-letter route with Knative's error extensions and becomes a message,
// a log line and a metric. The event's data never shows.

const DATA_MARKER = 'payload-that-must-not-show-7f3a'
const root = fileURLToPath(new URL('../../../', import.meta.url))

const hook = await startReceiver(() => ({ status: 200, body: 'ok' }))
t.teardown(() => hook.close())
// Every function but notify answers 503, as one that is down or failing would.
const broken = await startReceiver(() => ({ status: 503, body: '{"error":"dependency_unavailable","message":"Vault is sealed; retry later"}' }))
t.teardown(() => broken.close())

process.env.NOTIFY_DLQ_TEST_HOOK = `${hook.url}/hook`
const config = validateConfig<NotifyConfig>({
  cluster: 'prod-eu1',
  channels: [{ name: 'hook', kind: 'webhook', url: { env: 'NOTIFY_DLQ_TEST_HOOK' } }, { name: 'log', kind: 'log' }],
  routes: [{ types: ['dev.caretaker.event.*'], minSeverity: 'warning', channels: ['hook', 'log'] }],
  links: [{ label: 'Runbook', url: 'https://wiki.example.org/runbooks/{family}' }],
}, configSchema, 'test')
const fn = await startTestFunction(notify, { config, env: { CARETAKER_DRY_RUN: 'false' } })
t.teardown(() => fn.stop())

const functions = (await readdir(`${root}functions`, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name)
const delays: number[] = []
const mesh = await startMesh({
  dir: `${root}triggers`,
  services: Object.fromEntries(functions.map((name) => [name, name === 'notify' ? fn.url : broken.url])),
  logger: createLogger({ level: 'silent' }),
  sleep: async (ms) => { delays.push(ms) },
})
t.teardown(() => mesh.close())

const metric = async (name: string) => {
  const text = await (await fetch(new URL('/metrics', fn.url))).text()
  return text.split('\n').filter((l) => l.startsWith(name))
}

t.test('an event the Broker gives up on reaches notify as a message, a log line and a metric', async (t) => {
  const status = await postBinary(mesh.ingressUrl, { id: 'lost-1', type: 'dev.caretaker.backup.verify.requested', source: '/caretaker/manual', subject: 'postgresql' }, JSON.stringify({ set: 'postgresql', note: DATA_MARKER }))
  t.equal(status, 202)
  await mesh.broker.idle()
  t.ok(broken.requests.length >= 2, `the failing function was retried (${broken.requests.length} attempts)`)
  t.match(mesh.broker.deadLetters, [{ event: { id: 'lost-1' }, lastStatus: 503, deadLetterStatus: 200 }], 'dead-lettered to notify, which took it')
  t.equal(hook.requests.length, 1, 'one message on the webhook')
  const body = JSON.parse(hook.requests[0]!.body.toString('utf8')) as Record<string, unknown>
  t.match(body, {
    severity: 'critical',
    title: /^Event lost: dev\.caretaker\.backup\.verify\.requested to /,
    what: /gave up delivering dev\.caretaker\.backup\.verify\.requested from \/caretaker\/manual: its last answer was HTTP 503 dependency_unavailable: Vault is sealed; retry later/,
    action: /Check its pods and log \(search for event id lost-1\)/,
  })
  t.match(JSON.stringify(body), /runbooks\/dead-letter/)
  t.match(await metric('caretaker_dead_letters_total{'), [/type="dev\.caretaker\.backup\.verify\.requested",destination="other"} 1/])
  t.ok(fn.logLines().some((l) => l.msg === 'an event was dead-lettered: the Broker gave up delivering it' && (l.deadLetter as { id: string }).id === 'lost-1'))
  t.notOk(fn.logText().includes(DATA_MARKER), 'the event data is not logged')
  t.notOk(hook.requests.some((r) => r.body.toString('utf8').includes(DATA_MARKER)), 'nor sent')
})

t.test('a dead letter sent again is not told twice', async (t) => {
  const before = hook.requests.length
  const res = await fetch(new URL('/dead-letter', fn.url), {
    method: 'POST',
    headers: binaryHeaders('dev.caretaker.backup.verify.requested', { 'ce-id': 'lost-1', 'ce-source': '/caretaker/manual', 'ce-knativeerrorcode': '503' }),
    body: '{}',
  })
  t.equal(res.status, 200)
  t.match(await res.json(), { deliveries: [{ channel: 'hook', status: 'already-sent' }, { channel: 'log', status: 'already-sent' }] })
  t.equal(hook.requests.length, before)
})

t.test('what is not a CloudEvent is a 4xx with the usual code', async (t) => {
  const res = await fetch(new URL('/dead-letter', fn.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"hello":1}' })
  t.equal(res.status, 400)
  t.match(await res.json(), { error: 'not_a_cloudevent' })
})

t.test('reading Knative\'s extensions', async (t) => {
  const event = new CloudEvent({
    id: 'x', type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/caretaker/pingsources/verify-backup-sweep',
    knativeerrordest: 'http://verify-backup.caretaker.svc.cluster.local', knativeerrorcode: '500',
    knativeerrordata: Buffer.from(`{"error":"internal","message":"${'y'.repeat(1100)}"}`).subarray(0, 1024).toString('base64'),
  }, false)
  const d = readDeadLetter(event)
  t.equal(d.code, 500)
  t.equal(destinationName(d.destination), 'caretaker/verify-backup', 'the Knative Service it was for')
  t.same(d.error, { code: 'internal' }, 'a body Knative cut is still read for its code')
  t.same(readDeadLetter(new CloudEvent({ id: 'y', type: 't', source: '/s' }, false)).code, undefined, 'no extensions: nothing made up')
})
