import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import t from 'tap'
import { NOTIFIABLE } from '../../../functions/notify/index.ts'
import { emailMessage, logLine, mattermostPayload, slackPayload, webhookPayload, type Counts } from '../../../functions/notify/formats.ts'
import { hasSpecificTemplate, humanType, inferSeverity, renderMessage } from '../../../functions/notify/templates.ts'
import { catalogue } from '../../../shared/events/catalogue.ts'
import { EventDataValidator } from '../../../shared/events/validation.ts'
import { EXAMPLE_TIME, exampleData } from './samples.ts'

// Every outbound type in the catalogue at test time renders to a message a
// person can act on, in every channel format. Types with a recorded snapshot
// must render exactly as recorded (templates.snapshots.json; regenerate with
// UPDATE_SNAPSHOTS=1 and read the diff). A type added since is still checked
// for a complete, readable message, and listed as not yet recorded.

const SNAPSHOTS = new URL('./templates.snapshots.json', import.meta.url)
const LINKS = [{ label: 'Runbook', url: 'https://wiki.example.org/runbooks/{family}' }]
const channel = { name: 'ops', kind: 'mattermost' as const }
const noCounts: Counts = { repeats: 0, heldBack: 0 }

const outbound = [...catalogue.values()].filter((d) => d.direction === 'outbound' && !d.type.startsWith('dev.caretaker.notification.'))
const recorded = existsSync(SNAPSHOTS) ? JSON.parse(readFileSync(SNAPSHOTS, 'utf8')) as Record<string, unknown> : {}
const updating = process.env.UPDATE_SNAPSHOTS === '1'
const current: Record<string, unknown> = {}

t.test('notify accepts every outbound type of the catalogue but its own', async (t) => {
  t.same([...NOTIFIABLE].sort(), outbound.map((d) => d.type).sort())
  t.notOk(NOTIFIABLE.includes('dev.caretaker.notification.sent'), 'its own reply would loop')
  t.ok(outbound.length >= 10, `${outbound.length} outbound types`)
})

