/**
 * An alert storm through alertmanager-bridge and respond-to-alert: 10,000
 * alerts in bursts of Alertmanager webhook notifications, a broker stand-in
 * (the bench's mesh) that acknowledges at once and delivers to
 * respond-to-alert with bounded concurrency (as the Broker's dispatcher
 * does), the Kubernetes simulator holding the workloads and the Leases.
 *
 * The storm goes through the bridge twice, side by side:
 *   1. in process: the bridge hosted in this process, sharing its event loop
 *      with the broker stand-in, respond-to-alert and the simulator;
 *   2. own process: the bridge spawned like a real function
 *      (`node shared/runtime/main.ts alertmanager-bridge`, its example config,
 *      K_SINK at the broker stand-in in this process).
 * Reports events/s and the p50/p99 of the bridge's answer to Alertmanager
 * for each, then delivers the second storm's events to respond-to-alert and
 * checks the actions taken equal the cap.
 *
 *   npm run bench -- alerts        (BENCH_ALERTS, default 10000; BENCH_ALERTS_OVERLAP=1
 *                                   delivers while the second storm is bridged;
 *                                   BENCH_ALERTS_PROFILE=dir writes a --cpu-prof of the bridge process there)
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AppsV1Api } from '@kubernetes/client-node'
import { parse, stringify } from 'yaml'
import bridge from '../functions/alertmanager-bridge/index.ts'
import respondToAlert from '../functions/respond-to-alert/index.ts'
import { configSchema, type RespondToAlertConfig } from '../functions/respond-to-alert/config.ts'
import { validateConfig } from '../shared/config.ts'
import { freePort } from '../shared/process/ports.ts'
import { startTestFunction } from '../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../sandbox/simulators/kubernetes/index.ts'
import { EventTypes } from '../shared/events/catalogue.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
const TOTAL = Number(process.env.BENCH_ALERTS ?? 10_000)
const OVERLAP = process.env.BENCH_ALERTS_OVERLAP === '1'
const PROFILE = process.env.BENCH_ALERTS_PROFILE
const PER_NOTIFICATION = 50
const CONCURRENT_POSTS = 10
const DELIVERY_CONCURRENCY = 32
const CAP = 25
const WORKLOADS = 200

// The bridge's example config (kustomize makes a Secret of it: it holds the token Alertmanager sends).
// The bridge refuses the example's placeholder token: a real one stands in.
const bridgeConfig = { ...parse(readFileSync(join(root, 'manifests/alertmanager-bridge/config.yaml'), 'utf8')) as object, bearerToken: randomBytes(24).toString('base64url') }
const bridgeConfigText = stringify(bridgeConfig)

// The Deployment controller rolls the restarted Deployments out (each restart waits for its rollout, as kubectl rollout status does).
const kube = await startKubernetesSimulator({ rbac: false, controllers: { delayMs: 10 } })
kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } })
kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'caretaker' } })
for (let i = 0; i < WORKLOADS; i++) {
  kube.store.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `svc-${i}`, namespace: 'apps' }, spec: { replicas: 1, selector: { matchLabels: { app: `svc-${i}` } }, template: { metadata: { labels: { app: `svc-${i}` } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } } })
}
const config: RespondToAlertConfig = validateConfig({
  // No Alertmanager runs here: the storm is measured without the confirmation round-trip (one GET /api/v2/alerts per alert).
  verifyAlerts: false,
  cap: { actions: CAP, window: '1h' },
  rules: [{ name: 'restart', matchers: ['alertname="ServiceDown"'], allowedNamespaces: ['apps'], actions: [{ type: 'restart', kind: 'Deployment', name: '{{ $labels.deployment }}' }] }],
}, configSchema, 'bench')
const quiet = { LOG_LEVEL: 'warn' }
const fn = await startTestFunction(respondToAlert, { config, env: { ...quiet, CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.token, CARETAKER_DRY_RUN: 'false' } })

// The broker stand-in: ack on ingest, deliver in the background (only while `delivering`).
const queue: Array<{ headers: Record<string, string>; body: Buffer }> = []
const outcomes = { remediated: 0, skipped: 0, failed: 0 }
let ingested = 0
let delivered = 0
let active = 0
let delivering = false
const pump = (): void => {
  while (delivering && active < DELIVERY_CONCURRENCY && queue.length > 0) {
    const item = queue.shift()!
    active++
    void fetch(fn.url, { method: 'POST', headers: item.headers, body: item.body }).then(async (r) => {
      await r.arrayBuffer()
      const type = r.headers.get('ce-type')
      if (type === EventTypes.AlertRemediated) outcomes.remediated++
      else if (type === EventTypes.AlertSkipped) outcomes.skipped++
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
    ingested++
    res.writeHead(202).end()
    pump()
  })
})
// Each new TCP connection the bridge opens to the broker (a connection storm shows here).
let connections = 0
broker.on('connection', () => { connections++ })
await new Promise<void>((r) => broker.listen(0, '127.0.0.1', r))
const sinkUrl = `http://127.0.0.1:${(broker.address() as AddressInfo).port}/`

const startsAt = new Date().toISOString()
const notification = (from: number) => JSON.stringify({
  version: '4', receiver: 'caretaker', status: 'firing', externalURL: 'http://alertmanager.bench:9093', groupLabels: { alertname: 'ServiceDown' },
  alerts: Array.from({ length: PER_NOTIFICATION }, (_, k) => {
    const i = from + k
    return { status: 'firing', labels: { alertname: 'ServiceDown', namespace: 'apps', deployment: `svc-${i % WORKLOADS}`, instance: `i-${i}` }, annotations: {}, startsAt, endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: `fp${i.toString(16).padStart(14, '0')}` }
  }),
})

interface Storm {
  /** In the order the notifications were posted. */
  latencies: number[]
  refused: number
  ms: number
  ingested: number
  connections: number
}

