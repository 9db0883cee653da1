import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node'
import { parse } from 'yaml'
import { checkConfig, configSchema, type BackupSet, type VerifyBackupConfig } from '../../../functions/verify-backup/config.ts'
import { verifyLonghornSet } from '../../../functions/verify-backup/longhorn.ts'
import { verifyFileSet } from '../../../functions/verify-backup/verify.ts'
import { validateConfig } from '../../../shared/config.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator } from '../../../sandbox/simulators/vault/index.ts'

// A set's depth against its retention, on the shipped sets: a set whose
// oldest artifact is younger than its retention (history lost, a clean-up
// deleting too much), one holding far more (a clean-up that silently
// stopped), and gaps. Real Vault raft snapshots on disk, named as the
// runbooks' CronJob names them; Longhorn Backups in the Kubernetes simulator.

const HOUR = 3_600_000
const DAY = 24 * HOUR
const shipped = validateConfig<VerifyBackupConfig>(parse(await readFile(new URL('../../../manifests/verify-backup/config.yaml', import.meta.url), 'utf8')), configSchema, 'manifests/verify-backup/config.yaml')
checkConfig(shipped)
const shippedSet = (name: string): BackupSet => shipped.sets.find((s) => s.name === name)!

t.test('the shipped sets keep what the runbooks keep', async (t) => {
  t.same(Object.fromEntries(shipped.sets.map((s) => [s.name, s.retention?.days])), { etcd: 30, postgresql: 30, redis: 7, vault: 30, longhorn: 14, gitea: 90 })
})

const vault = await startVaultSimulator()
for (let i = 0; i < 5; i++) vault.putSecret('secret', `apps/app-${i}`, { password: `p-${i}` })
const snapshot = vault.snapshot()
await vault.close()

const work = await mkdtemp(join(tmpdir(), 'caretaker-depth-'))
t.teardown(() => rm(work, { recursive: true, force: true }))
let n = 0
const signal = new AbortController().signal
const now = new Date()

/** `vault_YYYYMMDD_HHMMSS.snap` as the runbooks' CronJob names it (`date` in UTC), modification time `mtime` (a copy's: now). */
const vaultName = (d: Date) => `vault_${d.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '_')}.snap`

/** One snapshot a day at 02:00 UTC for each of `days` (0: today's), all copied now (modification times reset). */
async function vaultSet(days: number[]): Promise<string> {
  const dir = join(work, `vault-${++n}`)
  await mkdir(dir)
  const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 2))
  if (today > now) today.setUTCDate(today.getUTCDate() - 1)
  for (const day of days) {
    const name = vaultName(new Date(today.getTime() - day * DAY))
    await writeFile(join(dir, name), snapshot)
    await utimes(join(dir, name), now, now)
  }
  return dir
}
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const verify = (directory: string, extra: Partial<BackupSet> = {}, only?: string) =>
  verifyFileSet({ ...shippedSet('vault'), directory, ...extra }, { now, signal, ...(only ? { only } : {}) })

t.test('30 days of daily snapshots: deep enough, and no deeper', async (t) => {
  const report = await verify(await vaultSet(range(0, 30)))
  t.ok(report.verified, report.checks.at(-1)?.message ?? '')
  t.same(report.checks.map((c) => c.check), ['presence', 'age', 'size', 'integrity', 'depth'])
  t.match(report.checks.at(-1), { check: 'depth', ok: true, message: /^31 artifact\(s\), the oldest 30d( \d+[hm])? old: within 30 to 45 days$/, evidence: { count: 31, retentionDays: 30, maxDays: 45 } })
  t.ok((await verify(await vaultSet(range(0, 29)))).verified, 'a clean-up a day early is within one RPO')
})

t.test('a lost history: the oldest artifact younger than the retention fails depth', async (t) => {
  const report = await verify(await vaultSet(range(0, 9)))
  t.equal(report.failedCheck, 'depth-short')
  t.match(report.checks.at(-1), {
    check: 'depth', failure: 'depth-short', ok: false,
    message: /^the oldest artifact, vault_\d{8}_020000\.snap, is 9d( \d+[hm])? old, 10 in all: the set must reach back 30 days \(retention\.days\); history is missing, or the clean-up deletes too much$/,
    evidence: { count: 10, retentionDays: 30 },
  })
})

t.test('a clean-up that stopped deleting: far more than the retention fails depth', async (t) => {
  const report = await verify(await vaultSet(range(0, 60)))
  t.equal(report.failedCheck, 'depth-excess')
  t.match(report.checks.at(-1)?.message, /^the oldest artifact, vault_\d{8}_020000\.snap, is 60d( \d+[hm])? old, beyond the 45 days allowed \(retention\.maxDays\) for a set kept 30 days; 31 of 61 are older than 30 days: the clean-up is not deleting/)
  t.ok((await verify(await vaultSet(range(0, 40)))).verified, 'a few days over is tolerated (maxDays defaults to 1.5 × days)')
  t.equal((await verify(await vaultSet(range(0, 40)), { retention: { days: 30, maxDays: 35 } })).failedCheck, 'depth-excess', 'maxDays tightens it')
})

