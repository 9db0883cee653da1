import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { Activator } from '../../sandbox/mesh/activator.ts'
import { createLogger } from '../../shared/logger.ts'
import { startReceiver } from './receiver.ts'

const logger = createLogger({ level: 'silent' })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Whether the promise is still pending after the event loop had a moment. */
async function pending(p: Promise<unknown>): Promise<boolean> {
  return Promise.race([p.then(() => false, () => false), sleep(150).then(() => true)])
}

t.test('a request for a function still starting is held, asks for that function, and goes through once it is ready', async (t) => {
  const demanded: string[] = []
  const activator = new Activator({ logger, holdTimeoutMs: 60_000, onDemand: (name) => demanded.push(name) })
  t.teardown(() => activator.close())
  const receiver = await startReceiver((req) => ({ status: 200, headers: { 'content-type': 'application/json', 'ce-id': 'reply-1' }, body: JSON.stringify({ path: req.path, got: req.body.toString() }) }))
  t.teardown(() => receiver.close())
  const url = await activator.route('verify-backup')
  t.equal(activator.state('verify-backup'), 'starting')

  const answer = fetch(`${url}/manual?x=1`, { method: 'POST', headers: { 'content-type': 'application/json', 'ce-id': 'req-1', authorization: 'Bearer abc' }, body: '{"set":"postgresql"}' })
  t.ok(await pending(answer), 'the request waits while the function starts')
  t.same(demanded, ['verify-backup'], 'the waiting request asked for its function to start next')
  t.equal(receiver.requests.length, 0, 'nothing reached the function yet')

  activator.ready('verify-backup', receiver.url)
  const res = await answer
  t.equal(res.status, 200)
  t.equal(res.headers.get('ce-id'), 'reply-1', "the function's headers come back")
  t.same(await res.json(), { path: '/manual?x=1', got: '{"set":"postgresql"}' }, 'path, query and body reach the function unchanged')
  t.equal(receiver.requests[0]!.headers.authorization, 'Bearer abc', 'the credentials go through')
  t.equal(receiver.requests[0]!.headers['ce-id'], 'req-1')

  // Once ready, requests go straight through, without asking again.
  const again = await fetch(`${url}/health/readiness`)
  t.equal(again.status, 200)
  t.same(demanded, ['verify-backup'])
})

t.test('a readiness probe of a function still starting is answered 503 starting at once, not held', async (t) => {
  const demanded: string[] = []
  const activator = new Activator({ logger, holdTimeoutMs: 60_000, onDemand: (name) => demanded.push(name) })
  t.teardown(() => activator.close())
  const url = await activator.route('notify')
  const res = await fetch(`${url}/health/readiness`)
  t.equal(res.status, 503)
  t.same(await res.json(), { status: 'starting' })
  t.same(demanded, [], 'a probe does not ask for the function')
})

t.test('a function that could not start: held and later requests get 503 not_ready with the reason', async (t) => {
  const activator = new Activator({ logger, holdTimeoutMs: 60_000 })
  t.teardown(() => activator.close())
  const url = await activator.route('notify')
  const held = fetch(`${url}/`, { method: 'POST', body: '{}' })
  t.ok(await pending(held))
  activator.failed('notify', 'notify exited before it was ready (code 1)')
  for (const res of [await held, await fetch(`${url}/`, { method: 'POST', body: '{}' })]) {
    t.equal(res.status, 503)
    const body = await res.json() as { error: string; message: string }
    t.equal(body.error, 'not_ready', "the catalogue's code")
    t.match(body.message, /notify did not start \(notify exited before it was ready \(code 1\)\)/, 'the message says what happened')
  }
  t.equal(activator.state('notify'), 'failed')
})

t.test('a request held longer than the start may take is answered 503, and a client that gives up is forgotten', async (t) => {
  const activator = new Activator({ logger, holdTimeoutMs: 200 })
  t.teardown(() => activator.close())
  const url = await activator.route('slow')
  const res = await fetch(`${url}/`, { method: 'POST', body: '{}' })
  t.equal(res.status, 503)
  t.match(await res.json(), { error: 'not_ready', message: /slow was not ready within 0.2 s/ })

  const receiver = await startReceiver()
  t.teardown(() => receiver.close())
  const gone = new AbortController()
  const abandoned = fetch(`${url}/`, { method: 'POST', body: '{"a":1}', signal: gone.signal }).catch((err: Error) => err)
  await sleep(50)
  gone.abort()
  t.type(await abandoned, Error)
  // The client's close reaches the activator's side of the connection a moment later.
  await sleep(200)
  activator.ready('slow', receiver.url)
  await sleep(100)
  t.equal(receiver.requests.length, 0, 'an abandoned request is not sent once the function is ready')
})

t.test('a function that does not answer: 502 with the catalogue code, and the activator keeps serving', async (t) => {
  const activator = new Activator({ logger, holdTimeoutMs: 60_000 })
  t.teardown(() => activator.close())
  const url = await activator.route('gone')
  // A port nothing listens on: the function's process died after it was ready.
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as AddressInfo).port
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  activator.ready('gone', `http://127.0.0.1:${port}`)
  const res = await fetch(`${url}/`, { method: 'POST', body: '{}' })
  t.equal(res.status, 502)
  t.match(await res.json(), { error: 'dependency_failed', message: /gone did not answer/ })
  const second = await fetch(`${url}/`, { method: 'POST', body: '{}' })
  t.equal(second.status, 502, 'and answers the next one the same way')
})

t.test('closing answers held requests 503 shutting_down and frees the ports', async (t) => {
  const activator = new Activator({ logger, holdTimeoutMs: 60_000 })
  const url = await activator.route('held')
  const held = fetch(`${url}/`, { method: 'POST', body: '{}' })
  t.ok(await pending(held))
  await activator.close()
  const res = await held
  t.equal(res.status, 503)
  t.match(await res.json(), { error: 'shutting_down' })
  await t.rejects(fetch(`${url}/`), 'nothing listens there any more')
})
