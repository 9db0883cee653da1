import t from 'tap'
import { HTTP, CloudEvent } from 'cloudevents'
import echo, { invocations } from '../fixtures/functions/echo.ts'
import { binaryHeaders, startTestFunction } from '../../sandbox/harness/function.ts'

const TYPE = 'dev.caretaker.test.echo.requested'

t.test('the runtime speaks CloudEvents over real HTTP', async (t) => {
  const fn = await startTestFunction(echo, { config: { greeting: 'hi' } })
  t.teardown(() => fn.stop())

  t.test('binary mode in, binary mode reply out, trace carried', async (t) => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const headers = binaryHeaders(TYPE, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` })
    const res = await fetch(fn.url, { method: 'POST', headers, body: JSON.stringify({ message: 'there' }) })
    t.equal(res.status, 200)
    t.equal(res.headers.get('ce-type'), 'dev.caretaker.test.echoed', 'reply is a binary-mode CloudEvent')
    t.equal(res.headers.get('ce-source'), '/caretaker/functions/echo')
    t.match(res.headers.get('content-type'), /application\/json/)
    const reply = HTTP.toEvent({ headers: Object.fromEntries(res.headers), body: await res.text() }) as CloudEvent<{ message: string; traceparent: string }>
    t.equal(reply.data?.message, 'hi, there')
    const tp = res.headers.get('traceparent') ?? ''
    t.match(tp, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), 'reply continues the caller trace')
    t.not(tp, headers.traceparent, 'with a span of its own')
    t.equal(reply.data?.traceparent, tp, 'the handler sees the same trace context')
    const line = fn.logLines().find((l) => (l.event as { id?: string } | undefined)?.id === headers['ce-id'] && l.outcome === 'success')
    t.ok(line, 'one log line for the event')
    t.equal(line?.trace_id, traceId, 'log line carries the trace id')
    t.equal((line?.event as { type: string }).type, TYPE)
    t.type(line?.duration_ms, 'number')
  })

  t.test('structured mode in', async (t) => {
    const event = new CloudEvent({ type: TYPE, source: '/test/structured', data: { message: 'structured' } })
    const message = HTTP.structured(event)
    const res = await fetch(fn.url, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string })
    t.equal(res.status, 200)
    t.equal(res.headers.get('ce-type'), 'dev.caretaker.test.echoed', 'reply still in binary mode')
    t.same(JSON.parse(await res.text()).message, 'hi, structured')
  })

  t.test('structured mode with data_base64 and a PingSource shape without content type', async (t) => {
    const res = await fetch(fn.url, {
      method: 'POST',
      headers: { 'ce-specversion': '1.0', 'ce-id': 'ping-1', 'ce-source': '/apis/v1/namespaces/ns/pingsources/p', 'ce-type': 'dev.knative.sources.ping' },
    })
    t.equal(res.status, 200, 'a ping without data or content type is accepted')
    t.equal(JSON.parse(await res.text()).message, 'tick')
  })

  t.test('the reply id is derived from the event, so a redelivery can be recognised downstream', async (t) => {
    const h1 = binaryHeaders(TYPE)
    const a = await fetch(fn.url, { method: 'POST', headers: h1, body: JSON.stringify({ message: 'x' }) })
    const b = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(TYPE), body: JSON.stringify({ message: 'x' }) })
    t.not(a.headers.get('ce-id'), b.headers.get('ce-id'), 'different events, different reply ids')
    const again = await fetch(fn.url, { method: 'POST', headers: h1, body: JSON.stringify({ message: 'x' }) })
    t.equal(again.headers.get('ce-id'), a.headers.get('ce-id'), 'same event, same reply id')
  })
})

t.test('redelivery returns the recorded outcome without running the handler again', async (t) => {
  const fn = await startTestFunction(echo)
  t.teardown(() => fn.stop())
  const headers = binaryHeaders(TYPE)
  const before = invocations.filter((id) => id === headers['ce-id']).length
  const first = await fetch(fn.url, { method: 'POST', headers, body: JSON.stringify({ message: 'once' }) })
  const firstBody = await first.text()
  const second = await fetch(fn.url, { method: 'POST', headers, body: JSON.stringify({ message: 'once' }) })
  t.equal(second.status, first.status)
  t.equal(await second.text(), firstBody, 'same reply body')
  t.equal(second.headers.get('caretaker-duplicate'), 'true')
  t.equal(invocations.filter((id) => id === headers['ce-id']).length - before, 1, 'handler ran exactly once')

  // Same id from another source is another event.
  const other = await fetch(fn.url, { method: 'POST', headers: { ...headers, 'ce-source': '/elsewhere' }, body: JSON.stringify({ message: 'once' }) })
  t.equal(other.headers.get('caretaker-duplicate'), null)
  t.equal(invocations.filter((id) => id === headers['ce-id']).length - before, 2)

  const metrics = await (await fetch(`${fn.url}/metrics`)).text()
  t.match(metrics, /caretaker_events_handled_total\{function="echo",type="dev.caretaker.test.echo.requested",outcome="duplicate"\} 1/)
})

t.test('a transient failure is retried by the sender and runs again; a permanent one is recorded', async (t) => {
  const fn = await startTestFunction(echo)
  t.teardown(() => fn.stop())
  const headers = binaryHeaders(TYPE)
  const body = JSON.stringify({ message: 'm', fail: 'transient' })
  const r1 = await fetch(fn.url, { method: 'POST', headers, body })
  t.equal(r1.status, 503)
  t.same(await r1.json(), { error: 'dependency_unavailable', message: 'echo: the dependency is down (test)' })
  const r2 = await fetch(fn.url, { method: 'POST', headers, body })
  t.equal(r2.status, 503)
  t.equal(invocations.filter((id) => id === headers['ce-id']).length, 2, 'a retry of a 5xx runs the handler again')

  const ph = binaryHeaders(TYPE)
  const pbody = JSON.stringify({ message: 'm', fail: 'permanent' })
  const p1 = await fetch(fn.url, { method: 'POST', headers: ph, body: pbody })
  t.equal(p1.status, 400)
  t.equal(((await p1.json()) as { error: string }).error, 'invalid_request')
  const p2 = await fetch(fn.url, { method: 'POST', headers: ph, body: pbody })
  t.equal(p2.status, 400)
  t.equal(invocations.filter((id) => id === ph['ce-id']).length, 1, 'a 4xx outcome is final and recorded')
})

t.test('an unexpected handler error is a 500 that leaks nothing', async (t) => {
  const fn = await startTestFunction(echo)
  t.teardown(() => fn.stop())
  const headers = binaryHeaders(TYPE)
  const res = await fetch(fn.url, { method: 'POST', headers, body: JSON.stringify({ message: 'm', fail: 'crash', secret: 's3cr3t-crash-value' }) })
  t.equal(res.status, 500)
  const body = await res.json() as { error: string; message: string }
  t.equal(body.error, 'internal_error')
  t.match(body.message, /echo failed while handling event/)
  t.notMatch(JSON.stringify(body), /s3cr3t-crash-value/, 'the error message of the crash is not sent')
  t.notMatch(fn.logText(), /s3cr3t-crash-value/, 'nor logged')
})

t.test('dry-run reaches the handler: global default, per-event override, forced', async (t) => {
  const post = async (url: string, extra: Record<string, string>): Promise<boolean> => {
    const res = await fetch(url, { method: 'POST', headers: binaryHeaders(TYPE, extra), body: JSON.stringify({ message: 'd' }) })
    const data = await res.json() as { dryRun: boolean }
    return data.dryRun
  }
  const safe = await startTestFunction(echo)
  const live = await startTestFunction(echo, { env: { CARETAKER_DRY_RUN: 'false' } })
  const forced = await startTestFunction(echo, { env: { CARETAKER_DRY_RUN: 'force' } })
  t.teardown(async () => { await safe.stop(); await live.stop(); await forced.stop() })
  t.equal(await post(safe.url, {}), true, 'dry-run is the default')
  t.equal(await post(safe.url, { 'ce-dryrun': 'false' }), false, 'an event may turn it off')
  t.equal(await post(live.url, {}), false, 'global setting off')
  t.equal(await post(live.url, { 'ce-dryrun': 'true' }), true, 'an event may turn it on')
  t.equal(await post(forced.url, { 'ce-dryrun': 'false' }), true, 'forced dry-run cannot be turned off by an event')
  const res = await fetch(safe.url, { method: 'POST', headers: binaryHeaders(TYPE), body: JSON.stringify({ message: 'd' }) })
  t.equal(res.headers.get('ce-dryrun'), 'true', 'the reply says it was a dry run')
})

t.test('secrets never reach a log line', async (t) => {
  const fn = await startTestFunction(echo)
  t.teardown(() => fn.stop())
  const secret = 'hunter2-very-secret-value'
  const res = await fetch(fn.url, {
    method: 'POST',
    headers: binaryHeaders(TYPE, { authorization: `Bearer ${secret}-token` }),
    body: JSON.stringify({ message: 'm', secret }),
  })
  t.equal(res.status, 200)
  const text = fn.logText()
  t.match(text, /\[REDACTED\]/, 'the secret-bearing fields were logged, redacted')
  t.notMatch(text, new RegExp(secret), 'the value appears in no line')
  t.notMatch(await res.text(), new RegExp(secret), 'nor in the reply')
  const metrics = await (await fetch(`${fn.url}/metrics`)).text()
  t.notMatch(metrics, new RegExp(secret), 'nor in metrics')
})
