import { CloudEvent } from 'cloudevents'
import t from 'tap'
import { ConsoleFeed, FLOW_KEPT, type FlowItem } from '../../sandbox/local/console/feed.ts'

// The console's live flow: what the Broker took in and how each delivery
// ended, told as attributes and the outcome line, never the event's data.

const event = (id: string, source = '/test/feed', extra: Record<string, unknown> = {}) =>
  new CloudEvent<unknown>({ specversion: '1.0', id, source, type: 'dev.caretaker.snapshots.pruned', datacontenttype: 'application/json', data: { policy: 'p', deleted: 1, kept: 2, secret: 'hunter2' }, ...extra }, false)

t.test('items, in order, with the outcome line and dry-run', async (t) => {
  const feed = new ConsoleFeed()
  const seen: FlowItem[] = []
  const stop = feed.subscribe((i) => seen.push(i))
  feed.accepted(event('a', '/test/feed'))
  feed.accepted(event('b', '/caretaker/functions/prune-snapshots', { dryrun: 'true' }))
  const reply = event('c', '/caretaker/functions/prune-snapshots')
  feed.delivered({ trigger: 'caretaker/prune', service: 'prune-snapshots', event: event('r'), delivered: true, attempts: 1, status: 200, reply })
  feed.delivered({ trigger: 'caretaker/flaky', service: undefined, event: event('d'), delivered: false, attempts: 3, status: 400 })
  stop()
  feed.accepted(event('e'))
  t.equal(seen.length, 4, 'a subscriber hears each item until it stops listening')
  t.same(seen.map((i) => i.seq), [1, 2, 3, 4])
  t.match(seen[0], { kind: 'accepted', id: 'a', function: null, outcome: null, dryRun: null }, 'an event no function sent has no outcome')
  t.match(seen[1], { kind: 'accepted', function: 'prune-snapshots', outcome: /^prune-snapshots: .*\(dry-run: nothing was changed\)$/, dryRun: true }, 'an outcome, dry-run')
  t.match(seen[2], { kind: 'delivery', id: 'r', function: 'prune-snapshots', trigger: 'caretaker/prune', status: 200, delivered: true, outcome: /^prune-snapshots: /, dryRun: false, reply: { id: 'c' } }, 'a delivery with its reply')
  t.match(seen[3], { kind: 'delivery', id: 'd', function: null, delivered: false, attempts: 3, status: 400, outcome: null, reply: null }, 'a refused delivery')
  t.notMatch(JSON.stringify(seen), 'hunter2', 'no event data in the flow')
  t.same(feed.since(3).map((i) => i.id), ['d', 'e'], 'what came after a given item')
})

t.test('only the last ones are kept', async (t) => {
  const feed = new ConsoleFeed()
  for (let i = 0; i < FLOW_KEPT + 5; i++) feed.accepted(event(`e${i}`))
  const kept = feed.since(0)
  t.equal(kept.length, FLOW_KEPT)
  t.equal(kept[0]!.id, 'e5', 'the oldest go first')
  t.equal(kept.at(-1)!.seq, FLOW_KEPT + 5)
})
