import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { KUBE_STATE_METRICS, registeredMetrics, SCRAPE_LABELS } from './metric-catalogue.ts'

// The alerts and the dashboard read metrics that exist: every metric name in
// the PrometheusRule's expressions and the dashboard's queries is one some
// function or the runtime registers (or one kube-state-metrics exports, or
// one the PrometheusRule records), and every label they group by, match on,
// select on, or print is one of that metric's labels (or one the scrape adds).

const root = fileURLToPath(new URL('../../', import.meta.url))

const registered = await registeredMetrics(root)

interface Rule { alert?: string, record?: string, expr: string, annotations?: Record<string, string> }
interface Query { where: string, expr: string, printed: string[] }
const queries: Query[] = []
const rule = parseAllDocuments(await readFile(join(root, 'manifests/monitoring/prometheusrule.yaml'), 'utf8'))[0]!.toJSON() as { spec: { groups: Array<{ name: string, rules: Rule[] }> } }
/** Series the PrometheusRule records → the labels its outer aggregation keeps. */
const recorded = new Map<string, Set<string>>()
for (const group of rule.spec.groups) {
  for (const r of group.rules) {
    if (r.record) recorded.set(r.record, new Set((/^\s*\w+\s+by\s*\(([^)]*)\)/.exec(r.expr)?.[1] ?? '').split(',').map((l) => l.trim()).filter(Boolean)))
    queries.push({ where: r.alert ? `alert ${r.alert}` : `record ${r.record}`, expr: String(r.expr), printed: [...Object.values(r.annotations ?? {}).join(' ').matchAll(/\$labels\.([a-z_]+)/g)].map((m) => m[1]!) })
  }
}
const dashboard = parse(await readFile(join(root, 'manifests/monitoring/dashboard.yaml'), 'utf8')) as { data: Record<string, string> }
const panels = (JSON.parse(dashboard.data['caretaker.json']!) as { panels: Array<{ title: string, targets: Array<{ expr: string, legendFormat?: string }> }> }).panels
for (const p of panels) {
  for (const target of p.targets) queries.push({ where: `panel "${p.title}"`, expr: target.expr, printed: [...(target.legendFormat ?? '').matchAll(/\{\{\s*([a-z_]+)\s*\}\}/g)].map((m) => m[1]!) })
}

t.test('the production code registers the metrics this test knows of', async (t) => {
  t.ok(registered.size >= 30, `${registered.size} metrics`)
  t.same([...registered.get('caretaker_events_handled_total') ?? []], ['function', 'type', 'outcome'])
})

t.test('every alert and panel reads metrics and labels that exist', async (t) => {
  t.ok(queries.length >= 25, `${queries.length} queries`)
  for (const q of queries) {
    const names = [...q.expr.matchAll(/\b(caretaker_[a-z0-9_]+)\b/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''))
    const others = [...q.expr.matchAll(/\b(kube_[a-z0-9_]+|[a-z_]+:[a-z0-9_]+:[a-z0-9_]+)\b/g)].map((m) => m[1]!)
    t.ok(names.length > 0 || others.length > 0, `${q.where}: reads a Caretaker or kube-state-metrics metric`)
    const labels = new Set(SCRAPE_LABELS)
    for (const name of names) {
      t.ok(registered.has(name), `${q.where}: ${name} is registered by a function or the runtime`)
      for (const l of registered.get(name) ?? []) labels.add(l)
    }
    for (const name of others) {
      const known = KUBE_STATE_METRICS.get(name) ?? recorded.get(name)
      t.ok(known, `${q.where}: ${name} is exported by kube-state-metrics or recorded by the PrometheusRule`)
      for (const l of known ?? []) labels.add(l)
    }
    // label_replace(v, "dst", "replacement", "src", "regex") adds dst.
    for (const m of q.expr.matchAll(/,\s*"([a-z_]+)",\s*"[^"]*",\s*"[a-z_]+",\s*"[^"]*"\s*\)/g)) labels.add(m[1]!)
    const used = [
      ...[...q.expr.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim()).filter(Boolean)),
      ...[...q.expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1]!.matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!)),
      ...q.printed,
    ]
    for (const l of used) t.ok(labels.has(l), `${q.where}: label ${l} is one of ${[...names, ...others].join(', ')}'s`)
    // A selector matches on the labels of its own metric: kube_job_failed{cronjob="…"} matches nothing.
    for (const m of q.expr.matchAll(/\b((?:caretaker|kube)_[a-z0-9_]+)\{([^}]*)\}/g)) {
      const own = registered.get(m[1]!.replace(/_(bucket|sum|count)$/, '')) ?? KUBE_STATE_METRICS.get(m[1]!) ?? new Set<string>()
      for (const l of m[2]!.matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)) t.ok(own.has(l[1]!) || SCRAPE_LABELS.has(l[1]!), `${q.where}: ${m[1]} has a label ${l[1]}`)
    }
  }
})

t.test('Prometheus scrapes the functions', async (t) => {
  const monitor = parseAllDocuments(await readFile(join(root, 'manifests/monitoring/podmonitor.yaml'), 'utf8'))[0]!.toJSON() as { spec: { selector: { matchLabels: Record<string, string> }, podMetricsEndpoints: Array<{ port: string, path: string }> } }
  t.same(monitor.spec.selector.matchLabels, { 'app.kubernetes.io/part-of': 'caretaker' })
  t.match(monitor.spec.podMetricsEndpoints, [{ port: 'user-port', path: '/metrics' }], 'Knative\'s name for the user container\'s port')
  const kustomization = parse(await readFile(join(root, 'manifests/monitoring/kustomization.yaml'), 'utf8')) as { resources: string[] }
  t.ok(kustomization.resources.includes('podmonitor.yaml'))
})

