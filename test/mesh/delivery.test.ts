import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createLogger } from '../../shared/logger.ts'
import { backoffDelayMs, isRetryableStatus } from '../../sandbox/mesh/delivery.ts'
import { startMesh, type Mesh } from '../../sandbox/mesh/index.ts'
import { postBinary, startReceiver, type Receiver } from './receiver.ts'

const fixtures = new URL('./fixtures/', import.meta.url).pathname
const logger = createLogger({ level: 'silent' })

t.test('backoff follows the CRD formulas and the retryable statuses', async (t) => {
  t.same([1, 2, 3].map((n) => backoffDelayMs('exponential', 200, n)), [400, 800, 1600])
  t.same([1, 2, 3].map((n) => backoffDelayMs('linear', 500, n)), [500, 1000, 1500])
  t.same([500, 503, 429, 408, 404, 409].map(isRetryableStatus), [true, true, true, true, true, true])
  t.same([400, 401, 403, 413, 415].map(isRetryableStatus), [false, false, false, false, false])
})

interface Setup {
  mesh: Mesh
  delays: number[]
  flaky: Receiver
  down: Receiver
  rejects: Receiver
  deadLetters: Receiver
  deadLetterFile: string
}

async function setup(t: Test): Promise<Setup> {
  const flaky = await startReceiver((_req, seen) => ({ status: seen < 2 ? 503 : 200 }))
  const down = await startReceiver(() => ({ status: 503, body: `{"error":"dependency_unavailable","message":"${'x'.repeat(2000)}"}` }))
  const rejects = await startReceiver(() => ({ status: 400, body: '{"error":"invalid_event_data"}' }))
  const deadLetters = await startReceiver()
  const delays: number[] = []
  const deadLetterFile = join(t.testdir(), 'dead-letters.jsonl')
  const mesh = await startMesh({
    dir: join(fixtures, 'retry'),
    services: { flaky: flaky.url, down: down.url, rejects: rejects.url, 'dead-letters': deadLetters.url },
    logger,
    deadLetterFile,
    sleep: async (ms) => { delays.push(ms) },
  })
  t.teardown(async () => {
    await mesh.close()
    await Promise.all([flaky, down, rejects, deadLetters].map((r) => r.close()))
  })
  return { mesh, delays, flaky, down, rejects, deadLetters, deadLetterFile }
}

t.test('retries a failing subscriber with exponential backoff until it succeeds', async (t) => {
  const s = await setup(t)
  t.equal(await postBinary(s.mesh.ingressUrl, { id: 'f-1', type: 'com.example.flaky', source: '/s' }, '{}'), 202)
  await s.mesh.broker.idle()
  t.equal(s.flaky.requests.length, 3, 'two 503s then a 200')
  t.same(s.delays, [400, 800])
  t.same(s.mesh.broker.deadLetters, [])
  t.equal(s.deadLetters.requests.length, 0)
})

t.test('dead-letters after the last retry, to the sink and the log', async (t) => {
  const s = await setup(t)
  t.equal(await postBinary(s.mesh.ingressUrl, { id: 'd-1', type: 'com.example.down', source: '/s', severity: 'high' }, '{"a":1}'), 202)
  await s.mesh.broker.idle()
  t.equal(s.down.requests.length, 4, '1 attempt + 3 retries')
  t.same(s.delays, [400, 800, 1600])
  t.equal(s.mesh.broker.deadLetters.length, 1)
  const [record] = s.mesh.broker.deadLetters
  t.match(record, {
    trigger: 'caretaker/down', subscriber: s.down.url, attempts: 4, lastStatus: 503,
    event: { id: 'd-1', type: 'com.example.down', source: '/s' }, deadLetterSink: s.deadLetters.url, deadLetterStatus: 200,
  })
  const [sunk] = s.deadLetters.requests
  t.match(sunk?.headers, { 'ce-id': 'd-1', 'ce-type': 'com.example.down', 'ce-severity': 'high' })
  // Knative's error extensions: the destination, its last status, and its answer (base64, cut at 1024 bytes).
  t.match(sunk?.headers, { 'ce-knativeerrordest': s.down.url, 'ce-knativeerrorcode': '503' })
  const errorData = Buffer.from(String(sunk?.headers['ce-knativeerrordata']), 'base64').toString('utf8')
  t.equal(errorData.length, 1024)
  t.match(errorData, /^\{"error":"dependency_unavailable","message":"x+$/)
  t.same(JSON.parse(sunk!.body.toString('utf8')), { a: 1 })
  const lines = (await readFile(s.deadLetterFile, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as unknown)
  t.same(lines, [JSON.parse(JSON.stringify(record))])
})

t.test('linear backoff grows by the delay each retry', async (t) => {
  const s = await setup(t)
  t.equal(await postBinary(s.mesh.ingressUrl, { id: 'l-1', type: 'com.example.linear', source: '/s' }), 202)
  await s.mesh.broker.idle()
  t.equal(s.down.requests.length, 3)
  t.same(s.delays, [500, 1000])
  t.match(s.mesh.broker.deadLetters, [{ trigger: 'caretaker/linear', attempts: 3, lastStatus: 503 }])
  t.notOk(s.mesh.broker.deadLetters[0]!.deadLetterSink, 'no sink configured')
})

t.test('a 400 is not retried and goes straight to the dead-letter log', async (t) => {
  const s = await setup(t)
  t.equal(await postBinary(s.mesh.ingressUrl, { id: 'r-1', type: 'com.example.rejected', source: '/s' }), 202)
  await s.mesh.broker.idle()
  t.equal(s.rejects.requests.length, 1)
  t.same(s.delays, [])
  t.match(s.mesh.broker.deadLetters, [{ trigger: 'caretaker/rejects', attempts: 1, lastStatus: 400 }])
})

t.test('a Trigger without delivery uses its Broker\'s', async (t) => {
  const s = await setup(t)
  t.equal(await postBinary(s.mesh.ingressUrl, { id: 'b-1', type: 'com.example.broker-delivery', source: '/s' }), 202)
  await s.mesh.broker.idle()
  t.equal(s.down.requests.length, 2)
  t.same(s.delays, [2000])
})

t.test('network errors are retried and recorded without a status', async (t) => {
  const s = await setup(t)
  t.equal(await postBinary(s.mesh.ingressUrl, { id: 'u-1', type: 'com.example.unreachable', source: '/s' }), 202)
  await s.mesh.broker.idle()
  t.same(s.delays, [200])
  t.match(s.mesh.broker.deadLetters, [{ trigger: 'caretaker/unreachable', attempts: 2, lastStatus: undefined, lastError: String }])
})
