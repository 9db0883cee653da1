import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { countDateTimeFormats } from '../../intl.ts'
import notify from '../../../functions/notify/index.ts'
import { configSchema, type NotifyConfig } from '../../../functions/notify/config.ts'
import { emailMessage, logLine, mattermostPayload, slackPayload, webhookPayload, type Counts } from '../../../functions/notify/formats.ts'
import { MessageTemplates, SHIPPED_TEMPLATES, type TemplateFailure } from '../../../functions/notify/templates.ts'
import { validateConfig } from '../../../shared/config.ts'
import { catalogue } from '../../../shared/events/catalogue.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { EXAMPLE_TIME, exampleData } from './samples.ts'

// The template files: every shipped one renders every outbound type's example
// in every channel format; a directory of overrides (a ConfigMap) replaces a
// template or a partial by name; an override that does not parse is reported
// with its file and line and not used; one that fails when rendering falls
// back to the shipped template, reported, and the message still goes out.

const outbound = [...catalogue.values()].filter((d) => d.direction === 'outbound' && !d.type.startsWith('dev.caretaker.notification.'))
const counts: Counts = { repeats: 1, since: EXAMPLE_TIME, heldBack: 0 }
const channel = { name: 'ops', kind: 'mattermost' as const }

async function overrides(t: { teardown(fn: () => unknown): void }, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-templates-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
  return dir
}

const failed = exampleData('dev.caretaker.backup.verification.failed', {})
const verified = exampleData('dev.caretaker.backup.verified', {})
const input = (type: string, example: { subject?: string | undefined; data: unknown }) => ({ type, subject: example.subject, data: example.data, time: EXAMPLE_TIME })

t.test('every shipped template is an outbound type\'s, generic or a partial', async (t) => {
  const names = readdirSync(SHIPPED_TEMPLATES).map((f) => f.replace(/\.liquid$/, ''))
  for (const n of names) t.ok(n === 'generic' || n.startsWith('_') || outbound.some((d) => d.type === n), n)
  for (const d of outbound) t.ok(names.includes(d.type), `${d.type} has its template`)
})

t.test('every template renders every type\'s example in every format, without a render error', async (t) => {
  const errors: TemplateFailure[] = []
  const templates = new MessageTemplates({ onFallback: (f) => errors.push(f) })
  t.same(templates.problems, [])
  for (const def of outbound) {
    const example = exampleData(def.type, def.schema)
    // Each type's own template, and the generic one with the same data (as a type without a template gets it).
    for (const type of [def.type, `dev.caretaker.${def.type.split('.')[2]}.not-yet-templated`]) {
      const m = templates.render(input(type, example), [{ label: 'Runbook', url: 'https://wiki.example.org/{family}' }])
      for (const field of ['title', 'what', 'where', 'action'] as const) t.ok(m[field].trim().length > 0, `${type}: ${field}`)
      const email = emailMessage(m, counts, 'prod-eu1')
      const all = [logLine(m, counts, 'prod-eu1'), JSON.stringify(mattermostPayload(m, counts, channel, 'prod-eu1')), JSON.stringify(slackPayload(m, counts, channel, 'prod-eu1')),
        JSON.stringify(webhookPayload(m, counts, 'prod-eu1', { id: '1', source: '/x', type, data: example.data })), email.subject, email.text, email.html]
      for (const text of all) t.ok(text.length > 0, `${type}: a format rendered empty`)
      t.notMatch(all.join('\n'), /undefined|\[object Object\]|NaN|could not be written/, `${type}: readable in every format`)
    }
  }
  t.same(errors.map((e) => e.error.message), [], 'no shipped template failed to render')
})

t.test('a file of the overrides directory replaces one type\'s template; the others keep theirs', async (t) => {
  const dir = await overrides(t, {
    'dev.caretaker.backup.verified.liquid': [
      '{% severity %}warning{% endseverity %}',
      '{% title %}{{ set | upcase }} is fine ({{ checkNames | size }} checks){% endtitle %}',
      '{% what %}Size {{ artifact.size | bytes }}, {{ artifactTime | age }}.{% endwhat %}',
      '{% where %}{% include "backup-where" %}{% endwhere %}',
      '{% action %}Relax.{% endaction %}',
      '{% fact "Team" %}storage{% endfact %}{% fact "Empty" %}{{ nothing }}{% endfact %}',
    ].join('\n'),
    '..data': '',
  })
  const shipped = new MessageTemplates()
  const templates = new MessageTemplates({ dir })
  t.same(templates.problems, [])
  t.same(templates.overridden, ['dev.caretaker.backup.verified'])
  const m = templates.render(input('dev.caretaker.backup.verified', verified))
  t.equal(m.severity, 'warning')
  t.equal(m.title, 'POSTGRESQL is fine (5 checks)')
  t.equal(m.what, 'Size 46.0 MiB, 3h 56m old.')
  t.equal(m.where, 'backup set postgresql at /backups/postgresql/all_databases_20261122_020000.sql.gz')
  t.same(m.facts, [{ label: 'Team', value: 'storage' }], 'an empty fact is left out')
  t.same(templates.render(input('dev.caretaker.backup.verification.failed', failed)), shipped.render(input('dev.caretaker.backup.verification.failed', failed)), 'another type: the shipped template')
  t.ok(templates.has('dev.caretaker.backup.verified'))
})

