/**
 * prune-snapshots at scale, in the Kubernetes simulator: for growing
 * numbers of VolumeSnapshots (20 per volume, one a day), the whole run of the
 * real function over HTTP in dry-run (paginated listing and planning of
 * every volume), its API calls and peak memory, each size in a fresh
 * process; then real deletions, paced, for the largest size up to a cap.
 *
 *   npm run bench -- prune        (BENCH_PRUNE_MAX, default 10000)
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import pruneSnapshots from '../functions/prune-snapshots/index.ts'
import { configSchema, type PruneConfig } from '../functions/prune-snapshots/config.ts'
import { validateConfig } from '../shared/config.ts'
import { plan } from '../functions/prune-snapshots/retention.ts'
import { startTestFunction } from '../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../sandbox/simulators/kubernetes/index.ts'
import { EventTypes } from '../shared/events/catalogue.ts'

const DAY = 86_400_000
const PER_VOLUME = 20
const PAGE = 500

interface Measure { snapshots: number; volumes: number; runMs: number; planMs: number; apiCalls: number; planned: number; rssMiB: number; baselineMiB: number; deleteMs?: number; deletes?: number }

async function measure(count: number, execute: number): Promise<Measure> {
  const kube = await startKubernetesSimulator({ rbac: false, controllers: { enabled: false } })
  const now = Date.now()
  const volumes = Math.ceil(count / PER_VOLUME)
  for (let i = 0; i < count; i++) {
    const at = new Date(now - (i % PER_VOLUME) * DAY - 3_600_000 * 2).toISOString()
    kube.store.seed({
      apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot',
      metadata: { name: `snap-${i}`, namespace: 'production', creationTimestamp: at },
      spec: { volumeSnapshotClassName: 'longhorn', source: { persistentVolumeClaimName: `pvc-${Math.floor(i / PER_VOLUME)}` } },
      status: { readyToUse: true, creationTime: at },
    })
  }
  // The planning alone (retention.ts over every volume), apart from listing and HTTP.
  const facts = Array.from({ length: volumes }, (_, v) => Array.from({ length: Math.min(PER_VOLUME, count - v * PER_VOLUME) }, (_, d) => ({ id: `snap-${v}-${d}`, createdAt: new Date(now - d * DAY - 7_200_000), ready: true, inUse: false, protected: false })))
  const p0 = performance.now()
  let planned = 0
  for (const group of facts) planned += plan(group, { keepDaily: 7, maxAgeMs: 10 * DAY, graceMs: 3_600_000, timeZone: 'Etc/UTC' }, new Date(now)).filter((d) => !d.keep).length
  const planMs = performance.now() - p0
  const config = (cap: number): PruneConfig => validateConfig({
    limits: { pageSize: PAGE, deletesPerSecond: 200, maxDeletionsPerRun: cap },
    policies: [{ name: 'bench', kind: 'VolumeSnapshot', namespaces: ['production'], keepDaily: 7, maxAge: '10d', grace: '1h' }],
  }, configSchema, 'bench')
  const fn = await startTestFunction(pruneSnapshots, { config: config(execute), env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.token, LOG_LEVEL: 'warn' } })
  const send = async (dryRun: boolean) => {
    const res = await fetch(fn.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': `bench-${dryRun}-${Math.random()}`, 'ce-source': '/bench', 'ce-type': EventTypes.SnapshotsPruneRequested, 'ce-dryrun': String(dryRun) },
      body: '{}',
    })
    return await res.json() as { policies: Array<{ listed: number; deleted: number; failed: number }> }
  }
  const baselineMiB = process.resourceUsage().maxRSS / 1024
  const t0 = performance.now()
  const reply = await send(true)
  const runMs = performance.now() - t0
  // List calls: the snapshot pages and the PVC page; no per-object call while planning.
  const apiCalls = Math.ceil(count / PAGE) + 1
  if (reply.policies[0]!.deleted !== planned) throw new Error(`the function planned ${reply.policies[0]!.deleted} deletions, the planner alone ${planned}`)
  const result: Measure = { snapshots: count, volumes, runMs, planMs, apiCalls, planned, rssMiB: process.resourceUsage().maxRSS / 1024, baselineMiB }
  if (execute > 0) {
    const t1 = performance.now()
    const done = await send(false)
    result.deleteMs = performance.now() - t1
    result.deletes = done.policies[0]!.deleted
  }
  await fn.stop()
  await kube.close()
  return result
}

function child(count: number, execute: number): Measure {
  const res = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--measure', String(count), String(execute)], { encoding: 'utf8' })
  if (res.status !== 0) throw new Error(`measuring ${count} failed: ${res.stderr}`)
  return JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Measure
}

async function main(): Promise<void> {
  const max = Number(process.env.BENCH_PRUNE_MAX ?? 10_000)
  const sizes = [max / 8, max / 4, max / 2, max].map(Math.round)
  const rows = sizes.map((n) => child(n, n === max ? 200 : 0))
  const first = rows[0]!
  const lines = [
    `prune-snapshots: dry-run of a whole run over HTTP (list with limit ${PAGE}, plan every volume, reply with every decision), ${PER_VOLUME} snapshots per volume, each size in a fresh process (goal: planning 10,000 under 1 s, linear)`,
    '',
    '| snapshots | volumes | planning | whole run (list + plan + reply) | API calls | would delete | peak RSS (before the run) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.snapshots} | ${r.volumes} | ${r.planMs.toFixed(0)} ms | ${r.runMs.toFixed(0)} ms | ${r.apiCalls} | ${r.planned} | ${r.rssMiB.toFixed(0)} MiB (${r.baselineMiB.toFixed(0)} MiB) |`),
    '',
    `growth for ${(rows.at(-1)!.snapshots / first.snapshots).toFixed(0)}× the snapshots: planning ${(rows.at(-1)!.planMs / first.planMs).toFixed(1)}×, whole run ${(rows.at(-1)!.runMs / first.runMs).toFixed(1)}×`,
    '',
    `deletes (largest size, capped at 200, paced at 200/s): ${rows.at(-1)!.deletes ?? 0} in ${(rows.at(-1)!.deleteMs ?? 0).toFixed(0)} ms`,
    '',
  ]
  process.stdout.write(lines.join('\n'))
}

if (process.argv[2] === '--measure') {
  const m = await measure(Number(process.argv[3]), Number(process.argv[4]))
  process.stdout.write(`${JSON.stringify(m)}\n`)
  process.exit(0)
} else {
  await main()
}
