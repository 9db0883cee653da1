import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import bridge, { alertEventId } from '../../../functions/alertmanager-bridge/index.ts'
import { placeholderReason } from '../../../shared/config.ts'
import { Errors, type CaretakerError } from '../../../shared/errors.ts'
import { startTestFunction } from '../../../sandbox/harness/function.ts'
import { startReceiver } from '../../mesh/receiver.ts'
import { nodeChildEnv } from '../../../shared/process/node-env.ts'

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

t.test('a body that is no notification is a 400 that says what is wrong', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['not json', /not JSON/],
    [JSON.stringify({ version: '3', alerts: [] }), /version "4"/],
    [JSON.stringify([{ status: 'firing' }]), /not an Alertmanager notification/],
    [JSON.stringify({ version: '4', receiver: 'x', alerts: {} }), /"alerts" must be an array/],
  ]
  for (const [body, message] of cases) {
    const res = await post(body)
    t.equal(res.status, 400)
    t.match(((await res.json()) as { message: string }).message, message)
  }
})

// Alertmanager does not retry a 4xx (notify/util.go Retrier.Check): a notification
// refused for one bad alert lost the good ones, so a malformed alert is left out
// and reported (partial.test.ts) and only a body that is no notification is a 400.
t.test('a malformed alert is left out and reported, not a 400 for the notification', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ status: 'odd', labels: {}, fingerprint: 'f', startsAt: '2026-01-01T00:00:00Z' }, /alerts\[0\]\.status/],
    [{ status: 'firing', labels: { a: 1 }, fingerprint: 'f', startsAt: '2026-01-01T00:00:00Z' }, /labels/],
  ]
  for (const [alert, message] of cases) {
    const res = await post(JSON.stringify({ version: '4', receiver: 'x', alerts: [alert] }))
    t.equal(res.status, 200)
    const body = (await res.json()) as { forwarded: number; rejected: Array<{ message: string }> }
    t.equal(body.forwarded, 0)
    t.match(body.rejected[0]?.message, message)
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

t.test('refuses to start with a placeholder, with no credentials, or open on the network', async (t) => {
  // The bridge's config itself (kustomize makes the Secret of it).
  const shippedText = await readFile(new URL('../../../manifests/alertmanager-bridge/config.yaml', import.meta.url), 'utf8')
  const refused = async (config: unknown, env: Record<string, string> = {}) => {
    try {
      const started = await startTestFunction(bridge, { config, env })
      await started.stop()
      return undefined
    } catch (err) {
      return err as CaretakerError
    }
  }
  const shipped = await refused(parse(shippedText))
  t.equal(shipped?.code, Errors.InvalidConfig.code, 'the shipped Secret\'s REPLACE-… token does not pass')
  t.match(shipped?.message, /config\.bearerToken is a placeholder .*REPLACE/)
  t.notMatch(shipped?.message, /with-a-long-random-token/, 'the value is not echoed')

  for (const [config, field] of [
    [{ bearerToken: 'changeme-changeme-changeme' }, 'bearerToken'],
    [{ bearerToken: '${ALERTMANAGER_TOKEN}' }, 'bearerToken'],
    [{ basicAuth: { username: 'alertmanager', password: '<password>' } }, 'basicAuth.password'],
    [{ basicAuth: { username: 'alertmanager', password: 'REPLACE_ME_NOW' } }, 'basicAuth.password'],
  ] as const) {
    t.match((await refused(config))?.message, new RegExp(`config\\.${field.replace('.', '\\.')} is a placeholder`), `${field} placeholder refused`)
  }
  for (let i = 0; i < 50; i++) t.equal(placeholderReason(randomBytes(24).toString(i % 2 ? 'base64' : 'hex')), undefined)

  const none = await refused({})
  t.equal(none?.code, Errors.InvalidConfig.code, 'no credentials: refused, even on loopback')
  t.match(none?.message, /no credentials .*bearerToken.*basicAuth.*auth: none/)

  const open = await refused({ auth: 'none' }, { HOST: '0.0.0.0', CARETAKER_AUTH: 'static', CARETAKER_AUTH_TOKEN: 'runtime-token-0123456789abcdef' })
  t.match(open?.message, /auth "none" is allowed only when the bridge listens on loopback .*not on 0\.0\.0\.0/, '"none" off loopback: refused')
  t.match((await refused({ auth: 'none', bearerToken: token }))?.message, /credentials are set too/, '"none" with credentials: refused')

  const local = await startTestFunction(bridge, { config: { auth: 'none' }, env: { K_SINK: `${broker.url}/broker` } })
  t.teardown(() => local.stop())
  const body = JSON.stringify({ version: '4', ...JSON.parse(await sample('firing-kubepodcrashlooping.json')) as object })
  const res = await fetch(`${local.url}/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  t.equal(res.status, 200, '"none" on loopback: starts and takes the webhook without credentials')
})

t.test('the process refuses the shipped config with a clear fatal line and exit code 2', async (t) => {
  const dir = t.testdir()
  const text = await readFile(new URL('../../../manifests/alertmanager-bridge/config.yaml', import.meta.url), 'utf8')
  await writeFile(join(dir, 'config.yaml'), text)
  const child = spawn(process.execPath, ['shared/runtime/main.ts', 'alertmanager-bridge'], {
    cwd: fileURLToPath(new URL('../../../', import.meta.url)),
    env: { PATH: process.env.PATH ?? '', ...nodeChildEnv(), HOST: '127.0.0.1', PORT: '0', CARETAKER_AUTH: 'none', CARETAKER_CONFIG: join(dir, 'config.yaml') },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString('utf8') })
  child.stderr.on('data', (c: Buffer) => { out += c.toString('utf8') })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.equal(code, 2)
  const fatal = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; error?: string; msg: string }).find((l) => l.level === 'fatal')
  t.equal(fatal?.error, Errors.InvalidConfig.code)
  t.match(fatal?.msg, /config\.bearerToken is a placeholder/)
  t.notMatch(out, /with-a-long-random-token/)
})