/** Alertmanager's side: CONCURRENT_POSTS notifications in flight until TOTAL alerts are posted. */
async function storm(url: string): Promise<Storm> {
  const latencies: number[] = []
  const before = ingested
  const connectionsBefore = connections
  const started = performance.now()
  let next = 0
  let refused = 0
  const poster = async (): Promise<void> => {
    while (next < TOTAL) {
      const from = next
      next += PER_NOTIFICATION
      const t0 = performance.now()
      const res = await fetch(`${url}/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bridgeConfig.bearerToken}` }, body: notification(from) })
      await res.arrayBuffer()
      latencies[from / PER_NOTIFICATION] = performance.now() - t0
      if (res.status !== 200) refused++
    }
  }
  await Promise.all(Array.from({ length: CONCURRENT_POSTS }, poster))
  return { latencies, refused, ms: performance.now() - started, ingested: ingested - before, connections: connections - connectionsBefore }
}

/** utime + stime of a process, in ms (from /proc, clock ticks of 10 ms). */
const cpuMs = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

// 1. The bridge in this process.
const inProcess = await startTestFunction(bridge, { config: bridgeConfig, env: { ...quiet, K_SINK: sinkUrl } })
const first = await storm(inProcess.url)
await inProcess.stop()
queue.length = 0 // the first storm's events are not delivered: respond-to-alert sees the second one

