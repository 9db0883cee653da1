import t from 'tap'
import echo, { invocations } from '../fixtures/functions/echo.ts'
import { binaryHeaders, startTestFunction } from '../../sandbox/harness/function.ts'

const TYPE = 'dev.caretaker.test.echo.requested'

t.test('bad input gets a 4xx with a stable code and reaches no handler', async (t) => {
  const fn = await startTestFunction(echo, { env: { CARETAKER_BODY_LIMIT: '2048' } })
  t.teardown(() => fn.stop())
  const before = invocations.length

  const cases: Array<{ name: string; headers: Record<string, string>; body?: string; status: number; error: string; message: RegExp }> = [
    { name: 'plain JSON, not a CloudEvent', headers: { 'content-type': 'application/json' }, body: '{"message":"x"}', status: 400, error: 'not_a_cloudevent', message: /ce-\* headers/ },
    { name: 'binary mode without ce-source', headers: (() => { const h = binaryHeaders(TYPE); delete (h as Record<string, string | undefined>)['ce-source']; return h })(), body: '{"message":"x"}', status: 400, error: 'invalid_cloudevent', message: /missing the required attribute source/ },
    { name: 'binary mode with specversion 0.3', headers: binaryHeaders(TYPE, { 'ce-specversion': '0.3' }), body: '{"message":"x"}', status: 400, error: 'invalid_cloudevent', message: /only 1.0/ },
    { name: 'structured mode without id', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify({ specversion: '1.0', source: '/s', type: TYPE, data: { message: 'x' } }), status: 400, error: 'invalid_cloudevent', message: /missing the required attribute id/ },
    { name: 'structured mode that is not JSON', headers: { 'content-type': 'application/cloudevents+json' }, body: '{"specversion": "1.0", ', status: 400, error: 'invalid_cloudevent', message: /not valid JSON/ },
    { name: 'batched mode', headers: { 'content-type': 'application/cloudevents-batch+json' }, body: '[]', status: 415, error: 'unsupported_media_type', message: /one event per request/ },
    { name: 'JSON content type with a broken body', headers: binaryHeaders(TYPE), body: '{"message": ', status: 400, error: 'invalid_cloudevent', message: /not valid JSON/ },
    { name: 'an unknown event type', headers: binaryHeaders('dev.caretaker.nothing.requested'), body: '{}', status: 400, error: 'unknown_event_type', message: /accepted types: dev.caretaker.test.echo.requested/ },
    { name: 'data failing its schema (wrong type)', headers: binaryHeaders(TYPE), body: '{"message": 42}', status: 400, error: 'invalid_event_data', message: /data.message: must be string/ },
    { name: 'data failing its schema (missing field)', headers: binaryHeaders(TYPE), body: '{}', status: 400, error: 'invalid_event_data', message: /data.message: is required/ },
    { name: 'data failing its schema (unknown field)', headers: binaryHeaders(TYPE), body: '{"message":"x","mesage":"y"}', status: 400, error: 'invalid_event_data', message: /data.mesage: is not a known field/ },
    { name: 'a body over the limit', headers: binaryHeaders(TYPE), body: JSON.stringify({ message: 'x'.repeat(4096) }), status: 413, error: 'body_too_large', message: /larger than this function accepts/ },
    { name: 'an invalid extension name', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify({ specversion: '1.0', id: '1', source: '/s', type: TYPE, 'Bad-Name': 'x', data: { message: 'x' } }), status: 400, error: 'invalid_cloudevent', message: /attribute name/ },
  ]
  for (const c of cases) {
    const res = await fetch(fn.url, { method: 'POST', headers: c.headers, ...(c.body !== undefined ? { body: c.body } : {}) })
    t.equal(res.status, c.status, `${c.name}: status`)
    const body = await res.json() as { error: string; message: string }
    t.equal(body.error, c.error, `${c.name}: error code`)
    t.match(body.message, c.message, `${c.name}: the message says what to fix`)
  }
  t.equal(invocations.length, before, 'no bad event reached the handler')

  const notFound = await fetch(`${fn.url}/nowhere`)
  t.equal(notFound.status, 404)
  t.equal(((await notFound.json()) as { error: string }).error, 'not_found')
  const metrics = await (await fetch(`${fn.url}/metrics`)).text()
  t.match(metrics, /caretaker_events_handled_total\{function="echo",type="unknown",outcome="rejected"\} \d+/, 'rejections are counted under a bounded label')
  t.notMatch(metrics, /dev\.caretaker\.nothing\.requested/, 'an unknown type does not become a label')
})