t.test('with retention.maxGap, a hole in the history fails depth', async (t) => {
  const holed = await vaultSet(range(0, 30).filter((d) => d !== 12 && d !== 13))
  t.ok((await verify(holed)).verified, 'not checked without maxGap')
  const report = await verify(holed, { retention: { days: 30, maxGap: '36h' } })
  t.equal(report.failedCheck, 'depth-gap')
  t.match(report.checks.at(-1)?.message, /^1 gap\(s\) longer than 36h \(retention\.maxGap\): 3d between vault_\d{8}_020000\.snap and vault_\d{8}_020000\.snap$/)
  t.match(report.checks.at(-1)?.evidence, { gapCount: 1, gaps: [{ seconds: 3 * 86400 }] })
})

t.test('a request naming one artifact verifies that artifact, not the set\'s depth or RPO', async (t) => {
  const dir = await vaultSet(range(0, 9))
  const old = join(dir, vaultName(new Date(Date.parse((await verify(dir)).artifact!.time) - 5 * DAY)))
  const report = await verify(dir, {}, old)
  t.ok(report.verified, report.checks.map((c) => `${c.check}: ${c.message}`).join('; '))
  t.equal(report.artifact?.path, old, 'the artifact the request named')
  t.match(report.newestArtifact, /^vault_\d{8}_020000\.snap$/, 'the report names the set\'s newest, which it is not')
  const age = report.checks.find((c) => c.check === 'age')!
  t.match(age.message, /^vault_\d{8}_020000\.snap is 5d( \d+[hm])? old \(by its name\); a requested artifact older than the newest \(vault_\d{8}_020000\.snap\): the RPO of 24h is judged on the newest$/)
  t.notMatch(age.message, /the newest artifact is/, 'not told as the newest')
  t.match(age.evidence, { ageSeconds: Number, newest: String, newestAgeSeconds: Number })
  t.notOk(report.checks.some((c) => c.check === 'depth'), 'depth is the set\'s: not judged for one artifact')
})

t.test('size: empty, below the floor and shrunk are told apart, with the figures', async (t) => {
  const dir = await vaultSet([1, 0])
  const [newest, previous] = [vaultName(new Date(Date.parse((await verify(dir)).artifact!.time))), vaultName(new Date(Date.parse((await verify(dir)).artifact!.time) - DAY))]
  const noDepth = { retention: { days: 1 } }
  const floor = await verify(dir, { ...noDepth, minSizeBytes: snapshot.length + 1 })
  t.equal(floor.failedCheck, 'size-below-floor')
  t.equal(floor.checks.at(-1)?.message, `${newest} is ${snapshot.length} bytes, below the set's floor of ${snapshot.length + 1} (minSizeBytes)`)
  t.match(floor.checks.at(-1)?.evidence, { size: snapshot.length, minSizeBytes: snapshot.length + 1 })

  await writeFile(join(dir, newest), snapshot.subarray(0, Math.floor(snapshot.length / 4)))
  // A throwaway Vault's snapshot is 1 KiB: the floor is lowered under a quarter of it.
  const shrunk = await verify(dir, { ...noDepth, minSizeBytes: 64 })
  t.equal(shrunk.failedCheck, 'size-shrunk')
  const quarter = Math.floor(snapshot.length / 4)
  t.equal(shrunk.checks.at(-1)?.message, `${newest} is ${(((snapshot.length - quarter) / snapshot.length) * 100).toFixed(1)}% smaller than ${previous} (${snapshot.length} → ${quarter} bytes), more than the 50% tolerated (maxShrinkPercent)`)
  t.match(shrunk.checks.at(-1)?.evidence, { size: quarter, previous, previousSize: snapshot.length, maxShrinkPercent: 50 })

  await writeFile(join(dir, newest), '')
  const empty = await verify(dir, { ...noDepth, minSizeBytes: 64 })
  t.equal(empty.failedCheck, 'size-empty')
  t.equal(empty.checks.at(-1)?.message, `${newest} is empty (0 bytes)`)
})

t.test('Longhorn: each volume\'s Completed Backups against the set\'s retention', async (t) => {
  const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => kube.close())
  kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'longhorn-system' } })
  const customs = kube.kubeConfig().makeApiClient(CustomObjectsApi)
  const target = { group: 'longhorn.io', version: 'v1beta2', namespace: 'longhorn-system', plural: 'backups' }
  const backup = async (name: string, volume: string, ageDays: number) => {
    await customs.createNamespacedCustomObject({ ...target, body: { apiVersion: 'longhorn.io/v1beta2', kind: 'Backup', metadata: { name, namespace: 'longhorn-system' }, spec: { snapshotName: `snap-${name}` } } })
    await customs.patchNamespacedCustomObjectStatus({ ...target, name, body: { status: { volumeName: volume, state: 'Completed', backupCreatedAt: new Date(now.getTime() - ageDays * DAY - 3 * HOUR).toISOString(), size: '104857600' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
  }
  for (const day of range(0, 13)) await backup(`backup-pg-${day}`, 'pvc-postgres-data', day)
  for (const day of range(0, 4)) await backup(`backup-gitea-${day}`, 'pvc-gitea-data', day)
  const set = shippedSet('longhorn')
  const report = await verifyLonghornSet(set, kube.kubeConfig(), now)
  t.equal(report.failedCheck, 'depth-short', 'pvc-gitea-data holds 5 days of 14')
  t.match(report.checks.at(-1), { check: 'depth', message: /^pvc-gitea-data: the oldest artifact, backup-gitea-4, is 4d 3h old, 5 in all: the set must reach back 14 days/, evidence: { volume: 'pvc-gitea-data', count: 5 } })
  t.match(report.checks.find((c) => c.check === 'depth'), { ok: true, evidence: { volume: 'pvc-postgres-data', count: 14 } }, 'pvc-postgres-data is deep enough')
})
