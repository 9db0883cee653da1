import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { CloudEvent } from 'cloudevents'
import t from 'tap'
import bridge from '../../functions/alertmanager-bridge/index.ts'
import { Errors, type CaretakerError } from '../../shared/errors.ts'
import { createLogger } from '../../shared/logger.ts'
import { brokerAudience, MeshIssuer, type MeshOidc } from '../../sandbox/mesh/index.ts'
import type { EventingOidc } from '../../shared/runtime/auth.ts'
import { parseSettings } from '../../shared/runtime/settings.ts'
import { createEventSink } from '../../shared/runtime/sink.ts'
import { startTestFunction } from '../../sandbox/harness/function.ts'
import { startBrokerToReceiver } from '../mesh/receiver.ts'

// The sink (K_SINK) against the mesh's broker ingress, in both of Knative
// Eventing's authentication-oidc modes. Enabled, the ingress refuses an event
// without a token for the Broker's audience (401), so the sink sends the
// function's projected ServiceAccount token (CARETAKER_SINK_TOKEN_FILE), read
// again whenever the kubelet rotated the file. The token is never logged.

const NS = 'caretaker'
const AUDIENCE = brokerAudience(NS, 'caretaker')
const SA = { namespace: NS, name: 'notify' }

async function start(t: { testdir(): string; teardown(fn: () => unknown): void }, mode: EventingOidc, issuer: MeshIssuer) {
  const oidc: MeshOidc = mode === 'enabled' ? { mode, issuer, tokens: () => 'unused' } : { mode }
  const { mesh, receiver, url, dir } = await startBrokerToReceiver(t, { namespace: NS, logger: createLogger({ level: 'silent' }), oidc })
  const logs: string[] = []
  const destination = new PassThrough()
  destination.on('data', (c: Buffer) => logs.push(c.toString('utf8')))
  return { mesh, receiver, url, dir, logger: createLogger({ level: 'debug', destination }), logText: () => logs.join('') }
}

let n = 0
const event = () => new CloudEvent<unknown>({ specversion: '1.0', id: `s-${++n}`, source: '/test/sink', type: 'dev.caretaker.test.sent', data: {} }, false)

for (const mode of ['disabled', 'enabled'] as const) {
  t.test(`authentication-oidc ${mode}: the sink with and without a token`, async (t) => {
    const issuer = new MeshIssuer()
    const { receiver, mesh, url, dir, logger, logText } = await start(t, mode, issuer)
    const file = join(dir, 'token')
    const token = issuer.mint(SA, AUDIENCE)
    await writeFile(file, `${token}\n`)
    const withToken = createEventSink(url, logger, { tokenFile: file, backoffMs: 1 })
    const without = createEventSink(url, logger, { backoffMs: 1 })
    t.equal(await withToken.send(event()), true, 'with the token: accepted')
    t.equal(await without.send(event()), mode === 'disabled', mode === 'enabled' ? 'without: refused (401)' : 'without: accepted, as Knative ships')
    await mesh.broker.idle()
    t.equal(receiver.requests.length, mode === 'enabled' ? 1 : 2)
    if (mode === 'enabled') t.match(logText(), /"reason":"HTTP 401"/, 'the refusal is logged')
    t.notMatch(logText(), token.split('.')[2]!, 'the token is never logged')
  })
}

t.test('a rotated token file is read again', async (t) => {
  const issuer = new MeshIssuer()
  const { receiver, mesh, url, dir, logger, logText } = await start(t, 'enabled', issuer)
  // As the kubelet's atomic writer lays it out: token -> ..data/token, ..data -> a timestamped directory swapped by rename.
  const generation = async (name: string, token: string) => {
    await mkdir(join(dir, name))
    await writeFile(join(dir, name, 'token'), token)
    await symlink(name, join(dir, '..data_tmp'))
    await rename(join(dir, '..data_tmp'), join(dir, '..data'))
  }
  const stale = new MeshIssuer({ now: () => Date.now() - 7_200_000 })
  await generation('..1', issuer.mint(SA, AUDIENCE))
  await symlink('..data/token', join(dir, 'token'))
  const sink = createEventSink(url, logger, { tokenFile: join(dir, 'token'), attempts: 1 })
  t.equal(await sink.send(event()), true, 'the first token')

  await generation('..2', stale.mint(SA, AUDIENCE, 600))
  t.equal(await sink.send(event()), false, 'the file now holds an expired token, and the sink sent that one: it re-read the file')
  await generation('..3', issuer.mint(SA, AUDIENCE))
  await rm(join(dir, '..2'), { recursive: true })
  t.equal(await sink.send(event()), true, 'the kubelet rotated it: the fresh token is read and accepted')

  await mesh.broker.idle()
  t.equal(receiver.requests.length, 2)
  t.notMatch(logText(), /eyJ/, 'no token in the log')
})

