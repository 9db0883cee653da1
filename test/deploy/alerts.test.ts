import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { parse, parseAllDocuments, stringify } from 'yaml'
import { binarySkipReason, findBinary } from '../../sandbox/harness/binaries.ts'
import { KUBE_STATE_METRICS, KUBE_STATE_METRICS_TARGET_LABELS, POD_TARGET_LABELS, registeredMetrics } from './metric-catalogue.ts'

// The shipped alerts, proven with the real rule engine: `promtool test rules`
// (Debian's prometheus package) on the PrometheusRule's groups, fed with
// series shaped as Prometheus stores them from Caretaker's pods (one series
// per pod, the Prometheus Operator's target labels, staleness when the pod
// goes) and from kube-state-metrics. Each file in test/deploy/alerts/ names
// the group it tests as `<group>.rules.yaml`; every alert has its cases:
// firing and not while the function is up, still firing once its series are
// gone after a bad state, quiet once they are gone after a good one, and for
// the "nothing seen" alerts, firing when nothing was seen for the window.

// promtool evaluates every rule at every step of days of series: about 15 s
// of CPU, and minutes of wall time on a loaded machine.
t.setTimeout(600_000)

const root = fileURLToPath(new URL('../../', import.meta.url))
const testsDir = join(root, 'test/deploy/alerts')
const run = promisify(execFile)
const skip = binarySkipReason('promtool', { packageName: 'prometheus' })

interface Rule { alert?: string, record?: string, expr: string }
interface Group { name: string, rules: Rule[] }
const rule = parseAllDocuments(await readFile(join(root, 'manifests/monitoring/prometheusrule.yaml'), 'utf8'))[0]!.toJSON() as { spec: { groups: Group[] } }
const groups = rule.spec.groups
const testFiles = (await readdir(testsDir)).filter((f) => f.endsWith('.yaml')).sort()

interface RuleTest { rule_files: string[], tests: Array<{ input_series?: Array<{ series: string }>, alert_rule_test?: Array<{ alertname: string, exp_alerts: unknown[] }> }> }
const tests = new Map<string, RuleTest>()
for (const file of testFiles) tests.set(file, parse(await readFile(join(testsDir, file), 'utf8')) as RuleTest)

t.test('every shipped alert has promtool cases, firing and quiet', async (t) => {
  const alerts = new Set(groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : []))))
  t.ok(alerts.size >= 14, `${alerts.size} alerts`)
  const firing = new Set<string>()
  const quiet = new Set<string>()
  for (const [file, test] of tests) {
    for (const name of test.rule_files) t.ok(groups.some((g) => `${g.name}.rules.yaml` === name), `${file}: ${name} is a group of the PrometheusRule`)
    for (const c of test.tests.flatMap((x) => x.alert_rule_test ?? [])) (c.exp_alerts.length > 0 ? firing : quiet).add(c.alertname)
  }
  for (const a of alerts) {
    t.ok(firing.has(a), `${a} is tested firing`)
    t.ok(quiet.has(a), `${a} is tested quiet`)
  }
})

t.test('the tests feed series shaped as Prometheus stores them from Caretaker\'s pods and kube-state-metrics', async (t) => {
  const registered = await registeredMetrics(root)
  const monitor = parseAllDocuments(await readFile(join(root, 'manifests/monitoring/podmonitor.yaml'), 'utf8'))[0]!.toJSON() as { metadata: { name: string, namespace: string } }
  let count = 0
  for (const [file, test] of tests) {
    for (const { series } of test.tests.flatMap((x) => x.input_series ?? [])) {
      count++
      const name = /^([a-z_:0-9]+)\{/.exec(series)?.[1] ?? ''
      const labels = new Map([...series.matchAll(/([a-z_]+)="([^"]*)"/g)].filter((m) => m[2] !== '').map((m) => [m[1]!, m[2]!]))
      const own = registered.get(name.replace(/_(bucket|sum|count)$/, ''))
      if (own) {
        // Every label the metric declares, and the pod's target labels: the job is the PodMonitor's.
        t.same([...labels.keys()].sort(), [...new Set([...own, ...POD_TARGET_LABELS])].sort(), `${file}: ${name} has its own labels and the pod's`)
        t.equal(labels.get('job'), `${monitor.metadata.namespace}/${monitor.metadata.name}`, `${file}: ${name} from the PodMonitor's job`)
        t.equal(labels.get('knative_service'), /^([a-z-]+)-\d{5}-deployment-/.exec(labels.get('pod') ?? '')?.[1], `${file}: ${name} from a Knative revision's pod`)
        continue
      }
      const ksm = KUBE_STATE_METRICS.get(name)
      t.ok(ksm, `${file}: ${name} is Caretaker's or kube-state-metrics'`)
      for (const l of labels.keys()) t.ok(ksm?.has(l) || KUBE_STATE_METRICS_TARGET_LABELS.has(l), `${file}: ${name} has a label ${l}`)
      for (const l of ['namespace', 'job_name', 'job', 'instance']) t.ok(labels.has(l), `${file}: ${name} has ${l}`)
    }
  }
  t.ok(count > 50, `${count} input series`)
})

t.test('promtool: the rules are valid and pass their tests', { skip }, async (t) => {
  const promtool = findBinary('promtool', { packageName: 'prometheus' })!
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-rules-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const g of groups) await writeFile(join(dir, `${g.name}.rules.yaml`), stringify({ groups: [g] }))
  // The dashboard's queries too, as recording rules: promtool parses each.
  const dashboard = parse(await readFile(join(root, 'manifests/monitoring/dashboard.yaml'), 'utf8')) as { data: Record<string, string> }
  const panels = (JSON.parse(dashboard.data['caretaker.json']!) as { panels: Array<{ id: number, targets: Array<{ refId: string, expr: string }> }> }).panels
  const panelRules = panels.flatMap((p) => p.targets.map((target) => ({ record: `dashboard:panel_${p.id}_${target.refId}:expr`, expr: target.expr })))
  await writeFile(join(dir, 'dashboard.rules.yaml'), stringify({ groups: [{ name: 'dashboard', rules: panelRules }] }))
  const check = await run(promtool, ['check', 'rules', ...groups.map((g) => join(dir, `${g.name}.rules.yaml`)), join(dir, 'dashboard.rules.yaml')])
  t.match(check.stdout, new RegExp(`SUCCESS: ${panelRules.length} rules found`), 'every dashboard query parses')
  t.equal(check.stdout.match(/SUCCESS/g)?.length, groups.length + 1, 'every group parses')
  for (const file of testFiles) {
    await writeFile(join(dir, file), await readFile(join(testsDir, file)))
    const result = await run(promtool, ['test', 'rules', join(dir, file)], { timeout: 300_000 }).then(
      (r) => ({ ok: true, output: r.stdout + r.stderr }),
      (err: { stdout?: string, stderr?: string, message: string }) => ({ ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` || err.message }),
    )
    t.ok(result.ok, `${file}`, { diagnostic: !result.ok, output: result.output })
  }
})
