import t from 'tap'
import { matches, parseMatcher, render } from '../../../functions/respond-to-alert/matchers.ts'

const labels = { alertname: 'KubePodCrashLooping', namespace: 'databases', severity: 'critical', pod: 'postgres-0' }

t.test('every operator, with Alertmanager semantics', async (t) => {
  t.ok(matches(parseMatcher('alertname="KubePodCrashLooping"'), labels), '=')
  t.notOk(matches(parseMatcher('alertname="KubePod"'), labels), '= is exact')
  t.ok(matches(parseMatcher('severity!="warning"'), labels), '!=')
  t.notOk(matches(parseMatcher('severity!="critical"'), labels))
  t.ok(matches(parseMatcher('severity=~"critical|warning"'), labels), '=~')
  t.notOk(matches(parseMatcher('alertname=~"Crash"'), labels), '=~ is anchored: a substring does not match')
  t.ok(matches(parseMatcher('alertname=~".*Crash.*"'), labels))
  t.ok(matches(parseMatcher('namespace!~"kube-.*"'), labels), '!~')
  t.notOk(matches(parseMatcher('namespace!~"data.*"'), labels), '!~ anchored too')
  t.ok(matches(parseMatcher('team=""'), labels), 'a missing label is the empty string')
  t.ok(matches(parseMatcher('team!~".+"'), labels))
  t.notOk(matches(parseMatcher('team=~".+"'), labels))
  t.ok(matches(parseMatcher('severity = critical'), labels), 'unquoted values and spaces')
  // Alertmanager's ParseMatcher (pkg/labels/parse.go): \" \\ \n are escapes, any other backslash is literal.
  t.ok(matches(parseMatcher('pod="postgres\\"-0"'), { pod: 'postgres"-0' }), 'an escaped double quote')
  t.ok(matches(parseMatcher('pod="a\\\\b"'), { pod: 'a\\b' }), 'an escaped backslash')
  t.ok(matches(parseMatcher('pod="postgres\\-0"'), { pod: 'postgres\\-0' }), 'a spurious escape is a literal backslash')
  t.ok(matches(parseMatcher('job_name=~"postgres-backup-\\d+"'), { job_name: 'postgres-backup-29400120' }), 'so \\d keeps its meaning in a regex')
  t.throws(() => parseMatcher('severity'), /not a matcher/)
  t.throws(() => parseMatcher('severity=~"("'), /does not compile/)
})

t.test('regexes are RE2, as Alertmanager\'s', async (t) => {
  t.ok(matches(parseMatcher('severity=~"(?i)critical"'), { severity: 'CRITICAL' }), 'an RE2 flag group: valid in Alertmanager')
  t.ok(matches(parseMatcher('severity=~"(?i:crit)ical"'), { severity: 'CRITical' }))
  t.ok(matches(parseMatcher('instance=~"[[:alpha:]]+-\\pN+"'), { instance: 'node-12' }), 'POSIX classes and Unicode classes')
  t.notOk(matches(parseMatcher('severity=~"(?i)critical"'), { severity: 'not critical' }), 'still anchored')
  t.ok(matches(parseMatcher('severity=~"warning|critical"'), { severity: 'critical' }), 'anchoring wraps the whole alternation: ^(?:warning|critical)$')
  t.notOk(matches(parseMatcher('severity=~"warning|critical"'), { severity: 'critical2' }))
  t.throws(() => parseMatcher('alertname=~"(?=Kube)Kube.*"'), /does not compile as RE2.*lookahead/, 'a lookahead is JavaScript only')
  t.throws(() => parseMatcher('pod=~"(a)\\1"'), /does not compile as RE2/, 'a backreference is JavaScript only')
  t.throws(() => parseMatcher('pod!~"(?<!x)y"'), /does not compile as RE2/, 'a lookbehind is JavaScript only')
})

t.test('label templates', async (t) => {
  t.equal(render('{{ $labels.namespace }}/{{$labels.pod}}', labels), 'databases/postgres-0')
  t.equal(render('{{ .Labels.pod }}', labels), 'postgres-0')
  t.throws(() => render('{{ $labels.deployment }}', labels), /no label "deployment"/)
})
