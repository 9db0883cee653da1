import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t from 'tap'
import { countRequested, counted, createCounterFunction, type CountedData } from '../fixtures/functions/counter.ts'
import { startTestFunction, type TestFunction } from '../../sandbox/harness/function.ts'
import { redisSkipReason, startRedis, type RedisServer } from '../../sandbox/harness/redis.ts'
import { idempotencyKey, RedisIdempotencyStore, type RecordedOutcome } from '../../shared/runtime/idempotency.ts'

const skip = redisSkipReason()
let sequence = 0

function uniqueId(label: string): string {
  sequence++
  return `${label}-${process.pid}-${Date.now()}-${sequence}`
}

/** A plain client for looking at what the store wrote. */
function inspect(server: RedisServer): Redis {
  return new Redis(server.url, { maxRetriesPerRequest: 1 })
}

interface Delivery {
  status: number
  duplicate: string | null
  ceId: string | null
  ceType: string | null
  body: string
}

async function deliver(fn: TestFunction, id: string, data: Record<string, unknown> = {}, source = '/test/idempotency'): Promise<Delivery> {
  const res = await fetch(fn.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': source, 'ce-type': countRequested },
    body: JSON.stringify(data),
  })
  return {
    status: res.status,
    duplicate: res.headers.get('caretaker-duplicate'),
    ceId: res.headers.get('ce-id'),
    ceType: res.headers.get('ce-type'),
    body: await res.text(),
  }
}

const outcome: RecordedOutcome = { status: 200, headers: { 'ce-type': counted, 'content-type': 'application/json' }, body: '{"ok":true}' }

t.test('the Redis idempotency store against a real Redis', { skip }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const look = inspect(server)
  t.teardown(() => look.disconnect())

  t.test('claim, in progress, complete, done', async (t) => {
    const store = new RedisIdempotencyStore(new Redis(server.url), { prefix: 'test:a:', ttlSeconds: 300, leaseSeconds: 30 })
    t.teardown(() => store.close())
    const key = idempotencyKey('counter', '/src', uniqueId('claim'))
    t.same(await store.claim(key), { state: 'claimed' })
    t.equal(await look.get(`test:a:${key}`), 'pending', 'the claim is a pending key under the prefix')
    const lease = await look.ttl(`test:a:${key}`)
    t.ok(lease > 25 && lease <= 30, `the claim has a lease (${lease} s)`)
    t.same(await store.claim(key), { state: 'in-progress' }, 'a second claim sees it in progress')

    await store.complete(key, outcome)
    t.same(await store.claim(key), { state: 'done', outcome }, 'after completion the outcome is returned')
    const ttl = await look.ttl(`test:a:${key}`)
    t.ok(ttl > 290 && ttl <= 300, `the outcome is kept for the TTL (${ttl} s)`)
  })

  t.test('release gives the claim up so a retry may run', async (t) => {
    const store = new RedisIdempotencyStore(new Redis(server.url), { prefix: 'test:b:' })
    t.teardown(() => store.close())
    const key = idempotencyKey('counter', '/src', uniqueId('release'))
    t.same(await store.claim(key), { state: 'claimed' })
    await store.release(key)
    t.equal(await look.exists(`test:b:${key}`), 0, 'the key is gone')
    t.same(await store.claim(key), { state: 'claimed' }, 'claimable again')
  })

  t.test('a lease runs out (a replica died) and an outcome expires after its TTL', async (t) => {
    const store = new RedisIdempotencyStore(new Redis(server.url), { prefix: 'test:c:', ttlSeconds: 1, leaseSeconds: 1 })
    t.teardown(() => store.close())
    const abandoned = idempotencyKey('counter', '/src', uniqueId('lease'))
    const finished = idempotencyKey('counter', '/src', uniqueId('ttl'))
    t.same(await store.claim(abandoned), { state: 'claimed' })
    t.same(await store.claim(finished), { state: 'claimed' })
    await store.complete(finished, outcome)
    t.same(await store.claim(abandoned), { state: 'in-progress' })
    t.same(await store.claim(finished), { state: 'done', outcome })
    await sleep(1300)
    t.same(await store.claim(abandoned), { state: 'claimed' }, 'after the lease a redelivery may run')
    t.same(await store.claim(finished), { state: 'claimed' }, 'after the TTL the outcome is forgotten')
  })

  t.test('of many stores claiming one key at once, exactly one wins', async (t) => {
    const stores = Array.from({ length: 8 }, () => new RedisIdempotencyStore(new Redis(server.url), { prefix: 'test:d:' }))
    t.teardown(() => Promise.all(stores.map((s) => s.close())))
    const key = idempotencyKey('counter', '/src', uniqueId('race'))
    const claims = await Promise.all(stores.map((s) => s.claim(key)))
    t.equal(claims.filter((c) => c.state === 'claimed').length, 1)
    t.equal(claims.filter((c) => c.state === 'in-progress').length, 7)
  })

  t.test('binary outcomes survive the round trip', async (t) => {
    const store = new RedisIdempotencyStore(new Redis(server.url), { prefix: 'test:e:' })
    t.teardown(() => store.close())
    const key = idempotencyKey('counter', '/src', uniqueId('binary'))
    const binary: RecordedOutcome = { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0, 255, 10]).toString('base64'), bodyEncoding: 'base64' }
    await store.claim(key)
    await store.complete(key, binary)
    t.same(await store.claim(key), { state: 'done', outcome: binary })
  })
})

