import t from 'tap'
import echo, { invocations } from '../fixtures/functions/echo.ts'
import { binaryHeaders, startTestFunction } from '../../sandbox/harness/function.ts'

// An event refused before any handler runs (its body over the limit) is
// still an event lost to this function: it is counted and logged with its
// identity, so nothing over a limit disappears silently.

const TYPE = 'dev.caretaker.test.echo.requested'

t.test('a body over the limit is refused with 413, counted and logged with the event identity', async (t) => {
  const fn = await startTestFunction(echo, { env: { CARETAKER_BODY_LIMIT: '2048' } })
  t.teardown(() => fn.stop())
  const before = invocations.length
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(TYPE, { 'ce-id': 'too-big-1', 'ce-source': '/test/sender' }), body: JSON.stringify({ message: 'x'.repeat(8192) }) })
  t.equal(res.status, 413)
  t.same(Object.keys(await res.json() as object).sort(), ['error', 'message'])
  t.equal(invocations.length, before, 'the handler never ran')
  const metrics = await (await fetch(`${fn.url}/metrics`)).text()
  t.match(metrics, new RegExp(`caretaker_events_handled_total\\{function="echo",type="${TYPE.replaceAll('.', '\\.')}",outcome="rejected"\\} 1`), 'counted under its (accepted) type')
  const line = fn.logLines().find((l) => l.msg === 'event rejected' && l.error === 'body_too_large')
  t.match(line, { event: { id: 'too-big-1', type: TYPE, source: '/test/sender' }, status: 413, route: '/' }, 'logged with the event identity')
  t.notMatch(fn.logText(), /xxxxxxxx/, 'the body itself is not logged')
})
