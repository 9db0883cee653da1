/**
 * Cold start and memory of every function in functions/, against the two
 * references of bench/runtime.ts (raw node:http, the floor, and
 * faas-js-runtime, each hosting a no-op function): process spawn to the
 * first *handled* event (a 2xx the function produced, never a 4xx from the
 * runtime), RSS right after it, and RSS after a short burst of events.
 *
 * Each function runs as deployed (`node shared/runtime/main.ts <name>`, the
 * image's entry point) with the example config of manifests/<name>, in
 * dry-run, CARETAKER_AUTH=none on loopback. Its dependencies run in this
 * process, as the tests start them: the Kubernetes simulator for every
 * function that has the API in production (all but alertmanager-bridge:
 * tokenreview auth needs it, so the Kubernetes client is loaded there too),
 * the Vault simulator for those with VAULT_ADDR in their Service
 * (maintain-databases, notify, rotate-secret), and a sink answering 202 as
 * K_SINK. Each function gets an event it handles cheaply with a 2xx (see
 * PROBES); the burst runs at the function's own containerConcurrency.
 *
 * Each function runs twice: from the sources as above, and as built for the
 * image (scripts/build.ts into a temporary directory: `node <bundleArgs>
 * <name>`, the image's entrypoint, with the compile cache its
 * build wrote, read-only, as the image has it).
 *
 *   npm run bench -- functions    (BENCH_STARTS cold starts per row, default 3;
 *                                  BENCH_EVENTS in the burst, default 200;
 *                                  BENCH_FUNCTIONS=a,b measures only those functions;
 *                                  BENCH_SOURCES=0 measures only the built bundles)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, stringify } from 'yaml'
import { freePort } from '../shared/process/ports.ts'
import { buildAll, bundleArgs, warmCompileCache } from '../scripts/build.ts'
import { startKubernetesSimulator } from '../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator } from '../sandbox/simulators/vault/index.ts'
import { EventTypes } from '../shared/events/catalogue.ts'

const root = fileURLToPath(new URL('../', import.meta.url))
const STARTS = Math.max(1, Number(process.env.BENCH_STARTS ?? 3))
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200)
const ONLY = process.env.BENCH_FUNCTIONS ? new Set(process.env.BENCH_FUNCTIONS.split(',')) : undefined
const SOURCES = process.env.BENCH_SOURCES !== '0'
/** The references have no Service: their burst runs at the highest concurrency any function allows. */
const REFERENCE_CONCURRENCY = 50

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!

/** One request a function handles: a binary-mode CloudEvent on / (type set), or a plain POST to a path. */
interface Probe {
  /** What the table says was sent. */
  label: string
  type?: string
  path?: string
  headers?: Record<string, string>
  data: (n: number) => unknown
  /** The burst's concurrency when not the containerConcurrency (the probe's work is serialised by design). */
  concurrency?: number
  /** No burst: why this function's events cannot come back to back (the row shows the cold start and RSS only). */
  noBurst?: string
  /** Changes to the example config for this machine (given a loopback port nothing listens on). */
  adapt?: (config: Record<string, unknown>, closedPort: number) => void
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
let seq = 0
function send(port: number, probe: Probe): Promise<number> {
  const n = ++seq
  const headers: Record<string, string> = { 'content-type': 'application/json', ...probe.headers }
  if (probe.type) Object.assign(headers, { 'ce-specversion': '1.0', 'ce-id': `bench-${process.pid}-${n}`, 'ce-source': '/bench/functions', 'ce-type': probe.type })
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: probe.path ?? '/', agent, headers }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(JSON.stringify(probe.data(n)))
  })
}

const PING = EventTypes.Ping
// The bridge refuses the placeholder of manifests/alertmanager-bridge/config.yaml: a real token stands in.
const BRIDGE_TOKEN = randomBytes(24).toString('base64url')
const alert = (n: number, alertname: string) => ({
  status: 'firing', labels: { alertname, namespace: 'apps', instance: `i-${n}` }, annotations: {},
  startsAt: new Date().toISOString(), endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: `bench${n.toString(16).padStart(11, '0')}`,
})