t.test('a token refused by the broker: the retry sends the file\'s current token', async (t) => {
  const issuer = new MeshIssuer()
  const { dir, url, logger } = await start(t, 'enabled', issuer)
  const file = join(dir, 'token')
  await writeFile(file, issuer.mint(SA, 'wrong-audience'))
  const sink = createEventSink(url, logger, { tokenFile: file, attempts: 3, backoffMs: 200 })
  const sending = sink.send(event())
  // The kubelet replaced it between two attempts.
  await new Promise((r) => setTimeout(r, 50))
  await writeFile(file, issuer.mint(SA, AUDIENCE))
  t.equal(await sending, true)
})

t.test('an unreadable token file: the send fails with the reason, not the token', async (t) => {
  const issuer = new MeshIssuer()
  const { dir, url, logger, logText } = await start(t, 'enabled', issuer)
  const sink = createEventSink(url, logger, { tokenFile: join(dir, 'missing'), attempts: 2, backoffMs: 1 })
  t.equal(await sink.send(event()), false)
  t.match(logText(), /the sink token file .*missing cannot be read \(ENOENT\)/)
  await writeFile(join(dir, 'empty'), '\n')
  t.equal(await createEventSink(url, logger, { tokenFile: join(dir, 'empty'), attempts: 1 }).send(event()), false, 'an empty file is no token')
})

t.test('settings: CARETAKER_SINK_TOKEN_FILE, required with OIDC on and a K_SINK', async (t) => {
  const base = { CARETAKER_AUTH: 'tokenreview', CARETAKER_KUBE_SERVER: 'http://127.0.0.1:1', K_SINK: 'http://broker/caretaker/caretaker' }
  let refused: CaretakerError | undefined
  try { parseSettings({ ...base, CARETAKER_EVENTING_OIDC: 'enabled' }, 'notify') } catch (err) { refused = err as CaretakerError }
  t.equal(refused?.code, Errors.InvalidConfig.code)
  t.match(refused?.message, /CARETAKER_SINK_TOKEN_FILE: .*refuses events without a token.*eventing-oidc component/)
  t.equal(parseSettings({ ...base, CARETAKER_EVENTING_OIDC: 'enabled', CARETAKER_SINK_TOKEN_FILE: '/var/run/t' }, 'notify').sinkTokenFile, '/var/run/t')
  t.equal(parseSettings({ ...base, CARETAKER_EVENTING_OIDC: 'disabled' }, 'notify').sinkTokenFile, undefined, 'OIDC off: none needed')
  t.doesNotThrow(() => parseSettings({ CARETAKER_AUTH: 'tokenreview', CARETAKER_KUBE_SERVER: 'http://127.0.0.1:1', CARETAKER_EVENTING_OIDC: 'enabled' }, 'notify'), 'no K_SINK: nothing to send')
})

t.test('a function end to end: alertmanager-bridge forwards through an ingress that wants its token', async (t) => {
  const issuer = new MeshIssuer()
  const { dir, url, receiver, mesh } = await start(t, 'enabled', issuer)
  const file = join(dir, 'token')
  const stop = await issuer.project(file, { namespace: NS, name: 'alertmanager-bridge' }, AUDIENCE, { ttlSeconds: 600 })
  t.teardown(stop)
  const token = 'alertmanager-shared-token-0123456789'
  const fn = await startTestFunction(bridge, { config: { bearerToken: token }, env: { K_SINK: url, CARETAKER_EVENTING_OIDC: 'enabled', CARETAKER_SINK_TOKEN_FILE: file } })
  t.teardown(() => fn.stop())
  const res = await fetch(`${fn.url}/alertmanager`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ version: '4', receiver: 'r', status: 'firing', alerts: [{ status: 'firing', labels: { alertname: 'X' }, startsAt: '2026-01-01T00:00:00Z', fingerprint: 'f1' }] }),
  })
  t.equal(res.status, 200)
  await mesh.broker.idle()
  t.equal(receiver.requests.length, 1)
  t.notMatch(fn.logText(), /eyJ/, 'the function never logs its token')
})