// 2. The bridge in its own process, as deployed.
const tmp = mkdtempSync(join(tmpdir(), 'caretaker-bench-'))
writeFileSync(join(tmp, 'config.yaml'), bridgeConfigText)
const port = await freePort()
const profileArgs = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${resolve(PROFILE)}`] : []
const child = spawn(process.execPath, [...profileArgs, 'shared/runtime/main.ts', 'alertmanager-bridge'], {
  cwd: root,
  env: {
    PATH: process.env.PATH ?? '', HOME: tmpdir(), NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port),
    CARETAKER_AUTH: 'none', LOG_LEVEL: 'warn', K_SINK: sinkUrl, CARETAKER_CONFIG: join(tmp, 'config.yaml'),
  },
  stdio: ['ignore', 'inherit', 'inherit'],
})
const bridgeUrl = `http://127.0.0.1:${port}`
for (const deadline = Date.now() + 30_000; ;) {
  if (child.exitCode !== null) throw new Error(`alertmanager-bridge exited with ${child.exitCode}`)
  if (await fetch(`${bridgeUrl}/health/readiness`).then((r) => r.ok, () => false)) break
  if (Date.now() > deadline) throw new Error('alertmanager-bridge was not ready within 30 s')
  await new Promise((r) => setTimeout(r, 20))
}
const bridgeRss = (): number => Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024
if (OVERLAP) {
  delivering = true
  pump()
}
const secondStarted = performance.now()
const cpuBefore = cpuMs(child.pid!)
const second = await storm(bridgeUrl)
const bridgeCpuMs = cpuMs(child.pid!) - cpuBefore
const bridgePeakMiB = bridgeRss()
await new Promise<void>((r) => {
  child.once('exit', () => r())
  child.kill('SIGTERM')
})
rmSync(tmp, { recursive: true, force: true })
delivering = true
pump()
while (delivered < second.ingested) await new Promise((r) => setTimeout(r, 20))
const total = performance.now() - secondStarted

const restarted = (await kube.kubeConfig().makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace: 'apps' })).items
  .filter((d) => d.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']).length
const quantiles = (xs: number[]): string => {
  const sorted = [...xs].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1)
  return `${at(0.5)} / ${at(0.9)} / ${at(0.99)} / ${sorted.at(-1)!.toFixed(1)}`
}
const both = (f: (s: Storm) => string): string => `${f(first)} | ${f(second)}`
const rows: Array<[string, string]> = [
  ['alerts (notifications × alerts each, concurrent posts)', both(() => `${TOTAL} (${TOTAL / PER_NOTIFICATION} × ${PER_NOTIFICATION}, ${CONCURRENT_POSTS})`)],
  ['bridge: events/s into the broker', both((s) => (TOTAL / (s.ms / 1000)).toFixed(0))],
  ['**bridge answer p50 / p90 / p99 / max (ms)**', both((s) => quantiles(s.latencies))],
  [`bridge answer, first ${CONCURRENT_POSTS} notifications (ms): min / max`, both((s) => `${Math.min(...s.latencies.slice(0, CONCURRENT_POSTS)).toFixed(1)} / ${Math.max(...s.latencies.slice(0, CONCURRENT_POSTS)).toFixed(1)}`)],
  [`bridge answer after the first ${CONCURRENT_POSTS}: p50 / p90 / p99 / max (ms)`, both((s) => quantiles(s.latencies.slice(CONCURRENT_POSTS)))],
  ['bridge answers over 1 s', both((s) => String(s.latencies.filter((l) => l > 1000).length))],
  ['bridge refusals / events the broker got', both((s) => `${s.refused} / ${s.ingested}`)],
  ['new TCP connections from the bridge to the broker', both((s) => String(s.connections))],
  ['bridge process: CPU per alert / peak RSS', `– | ${((bridgeCpuMs * 1000) / TOTAL).toFixed(0)} µs / ${bridgePeakMiB.toFixed(0)} MiB`],
  [`respond-to-alert: events/s (${OVERLAP ? 'overlapping the storm' : 'its delivery phase'})`, `– | ${(second.ingested / ((OVERLAP ? total : total - second.ms) / 1000)).toFixed(0)}`],
  ['replies remediated / skipped / failed', `– | ${outcomes.remediated} / ${outcomes.skipped} / ${outcomes.failed}`],
  ['actions taken (Deployments restarted) / cap', `– | ${restarted} / ${CAP}`],
]
process.stdout.write(`| measure | bridge in process | bridge in its own process |\n| --- | --- | --- |\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`)