/** Per function: an event it handles cheaply with a 2xx, in dry-run, with its example config. */
const PROBES: Record<string, Probe> = {
  'alertmanager-bridge': {
    label: 'POST /alertmanager, 1 alert → 200 (forwarded to K_SINK)',
    path: '/alertmanager', headers: { authorization: `Bearer ${BRIDGE_TOKEN}` },
    adapt: (config) => { config.bearerToken = BRIDGE_TOKEN },
    data: (n) => ({ version: '4', receiver: 'caretaker', status: 'firing', externalURL: 'http://alertmanager.bench:9093', groupLabels: {}, alerts: [alert(n, 'BenchAlert')] }),
  },
  'back-up-configuration': {
    label: 'configuration.backup.requested {parts: [configmaps]} → 200 (dry-run: no matching ConfigMaps in the bench\'s cluster)',
    type: EventTypes.ConfigurationBackupRequested, data: () => ({ parts: ['configmaps'] }),
    // Grafana's token file and the output volume of the example config are the pod's: stand-ins here.
    adapt: (config) => {
      const dir = mkdtempSync(join(tmpdir(), 'caretaker-bench-config-backup-'))
      writeFileSync(join(dir, 'grafana-token'), randomBytes(24).toString('base64url'))
      Object.assign(config.output as object, { directory: join(dir, 'out') })
      Object.assign(config.grafana as object, { token: { file: join(dir, 'grafana-token') } })
    },
    noBurst: 'one archive per second, named by it: a second run within the second is told to retry (429), by design',
  },
  'check-updates': {
    label: 'updates.check.requested → 200 reported (no Helm releases in the bench\'s cluster: no repository is read)',
    type: EventTypes.UpdatesCheckRequested, data: () => ({}),
  },
  'clean-up-resources': {
    label: 'resources.clean.requested → 200 cleaned (dry-run, 2 empty namespaces)',
    type: EventTypes.ResourcesCleanRequested, data: () => ({}),
  },
  'health-report': {
    label: 'health.report.requested {checks: [nodes]} → 200 reported',
    type: EventTypes.HealthReportRequested, data: () => ({ checks: ['nodes'] }),
  },
  'maintain-databases': {
    label: 'database.maintenance.requested {target: postgres, task: health} → 200 reported (credentials read from Vault; critical: nothing listens at the target, the example config with its hosts on a closed loopback port)',
    type: EventTypes.DatabaseMaintenanceRequested, data: () => ({ target: 'postgres', task: 'health' }),
    // The example hosts do not resolve here, and this machine's resolver stalls 5 s on about
    // every 25th lookup of such a name: a closed loopback port fails as fast, every time.
    adapt: (config, closedPort) => {
      for (const t of config.targets as Array<{ host?: string; port?: number; nodes?: Array<{ host: string; port: number }> }>) {
        if (t.host) Object.assign(t, { host: '127.0.0.1', port: closedPort })
        for (const n of t.nodes ?? []) Object.assign(n, { host: '127.0.0.1', port: closedPort })
      }
    },
    // One maintenance per target at a time: a second event for the same target at once is a 409 (retried), by design.
    concurrency: 1,
  },
  notify: {
    label: 'alert.skipped → 200 sent (dry-run: rendered, not delivered)',
    type: EventTypes.AlertSkipped, data: (n) => ({ alertname: 'BenchAlert', fingerprint: `bench-${n}`, reason: 'no rule matches the alert' }),
  },
  'prune-snapshots': {
    label: 'snapshots.prune.requested → 200 pruned (dry-run, no snapshots)',
    type: EventTypes.SnapshotsPruneRequested, data: () => ({}),
  },
  'renew-certificate': {
    label: 'ping (the sweep) → 200 reported (dry-run, no Certificates)',
    type: PING, data: () => ({}),
  },
  'respond-to-alert': {
    label: 'alert.firing, no rule matches → 200 skipped',
    type: EventTypes.AlertFiring, data: (n) => alert(n, 'BenchUnmatched'),
  },
  'rotate-secret': {
    label: 'ping (the sweep) → 200 (5 secrets read from Vault, none due)',
    type: PING, data: () => ({}),
  },
  'verify-backup': {
    label: 'apiserver.resource.update, a Job of no backup CronJob → 204',
    type: 'dev.knative.apiserver.resource.update',
    data: (n) => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: `other-${n}`, namespace: 'default', uid: randomUUID(), ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'other', uid: 'u', controller: true }] }, status: { conditions: [{ type: 'Complete', status: 'True' }] } }),
  },
}
const NO_OP: Probe = { label: 'no-op event → 204', type: PING, data: () => ({}) }

