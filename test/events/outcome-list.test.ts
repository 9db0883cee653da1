import t from 'tap'
import { OutcomeList, REPLY_OBJECT_LIMIT, outcomeListSchema } from '../../shared/events/outcome-list.ts'
import { FindingList, type Finding } from '../../functions/health-report/findings.ts'
import { createAjv } from '../../shared/schema.ts'

// A sweep's reply stays bounded whatever the cluster's size, and says what it left out.

interface Item { name: string; action: string; reasons: string[] }
const item = (name: string, action: string, reason = 'r'): Item => ({ name, action, reasons: [reason] })

t.test('under the limit everything is listed, in the order seen', async (t) => {
  const list = new OutcomeList<Item>({ limit: 5 })
  ;[item('a', 'keep'), item('b', 'deleted'), item('c', 'keep')].forEach((i) => list.add(i))
  t.same(list.listing(), { objects: [item('b', 'deleted'), item('a', 'keep'), item('c', 'keep')] })
  t.same(list.counts, { keep: 2, deleted: 1 })
  t.same(list.keptReasons, { r: 2 })
})

t.test('over the limit: acted-on objects displace kept ones, and every omission is counted', async (t) => {
  const list = new OutcomeList<Item>({ limit: 3 })
  for (let i = 0; i < 10; i++) list.add(item(`k${i}`, 'keep', i % 2 ? 'young' : 'protected'))
  for (let i = 0; i < 4; i++) list.add(item(`d${i}`, 'deleted'))
  list.add(item('f', 'failed'))
  const { objects, omitted } = list.listing()
  t.same(objects.map((o) => o.name), ['d0', 'd1', 'd2'], 'the first acted-on objects fill the reply')
  t.same(omitted, { keep: 10, deleted: 1, failed: 1 })
  t.same(list.counts, { keep: 10, deleted: 4, failed: 1 }, 'counts cover everything')
  t.same(list.keptReasons, { protected: 5, young: 5 })
  const total = objects.length + Object.values(omitted ?? {}).reduce((a, b) => a + b, 0)
  t.equal(total, list.size, 'listed + omitted = seen')
})

t.test('a listing at the default limit validates against the outcome schema; one more item does not', async (t) => {
  const ajv = createAjv()
  const validate = ajv.compile({ type: 'object', properties: outcomeListSchema({ type: 'object' }) })
  const list = new OutcomeList<Item>()
  for (let i = 0; i < REPLY_OBJECT_LIMIT * 3; i++) list.add(item(`o${i}`, 'deleted'))
  const listing = list.listing()
  t.equal(listing.objects.length, REPLY_OBJECT_LIMIT)
  t.same(listing.omitted, { deleted: REPLY_OBJECT_LIMIT * 2 })
  t.ok(validate(listing), 'bounded listing is valid')
  t.notOk(validate({ objects: [...listing.objects, item('x', 'deleted')] }), 'the schema refuses an unbounded list')
})

t.test('health findings: counted in full, listed critical first up to the limit', async (t) => {
  const f = (name: string, severity: Finding['severity']): Finding => ({ check: 'pods', severity, object: { kind: 'Pod', namespace: 'n', name }, reason: 'CrashLoopBackOff', message: 'm' })
  const list = new FindingList(4)
  for (let i = 0; i < 6; i++) list.add(f(`w${i}`, 'warning'))
  for (let i = 0; i < 3; i++) list.add(f(`c${i}`, 'critical'))
  list.add(undefined)
  const { findings, omitted } = list.result()
  t.same(findings.map((x) => x.object.name), ['c0', 'c1', 'c2', 'w0'])
  t.same(omitted, { critical: 0, warning: 5 })
  t.equal(list.total('warning'), 6)
  t.equal(list.total('critical'), 3)
  t.equal(list.count('pods', 'critical'), 3)
  t.equal(list.count('nodes', 'critical'), 0)
})
