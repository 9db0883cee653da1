import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { KeyedSerial } from '../../shared/serial.ts'

// One at a time per key, in arrival order; keys side by side; a failure does
// not stop what comes after it; nothing is kept once a key is idle.

t.test('work for one key runs in turn; other keys do not wait', async (t) => {
  const serial = new KeyedSerial()
  const log: string[] = []
  const job = (name: string, ms: number, fail = false) => async () => {
    log.push(`${name} start`)
    await sleep(ms)
    log.push(`${name} end`)
    if (fail) throw new Error(`${name} failed`)
    return name
  }
  const a1 = serial.run('a', job('a1', 40, true))
  const a2 = serial.run('a', job('a2', 10))
  const b1 = serial.run('b', job('b1', 10))
  t.equal(serial.size, 2, 'two keys busy')
  await t.rejects(a1, /a1 failed/, 'a failure reaches its own caller')
  t.equal(await a2, 'a2', 'and the next work for the key still runs')
  t.equal(await b1, 'b1')
  t.same(log.filter((l) => l.startsWith('a')), ['a1 start', 'a1 end', 'a2 start', 'a2 end'], 'key a: one at a time, in order')
  t.ok(log.indexOf('b1 end') < log.indexOf('a1 end'), 'key b did not wait for key a')
  await sleep(0)
  t.equal(serial.size, 0, 'idle keys are forgotten')
})