// The sink's transport alone, in its own process, with the storm's pattern
// (CONCURRENT_POSTS batches of PER_NOTIFICATION sends at once, each batch
// awaited as the bridge awaits a notification's alerts): global fetch, as
// shared/runtime/sink.ts sends, against node:http with a keep-alive Agent.
delivering = false
const TRANSPORT = `
import http from 'node:http'
const [url, mode, total, batch, concurrent] = [process.env.SINK, process.env.MODE, Number(process.env.TOTAL), Number(process.env.BATCH), Number(process.env.CONCURRENT)]
const body = JSON.stringify({ fingerprint: 'fp0000000000000001', status: 'firing', labels: { alertname: 'ServiceDown', namespace: 'apps', deployment: 'svc-1', instance: 'i-1' }, annotations: {}, startsAt: new Date().toISOString(), endsAt: '', generatorURL: '', groupLabels: {}, receiver: 'caretaker', externalURL: 'http://alertmanager.bench:9093' })
const headers = { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': '0123456789abcdef0123456789abcdef', 'ce-source': 'http://alertmanager.bench:9093', 'ce-type': process.env.TYPE, 'ce-subject': 'ServiceDown', 'ce-time': new Date().toISOString() }
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 })
const viaHttp = () => new Promise((resolve, reject) => {
  const req = http.request(url, { method: 'POST', agent, headers, signal: AbortSignal.timeout(10000) }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)) })
  req.on('error', reject)
  req.end(body)
})
const viaFetch = async () => { const r = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10000) }); await r.arrayBuffer(); return r.status }
const send = mode === 'fetch' ? viaFetch : viaHttp
const latencies = []
const cpu = process.cpuUsage()
const started = performance.now()
let next = 0
await Promise.all(Array.from({ length: concurrent }, async () => {
  while (next < total) {
    next += batch
    const t0 = performance.now()
    await Promise.all(Array.from({ length: batch }, send))
    latencies.push(performance.now() - t0)
  }
}))
const used = process.cpuUsage(cpu)
process.stdout.write(JSON.stringify({ ms: performance.now() - started, cpuUs: used.user + used.system, latencies }))
`
const transportRows: string[] = []
for (const mode of ['fetch', 'http'] as const) {
  const connectionsBefore = connections
  const out: Buffer[] = []
  const sender = spawn(process.execPath, ['--input-type=module', '-e', TRANSPORT], {
    env: { PATH: process.env.PATH ?? '', SINK: sinkUrl, TYPE: EventTypes.AlertFiring, MODE: mode, TOTAL: String(TOTAL), BATCH: String(PER_NOTIFICATION), CONCURRENT: String(CONCURRENT_POSTS) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  sender.stdout!.on('data', (c: Buffer) => out.push(c))
  await new Promise<void>((r) => sender.once('exit', () => r()))
  queue.length = 0
  const result = JSON.parse(Buffer.concat(out).toString('utf8')) as { ms: number; cpuUs: number; latencies: number[] }
  transportRows.push(`| ${mode === 'fetch' ? 'global fetch (as shared/runtime/sink.ts)' : 'node:http, keep-alive Agent, 32 sockets'} | ${(TOTAL / (result.ms / 1000)).toFixed(0)} | ${(result.cpuUs / TOTAL).toFixed(0)} µs | ${quantiles(result.latencies)} | ${connections - connectionsBefore} |`)
}
process.stdout.write([
  '',
  `The sink's transport alone, its own process: ${TOTAL} sends to the broker stand-in, ${CONCURRENT_POSTS} batches of ${PER_NOTIFICATION} at once (the storm's pattern, nothing of the bridge)`,
  '',
  '| transport | sends/s | CPU per send | batch p50 / p90 / p99 / max (ms) | new TCP connections |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...transportRows,
  '',
].join('\n'))
await fn.stop()
await new Promise<void>((r) => broker.close(() => r()))
await kube.close()
const failedChecks = [
  ...[first, second].flatMap((s, i) => (s.refused > 0 || s.ingested !== TOTAL ? [`storm ${i + 1}: ${s.refused} refusals, ${s.ingested} of ${TOTAL} events in the broker`] : [])),
  ...(restarted !== CAP || outcomes.remediated !== CAP || outcomes.failed > 0 ? [`the storm was not bounded by the cap exactly (${restarted} restarted, ${outcomes.remediated} remediated, ${outcomes.failed} failed)`] : []),
]
if (failedChecks.length > 0) {
  process.stderr.write(`${failedChecks.join('\n')}\n`)
  process.exit(1)
}
