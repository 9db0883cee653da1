import t from 'tap'
import bridge from '../../../functions/alertmanager-bridge/index.ts'
import { alertmanagerSkipReason, startAlertmanager } from '../../../sandbox/harness/alertmanager.ts'
import { startTestFunction } from '../../../sandbox/harness/function.ts'
import { startReceiver } from '../../mesh/receiver.ts'

// A notification whose alerts are not all well formed. Alertmanager does not
// retry a 4xx (prometheus/alertmanager notify/webhook/webhook.go: a
// notify.Retrier without RetryCodes; notify/util.go Retrier.Check retries
// 5xx only), and re-sends the same group, bad alert included, at each
// group_interval: refusing the notification for one bad alert would keep
// the good ones from ever arriving. So the good ones are forwarded, the bad
// ones left out, logged and counted; 2xx only once the broker took every
// good event; 400 only for a body that is no notification at all.

const token = 'alertmanager-shared-token-0123456789'
const past = new Date(Date.now() - 60_000).toISOString()
const future = new Date(Date.now() + 3_600_000).toISOString()
const alert = (fingerprint: string, extra: Record<string, unknown> = {}) => ({
  status: 'firing', labels: { alertname: `A-${fingerprint}` }, annotations: {}, startsAt: '2026-01-01T00:00:00Z', endsAt: '0001-01-01T00:00:00Z', fingerprint, ...extra,
})

