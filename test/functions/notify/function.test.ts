import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import notify from '../../../functions/notify/index.ts'
import { configSchema, type NotifyConfig } from '../../../functions/notify/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction, type TestFunction } from '../../../sandbox/harness/function.ts'
import { startReceiver, type ReceivedRequest } from '../../mesh/receiver.ts'
import { startVaultSimulator } from '../../../sandbox/simulators/vault/index.ts'
import { parseMail, startSmtp } from './smtp.ts'

// notify end to end through the runtime over HTTP: real HTTP receivers for
// the Mattermost, Slack and webhook formats, a real SMTP server with
// authentication, secrets from the environment, a file and Vault, and the
// Broker's view of failures (503 after retries, redelivery skipping
// channels that have the message).

const MM_KEY = 'mmhook0a1b2c3d4e5f6'
const SLACK_KEY = 'T000/B000/slackkeyXYZ987'
const HOOK_TOKEN = 'hook-bearer-5up3r-s3cret'
const SMTP_PASSWORD = 'smtp-pa55word-never-printed'
const DOWN_KEY = 'downhookKEY4242'
const SECRETS = [MM_KEY, SLACK_KEY, HOOK_TOKEN, SMTP_PASSWORD, DOWN_KEY]

const failed = {
  set: 'postgresql', format: 'pg-dumpall-gzip', verified: false, failedCheck: 'restore',
  artifact: { name: 'all_databases_20261122_020000.sql.gz', path: '/backups/postgresql/all_databases_20261122_020000.sql.gz', size: 48_213_004, modified: '2026-11-22T02:04:00Z' },
  checks: [
    { check: 'presence', ok: true, message: 'newest artifact found', evidence: {}, durationMs: 3 },
    { check: 'age', ok: true, message: '4h old, RPO 24h', evidence: {}, durationMs: 1 },
    { check: 'restore', ok: false, message: 'database app is missing after the restore', evidence: {}, durationMs: 9120 },
  ],
  durationMs: 9300, verifiedAt: '2026-11-22T06:00:00Z', trigger: 'sweep',
}
const verified = { ...failed, verified: true, failedCheck: undefined, checks: failed.checks.map((c) => ({ ...c, ok: true })) }
delete (verified as Record<string, unknown>).failedCheck

// Answers by path: /flaky fails twice then works, /down always fails, /gone is a wrong hook.
const receiver = await startReceiver((req: ReceivedRequest, seen: number) => {
  if (req.path.startsWith('/flaky/')) return seen < 2 ? { status: 503 } : { status: 200, body: 'ok' }
  if (req.path.startsWith('/down/')) return { status: 500, body: `hook ${DOWN_KEY} is broken` }
  if (req.path.startsWith('/gone/')) return { status: 404, body: 'no such hook' }
  return { status: 200, body: 'ok' }
})
t.teardown(() => receiver.close())
const smtp = await startSmtp('caretaker', SMTP_PASSWORD)
t.teardown(() => smtp.close())
const vault = await startVaultSimulator()
t.teardown(() => vault.close())
vault.putSecret('secret', 'caretaker/notify', { smtpPassword: SMTP_PASSWORD })
vault.putPolicy('notify', 'path "secret/data/caretaker/notify" { capabilities = ["read"] }')
const vaultToken = vault.createToken(['notify'])

