import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'

// The alerts and the dashboard read metrics that exist: every metric name in
// the PrometheusRule's expressions and the dashboard's queries is one some
// function or the runtime registers, and every label they group by, select
// on, or print is one of that metric's labels (or one the scrape adds).

const root = fileURLToPath(new URL('../../', import.meta.url))

async function sources(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(join(entry.parentPath, entry.name))
  }
  return out
}

/** Metric name → its label names, read from every `new Counter/Gauge/Histogram({ name, …, labelNames })` in production code. */
const registered = new Map<string, Set<string>>()
for (const file of [...await sources(join(root, 'functions')), ...await sources(join(root, 'shared'))]) {
  const text = await readFile(file, 'utf8')
  for (const m of text.matchAll(/name:\s*'(caretaker_[a-z0-9_]+)'([\s\S]*?)(?:registers|\}\))/g)) {
    const labels = /labelNames:\s*\[([^\]]*)\]/.exec(m[2]!)?.[1] ?? ''
    registered.set(m[1]!, new Set([...labels.matchAll(/'([a-z_]+)'/g)].map((l) => l[1]!)))
  }
}
// Labels Prometheus adds when it scrapes (the PodMonitor's relabeling too), and a histogram's bucket bound.
const SCRAPE_LABELS = new Set(['job', 'instance', 'pod', 'container', 'endpoint', 'knative_service', 'le'])

interface Query { where: string, expr: string, printed: string[] }
const queries: Query[] = []
const rule = parseAllDocuments(await readFile(join(root, 'manifests/monitoring/prometheusrule.yaml'), 'utf8'))[0]!.toJSON() as { spec: { groups: Array<{ rules: Array<{ alert: string, expr: string, annotations?: Record<string, string> }> }> } }
for (const group of rule.spec.groups) {
  for (const r of group.rules) queries.push({ where: `alert ${r.alert}`, expr: String(r.expr), printed: [...Object.values(r.annotations ?? {}).join(' ').matchAll(/\$labels\.([a-z_]+)/g)].map((m) => m[1]!) })
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
    t.ok(names.length > 0, `${q.where}: reads a Caretaker metric`)
    const labels = new Set(SCRAPE_LABELS)
    for (const name of names) {
      t.ok(registered.has(name), `${q.where}: ${name} is registered by a function or the runtime`)
      for (const l of registered.get(name) ?? []) labels.add(l)
    }
    const used = [
      ...[...q.expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim()).filter(Boolean)),
      ...[...q.expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1]!.matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!)),
      ...q.printed,
    ]
    for (const l of used) t.ok(labels.has(l), `${q.where}: label ${l} is one of ${names.join(', ')}'s`)
  }
})

t.test('Prometheus scrapes the functions', async (t) => {
  const monitor = parseAllDocuments(await readFile(join(root, 'manifests/monitoring/podmonitor.yaml'), 'utf8'))[0]!.toJSON() as { spec: { selector: { matchLabels: Record<string, string> }, podMetricsEndpoints: Array<{ port: string, path: string }> } }
  t.same(monitor.spec.selector.matchLabels, { 'app.kubernetes.io/part-of': 'caretaker' })
  t.match(monitor.spec.podMetricsEndpoints, [{ port: 'user-port', path: '/metrics' }], 'Knative\'s name for the user container\'s port')
  const kustomization = parse(await readFile(join(root, 'manifests/monitoring/kustomization.yaml'), 'utf8')) as { resources: string[] }
  t.ok(kustomization.resources.includes('podmonitor.yaml'))
})