async function setup(t: { teardown(fn: () => unknown): void }, respond: Parameters<typeof startReceiver>[0] = () => ({ status: 202 })) {
  const broker = await startReceiver(respond)
  t.teardown(() => broker.close())
  const fn = await startTestFunction(bridge, { config: { bearerToken: token }, env: { K_SINK: `${broker.url}/broker` } })
  t.teardown(() => fn.stop())
  const post = (body: unknown) => fetch(`${fn.url}/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) })
  return { broker, fn, post }
}

type Reply = { forwarded: number; rejected?: Array<{ index: number; reason: string; message: string; fingerprint?: string }> }

t.test('good alerts forwarded, bad ones left out, logged and counted; an alert without status takes the notification\'s', async (t) => {
  const { broker, fn, post } = await setup(t)
  const { status: _s1, ...noStatus } = alert('nostatus')
  const { status: _s2, ...ended } = alert('ended', { endsAt: past })
  const res = await post({
    version: '4', receiver: 'r', status: 'firing', externalURL: 'http://am:9093',
    alerts: [alert('good1'), noStatus, ended, alert('badlabels', { labels: { alertname: 'x', n: 1 } }), alert('good2', { status: 'resolved', endsAt: past }), 'not an alert', alert('badstart', { startsAt: 'yesterday' })],
  })
  t.equal(res.status, 200, 'the notification is taken: the good alerts are in the broker')
  const reply = (await res.json()) as Reply
  t.equal(reply.forwarded, 4)
  t.same(reply.rejected?.map((r) => [r.index, r.reason, r.fingerprint]), [[3, 'labels', 'badlabels'], [5, 'not-an-object', undefined], [6, 'startsAt', 'badstart']])
  const types = Object.fromEntries(broker.requests.map((r) => [JSON.parse(r.body.toString()).fingerprint as string, r.headers['ce-type']]))
  t.same(types, {
    good1: 'dev.caretaker.alert.firing',
    nostatus: 'dev.caretaker.alert.firing',
    ended: 'dev.caretaker.alert.resolved',
    good2: 'dev.caretaker.alert.resolved',
  }, 'no status: endsAt passed means resolved, else the notification\'s status')
  const warned = fn.logLines().filter((l) => l.msg === 'alert left out: it cannot become an event')
  t.same(warned.map((l) => (l.alert as { index: number }).index), [3, 5, 6], 'each left-out alert is logged')
  t.match(warned[0]?.reason, /alerts\[3\]\.labels must map names to strings/, 'with the reason')
  t.notMatch(fn.logText(), token)
  const metrics = await (await fetch(`${fn.url}/metrics`)).text()
  t.match(metrics, /caretaker_alertmanager_alerts_rejected_total\{reason="labels"\} 1/)
  t.match(metrics, /caretaker_alertmanager_alerts_rejected_total\{reason="not-an-object"\} 1/)
  t.match(metrics, /caretaker_alertmanager_alerts_rejected_total\{reason="startsAt"\} 1/)
})

t.test('no status anywhere: the alert is left out, not guessed', async (t) => {
  const { broker, post } = await setup(t)
  const { status: _s, ...bare } = alert('bare', { endsAt: future })
  const res = await post({ version: '4', receiver: 'r', alerts: [bare, alert('ok')] })
  t.equal(res.status, 200)
  const reply = (await res.json()) as Reply
  t.equal(reply.forwarded, 1)
  t.equal(reply.rejected?.[0]?.reason, 'status')
  t.match(reply.rejected?.[0]?.message, /status is missing/)
  t.equal(broker.requests.length, 1)

  const resolvedHook = await post({ version: '4', receiver: 'r', status: 'resolved', alerts: [bare] })
  t.same(await resolvedHook.json(), { forwarded: 1 }, 'a resolved notification: every alert of it is resolved')
  t.equal(broker.requests[1]?.headers['ce-type'], 'dev.caretaker.alert.resolved')
})

t.test('2xx only once the broker took every good event: one refused is a 503, bad alerts notwithstanding', async (t) => {
  const { broker, post } = await setup(t, (r) => ({ status: JSON.parse(r.body.toString()).fingerprint === 'refused' ? 400 : 202 }))
  const res = await post({ version: '4', receiver: 'r', status: 'firing', alerts: [alert('good'), alert('refused'), alert('bad', { labels: 'x' })] })
  t.equal(res.status, 503, 'Alertmanager retries the notification')
  t.ok(broker.requests.some((r) => JSON.parse(r.body.toString()).fingerprint === 'good'))
})

t.test('only a body that is no notification at all is refused (400)', async (t) => {
  const { post } = await setup(t)
  for (const body of [{ version: '5', receiver: 'r', alerts: [] }, { receiver: 'r' }, { version: '4', alerts: [] }]) {
    t.equal((await post(body)).status, 400, JSON.stringify(body))
  }
  const empty = await post({ version: '4', receiver: 'r', status: 'firing', alerts: [] })
  t.same(await empty.json(), { forwarded: 0 })
})

t.test('a real Alertmanager: the bridge answers 503 while the broker refuses, Alertmanager retries, every alert arrives', { skip: alertmanagerSkipReason() }, async (t) => {
  // The runtime's sink tries each event 3 times: 6 refusals fail the bridge's first answer for both alerts.
  let refusals = 6
  const arrived = new Set<string>()
  const { fn } = await setup(t, (r) => {
    if (refusals-- > 0) return { status: 503 }
    arrived.add((JSON.parse(r.body.toString()) as { labels: { instance: string } }).labels.instance)
    return { status: 202 }
  })
  const am = await startAlertmanager({ webhookUrl: `${fn.url}/alertmanager`, httpConfig: { authorization: { type: 'Bearer', credentials: token } }, groupInterval: '1h' })
  t.teardown(() => am.close())
  await am.fire([{ labels: { alertname: 'DiskFull', namespace: 'a', instance: 'x' } }, { labels: { alertname: 'DiskFull', namespace: 'a', instance: 'y' } }])
  const deadline = Date.now() + 20_000
  while (arrived.size < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  t.same([...arrived].sort(), ['x', 'y'], 'both alerts reached the broker after the retries')
  const answers = fn.logLines().filter((l) => typeof l.msg === 'string' && /the broker did not accept every alert/.test(l.msg))
  t.ok(answers.length >= 1, 'the first notification was answered 503 and retried (within the group, not at group_interval, 1h here)')
})