for (const def of outbound) {
  t.test(`${def.type} renders a complete message`, async (t) => {
    const example = exampleData(def.type, def.schema)
    const validator = new EventDataValidator([def.type], catalogue)
    try {
      validator.check(def.type, example.data)
      t.pass('the example data is valid for the type')
    } catch (err) {
      if (hasSpecificTemplate(def.type)) throw err
      t.comment(`the generated example for ${def.type} does not satisfy its schema (${(err as Error).message}); rendered anyway`)
    }
    const m = renderMessage({ type: def.type, subject: example.subject, data: example.data, time: EXAMPLE_TIME }, LINKS)
    for (const field of ['title', 'what', 'where', 'action'] as const) t.ok(m[field].trim().length > 0, `${field} is filled`)
    t.ok(['info', 'warning', 'critical'].includes(m.severity))
    t.ok(m.title.length <= 200, 'the title fits a notification line')
    const counts: Counts = { repeats: 2, since: EXAMPLE_TIME, heldBack: 1 }
    const email = emailMessage(m, counts, 'prod-eu1')
    const rendered = [
      logLine(m, counts, 'prod-eu1'),
      JSON.stringify(mattermostPayload(m, counts, channel, 'prod-eu1')),
      JSON.stringify(slackPayload(m, counts, channel, 'prod-eu1')),
      JSON.stringify(webhookPayload(m, counts, 'prod-eu1', { id: '1', source: '/x', type: def.type, subject: example.subject, data: example.data })),
      email.subject, email.text, email.html,
    ].join('\n')
    for (const bad of ['undefined', '[object Object]', 'NaN']) t.notOk(rendered.includes(bad), `no "${bad}" in any format`)
    t.notOk(/[\r\n]/.test(email.subject), 'one-line e-mail subject')
    t.match(rendered, /Repeated 2 more times/)
    t.match(rendered, /https:\/\/wiki\.example\.org\/runbooks\//)

    const snapshot = { severity: m.severity, subject: emailMessage(m, noCounts, 'prod-eu1').subject, text: logLine(m, noCounts, 'prod-eu1') }
    current[def.type] = snapshot
    if (updating) return
    if (def.type in recorded) t.same(snapshot, recorded[def.type], 'renders as recorded (after an intended change: UPDATE_SNAPSHOTS=1 npx tap test/functions/notify/templates.test.ts, then review the diff)')
    else t.comment(`${def.type} has no recorded snapshot yet: run with UPDATE_SNAPSHOTS=1 and review`)
  })
}

t.test('the known types have their own templates; the rest read from the catalogue', async (t) => {
  for (const type of ['dev.caretaker.backup.verified', 'dev.caretaker.backup.verification.failed', 'dev.caretaker.backup.sweep.completed']) t.ok(hasSpecificTemplate(type), type)
  const failed = renderMessage({ type: 'dev.caretaker.backup.verification.failed', subject: 'redis', data: { set: 'redis', failedCheck: 'age', checks: [{ check: 'age', ok: false, message: 'newest is 50h old, RPO 24h' }] }, time: EXAMPLE_TIME })
  t.equal(failed.severity, 'critical')
  t.equal(failed.what, 'The age check failed: newest is 50h old, RPO 24h')
  t.match(failed.action, /older than the set's RPO/)
  const sweepOk = renderMessage({ type: 'dev.caretaker.backup.sweep.completed', subject: undefined, data: { verified: 2, failed: 0, sets: [{ set: 'a', verified: true }, { set: 'b', verified: true }] }, time: EXAMPLE_TIME })
  t.equal(sweepOk.severity, 'info')
  t.equal(sweepOk.title, 'Backup sweep: all 2 sets verified')
})

t.test('a type added later gets a sensible generic message', async (t) => {
  // As another function would add it: an outbound type notify has never seen.
  const m = renderMessage({
    type: 'dev.caretaker.certificate.expiring', subject: 'production/api-tls',
    data: { namespace: 'production', name: 'api-tls', notAfter: '2026-11-30T00:00:00Z', daysLeft: 7, dnsNames: ['api.example.org'] }, time: EXAMPLE_TIME,
  }, LINKS)
  t.equal(m.severity, 'warning', 'expiring reads as a warning')
  t.equal(m.title, 'Certificate expiring: production/api-tls')
  t.equal(m.where, 'production/api-tls')
  t.match(m.action, /today/)
  t.same(m.facts.map((f) => `${f.label}=${f.value}`), ['Namespace=production', 'Name=api-tls', 'Not After=2026-11-30T00:00:00Z', 'Days Left=7', 'Dns Names=1 item'])
  t.same(m.links, [{ label: 'Runbook', url: 'https://wiki.example.org/runbooks/certificate' }])
})

t.test('severity from the data\'s words, then the type\'s', async (t) => {
  t.equal(inferSeverity('dev.caretaker.health.reported', { status: 'critical' }), 'critical')
  t.equal(inferSeverity('dev.caretaker.health.reported', { status: 'ok' }), 'info')
  t.equal(inferSeverity('dev.caretaker.database.degraded', { status: 'warning' }), 'warning')
  t.equal(inferSeverity('dev.caretaker.database.degraded', { status: 'ok' }), 'warning', 'the type\'s word when the data says less')
  t.equal(inferSeverity('dev.caretaker.database.degraded', { status: 'critical' }), 'critical')
  t.equal(inferSeverity('dev.caretaker.secret.rotation.failed', {}), 'critical')
  t.equal(inferSeverity('dev.caretaker.alert.skipped', {}), 'warning')
  t.equal(inferSeverity('dev.caretaker.snapshots.pruned', { failed: 0 }), 'info')
  t.equal(inferSeverity('dev.caretaker.x.done', { failed: 3 }), 'warning')
  t.equal(humanType('dev.caretaker.database.maintenance.completed'), 'Database maintenance completed')
})

t.test('an outcome its function only planned says so in the title', async (t) => {
  const m = renderMessage({ type: 'dev.caretaker.resources.cleaned', subject: undefined, data: { dryRun: true, capReached: false, counts: {}, objects: [] }, time: EXAMPLE_TIME })
  t.equal(m.title, 'Resources cleaned (dry-run: nothing was changed)')
})

t.test('templates never throw on unexpected data', async (t) => {
  for (const def of outbound) {
    for (const data of [{}, null, 'text', [1, 2]]) t.doesNotThrow(() => renderMessage({ type: def.type, subject: undefined, data, time: EXAMPLE_TIME }), `${def.type} with ${JSON.stringify(data)}`)
  }
})

t.teardown(() => {
  if (updating) writeFileSync(SNAPSHOTS, `${JSON.stringify({ ...recorded, ...current }, null, 2)}\n`)
})