t.test('two instances of a function sharing one Redis, over HTTP', { skip }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const look = inspect(server)
  t.teardown(() => look.disconnect())
  const env = { CARETAKER_IDEMPOTENCY: 'redis', CARETAKER_REDIS_URL: server.url, CARETAKER_IDEMPOTENCY_TTL: '120' }
  const a = createCounterFunction('a')
  const b = createCounterFunction('b')
  const fnA = await startTestFunction(a.module, { env })
  t.teardown(() => fnA.stop())
  const fnB = await startTestFunction(b.module, { env })
  t.teardown(() => fnB.stop())
  t.not(fnA.url, fnB.url)

  t.test('an event handled by A and redelivered to B gets A\'s recorded reply; the handler ran once', async (t) => {
    const id = uniqueId('redeliver')
    const first = await deliver(fnA, id)
    t.equal(first.status, 200)
    t.equal(first.duplicate, null)
    t.equal(first.ceType, counted)
    const data = JSON.parse(first.body) as CountedData
    t.same(data, { instance: 'a', count: a.handled.length, eventId: id })

    const again = await deliver(fnB, id)
    t.equal(again.status, 200)
    t.equal(again.duplicate, 'true', 'B marks the reply as a duplicate')
    t.equal(again.body, first.body, 'B answers with A\'s reply')
    t.equal(again.ceId, first.ceId, 'the same reply id')
    t.notOk(b.handled.includes(id), 'B did not run the handler')
    t.same(a.handled.filter((h) => h === id), [id], 'A ran it exactly once')

    const third = await deliver(fnA, id)
    t.equal(third.duplicate, 'true')
    t.same(a.handled.filter((h) => h === id), [id], 'a redelivery to A does not run it again either')

    const key = `caretaker:idempotency:${idempotencyKey('counter', '/test/idempotency', id)}`
    const ttl = await look.ttl(key)
    t.ok(ttl > 110 && ttl <= 120, `the outcome is kept for CARETAKER_IDEMPOTENCY_TTL (${ttl} s)`)
  })

  t.test('the same id from another source is another event', async (t) => {
    const id = uniqueId('sources')
    t.equal((await deliver(fnA, id, {}, '/source/one')).status, 200)
    const other = await deliver(fnB, id, {}, '/source/two')
    t.equal(other.status, 200)
    t.equal(other.duplicate, null)
    t.equal((JSON.parse(other.body) as CountedData).instance, 'b')
    t.ok(b.handled.includes(id), 'B ran the handler for its source')
  })

  t.test('while A is still handling an event, B answers 429 and does not run it', async (t) => {
    const id = uniqueId('in-progress')
    const slow = deliver(fnA, id, { sleepMs: 800 })
    for (let i = 0; i < 100 && !a.handled.includes(id); i++) await sleep(10)
    t.ok(a.handled.includes(id), 'A started handling')
    const meanwhile = await deliver(fnB, id, { sleepMs: 800 })
    t.equal(meanwhile.status, 429)
    t.equal((JSON.parse(meanwhile.body) as { error: string }).error, 'event_in_progress')
    const done = await slow
    t.equal(done.status, 200)
    const after = await deliver(fnB, id, { sleepMs: 800 })
    t.equal(after.duplicate, 'true')
    t.equal(after.body, done.body)
    t.notOk(b.handled.includes(id), 'B never ran it')
  })

  t.test('a transient failure on A is released: the redelivery to B runs the handler', async (t) => {
    const id = uniqueId('transient')
    const failed = await deliver(fnA, id, { fail: 'transient' })
    t.equal(failed.status, 503)
    t.equal((JSON.parse(failed.body) as { error: string }).error, 'dependency_unavailable')
    const retried = await deliver(fnB, id)
    t.equal(retried.status, 200)
    t.equal(retried.duplicate, null)
    t.equal((JSON.parse(retried.body) as CountedData).instance, 'b')
    t.ok(a.handled.includes(id) && b.handled.includes(id), 'both ran it: the first attempt failed')
  })

  t.test('a permanent failure on A is recorded: B answers the same error without running it', async (t) => {
    const id = uniqueId('permanent')
    const failed = await deliver(fnA, id, { fail: 'permanent' })
    t.equal(failed.status, 400)
    const again = await deliver(fnB, id, { fail: 'permanent' })
    t.equal(again.status, 400)
    t.equal(again.duplicate, 'true')
    t.equal(again.body, failed.body)
    t.notOk(b.handled.includes(id))
  })
})

