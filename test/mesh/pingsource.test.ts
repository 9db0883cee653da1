import { join } from 'node:path'
import t from 'tap'
import { createLogger } from '../../shared/logger.ts'
import { ManualClock, PingScheduler, startMesh } from '../../sandbox/mesh/index.ts'
import { nextTick } from '../../sandbox/mesh/pingsource.ts'
import { startReceiver } from './receiver.ts'

const fixtures = new URL('./fixtures/', import.meta.url).pathname
const logger = createLogger({ level: 'silent' })
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('PingSources fire on the controllable clock with the attributes Knative sends', async (t) => {
  const recorder = await startReceiver()
  t.teardown(() => recorder.close())
  const clock = new ManualClock(new Date('2026-01-15T00:00:00Z'))
  const mesh = await startMesh({ dir: join(fixtures, 'ping'), services: { recorder: recorder.url }, logger, clock })
  t.teardown(() => mesh.close())

  t.equal(await mesh.pingSources.advanceTo(new Date('2026-01-15T00:29:59Z')), 0, 'nothing due yet')
  t.equal(await mesh.pingSources.advanceTo(new Date('2026-01-15T01:00:00Z')), 3, 'hello 00:30, bytes 00:45, berlin 01:00Z')
  await mesh.broker.idle()

  const [hello] = recorder.on('/hello')
  t.ok(hello, 'hello reached its subscriber through the Broker')
  t.match(hello!.headers, {
    'ce-specversion': '1.0', 'ce-type': 'dev.knative.sources.ping',
    'ce-source': '/apis/v1/namespaces/pingsource-example/pingsources/hello',
    'ce-id': UUID, 'ce-time': '2026-01-15T00:30:00Z', 'content-type': /^application\/json/,
  })
  t.same(JSON.parse(hello!.body.toString('utf8')), { message: 'Hello world!' })

  const [bytes] = recorder.on('/bytes')
  t.match(bytes?.headers, {
    'ce-type': 'dev.knative.sources.ping', 'ce-source': '/apis/v1/namespaces/pingsource-example/pingsources/bytes',
    'ce-time': '2026-01-15T00:45:00Z', 'content-type': 'application/octet-stream',
  })
  t.same([...bytes!.body], [0, 1, 2, 255], 'dataBase64 is sent decoded')

  const [berlin] = recorder.on('/berlin')
  t.match(berlin?.headers, { 'ce-source': '/apis/v1/namespaces/pingsource-example/pingsources/berlin', 'ce-time': '2026-01-15T01:00:00Z' })
  t.equal(berlin?.headers['content-type'], undefined, 'no data, no content type')
  t.equal(berlin?.headers['ce-datacontenttype'], undefined)
  t.equal(berlin?.body.length, 0)

  t.not(hello!.headers['ce-id'], bytes!.headers['ce-id'], 'each tick has its own id')
  t.equal(await mesh.pingSources.fireDue(), 0, 'a tick fires once')
  t.equal(recorder.requests.length, 3)
})

t.test('missed ticks fire in order when the clock jumps', async (t) => {
  const recorder = await startReceiver()
  t.teardown(() => recorder.close())
  const clock = new ManualClock(new Date('2026-03-01T12:00:00Z'))
  const mesh = await startMesh({ dir: join(fixtures, 'ping'), services: { recorder: recorder.url }, logger, clock })
  t.teardown(() => mesh.close())
  await mesh.pingSources.advanceTo(new Date('2026-03-03T12:00:00Z'))
  t.same(recorder.on('/berlin').map((r) => r.headers['ce-time']), ['2026-03-02T01:00:00Z', '2026-03-03T01:00:00Z'])
})

t.test('schedules follow the time zone across daylight saving', async (t) => {
  const berlin = { schedule: '0 2 * * *', timezone: 'Europe/Berlin' }
  t.equal(nextTick(berlin, new Date('2026-01-14T12:00:00Z')).toISOString(), '2026-01-15T01:00:00.000Z', 'CET is UTC+1')
  t.equal(nextTick(berlin, new Date('2026-07-14T12:00:00Z')).toISOString(), '2026-07-15T00:00:00.000Z', 'CEST is UTC+2')
  t.equal(nextTick({ schedule: '*/5 * * * *', timezone: 'UTC' }, new Date('2026-07-14T12:01:00Z')).toISOString(), '2026-07-14T12:05:00.000Z')
})

t.test('with a running clock the scheduler fires on real timers', async (t) => {
  // A clock set 50 ms before a minute boundary, so the next "* * * * *" tick is due almost at once.
  const boundary = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000
  const offset = boundary - 50 - Date.now()
  const clock = { now: () => new Date(Date.now() + offset) }
  const sent: string[] = []
  let resolveSent: () => void = () => {}
  const firstSend = new Promise<void>((resolve) => { resolveSent = resolve })
  const scheduler = new PingScheduler({
    sources: [{ kind: 'PingSource', file: 'x.yaml', name: 'minutely', namespace: 'ops', schedule: '* * * * *', timezone: 'UTC', sink: { uri: 'http://127.0.0.1:1/' } }],
    clock,
    logger,
    send: async (_source, event) => {
      sent.push(String(event.time))
      resolveSent()
    },
  })
  scheduler.start()
  t.teardown(() => scheduler.stop())
  // A referenced timer keeps the process alive: the scheduler's own timer is unref'd.
  let bound: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((resolve) => { bound = setTimeout(() => resolve('timeout'), 5000) })
  t.not(await Promise.race([firstSend, timeout]), 'timeout', 'fired within the bound')
  clearTimeout(bound)
  t.same(sent, [new Date(boundary).toISOString().replace('.000Z', 'Z')])
})