t.test('a partial of the overrides directory changes every template that includes it', async (t) => {
  const dir = await overrides(t, { '_backup-where.liquid': 'set {{ set }} on the NAS\n' })
  const templates = new MessageTemplates({ dir })
  t.same(templates.overridden.sort(), ['dev.caretaker.backup.restore.started', 'dev.caretaker.backup.verification.failed', 'dev.caretaker.backup.verified'])
  t.equal(templates.render(input('dev.caretaker.backup.verified', verified)).where, 'set postgresql on the NAS')
  t.equal(templates.render(input('dev.caretaker.backup.verification.failed', failed)).where, 'set postgresql on the NAS')
})

t.test('an override that does not parse is reported with its file and line, and not used', async (t) => {
  const dir = await overrides(t, {
    'dev.caretaker.backup.verified.liquid': '{% severity %}info{% endseverity %}\n{% title %}ok{% endtitle %}\n{% if set %}\n{% what %}x{% endwhat %}\n',
    'dev.caretaker.backup.verification.failed.liquid': '{% severity %}info{% endseverity %}\n\n{% title %}{{ set | frobnicate }}{% endtitle %}\n',
    'dev.caretaker.no.such-type.liquid': '{% title %}x{% endtitle %}',
  })
  const templates = new MessageTemplates({ dir })
  const byName = Object.fromEntries(templates.problems.map((p) => [p.template, p]))
  t.same(Object.keys(byName).sort(), ['dev.caretaker.backup.verification.failed', 'dev.caretaker.backup.verified', 'dev.caretaker.no.such-type'])
  for (const p of templates.problems) t.equal(p.error.code, 'invalid_template')
  const unclosed = byName['dev.caretaker.backup.verified']!
  t.equal(unclosed.line, 3)
  t.match(unclosed.error.message, new RegExp(`^notify template ${join(dir, 'dev.caretaker.backup.verified.liquid')} line 3 does not parse: tag \\{% if set %\\} not closed`))
  t.equal(byName['dev.caretaker.backup.verification.failed']!.line, 3)
  t.match(byName['dev.caretaker.backup.verification.failed']!.error.message, /line 3 does not parse: .*frobnicate/)
  t.match(byName['dev.caretaker.no.such-type']!.error.message, /names no template notify ships/)
  t.same(templates.overridden, [])
  const shipped = new MessageTemplates()
  t.same(templates.render(input('dev.caretaker.backup.verified', verified)), shipped.render(input('dev.caretaker.backup.verified', verified)), 'the shipped template writes it')
})

t.test('an override that fails when rendering falls back to the shipped template, reported', async (t) => {
  const dir = await overrides(t, {
    // Parses, then fails: a partial that does not exist, and a message without a severity.
    'dev.caretaker.backup.verified.liquid': '{% severity %}info{% endseverity %}{% title %}{% include "no-such-partial" %}{% endtitle %}{% what %}x{% endwhat %}{% where %}x{% endwhere %}{% action %}x{% endaction %}',
    'dev.caretaker.backup.verification.failed.liquid': '{% title %}t{% endtitle %}{% what %}x{% endwhat %}{% where %}x{% endwhere %}{% action %}x{% endaction %}',
    // Loops without end: stopped by the render limit.
    'dev.caretaker.backup.sweep.completed.liquid': '{% for i in (1..100000000) %}{% for j in (1..100000000) %}{{ i }}{% endfor %}{% endfor %}',
  })
  const fallbacks: TemplateFailure[] = []
  const templates = new MessageTemplates({ dir, onFallback: (f) => fallbacks.push(f) })
  const shipped = new MessageTemplates()
  t.same(templates.problems, [])
  for (const [type, example] of [['dev.caretaker.backup.verified', verified], ['dev.caretaker.backup.verification.failed', failed], ['dev.caretaker.backup.sweep.completed', exampleData('dev.caretaker.backup.sweep.completed', {})]] as const) {
    t.same(templates.render(input(type, example)), shipped.render(input(type, example)), `${type}: the shipped template's message`)
  }
  t.same(fallbacks.map((f) => f.template), ['dev.caretaker.backup.verified', 'dev.caretaker.backup.verification.failed', 'dev.caretaker.backup.sweep.completed'])
  for (const f of fallbacks) t.equal(f.error.code, 'invalid_template')
  t.match(fallbacks[0]!.error.message, /failed to render: .*no-such-partial/)
  t.match(fallbacks[1]!.error.message, /\{% severity %\} must be one of info, warning, critical/)
  t.match(fallbacks[2]!.error.message, /failed to render: .*limit/)
})