/** manifests/<name>/config.yaml: the config kustomize makes the function's ConfigMap (or Secret) of. */
function exampleConfig(name: string): string | undefined {
  const file = join(root, 'manifests', name, 'config.yaml')
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined
}

/** The function's Knative containerConcurrency (how many events one instance takes at once). */
function containerConcurrency(name: string): number {
  const file = join(root, 'manifests', name, 'service.yaml')
  const m = existsSync(file) ? /containerConcurrency:\s*(\d+)/.exec(readFileSync(file, 'utf8')) : null
  return m ? Number(m[1]) : 1
}

interface Row {
  name: string
  probe: string
  cold: number[]
  first: number[]
  rssStart: number[]
  rssBurst: number
  rssPeak: number
  concurrency: number
  burstRate: number
  burstErrors: number
  error?: string
}

/** Spawn, then send the probe until it is handled: the cold start, and how long that first event itself took. */
async function coldStart(args: string[], env: Record<string, string>, probe: Probe): Promise<{ child: ChildProcess; port: number; coldMs: number; firstMs: number }> {
  const port = await freePort()
  const started = performance.now()
  const child = spawn(process.execPath, args, { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), NODE_ENV: 'production', ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] })
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`)
    const t0 = performance.now()
    const status = await send(port, probe).catch(() => 0)
    if (status >= 200 && status < 300) return { child, port, coldMs: performance.now() - started, firstMs: performance.now() - t0 }
    // 503: not ready yet; 429: an earlier probe (whose answer was lost to the start) is still being handled.
    if (status >= 400 && status !== 503 && status !== 429) {
      child.kill('SIGKILL')
      throw new Error(`the probe was answered ${status}: not a handled event`)
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error('no handled event within 60 s')
    }
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

async function burst(port: number, probe: Probe, concurrency: number): Promise<{ rate: number; errors: number }> {
  let next = 0
  let errors = 0
  const t0 = performance.now()
  const worker = async (): Promise<void> => {
    while (next < EVENTS) {
      next++
      const status = await send(port, probe).catch(() => 0)
      if (status < 200 || status >= 300) errors++
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, EVENTS) }, worker))
  return { rate: EVENTS / ((performance.now() - t0) / 1000), errors }
}

async function measure(name: string, args: string[], env: Record<string, string>, probe: Probe, concurrency: number): Promise<Row> {
  const row: Row = { name, probe: probe.noBurst ? `${probe.label}; no burst: ${probe.noBurst}` : probe.label, cold: [], first: [], rssStart: [], rssBurst: NaN, rssPeak: NaN, concurrency, burstRate: NaN, burstErrors: 0 }
  try {
    for (let i = 0; i < STARTS; i++) {
      const s = await coldStart(args, env, probe)
      try {
        row.cold.push(s.coldMs)
        row.first.push(s.firstMs)
        row.rssStart.push(rssMiB(s.child.pid!, 'VmRSS'))
        if (i === STARTS - 1 && EVENTS > 0 && !probe.noBurst) {
          const b = await burst(s.port, probe, concurrency)
          row.burstRate = b.rate
          row.burstErrors = b.errors
          row.rssBurst = rssMiB(s.child.pid!, 'VmRSS')
          row.rssPeak = rssMiB(s.child.pid!, 'VmHWM')
        }
      } finally {
        await stop(s.child)
      }
    }
  } catch (err) {
    row.error = (err as Error).message
  }
  return row
}

/** Where a start goes: the time and RSS of importing each large piece into a bare Node process, best of BENCH_STARTS. */
const MODULES = [
  '@kubernetes/client-node', 'fastify', 'ajv', 'pino', 'prom-client', 'cloudevents', 'node-vault',
  './shared/runtime/host.ts', './functions/alertmanager-bridge/index.ts', './functions/notify/index.ts', './functions/respond-to-alert/index.ts',
]
async function moduleCosts(): Promise<string> {
  const measure = async (spec: string | undefined): Promise<{ ms: number; rss: number }> => {
    let best = { ms: Infinity, rss: NaN }
    for (let i = 0; i < STARTS; i++) {
      const script = `const t = performance.now(); ${spec ? `await import(${JSON.stringify(spec)});` : ''} const ms = performance.now() - t