t.test('the Certificate metrics keep their namespace label through the scrape', async (t) => {
  // The Prometheus Operator sets the target label namespace (the pod's); with
  // honor_labels false Prometheus renames the exported one exported_namespace,
  // and applies metric relabelings after that (prometheus scrape/scrape.go,
  // mutateSampleLabels). The rules and panels read namespace as the Certificate's.
  const monitor = parseAllDocuments(await readFile(join(root, 'manifests/monitoring/podmonitor.yaml'), 'utf8'))[0]!.toJSON() as { spec: { podMetricsEndpoints: Array<{ honorLabels?: boolean, metricRelabelings?: Array<Record<string, unknown>> }> } }
  const endpoint = monitor.spec.podMetricsEndpoints[0]!
  t.not(endpoint.honorLabels, true, 'a pod cannot overwrite job, pod or instance')
  t.match(endpoint.metricRelabelings, [
    { sourceLabels: ['exported_namespace'], regex: '(.+)', targetLabel: 'namespace', replacement: '$1' },
    { regex: 'exported_namespace', action: 'labeldrop' },
  ])
  t.ok(registered.get('caretaker_certificate_expiry_timestamp_seconds')?.has('namespace'))
})

t.test('the dashboard reads the Prometheus chosen in its datasource variable', async (t) => {
  interface Ref { type?: string, uid?: string }
  const json = JSON.parse(dashboard.data['caretaker.json']!) as { templating?: { list: Array<{ name: string, type: string, query: string }> }, panels: Array<{ title: string, datasource?: Ref, targets: Array<{ refId: string, datasource?: Ref }> }> }
  t.match(json.templating?.list, [{ name: 'datasource', type: 'datasource', query: 'prometheus' }])
  for (const p of json.panels) {
    t.same(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel "${p.title}"`)
    for (const target of p.targets) t.same(target.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel "${p.title}" query ${target.refId}`)
  }
  t.notMatch(dashboard.data['caretaker.json']!, /"uid":\s*"(?!\$\{datasource\}|caretaker")/, 'no data source named by a uid of one installation')
})

t.test('CaretakerScheduledRunMissing watches every function with a daily PingSource', async (t) => {
  type Filter = Record<string, Record<string, string>>
  interface Doc { kind: string, metadata: { name: string, namespace?: string }, spec: { schedule?: string, filter?: { attributes?: Record<string, string> }, filters?: Filter[], subscriber?: { ref?: { name: string } } } }
  const docs: Doc[] = []
  for (const file of (await readdir(join(root, 'triggers'), { recursive: true })).filter((f) => f.endsWith('.yaml'))) {
    for (const d of parseAllDocuments(await readFile(join(root, 'triggers', file), 'utf8'))) {
      const json = d.toJSON() as Doc | null
      if (json?.kind) docs.push(json)
    }
  }
  const daily = new Set(docs.filter((d) => d.kind === 'PingSource' && /^\S+ \S+ \* \* \*$/.test(d.spec.schedule ?? '')).map((d) => `/apis/v1/namespaces/${d.metadata.namespace}/pingsources/${d.metadata.name}`))
  // A Trigger's filter (attributes: exact) or filters (the exact and prefix dialects it uses) let a daily tick through.
  const passes = (d: Doc, source: string) => {
    const attrs = d.spec.filter?.attributes
    if (attrs) return attrs.type === 'dev.knative.sources.ping' && attrs.source === source
    const filters = d.spec.filters ?? []
    return filters.some((f) => f.exact?.type === 'dev.knative.sources.ping')
      && filters.every((f) => (f.exact?.source === undefined || f.exact.source === source) && (f.prefix?.source === undefined || source.startsWith(f.prefix.source)))
  }
  const expected = new Set(docs.filter((d) => d.kind === 'Trigger' && [...daily].some((source) => passes(d, source))).map((d) => d.spec.subscriber!.ref!.name))
  t.ok(expected.size >= 7, `${expected.size} functions with a daily PingSource`)
  const alert = rule.spec.groups.flatMap((g) => g.rules).find((r) => r.alert === 'CaretakerScheduledRunMissing')!
  const watched = new Set([...alert.expr.matchAll(/absent_over_time\(caretaker_events_received_total\{function="([a-z-]+)", type="dev\.knative\.sources\.ping"\}\[26h\]\)/g)].map((m) => m[1]!))
  t.same([...watched].sort(), [...expected].sort())
})

t.test('kube-prometheus-stack\'s Prometheus selects the PodMonitor and the PrometheusRule', async (t) => {
  for (const file of ['podmonitor.yaml', 'prometheusrule.yaml']) {
    const obj = parseAllDocuments(await readFile(join(root, 'manifests/monitoring', file), 'utf8'))[0]!.toJSON() as { metadata: { labels: Record<string, string> } }
    t.equal(obj.metadata.labels.release, 'kube-prometheus-stack', `${file}: the chart's default selector, release: <release name>`)
  }
})
