import t from 'tap'
import { checkLoss, deadLettersReportedInLog, handledInLog, identity, runsInLog, type SentEvent } from './loss.ts'

// The soaks' loss check must be able to fail: a dropped event, a dead letter
// nobody reported, an event handled by the wrong function are all losses.

const ev = (fn: string, id: string, source = '/soak'): SentEvent => ({ fn, id, source })
const handledBy = (fn: string, ...events: SentEvent[]) => [fn, new Set(events.map(identity))] as const

t.test('every event handled: nothing lost, redeliveries counted once', async (t) => {
  const a = ev('prune', 'p-1')
  const b = ev('clean', 'c-1')
  const report = checkLoss({ sent: [a, b, a, a], handled: new Map([handledBy('prune', a), handledBy('clean', b)]), deadLetters: [], reported: new Set() })
  t.same(report, { unique: 2, handled: 2, deadLettered: 0, lost: [], unreported: [] })
})

t.test('a dropped event is lost, whatever the counts say', async (t) => {
  const sent = Array.from({ length: 10 }, (_, i) => ev('prune', `p-${i}`))
  // Ten sent, ten "handled": but one of the handled is an id that was never sent, and p-7 never ran.
  const handled = new Set([...sent.filter((s) => s.id !== 'p-7').map(identity), identity(ev('prune', 'stray'))])
  const report = checkLoss({ sent, handled: new Map([['prune', handled]]), deadLetters: [], reported: new Set() })
  t.same(report.lost, [ev('prune', 'p-7')])
  t.equal(report.handled, 9)
})

t.test('a dead letter is lost unless the dead-letter sink reported it', async (t) => {
  const a = ev('rotate', 'r-1')
  const b = ev('rotate', 'r-2')
  const deadLetters = [{ event: { id: 'r-1', type: 't', source: '/soak' } }, { event: { id: 'r-2', type: 't', source: '/soak' } }]
  const report = checkLoss({ sent: [a, b], handled: new Map(), deadLetters, reported: new Set([identity(a)]) })
  t.equal(report.deadLettered, 1)
  t.same(report.lost, [b])
  t.same(report.unreported, [b])
})

t.test('identity is source and id, and the function it was meant for', async (t) => {
  const a = ev('respond', 'x', 'http://alertmanager:9093')
  const sameIdOtherSource = ev('respond', 'x', '/elsewhere')
  const report = checkLoss({ sent: [a, sameIdOtherSource], handled: new Map([handledBy('respond', a), handledBy('other', sameIdOtherSource)]), deadLetters: [], reported: new Set() })
  t.same(report.lost, [sameIdOtherSource], 'handled by another function does not count')
})

t.test('the log readers take what the runtime and notify write', async (t) => {
  const lines = [
    { msg: 'event handled', event: { id: 'a', source: '/s', type: 't' } },
    { msg: 'event handled', event: { id: 'a', source: '/s', type: 't' } },
    { msg: 'event already handled', event: { id: 'b', source: '/s', type: 't' } },
    { msg: 'event rejected', event: { id: 'c', source: '/s', type: 't' } },
    { msg: 'an event was dead-lettered: the Broker gave up delivering it', deadLetter: { id: 'd', source: '/s', type: 't' } },
  ]
  t.same([...handledInLog(lines)], [identity({ id: 'a', source: '/s' })])
  t.same([...runsInLog(lines)], [[identity({ id: 'a', source: '/s' }), 2]])
  t.same([...deadLettersReportedInLog(lines)], [identity({ id: 'd', source: '/s' })])
})