const rss = Number(/VmRSS:\\s+(\\d+) kB/.exec((await import('node:fs')).readFileSync('/proc/self/status', 'utf8'))[1]) / 1024
process.stdout.write(JSON.stringify({ ms, rss }))`
      const out: Buffer[] = []
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'inherit'] })
      child.stdout!.on('data', (c: Buffer) => out.push(c))
      await new Promise<void>((r) => child.once('exit', () => r()))
      const result = JSON.parse(Buffer.concat(out).toString('utf8')) as { ms: number; rss: number }
      if (result.ms < best.ms) best = result
    }
    return best
  }
  const bare = await measure(undefined)
  const lines = [`| bare node | – | ${bare.rss.toFixed(0)} MiB | – |`]
  for (const spec of MODULES) {
    const m = await measure(spec)
    lines.push(`| ${spec} | ${m.ms.toFixed(0)} ms | ${m.rss.toFixed(0)} MiB | +${(m.rss - bare.rss).toFixed(0)} MiB |`)
  }
  return [
    '',
    `What a start loads: importing each piece alone into a bare Node process (TypeScript sources type-stripped as deployed), best of ${STARTS}`,
    '',
    '| import | time | RSS after | over bare node |',
    '| --- | ---: | ---: | ---: |',
    ...lines,
    '',
  ].join('\n')
}

async function main(): Promise<void> {
  // The dependencies, in this process, as the tests start them.
  const kube = await startKubernetesSimulator({ rbac: false, controllers: { enabled: false } })
  for (const ns of ['default', 'caretaker', 'production', 'databases', 'longhorn-system', 'kube-system', 'cert-manager', 'vault', 'gitea', 'monitoring']) {
    kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  }
  kube.store.seed({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } })
  const vault = await startVaultSimulator()
  const rotated = new Date().toISOString()
  const rotateConfig = parse(exampleConfig('rotate-secret') ?? '{}') as { secrets?: Array<{ vault: { mount: string; path: string }; keys: string[] }> }
  for (const s of rotateConfig.secrets ?? []) vault.putSecret(s.vault.mount, s.vault.path, Object.fromEntries(s.keys.map((k) => [k, 'bench-value'])), { 'rotated-at': rotated })
  const databases = parse(exampleConfig('maintain-databases') ?? '{}') as { targets?: Array<{ credentials?: { mount: string; path: string; usernameKey?: string; passwordKey: string } }> }
  for (const { credentials: c } of databases.targets ?? []) {
    if (c) vault.putSecret(c.mount, c.path, { [c.usernameKey ?? 'username']: 'caretaker', [c.passwordKey]: 'bench-password' })
  }
  let sunk = 0
  const sink = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      sunk++
      res.writeHead(202).end()
    })
  })
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r))
  const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`

  const tmp = mkdtempSync(join(tmpdir(), 'caretaker-bench-'))
  const rows: Row[] = []
  const started = performance.now()
  // As the image: the bundles, and their compile cache written by one start each, then read-only.
  const dist = join(tmp, 'dist')
  const cache = join(tmp, 'compile-cache')
  const built = await buildAll(dist)
  await warmCompileCache(cache, dist)
  spawnSync('chmod', ['-R', 'a-w', cache])
  const bundleEnv = { NODE_COMPILE_CACHE: cache, NODE_COMPILE_CACHE_PORTABLE: '1' }
  try {
    rows.push(await measure('raw node:http (floor)', ['bench/fixtures/raw-http.mjs'], {}, NO_OP, REFERENCE_CONCURRENCY))
    rows.push(await measure('faas-js-runtime 4 (no-op)', ['bench/fixtures/faas-noop.mjs'], {}, NO_OP, REFERENCE_CONCURRENCY))
    const vaultUsers = new Set(['maintain-databases', 'notify', 'rotate-secret'])
    for (const name of readdirSync(join(root, 'functions')).filter((n) => existsSync(join(root, 'functions', n, 'index.ts')) && (!ONLY || ONLY.has(n))).sort()) {
      const probe = PROBES[name]
      if (!probe) {
        rows.push({ name, probe: '', cold: [], first: [], rssStart: [], rssBurst: NaN, rssPeak: NaN, concurrency: 0, burstRate: NaN, burstErrors: 0, error: 'no probe event defined in bench/functions.ts' })
        continue
      }
      const env: Record<string, string> = { HOST: '127.0.0.1', CARETAKER_AUTH: 'none', CARETAKER_DRY_RUN: 'true', LOG_LEVEL: 'info', K_SINK: sinkUrl }
      const text = exampleConfig(name)
      if (text) {
        env.CARETAKER_CONFIG = join(tmp, `${name}.yaml`)
        let config = text
        if (probe.adapt) {
          const doc = parse(text) as Record<string, unknown>
          probe.adapt(doc, await freePort())
          config = stringify(doc)
        }
        writeFileSync(env.CARETAKER_CONFIG, config)
      }
      if (name !== 'alertmanager-bridge') Object.assign(env, { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.token })
      if (vaultUsers.has(name)) Object.assign(env, { VAULT_ADDR: vault.url, VAULT_TOKEN: vault.rootToken })
      const concurrency = probe.concurrency ?? containerConcurrency(name)
      if (SOURCES) rows.push(await measure(name, ['shared/runtime/main.ts', name], env, probe, concurrency))
      const kubeAtStart = built.find((b) => b.name === name)?.kubernetesClientAtStart ? ', Kubernetes client at start' : ''
      rows.push(await measure(`${name} (bundle${kubeAtStart})`, [...bundleArgs(dist), name], { ...env, ...bundleEnv }, probe, concurrency))
    }
  } finally {
    spawnSync('chmod', ['-R', 'u+w', cache])
    rmSync(tmp, { recursive: true, force: true })
    agent.destroy()
    await new Promise<void>((r) => sink.close(() => r()))
    await vault.close()
    await kube.close()
  }

  const floor = rows[0]!
  const faas = rows[1]!
  const floorRss = median(floor.rssStart)
  const faasRss = median(faas.rssStart)
  const faasCold = median(faas.cold)
  const ms = (v: number) => `${v.toFixed(0)} ms`
  const mib = (v: number) => (Number.isNaN(v) ? '–' : `${v.toFixed(0)} MiB`)
  const lines = rows.map((r) => {
    if (r.error) return `| ${r.name} | did not start or answer: ${r.error} | | | | | | | | | |`
    const cold = median(r.cold)
    const rss = median(r.rssStart)
    return `| ${r.name} | ${ms(cold)} | ${ms(median(r.first))} | ${(cold / faasCold).toFixed(2)} | ${mib(rss)} | ${r === floor ? '–' : `+${(rss - floorRss).toFixed(0)} MiB`} | ${r === faas || r === floor ? '–' : `${rss >= faasRss ? '+' : ''}${(rss - faasRss).toFixed(0)} MiB`} | ${mib(r.rssBurst)} | ${mib(r.rssPeak)} | ${r.concurrency} | ${Number.isNaN(r.burstRate) ? '–' : r.burstRate.toFixed(0)}${r.burstErrors > 0 ? ` (${r.burstErrors} non-2xx)` : ''} |`
  })
  const out = [
    `functions: spawn to the first handled event (2xx), median of ${STARTS} cold starts; RSS right after it; then ${EVENTS} events at the function's containerConcurrency (references: ${REFERENCE_CONCURRENCY}). Total ${((performance.now() - started) / 1000).toFixed(0)} s, ${sunk} events reached the sink.`,
    '',
    '| process | cold start | of which the first event | vs faas-js-runtime (target ≤ 0.5, built) | RSS after start | over the floor | over faas-js-runtime (target ≤ +15 MiB, built) | RSS after the burst | RSS peak | burst concurrency | burst events/s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...lines,
    '',
    'The event each function handled:',
    '',
    ...rows.slice(2).filter((r) => !SOURCES || !r.name.includes(' (bundle')).map((r) => `- ${r.name}: ${r.probe || '–'}`),
    '',
  ]
  process.stdout.write(out.join('\n'))
  process.stdout.write(await moduleCosts())
  if (rows.some((r) => r.error || r.burstErrors > 0)) process.exitCode = 1
}

await main()
