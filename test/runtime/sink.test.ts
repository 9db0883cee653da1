import t from 'tap'
import echo from '../fixtures/functions/echo.ts'
import { binaryHeaders, startTestFunction } from '../../sandbox/harness/function.ts'
import { startReceiver } from '../mesh/receiver.ts'

const TYPE = 'dev.caretaker.test.echo.requested'

t.test('context.emit sends extra events to K_SINK with stable ids', async (t) => {
  let refusals = 1
  const sink = await startReceiver(() => (refusals-- > 0 ? { status: 503 } : { status: 202 }))
  t.teardown(() => sink.close())
  const fn = await startTestFunction(echo, { env: { K_SINK: `${sink.url}/ingress` } })
  t.teardown(() => fn.stop())
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(TYPE, { 'ce-id': 'emit-1' }), body: JSON.stringify({ message: 'parts', emit: 2 }) })
  t.equal(res.status, 200)
  t.same(((await res.json()) as { emitted: boolean[] }).emitted, [true, true], 'both sends succeeded, the first after a retry')
  const received = sink.on('/ingress')
  t.equal(received.length, 3, 'one refused attempt, then two events')
  const accepted = received.slice(1)
  t.same(accepted.map((r) => r.headers['ce-type']), ['dev.caretaker.test.echo.part', 'dev.caretaker.test.echo.part'])
  t.same(accepted.map((r) => JSON.parse(r.body.toString('utf8')) as unknown), [{ part: 1 }, { part: 2 }])
  t.equal(accepted[0]!.headers['ce-source'], '/caretaker/functions/echo')
  t.not(accepted[0]!.headers['ce-id'], accepted[1]!.headers['ce-id'], 'each emitted event has its own id')
  t.equal(received[0]!.headers['ce-id'], accepted[0]!.headers['ce-id'], 'a retry resends the same id, so the broker can deduplicate')
})

t.test('without a sink, emit reports false and the event still succeeds', async (t) => {
  const fn = await startTestFunction(echo)
  t.teardown(() => fn.stop())
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(TYPE), body: JSON.stringify({ message: 'parts', emit: 1 }) })
  t.equal(res.status, 200)
  t.same(((await res.json()) as { emitted: boolean[] }).emitted, [false])
})

t.test('a K_SINK that is not a URL stops the start with the variable named', async (t) => {
  await t.rejects(startTestFunction(echo, { env: { K_SINK: 'broker:8080' } }), /K_SINK: must be an http\(s\) URL/)
})