t.test('authentication with a static token', async (t) => {
  const token = 'a-static-token-of-some-length'
  const fn = await startTestFunction(echo, { env: { CARETAKER_AUTH: 'static', CARETAKER_AUTH_TOKEN: token } })
  t.teardown(() => fn.stop())
  const body = JSON.stringify({ message: 'x' })
  // A tick, not a request: a request needs Caretaker's proof besides (test/mesh/trust.test.ts).
  const PING = 'dev.knative.sources.ping'
  const none = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(PING), body })
  t.equal(none.status, 401)
  t.equal(((await none.json()) as { error: string }).error, 'unauthenticated')
  const wrong = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(PING, { authorization: 'Bearer not-the-token-at-all' }), body })
  t.equal(wrong.status, 401)
  const right = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(PING, { authorization: `Bearer ${token}` }), body })
  t.equal(right.status, 200)
  const unproven = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(TYPE, { authorization: `Bearer ${token}` }), body })
  t.equal(unproven.status, 401, 'a request without a Caretaker proof is refused, token or not')
  t.match(await unproven.json(), { error: 'unauthenticated', details: { reason: 'proof_key_missing' } })
  t.notMatch(fn.logText(), /not-the-token-at-all|a-static-token-of-some-length/, 'tokens are never logged')
  const health = await fetch(`${fn.url}/health/readiness`)
  t.equal(health.status, 200, 'probes need no token')
})

t.test('settings refuse unsafe or malformed values with the variable named', async (t) => {
  const { parseSettings } = await import('../../shared/runtime/settings.ts')
  t.throws(() => parseSettings({ CARETAKER_AUTH: 'none', HOST: '0.0.0.0' }, 'echo'), { code: 'invalid_config', message: /CARETAKER_AUTH: "none" is allowed only when listening on loopback/ })
  t.throws(() => parseSettings({ CARETAKER_AUTH: 'tokenreview' }, 'echo'), { message: /tokenreview auth needs a Kubernetes API/ })
  t.throws(() => parseSettings({ CARETAKER_AUTH: 'tokenreview', CARETAKER_KUBE_SERVER: 'http://127.0.0.1:1', CARETAKER_EVENTING_OIDC: 'on' }, 'echo'), { message: /CARETAKER_EVENTING_OIDC: expected one of disabled, enabled/ })
  t.throws(() => parseSettings({ CARETAKER_AUTH: 'tokenreview', CARETAKER_KUBE_SERVER: 'http://127.0.0.1:1', CARETAKER_PROOF_KEY: 'short' }, 'echo'), { message: /CARETAKER_PROOF_KEY: the proof key must be at least 32 bytes/ })
  const knative = parseSettings({ CARETAKER_AUTH: 'tokenreview', CARETAKER_KUBE_SERVER: 'http://127.0.0.1:1' }, 'echo')
  t.same({ oidc: knative.auth.eventingOidc, audience: knative.auth.audience, allowed: knative.auth.allowed }, {
    oidc: 'disabled', audience: 'serving.knative.dev/service/caretaker/echo', allowed: ['system:serviceaccount:caretaker:*-oidc-eventing.knative.dev-trigger'],
  }, 'tokenreview defaults: Knative\'s default (OIDC off); with it on, the audience its Trigger names and every Trigger\'s OIDC identity')
  t.throws(() => parseSettings({ CARETAKER_AUTH: 'static', HOST: '127.0.0.1' }, 'echo'), { message: /CARETAKER_AUTH_TOKEN/ })
  t.throws(() => parseSettings({ CARETAKER_AUTH: 'none', HOST: '127.0.0.1', PORT: 'eighty' }, 'echo'), { message: /PORT: expected a whole number/ })
  t.throws(() => parseSettings({ CARETAKER_AUTH: 'none', HOST: '127.0.0.1', CARETAKER_DRY_RUN: 'yes' }, 'echo'), { message: /CARETAKER_DRY_RUN: expected one of true, false, force/ })
  const ok = parseSettings({ CARETAKER_AUTH: 'none', HOST: '127.0.0.1' }, 'echo')
  t.same(ok.dryRun, { default: true, locked: false }, 'dry-run is on unless turned off')
})
