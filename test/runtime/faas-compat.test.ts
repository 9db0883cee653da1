import { createServer, type Server } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import faas from 'faas-js-runtime'
import echo, { invocations } from '../fixtures/functions/echo.ts'
import { binaryHeaders } from '../../sandbox/harness/function.ts'

// The function contract is the Knative Functions Node.js runtime's: the same
// module must run, unchanged, under faas-js-runtime, the reference runtime.
// (Caretaker hosts functions on its own runtime; see the architecture notes.)

async function freePort(): Promise<number> {
  const probe: Server = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

const TYPE = 'dev.caretaker.test.echo.requested'

t.test('a Caretaker function module runs under faas-js-runtime', async (t) => {
  const port = await freePort()
  // The package declares logLevel as a numeric enum, yet passes it to pino,
  // which wants a level name: the cast states what the runtime really reads.
  const logLevel = 'fatal' as unknown as Parameters<typeof faas.start>[1] extends { logLevel?: infer L } ? L : never
  const server = await faas.start(echo, { port, logLevel })
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const url = `http://127.0.0.1:${port}/`
  const before = invocations.length

  const binary = await fetch(url, {
    method: 'POST',
    headers: binaryHeaders(TYPE, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }),
    body: JSON.stringify({ message: 'world' }),
  })
  t.equal(binary.status, 200, 'binary mode: handled')
  t.equal(binary.headers.get('ce-type'), 'dev.caretaker.test.echoed', 'the reply is a binary-mode CloudEvent')
  t.equal(binary.headers.get('ce-source'), '/caretaker/functions/echo')
  const data = await binary.json() as { message: string; dryRun: boolean; traceparent: string | null }
  t.equal(data.message, 'hello, world', 'the config default reached the handler')
  t.equal(data.traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'traceparent is carried')

  const structured = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', id: 'faas-structured-1', source: '/test/faas', type: TYPE, dryrun: 'true', data: { message: 'again' } }),
  })
  t.equal(structured.status, 200, 'structured mode: handled')
  t.same(await structured.json(), { message: 'hello, again', dryRun: true, traceparent: null }, 'the dryrun extension reached the handler')
  t.equal(invocations.length, before + 2, 'the handler ran once per event')

  const invalid = await fetch(url, {
    method: 'POST',
    headers: binaryHeaders(TYPE),
    body: JSON.stringify({ message: 42 }),
  })
  t.equal(invalid.status, 400, 'data failing its schema is a 400 under this runtime too')
  const invalidBody = await invalid.json() as { error: string; message: string }
  t.equal(invalidBody.error, 'invalid_event_data', 'with the same error code')
  t.match(invalidBody.message, /data.message: must be string/, 'and the same message')

  const unknown = await fetch(url, { method: 'POST', headers: binaryHeaders('dev.caretaker.nothing.requested'), body: '{}' })
  t.equal(unknown.status, 400)
  t.equal(((await unknown.json()) as { error: string }).error, 'unknown_event_type')

  const transient = await fetch(url, { method: 'POST', headers: binaryHeaders(TYPE), body: JSON.stringify({ message: 'x', fail: 'transient' }) })
  t.equal(transient.status, 503, 'a dependency failure stays retryable')

  const crash = await fetch(url, { method: 'POST', headers: binaryHeaders(TYPE), body: JSON.stringify({ message: 'x', fail: 'crash', secret: 'faas-secret-value-123' }) })
  t.equal(crash.status, 500, 'an unexpected error is a 500')
  const crashBody = await crash.text()
  t.match(crashBody, /internal_error/)
  t.notMatch(crashBody, /faas-secret-value-123/, 'without leaking what the error held')
  t.equal(invocations.length, before + 4, 'rejected events never reached the handler')
})
