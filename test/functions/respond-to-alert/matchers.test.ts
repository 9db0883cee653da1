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
  t.ok(matches(parseMatcher('pod="postgres\\-0"'), { pod: 'postgres-0' }), 'escapes in quoted values')
  t.throws(() => parseMatcher('severity'), /not a matcher/)
  t.throws(() => parseMatcher('severity=~"("'), /does not compile/)
})

t.test('label templates', async (t) => {
  t.equal(render('{{ $labels.namespace }}/{{$labels.pod}}', labels), 'databases/postgres-0')
  t.equal(render('{{ .Labels.pod }}', labels), 'postgres-0')
  t.throws(() => render('{{ $labels.deployment }}', labels), /no label "deployment"/)
})