t.test('notify with templatesDir: a broken override is reported at start and by the metric, and its messages still go out', async (t) => {
  const dir = await overrides(t, {
    'dev.caretaker.backup.verified.liquid': '{% severity %}info{% endseverity %}{% title %}{{ set }} ✓{% endtitle %}{% what %}fine{% endwhat %}{% where %}{{ set }}{% endwhere %}{% action %}none{% endaction %}',
    'dev.caretaker.backup.verification.failed.liquid': '{% title %}\n{% endtitl %}',
    'dev.caretaker.backup.restore.started.liquid': '{% severity %}info{% endseverity %}{% title %}{% include "gone" %}{% endtitle %}{% what %}x{% endwhat %}{% where %}x{% endwhere %}{% action %}x{% endaction %}',
  })
  const config = validateConfig<NotifyConfig>({ templatesDir: dir, channels: [{ name: 'log', kind: 'log' }] }, configSchema, 'test')
  const fn = await startTestFunction(notify, { config, env: { CARETAKER_DRY_RUN: 'false' } })
  t.teardown(() => fn.stop())
  const start = fn.logLines().filter((l) => l.error === 'invalid_template')
  t.equal(start.length, 1, 'the template that does not parse is reported at start')
  t.match(start[0], { level: 'error', template: 'dev.caretaker.backup.verification.failed', file: join(dir, 'dev.caretaker.backup.verification.failed.liquid'), line: 2 })
  const send = async (type: string, data: unknown) => {
    const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(type, { 'ce-subject': 'postgresql' }), body: JSON.stringify(data) })
    return await res.json() as { title: string; deliveries: Array<{ status: string }> }
  }
  t.equal((await send('dev.caretaker.backup.verified', verified.data)).title, 'postgresql ✓', 'the override writes its type')
  const broken = await send('dev.caretaker.backup.verification.failed', failed.data)
  t.equal(broken.title, 'Backup verification FAILED: postgresql (restore check)', 'the shipped template writes the type whose override does not parse')
  const fellBack = await send('dev.caretaker.backup.restore.started', exampleData('dev.caretaker.backup.restore.started', {}).data)
  t.match(fellBack.title, /^Backup restore test started: /, 'a render failure: the shipped template')
  t.same(fellBack.deliveries.map((d) => d.status), ['sent'], 'and the message went out')
  const reported = fn.logLines().filter((l) => l.error === 'invalid_template' && l.template === 'dev.caretaker.backup.restore.started')
  t.equal(reported.length, 1, 'the render failure is logged')
  const metrics = await (await fetch(new URL('/metrics', fn.url))).text()
  t.match(metrics, /caretaker_notify_template_errors_total\{template="dev.caretaker.backup.verification.failed",phase="parse"\} 1/)
  t.match(metrics, /caretaker_notify_template_errors_total\{template="dev.caretaker.backup.restore.started",phase="render"\} 1/)
})

t.test('the README\'s example override renders', async (t) => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
  const example = /```liquid\n(\{% comment %\} templates\/dev\.caretaker\.backup\.verified\.liquid[\s\S]*?)```/.exec(readme)?.[1]
  t.ok(example, 'the README has the example')
  const dir = await overrides(t, { 'dev.caretaker.backup.verified.liquid': example ?? '' })
  const fallbacks: TemplateFailure[] = []
  const m = new MessageTemplates({ dir, onFallback: (f) => fallbacks.push(f) }).render(input('dev.caretaker.backup.verified', verified))
  t.same(fallbacks, [])
  t.equal(m.title, 'Backup OK: postgresql (46.0 MiB)')
  t.same(m.facts, [{ label: 'Team', value: 'storage (#storage-oncall)' }, { label: 'Age', value: '3h 56m old' }])
})

t.test('a partial of the overrides directory that does not parse is reported, and the shipped one stays', async (t) => {
  const dir = await overrides(t, { '_backup-where.liquid': 'set {{ set \n' })
  const templates = new MessageTemplates({ dir })
  t.same(templates.problems.map((p) => [p.template, p.error.code, p.line]), [['_backup-where', 'invalid_template', 1]])
  t.same(templates.overridden, [])
  t.equal(templates.render(input('dev.caretaker.backup.verified', verified)).where, 'backup set postgresql at /backups/postgresql/all_databases_20261122_020000.sql.gz')
})

t.test('making the templates and rendering construct no Intl.DateTimeFormat (liquidjs is given its locale)', async (t) => {
  const constructed = countDateTimeFormats(t)
  const m = new MessageTemplates().render(input('dev.caretaker.backup.verified', verified))
  t.match(m.title, /postgresql/i)
  t.equal(constructed(), 0)
})
