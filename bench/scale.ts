/**
 * The sweeps at the size of a real platform: clean-up-resources,
 * health-report and prune-snapshots, each in its own process as deployed,
 * against the Kubernetes simulator seeded with 100 objects per namespace
 * (Pods, Jobs, ReplicaSets, PVCs and VolumeSnapshots, 20 of each; a fifth
 * of the Pods failing, most Jobs finished long ago). For each size: the
 * run's time, the function's peak RSS (VmHWM) against its RSS when ready,
 * the API calls it made (counted by a proxy in front of the simulator) and
 * the size of its reply. Memory should stay flat as objects grow, replies
 * bounded, and API calls near objects/page plus deletions. Each size runs
 * twice: with the shipped RBAC (each function's ClusterRole bound per
 * namespace by RoleBindings: one list per namespace) and with a
 * ClusterRoleBinding of it (one paged cluster-wide list per kind).
 *
 *   npm run bench -- scale        (BENCH_SCALE_MAX objects, default 20000)
 *
 * BENCH_SCALE_SIZES picks the sizes (comma-separated object counts),
 * BENCH_SCALE_FUNCTIONS the functions (comma-separated names; all three by
 * default), BENCH_SCALE_HEAP_MB caps V8's heap, BENCH_SCALE_NODE_ARGS
 * adds Node options to each function's process (space-separated: a
 * profile, `--heap-prof --heap-prof-dir=<dir>`, or `--trace-gc`, whose
 * lines go to the function's stdout and are printed after the table).
 */
import { createServer, request } from 'node:http'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { parseAllDocuments, stringify } from 'yaml'
import { spawnNode } from '../sandbox/harness/process.ts'
import { startKubernetesSimulator } from '../sandbox/simulators/kubernetes/index.ts'
import { EventTypes } from '../shared/events/catalogue.ts'

const PER_KIND = 20
const DAY = 86_400_000

interface Row { fn: string; rbac: string; objects: number; namespaces: number; runMs: number; cpuMs: number; readyMiB: number; peakMiB: number; apiCalls: number; replyKiB: number; status: number }

