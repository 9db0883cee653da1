import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * What the monitoring reads, as the series really are: Caretaker's metrics
 * (read from the production code), the labels a scrape adds, and the
 * kube-state-metrics series the rules use. Shared by the monitoring and the
 * promtool tests.
 */

async function sources(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(join(entry.parentPath, entry.name))
  }
  return out
}

/** Metric name → its label names, read from every `new Counter/Gauge/Histogram({ name, …, labelNames })` in production code. */
export async function registeredMetrics(root: string): Promise<Map<string, Set<string>>> {
  const registered = new Map<string, Set<string>>()
  for (const file of [...await sources(join(root, 'functions')), ...await sources(join(root, 'shared'))]) {
    const text = await readFile(file, 'utf8')
    for (const m of text.matchAll(/name:\s*'(caretaker_[a-z0-9_]+)'([\s\S]*?)(?:registers|\}\))/g)) {
      const labels = /labelNames:\s*\[([^\]]*)\]/.exec(m[2]!)?.[1] ?? ''
      registered.set(m[1]!, new Set([...labels.matchAll(/'([a-z_]+)'/g)].map((l) => l[1]!)))
    }
  }
  return registered
}

/**
 * The target labels on every series of a Caretaker pod: the Prometheus
 * Operator's PodMonitor adds namespace, container, pod, job
 * ("<namespace>/<PodMonitor name>") and endpoint (prometheus-operator
 * pkg/prometheus/promcfg.go, generatePodMonitorConfig), Prometheus adds
 * instance, and our relabeling knative_service.
 */
export const POD_TARGET_LABELS = new Set(['namespace', 'container', 'pod', 'job', 'endpoint', 'instance', 'knative_service'])

// Labels Prometheus adds when it scrapes (the PodMonitor's relabeling too), and a histogram's bucket bound.
export const SCRAPE_LABELS = new Set(['job', 'instance', 'pod', 'container', 'endpoint', 'knative_service', 'le'])

/**
 * The kube-state-metrics series the rules read, with their labels as
 * kube-state-metrics exports them (kubernetes/kube-state-metrics
 * docs/metrics/workload/job-metrics.md and internal/store/job.go): a Job is
 * job_name + namespace; only kube_job_owner knows its CronJob.
 */
export const KUBE_STATE_METRICS = new Map<string, Set<string>>([
  ['kube_job_owner', new Set(['namespace', 'job_name', 'owner_kind', 'owner_name', 'owner_is_controller'])],
  ['kube_job_created', new Set(['namespace', 'job_name'])],
  ['kube_job_failed', new Set(['namespace', 'job_name', 'condition'])],
  ['kube_job_complete', new Set(['namespace', 'job_name', 'condition'])],
])

/** What the kube-prometheus-stack ServiceMonitor of kube-state-metrics adds (honorLabels: the object's namespace stays). */
export const KUBE_STATE_METRICS_TARGET_LABELS = new Set(['job', 'instance', 'container', 'endpoint', 'pod', 'service'])
