import t from 'tap'
import { createHash } from 'node:crypto'
import { idempotencyKey, MemoryIdempotencyStore, type RecordedOutcome } from '../../shared/runtime/idempotency.ts'

// The single-replica idempotency store: claims, outcomes, their time limit and the bound on how many it keeps.

const outcome = (n: number): RecordedOutcome => ({ status: 200, headers: {}, body: `{"n":${n}}` })

t.test('a claimed event is in progress until it completes or is released', async (t) => {
  const store = new MemoryIdempotencyStore()
  const key = idempotencyKey('f', '/s', 'a')
  t.same(await store.claim(key), { state: 'claimed' })
  t.same(await store.claim(key), { state: 'in-progress' }, 'a redelivery while it runs')
  await store.release(key)
  t.same(await store.claim(key), { state: 'claimed' }, 'released: a retry may run')
  await store.complete(key, outcome(1))
  t.same(await store.claim(key), { state: 'done', outcome: outcome(1) }, 'done: the recorded outcome')
})

t.test('an outcome is kept for its time limit', async (t) => {
  let now = 1_000
  const store = new MemoryIdempotencyStore({ ttlMs: 60_000, now: () => now })
  await store.claim('k')
  await store.complete('k', outcome(1))
  now += 59_999
  t.equal((await store.claim('k')).state, 'done')
  now += 1
  t.equal((await store.claim('k')).state, 'claimed', 'expired: handled again')
})

t.test('at most maxEntries outcomes, the oldest go first', async (t) => {
  const store = new MemoryIdempotencyStore({ maxEntries: 64 })
  let largest = 0
  for (let i = 0; i < 1000; i++) {
    await store.claim(`k${i}`)
    await store.complete(`k${i}`, outcome(i))
    largest = Math.max(largest, store.size)
  }
  t.equal(largest, 64, 'never more than the bound')
  t.ok(store.size >= 60, `most of the bound is kept (${store.size})`)
  t.same(await store.claim('k999'), { state: 'done', outcome: outcome(999) }, 'the newest outcome is kept')
  t.same(await store.claim(`k${1000 - store.size}`), { state: 'done', outcome: outcome(1000 - store.size) }, 'the oldest kept one too')
  t.same(await store.claim('k0'), { state: 'claimed' }, 'the oldest are gone')
})

t.test('the key is the SHA-256 of the function, source and id, each ended by a NUL', async (t) => {
  // Keys outlive a process (Redis, Leases): they must not change from one release to the next.
  const expected = createHash('sha256').update('verify-backup').update('\0').update('/caretaker/test').update('\0').update('e1').digest('hex')
  t.equal(idempotencyKey('verify-backup', '/caretaker/test', 'e1'), expected)
  t.not(idempotencyKey('f', 'a', 'bc'), idempotencyKey('f', 'ab', 'c'), 'the parts are kept apart')
})