function seed(kube: Awaited<ReturnType<typeof startKubernetesSimulator>>, namespaces: string[]): void {
  const now = Date.now()
  const iso = (ago: number) => new Date(now - ago).toISOString()
  const container = { name: 'c', image: 'busybox' }
  for (const namespace of namespaces) {
    kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } })
    const owner = kube.store.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace }, spec: { replicas: 1, revisionHistoryLimit: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [container] } } } })
    const uid = (owner.metadata as { uid: string }).uid
    for (let i = 0; i < PER_KIND; i++) {
      const failing = i % 5 === 0
      kube.store.seed({
        apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${i}`, namespace, creationTimestamp: iso(2 * DAY) },
        spec: { containers: [container], ...(i < 5 ? { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: `data-${i}` } }] } : {}) },
        status: failing
          ? { phase: 'Running', containerStatuses: [{ name: 'c', image: 'busybox', imageID: '', ready: false, restartCount: 12, state: { waiting: { reason: 'CrashLoopBackOff' } } }] }
          : { phase: 'Running', containerStatuses: [{ name: 'c', image: 'busybox', imageID: '', ready: true, restartCount: 0, state: { running: {} } }] },
      })
      const finished = (i + 10) * DAY
      kube.store.seed({
        apiVersion: 'batch/v1', kind: 'Job', metadata: { name: `job-${i}`, namespace },
        spec: { template: { spec: { restartPolicy: 'Never', containers: [container] } } },
        status: { startTime: iso(finished + 60_000), succeeded: 1, completionTime: iso(finished), conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: iso(finished) }] },
      })
      kube.store.seed({
        apiVersion: 'apps/v1', kind: 'ReplicaSet',
        metadata: { name: `web-${i}`, namespace, annotations: { 'deployment.kubernetes.io/revision': String(i + 1) }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid, controller: true }] },
        spec: { replicas: i === PER_KIND - 1 ? 1 : 0, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [container] } } },
        status: { replicas: i === PER_KIND - 1 ? 1 : 0 },
      })
      kube.store.seed({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: `data-${i}`, namespace, creationTimestamp: iso(60 * DAY) }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } })
      const at = iso(i * DAY + 7_200_000)
      kube.store.seed({
        apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', metadata: { name: `snap-${i}`, namespace, creationTimestamp: at },
        spec: { volumeSnapshotClassName: 'longhorn', source: { persistentVolumeClaimName: `data-${i % 4}` } }, status: { readyToUse: true, creationTime: at },
      })
    }
  }
}

/** A counting proxy in front of the simulator: every API call the function makes passes through it. */
async function countingProxy(target: string): Promise<{ url: string; calls: () => number; reset: () => void; close: () => Promise<void> }> {
  const upstream = new URL(target)
  let calls = 0
  const server = createServer((req, res) => {
    calls++
    const forward = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    forward.on('error', () => { res.writeHead(502); res.end() })
    req.pipe(forward)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: () => calls,
    reset: () => { calls = 0 },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

/** User + system CPU time of a process so far (/proc/PID/stat fields 14 and 15, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

function memoryMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

const ALL_FUNCTIONS = {
  'clean-up-resources': { type: EventTypes.ResourcesCleanRequested, config: (ns: string[]) => ({ namespaces: ns, limits: { pageSize: 500 }, pvcs: { report: true } }) },
  'health-report': { type: EventTypes.HealthReportRequested, config: (ns: string[]) => ({ namespaces: ns, checks: ['pods', 'pvcs'], pageSize: 500 }) },
  'prune-snapshots': { type: EventTypes.SnapshotsPruneRequested, config: (ns: string[]) => ({ limits: { pageSize: 500 }, policies: [{ name: 'all', kind: 'VolumeSnapshot', namespaces: ns, keepDaily: 7, maxAge: '10d', grace: '1h' }] }) },
} as const
const wantedFunctions = process.env.BENCH_SCALE_FUNCTIONS?.split(',').map((s) => s.trim()).filter(Boolean)
const FUNCTIONS = Object.fromEntries(Object.entries(ALL_FUNCTIONS).filter(([name]) => !wantedFunctions || wantedFunctions.includes(name)))
/** Lines a function wrote that are not JSON logs (`--trace-gc`), kept for the end. */
const traces: string[] = []
const nodeArgs = (process.env.BENCH_SCALE_NODE_ARGS ?? '').split(' ').filter(Boolean)

async function measure(objects: number): Promise<Row[]> {
  const count = Math.max(1, Math.round(objects / (PER_KIND * 5)))
  const namespaces = Array.from({ length: count }, (_, i) => `team-${String(i).padStart(3, '0')}`)
  const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
  seed(kube, namespaces)
  // Each function's RBAC as shipped (ServiceAccount, ClusterRole), bound in the bench's namespaces.
  kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'caretaker' } })
  const binding = (name: string, namespace?: string) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: namespace ? 'RoleBinding' : 'ClusterRoleBinding', metadata: { name: `caretaker-${name}`, ...(namespace ? { namespace } : {}) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `caretaker-${name}` }, subjects: [{ kind: 'ServiceAccount', name, namespace: 'caretaker' }],
  })
  for (const name of Object.keys(FUNCTIONS)) {
    for (const d of parseAllDocuments(readFileSync(new URL(`../manifests/${name}/rbac.yaml`, import.meta.url), 'utf8'))) {
      const doc = d.toJSON() as { kind?: string }
      if (doc.kind === 'ServiceAccount' || doc.kind === 'ClusterRole') kube.store.seed(doc as Record<string, unknown>)
    }
    for (const namespace of namespaces) kube.store.seed(binding(name, namespace))
  }
  const proxy = await countingProxy(kube.url)
  const dir = mkdtempSync(join(tmpdir(), 'caretaker-scale-'))
  const rows: Row[] = []
  try {
    for (const rbac of ['per namespace', 'cluster-wide']) {
      if (rbac === 'cluster-wide') for (const name of Object.keys(FUNCTIONS)) kube.store.seed(binding(name))
      for (const [name, spec] of Object.entries(FUNCTIONS)) {
        const configPath = join(dir, `${name}.yaml`)
        writeFileSync(configPath, stringify(spec.config(namespaces)))
        // Warnings only: the per-object lines of a dry-run would measure the log pipe, not the sweep.
        const port = await freePort()
        // BENCH_SCALE_HEAP_MB caps V8's heap as a container's memory limit would (Node sizes its heap from the cgroup limit).
        const heap: Record<string, string> = process.env.BENCH_SCALE_HEAP_MB ? { NODE_OPTIONS: `--max-old-space-size=${process.env.BENCH_SCALE_HEAP_MB}` } : {}
        const fn = spawnNode([...nodeArgs, 'shared/runtime/main.ts', `functions/${name}/index.ts`], { HOST: '127.0.0.1', CARETAKER_AUTH: 'none', PORT: String(port), CARETAKER_CONFIG: configPath, CARETAKER_KUBE_SERVER: proxy.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', name), LOG_LEVEL: 'warn', CARETAKER_DRY_RUN: 'true', ...heap })
        try {
          const url = `http://127.0.0.1:${port}/`
          await waitReady(url, fn)
          const pid = fn.child.pid!
          const readyMiB = memoryMiB(pid, 'VmRSS')
          proxy.reset()
          const cpu0 = cpuMs(pid)
          const t0 = performance.now()
          const res = await post(url, { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': `scale-${name}-${objects}`, 'ce-source': '/bench/scale', 'ce-type': spec.type }, '{}')
          const row = { fn: name, rbac, objects: count * PER_KIND * 5, namespaces: count, runMs: performance.now() - t0, cpuMs: cpuMs(pid) - cpu0, readyMiB, peakMiB: memoryMiB(pid, 'VmHWM'), apiCalls: proxy.calls(), replyKiB: res.body.length / 1024, status: res.status }
          rows.push(row)
          // Each row as soon as it is measured (stderr), so a long run's figures survive its end.
          process.stderr.write(`${formatRow(row)}\n`)
        } finally {
          // SIGTERM when profiling: --heap-prof writes its profile at exit.
          fn.child.kill(nodeArgs.includes('--heap-prof') ? 'SIGTERM' : 'SIGKILL')
          await fn.exited
          const raw = fn.lines.filter((l) => typeof l.raw === 'string').map((l) => String(l.raw))
          if (raw.length) traces.push(`${name}, ${rbac}, ${count * PER_KIND * 5} objects:`, ...raw)
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await proxy.close()
    await kube.close()
  }
  return rows
}

/** One POST with no client-side timeout: a sweep of 60,000 objects on a loaded machine outlasts fetch's 300 s wait for headers. */
function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

const formatRow = (r: Row) => `| ${r.fn} | ${r.rbac} | ${r.objects} | ${r.namespaces} | ${r.runMs.toFixed(0)} ms | ${r.cpuMs.toFixed(0)} ms | ${r.readyMiB.toFixed(0)} MiB | ${r.peakMiB.toFixed(0)} MiB | ${r.apiCalls} | ${r.replyKiB.toFixed(0)} KiB | ${r.status} |`

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Ready when its readiness probe says so (bounded: a minute). */
async function waitReady(url: string, fn: ReturnType<typeof spawnNode>): Promise<void> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}health/readiness`).then((r) => r.ok, () => false)
    if (ok) return
    if (fn.child.exitCode !== null) throw new Error(`the function exited: ${fn.stderr()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the function was not ready within a minute')
}

const max = Number(process.env.BENCH_SCALE_MAX ?? 20_000)
const sizes = (process.env.BENCH_SCALE_SIZES ? process.env.BENCH_SCALE_SIZES.split(',').map(Number) : [max / 10, max / 4, max / 2, max]).map((n) => Math.round(n))
const all: Row[] = []
for (const size of sizes) all.push(...await measure(size))
const lines = [
  `The sweeps at scale: each function in its own process, dry-run, against the simulator with ${PER_KIND} each of Pods, Jobs, ReplicaSets, PVCs and VolumeSnapshots per namespace (pages of 500)${process.env.BENCH_SCALE_HEAP_MB ? `, V8 heap capped at ${process.env.BENCH_SCALE_HEAP_MB} MB` : ''}`,
  '',
  '| function | RBAC | objects | namespaces | run | CPU | RSS ready | peak RSS | API calls | reply | status |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...all.map(formatRow),
  '',
  ...traces,
]
process.stdout.write(lines.join('\n'))
