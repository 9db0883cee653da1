/**
 * An alert storm through alertmanager-bridge and respond-to-alert: 10,000
 * alerts in bursts of Alertmanager webhook notifications, a broker stand-in
 * that acknowledges at once and delivers to respond-to-alert with bounded
 * concurrency (as the Broker's dispatcher does), the Kubernetes simulator
 * holding the workloads and the Leases. Reports events/s, the p99 latency of
 * the bridge's answer to Alertmanager, and the actions taken (must equal the cap).
 *
 *   npm run bench -- alerts        (BENCH_ALERTS, default 10000)
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AppsV1Api } from '@kubernetes/client-node'
import bridge from '../functions/alertmanager-bridge/index.ts'
import respondToAlert from '../functions/respond-to-alert/index.ts'
import { configSchema, type RespondToAlertConfig } from '../functions/respond-to-alert/config.ts'
import { validateConfig } from '../shared/config.ts'
import { startTestFunction } from '../test/harness/function.ts'
import { startKubernetesSimulator } from '../test/simulators/kubernetes/index.ts'

const TOTAL = Number(process.env.BENCH_ALERTS ?? 10_000)
const PER_NOTIFICATION = 50
const CONCURRENT_POSTS = 10
const DELIVERY_CONCURRENCY = 32
const CAP = 25
const WORKLOADS = 200

const kube = await startKubernetesSimulator({ rbac: false, controllers: { enabled: false } })
kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } })
kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'caretaker' } })
for (let i = 0; i < WORKLOADS; i++) {
  kube.store.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `svc-${i}`, namespace: 'apps' }, spec: { replicas: 1, selector: { matchLabels: { app: `svc-${i}` } }, template: { metadata: { labels: { app: `svc-${i}` } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } } })
}
const config: RespondToAlertConfig = validateConfig({
  cap: { actions: CAP, window: '1h' },
  rules: [{ name: 'restart', matchers: ['alertname="ServiceDown"'], allowedNamespaces: ['apps'], actions: [{ type: 'restart', kind: 'Deployment', name: '{{ $labels.deployment }}' }] }],
}, configSchema, 'bench')
const quiet = { LOG_LEVEL: 'warn' }
const fn = await startTestFunction(respondToAlert, { config, env: { ...quiet, CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.token, CARETAKER_DRY_RUN: 'false' } })

// The broker stand-in: ack on ingest, deliver in the background.
const queue: Array<{ headers: Record<string, string>; body: Buffer }> = []
const outcomes = { remediated: 0, skipped: 0, failed: 0 }
let delivered = 0
let active = 0
// Everything here shares one process: deliveries start once the bridge phase
// is over, so the bridge's latency is its own (in a cluster the Broker's
// dispatcher and respond-to-alert run elsewhere). BENCH_ALERTS_OVERLAP=1 overlaps them.
let holding = process.env.BENCH_ALERTS_OVERLAP !== '1'
const pump = (): void => {
  while (!holding && active < DELIVERY_CONCURRENCY && queue.length > 0) {
    const item = queue.shift()!
    active++
    void fetch(fn.url, { method: 'POST', headers: item.headers, body: item.body }).then(async (r) => {
      await r.arrayBuffer()
      const type = r.headers.get('ce-type')
      if (type === 'dev.caretaker.alert.remediated') outcomes.remediated++
      else if (type === 'dev.caretaker.alert.skipped') outcomes.skipped++
      else outcomes.failed++
    }, () => { outcomes.failed++ }).finally(() => { active--; delivered++; pump() })
  }
}
const broker = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith('ce-') || k === 'content-type')) as Record<string, string>
    queue.push({ headers, body: Buffer.concat(chunks) })
    res.writeHead(202).end()
    pump()
  })
})
await new Promise<void>((r) => broker.listen(0, '127.0.0.1', r))
const bridgeFn = await startTestFunction(bridge, { config: {}, env: { ...quiet, K_SINK: `http://127.0.0.1:${(broker.address() as AddressInfo).port}/` } })

const startsAt = new Date().toISOString()
const notification = (from: number) => JSON.stringify({
  version: '4', receiver: 'caretaker', status: 'firing', externalURL: 'http://alertmanager.bench:9093', groupLabels: { alertname: 'ServiceDown' },
  alerts: Array.from({ length: PER_NOTIFICATION }, (_, k) => {
    const i = from + k
    return { status: 'firing', labels: { alertname: 'ServiceDown', namespace: 'apps', deployment: `svc-${i % WORKLOADS}`, instance: `i-${i}` }, annotations: {}, startsAt, endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: `fp${i.toString(16).padStart(14, '0')}` }
  }),
})
const latencies: number[] = []
const started = performance.now()
let next = 0
let refused = 0
const poster = async (): Promise<void> => {
  while (next < TOTAL) {
    const from = next
    next += PER_NOTIFICATION
    const t0 = performance.now()
    const res = await fetch(`${bridgeFn.url}/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: notification(from) })
    await res.arrayBuffer()
    latencies.push(performance.now() - t0)
    if (res.status !== 200) refused++
  }
}
await Promise.all(Array.from({ length: CONCURRENT_POSTS }, poster))
const bridged = performance.now() - started
holding = false
pump()
while (delivered < TOTAL) await new Promise((r) => setTimeout(r, 20))
const total = performance.now() - started

const restarted = (await kube.kubeConfig().makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace: 'apps' })).items
  .filter((d) => d.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']).length
latencies.sort((a, b) => a - b)
const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1)
const rows: Array<[string, string]> = [
  ['alerts', String(TOTAL)],
  ['notifications (alerts each, concurrent)', `${latencies.length} (${PER_NOTIFICATION}, ${CONCURRENT_POSTS})`],
  ['bridge: events/s into the broker', (TOTAL / (bridged / 1000)).toFixed(0)],
  ['bridge answer p50 / p99 (ms)', `${p(0.5)} / ${p(0.99)}`],
  ['bridge refusals', String(refused)],
  ['respond-to-alert: events/s (its delivery phase)', (TOTAL / ((process.env.BENCH_ALERTS_OVERLAP === '1' ? total : total - bridged) / 1000)).toFixed(0)],
  ['replies remediated / skipped / failed', `${outcomes.remediated} / ${outcomes.skipped} / ${outcomes.failed}`],
  ['actions taken (Deployments restarted) / cap', `${restarted} / ${CAP}`],
]
process.stdout.write(`| measure | value |\n| --- | --- |\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`)
await bridgeFn.stop()
await fn.stop()
await new Promise<void>((r) => broker.close(() => r()))
await kube.close()
if (restarted !== CAP || outcomes.remediated !== CAP || refused > 0 || outcomes.failed > 0) {
  process.stderr.write('the storm was not bounded by the cap exactly\n')
  process.exit(1)
}