t.test('Redis down: 503 dependency_unavailable, the handler does not run, the function keeps serving', { skip }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  const counter = createCounterFunction('lonely')
  const fn = await startTestFunction(counter.module, { env: { CARETAKER_IDEMPOTENCY: 'redis', CARETAKER_REDIS_URL: server.url } })
  let stopped = false
  t.teardown(() => (stopped ? undefined : fn.stop()))

  const before = await deliver(fn, uniqueId('before'))
  t.equal(before.status, 200, 'works while Redis is up')

  await server.stop()
  for (const label of ['down-1', 'down-2']) {
    const id = uniqueId(label)
    const started = Date.now()
    const res = await deliver(fn, id)
    t.equal(res.status, 503, `${label}: 503`)
    t.equal((JSON.parse(res.body) as { error: string }).error, 'dependency_unavailable')
    t.notOk(counter.handled.includes(id), `${label}: the handler did not run`)
    t.ok(Date.now() - started < 10_000, `${label}: answered in ${Date.now() - started} ms`)
  }
  t.ok(fn.logLines().some((l) => l.msg === 'idempotency store failed'), 'the failure is logged')
  const health = await fetch(new URL('/health/liveness', fn.url)).catch(() => undefined)
  t.ok(health, 'the function still answers HTTP')

  const deadline = new AbortController()
  const shutdown = await Promise.race([
    fn.stop().then(() => 'stopped', (err: Error) => `failed: ${err.message}`),
    sleep(10_000, 'hung', { signal: deadline.signal }).catch(() => 'hung'),
  ])
  deadline.abort()
  stopped = true
  t.equal(shutdown, 'stopped', 'the function shuts down cleanly with Redis gone')
})
