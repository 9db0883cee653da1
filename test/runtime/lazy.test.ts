import t from 'tap'
import { lazy } from '../../shared/lazy.ts'

// shared/lazy.ts: made once on first use and shared; a failure is not kept.

t.test('made once, on the first call, and shared by callers at once', async (t) => {
  let made = 0
  const get = lazy(async () => ++made)
  t.equal(made, 0, 'nothing is made before the first call')
  const [a, b] = await Promise.all([get(), get()])
  t.same([a, b, await get()], [1, 1, 1])
  t.equal(made, 1)
})

t.test('a failed attempt is tried again on the next call', async (t) => {
  let attempts = 0
  const get = lazy(async () => {
    attempts++
    if (attempts === 1) throw new Error('transient')
    return 'ok'
  })
  await t.rejects(get(), /transient/)
  t.equal(await get(), 'ok')
  t.equal(await get(), 'ok')
  t.equal(attempts, 2)
})