const dir = await mkdtemp(join(tmpdir(), 'caretaker-notify-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
await writeFile(join(dir, 'slack-url'), `${receiver.url}/slack/${SLACK_KEY}\n`)
process.env.NOTIFY_TEST_MATTERMOST_URL = `${receiver.url}/mattermost/${MM_KEY}`
process.env.NOTIFY_TEST_HOOK_URL = `${receiver.url}/hook/x`
process.env.NOTIFY_TEST_HOOK_TOKEN = HOOK_TOKEN
process.env.NOTIFY_TEST_FLAKY_URL = `${receiver.url}/flaky/x`
process.env.NOTIFY_TEST_DOWN_URL = `${receiver.url}/down/${DOWN_KEY}`
process.env.NOTIFY_TEST_GONE_URL = `${receiver.url}/gone/x`
delete process.env.NOTIFY_TEST_UNSET_URL

const smtpChannel = {
  name: 'mail', kind: 'email',
  smtp: { host: '127.0.0.1', port: smtp.port, requireTls: false, user: 'caretaker', password: { vault: { mount: 'secret', path: 'caretaker/notify', key: 'smtpPassword' } }, from: 'caretaker@example.org', to: ['oncall@example.org', 'sre@example.org'] },
}

function config(extra: Partial<Record<keyof NotifyConfig, unknown>>): NotifyConfig {
  return validateConfig<NotifyConfig>({
    cluster: 'prod-eu1',
    links: [{ label: 'Runbook', url: 'https://wiki.example.org/runbooks/{family}' }],
    ...extra,
  }, configSchema, 'test')
}

const main = config({
  channels: [
    { name: 'ops-mattermost', kind: 'mattermost', url: { env: 'NOTIFY_TEST_MATTERMOST_URL' }, username: 'caretaker', channel: 'ops' },
    { name: 'ops-slack', kind: 'slack', url: { file: join(dir, 'slack-url') } },
    { name: 'hook', kind: 'webhook', url: { env: 'NOTIFY_TEST_HOOK_URL' }, token: { env: 'NOTIFY_TEST_HOOK_TOKEN' } },
    smtpChannel,
    { name: 'unset', kind: 'webhook', url: { env: 'NOTIFY_TEST_UNSET_URL' } },
    { name: 'log', kind: 'log' },
  ],
  routes: [
    { types: ['dev.caretaker.backup.*'], minSeverity: 'info', channels: ['hook', 'log'] },
    { types: ['dev.caretaker.backup.verification.failed', 'dev.caretaker.*.degraded'], minSeverity: 'warning', channels: ['ops-mattermost', 'ops-slack', 'mail'] },
    { types: ['dev.caretaker.snapshots.*'], channels: ['unset', 'log'] },
  ],
  collapseWindow: '1500ms',
  retry: { attempts: 3, backoff: '20ms', timeout: '2s' },
})

const vaultEnv = { VAULT_ADDR: vault.url, VAULT_TOKEN: vaultToken }
const fn: TestFunction = await startTestFunction(notify, { config: main, env: { CARETAKER_DRY_RUN: 'false', ...vaultEnv } })
t.teardown(() => fn.stop())

interface Reply {
  status: number
  type: string | null
  body: Record<string, unknown> | undefined
  text: string
}

async function send(target: TestFunction, type: string, data: unknown, extra: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(target.url, { method: 'POST', headers: binaryHeaders(type, extra), body: JSON.stringify(data) })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('ce-type'), body: text ? JSON.parse(text) as Record<string, unknown> : undefined, text }
}

type Delivery = { channel: string; kind: string; status: string; attempts?: number; repeats?: number; plan?: string; rendered?: Record<string, unknown> }
const deliveries = (r: Reply) => (r.body?.deliveries ?? []) as Delivery[]
const byChannel = (r: Reply) => Object.fromEntries(deliveries(r).map((d) => [d.channel, d.status]))
const json = (r: ReceivedRequest) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>
const replies: string[] = []

t.test('a failed backup reaches Mattermost, Slack, the webhook and e-mail, each in its format', async (t) => {
  const res = await send(fn, 'dev.caretaker.backup.verification.failed', failed, { 'ce-subject': 'postgresql' })
  replies.push(res.text)
  t.equal(res.status, 200)
  t.equal(res.type, 'dev.caretaker.notification.sent')
  t.equal(res.body?.severity, 'critical')
  t.same(byChannel(res), { hook: 'sent', log: 'sent', 'ops-mattermost': 'sent', 'ops-slack': 'sent', mail: 'sent' })

  const [mm] = receiver.on(`/mattermost/${MM_KEY}`)
  t.ok(mm, 'Mattermost got a POST')
  t.equal(mm!.headers['content-type'], 'application/json')
  const mmBody = json(mm!)
  t.equal(mmBody.username, 'caretaker')
  t.equal(mmBody.channel, 'ops')
  const text = mmBody.text as string
  t.match(text, /^:red_circle: \*\*CRITICAL · Backup verification FAILED: postgresql \(restore check\) · prod-eu1\*\*/)
  t.match(text, /\*\*What:\*\* The restore check failed: database app is missing after the restore/)
  t.match(text, /\*\*Where:\*\* backup set postgresql at \/backups\/postgresql\//)
  t.match(text, /\*\*To do:\*\* The backup does not restore/)
  t.match(text, /\[Runbook\]\(https:\/\/wiki\.example\.org\/runbooks\/backup\)/)

  const [slack] = receiver.on(`/slack/${SLACK_KEY}`)
  const slackBody = json(slack!)
  t.match(slackBody.text, /CRITICAL · Backup verification FAILED: postgresql/)
  const blocks = slackBody.blocks as Array<{ type: string; text?: { text: string }; fields?: unknown[] }>
  t.equal(blocks[0]?.type, 'header')
  t.match(blocks[1]?.text?.text, /\*What:\* The restore check failed/)
  t.ok(blocks.some((b) => b.text?.text.includes('<https://wiki.example.org/runbooks/backup|Runbook>')), 'links in Slack\'s form')

  const [hook] = receiver.on('/hook/x')
  t.equal(hook!.headers.authorization, `Bearer ${HOOK_TOKEN}`, 'the webhook gets its bearer token')
  const hookBody = json(hook!)
  t.equal(hookBody.severity, 'critical')
  t.equal(hookBody.cluster, 'prod-eu1')
  t.match(hookBody.event, { type: 'dev.caretaker.backup.verification.failed', subject: 'postgresql', data: { failedCheck: 'restore' } })

  t.equal(smtp.mails.length, 1, 'one e-mail')
  const mail = smtp.mails[0]!
  t.equal(mail.user, 'caretaker', 'authenticated with the password from Vault')
  t.same(mail.to, ['oncall@example.org', 'sre@example.org'])
  const parsed = parseMail(mail.raw)
  t.equal(parsed.subject, '[Caretaker CRITICAL] Backup verification FAILED: postgresql (restore check) (prod-eu1)')
  t.match(parsed.from, 'caretaker@example.org')
  t.match(parsed.text, /^CRITICAL · Backup verification FAILED/)
  t.match(parsed.text, /To do: The backup does not restore/)
  t.match(parsed.text, /Artifact: all_databases_20261122_020000\.sql\.gz/)
  t.match(parsed.text, /Size: 46\.0 MiB/)
  t.match(parsed.html, /<th align="left" valign="top">What<\/th><td>The restore check failed: database app is missing after the restore<\/td>/)

  t.match(fn.logText(), /"msg":"notification"/, 'the log channel writes the message')
})

t.test('routing: severity below a route\'s minimum and unmatched types go nowhere', async (t) => {
  const before = receiver.requests.length
  const res = await send(fn, 'dev.caretaker.backup.verified', verified, { 'ce-subject': 'etcd' })
  t.equal(res.status, 200)
  t.same(byChannel(res), { hook: 'sent', log: 'sent' }, 'info goes to the webhook and the log, not to chat or e-mail')
  t.equal(receiver.requests.length, before + 1)
  const none = await send(fn, 'dev.caretaker.resources.cleaned', { dryRun: false, capReached: false, counts: {}, objects: [] })
  t.equal(none.status, 204, 'no route: nothing to do')
})

t.test('a channel whose secret is not set here is reported, not failed', async (t) => {
  const res = await send(fn, 'dev.caretaker.snapshots.pruned', { dryRun: false, capReached: false, policies: [] })
  t.equal(res.status, 200)
  t.same(byChannel(res), { unset: 'not-configured', log: 'sent' })
  t.match(fn.logText(), /"missing":"environment variable NOTIFY_TEST_UNSET_URL"/)
})

t.test('repeats of the same type and subject collapse into one message with a count', async (t) => {
  const path = `/mattermost/${MM_KEY}`
  const before = receiver.on(path).length
  const first = await send(fn, 'dev.caretaker.database.degraded', { target: 'orders', status: 'warning', findings: [] }, { 'ce-subject': 'orders' })
  t.equal(byChannel(first)['ops-mattermost'], 'sent')
  const second = await send(fn, 'dev.caretaker.database.degraded', { target: 'orders', status: 'warning', findings: [] }, { 'ce-subject': 'orders' })
  const third = await send(fn, 'dev.caretaker.database.degraded', { target: 'orders', status: 'warning', findings: [] }, { 'ce-subject': 'orders' })
  t.same(deliveries(second).find((d) => d.channel === 'ops-mattermost'), { channel: 'ops-mattermost', kind: 'mattermost', status: 'collapsed', repeats: 1 })
  t.same(deliveries(third).find((d) => d.channel === 'ops-mattermost'), { channel: 'ops-mattermost', kind: 'mattermost', status: 'collapsed', repeats: 2 })
  const other = await send(fn, 'dev.caretaker.database.degraded', { target: 'billing', status: 'warning', findings: [] }, { 'ce-subject': 'billing' })
  t.equal(byChannel(other)['ops-mattermost'], 'sent', 'another subject is not a repeat')
  t.equal(receiver.on(path).length, before + 2)
  await new Promise((r) => setTimeout(r, 1600))
  const after = await send(fn, 'dev.caretaker.database.degraded', { target: 'orders', status: 'warning', findings: [] }, { 'ce-subject': 'orders' })
  t.same(deliveries(after).find((d) => d.channel === 'ops-mattermost'), { channel: 'ops-mattermost', kind: 'mattermost', status: 'sent', attempts: 1, repeats: 2 })
  const last = json(receiver.on(path).at(-1)!)
  t.match(last.text, /Repeated 2 more times since \d{4}-\d\d-\d\dT/, 'the next message after the window carries the count')
  const mail = parseMail(smtp.mails.at(-1)!.raw)
  t.match(mail.subject, /\(×3\)/, 'the e-mail subject too')
})

t.test('dry-run renders every channel\'s message and sends nothing', async (t) => {
  const requests = receiver.requests.length
  const mails = smtp.mails.length
  const res = await send(fn, 'dev.caretaker.backup.verification.failed', { ...failed, set: 'vault' }, { 'ce-subject': 'vault', 'ce-dryrun': 'true' })
  replies.push(res.text)
  t.equal(res.status, 200)
  const ds = deliveries(res)
  t.same(ds.map((d) => [d.channel, d.status, d.plan]), [['hook', 'dry-run', 'send'], ['log', 'dry-run', 'send'], ['ops-mattermost', 'dry-run', 'send'], ['ops-slack', 'dry-run', 'send'], ['mail', 'dry-run', 'send']])
  t.match(ds.find((d) => d.channel === 'mail')?.rendered, { to: ['oncall@example.org', 'sre@example.org'], subject: /Backup verification FAILED: vault/ })
  t.match(ds.find((d) => d.channel === 'ops-mattermost')?.rendered, { body: { text: /Backup verification FAILED: vault/ } })
  t.equal(receiver.requests.length, requests, 'no HTTP request')
  t.equal(smtp.mails.length, mails, 'no e-mail')
  const real = await send(fn, 'dev.caretaker.backup.verification.failed', { ...failed, set: 'vault' }, { 'ce-subject': 'vault' })
  t.equal(byChannel(real)['ops-mattermost'], 'sent', 'a dry-run leaves the collapse state untouched')
})

t.test('retries with backoff, then 503 so the Broker retries; redelivery skips channels that have it', async (t) => {
  const flaky = await startTestFunction(notify, {
    config: config({
      channels: [
        { name: 'flaky', kind: 'webhook', url: { env: 'NOTIFY_TEST_FLAKY_URL' } },
        { name: 'down', kind: 'mattermost', url: { env: 'NOTIFY_TEST_DOWN_URL' } },
        { name: 'gone', kind: 'slack', url: { env: 'NOTIFY_TEST_GONE_URL' } },
        smtpChannel,
      ],
      routes: [
        { types: ['dev.caretaker.alert.notification'], channels: ['flaky'] },
        { types: ['dev.caretaker.alert.remediated'], channels: ['down', 'mail'] },
        { types: ['dev.caretaker.alert.skipped'], channels: ['gone'] },
        { types: ['dev.caretaker.database.reported'], channels: ['mail'] },
      ],
      retry: { attempts: 3, backoff: '50ms', timeout: '2s' },
    }),
    env: { CARETAKER_DRY_RUN: 'false', ...vaultEnv },
  })
  t.teardown(() => flaky.stop())

  const started = Date.now()
  const ok = await send(flaky, 'dev.caretaker.alert.notification', { alertname: 'KubePodCrashLooping', severity: 'warning', message: 'pod api-7d9 restarted 12 times', labels: { namespace: 'production', pod: 'api-7d9' } })
  t.equal(ok.status, 200, 'two failures then success: delivered')
  t.match(deliveries(ok)[0], { channel: 'flaky', status: 'sent', attempts: 3 })
  t.ok(Date.now() - started >= 150, 'waited 50 ms then 100 ms between attempts')
  t.equal(receiver.on('/flaky/x').length, 3)

  const headers = { 'ce-id': 'remediated-1', 'ce-subject': 'production/api' }
  const down = await send(flaky, 'dev.caretaker.alert.remediated', { alertname: 'KubeDeploymentReplicasMismatch', fingerprint: 'f00d', reason: 'rule restart matched', rule: 'restart', target: 'production/api', actions: [] }, headers)
  replies.push(down.text)
  t.equal(down.status, 503, 'a failed delivery is retryable for the Broker')
  t.equal(down.body?.error, 'dependency_unavailable')
  t.match(down.body?.message, /down \(mattermost: HTTP 500 after 3 attempts\)/)
  t.match(down.body?.message, /skip channels that have it \(mail: sent\)/)
  t.equal(receiver.on(`/down/${DOWN_KEY}`).length, 3, 'three attempts')
  const mails = smtp.mails.length
  const again = await send(flaky, 'dev.caretaker.alert.remediated', { alertname: 'KubeDeploymentReplicasMismatch', fingerprint: 'f00d', reason: 'rule restart matched', rule: 'restart', target: 'production/api', actions: [] }, headers)
  replies.push(again.text)
  t.equal(again.status, 503)
  t.equal(smtp.mails.length, mails, 'the redelivered event is not mailed twice')

  const gone = await send(flaky, 'dev.caretaker.alert.skipped', { alertname: 'X', fingerprint: 'beef', reason: 'no rule' })
  t.equal(gone.status, 503)
  t.equal(receiver.on('/gone/x').length, 1, 'a 404 (wrong hook) is not retried inside the function')
  t.match(gone.body?.message, /gone \(slack: HTTP 404 after 1 attempt\)/)

  smtp.failNext(1, 451)
  const mail = await send(flaky, 'dev.caretaker.database.reported', { target: 'orders', kind: 'postgres', tasks: [], status: 'ok', findings: [], actions: [], durationMs: 5, dryRun: false })
  t.equal(mail.status, 200, 'a temporary SMTP failure is retried')
  t.match(deliveries(mail)[0], { channel: 'mail', status: 'sent', attempts: 2 })
  t.equal(parseMail(smtp.mails.at(-1)!.raw).subject, '[Caretaker INFO] Database report: orders (PostgreSQL): OK (prod-eu1)')

  for (const s of SECRETS) t.notOk(flaky.logText().includes(s), 'no secret in the failing function\'s log')
})

t.test('the rate limit holds messages back and says so in the next one', async (t) => {
  const limited = await startTestFunction(notify, {
    config: config({
      channels: [{ name: 'hook', kind: 'webhook', url: { env: 'NOTIFY_TEST_HOOK_URL' } }],
      routes: [{ types: ['*'], channels: ['hook'] }],
      rateLimit: 2,
      rateWindow: '1500ms',
      collapseWindow: '1ms',
    }),
    env: { CARETAKER_DRY_RUN: 'false' },
  })
  t.teardown(() => limited.stop())
  const before = receiver.on('/hook/x').length
  const statuses: string[] = []
  for (const set of ['a', 'b', 'c', 'd']) {
    const res = await send(limited, 'dev.caretaker.backup.verified', { ...verified, set }, { 'ce-subject': set })
    statuses.push(deliveries(res)[0]!.status)
  }
  t.same(statuses, ['sent', 'sent', 'rate-limited', 'rate-limited'])
  t.equal(receiver.on('/hook/x').length, before + 2)
  await new Promise((r) => setTimeout(r, 1600))
  const next = await send(limited, 'dev.caretaker.backup.verified', { ...verified, set: 'e' }, { 'ce-subject': 'e' })
  t.equal(deliveries(next)[0]!.status, 'sent')
  t.equal(json(receiver.on('/hook/x').at(-1)!).heldBack, 2, 'the next message counts what was held back')
  const metrics = await (await fetch(`${limited.url}/metrics`)).text()
  t.match(metrics, /caretaker_notify_deliveries_total\{channel="hook",kind="webhook",status="rate-limited"\} 2/)
})

t.test('no secret appears in logs, replies, errors or metrics', async (t) => {
  const metrics = await (await fetch(`${fn.url}/metrics`)).text()
  const everything = [fn.logText(), metrics, ...replies].join('\n')
  t.ok(replies.length >= 4, 'replies and error bodies were collected')
  for (const s of SECRETS) t.notOk(everything.includes(s), `secret ${s.slice(0, 4)}… is nowhere`)
  t.notOk(everything.includes(receiver.url.replace('http://', '') + '/mattermost'), 'no webhook URL either')
})
