import { mkdir, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'
import type { VerifyBackupConfig } from '../../functions/verify-backup/config.ts'
import { backupFreshness, certificateStates } from '../../sandbox/local/console/platform-views.ts'

// What the console's plots are drawn from: backup ages against each set's
// RPO (verify-backup's config and its readings), and the Certificates'
// notAfter and Ready, read over the Kubernetes API of the simulator.

const HOUR = 3_600_000
const now = new Date('2026-12-05T12:00:00Z')

t.test('backup freshness: files, a missing directory, Longhorn volumes', async (t) => {
  const dir = t.testdir()
  const files = join(dir, 'pg')
  await mkdir(files)
  for (const [name, ageHours] of [['pg-old.sql.gz', 30], ['pg-new.sql.gz', 5]] as const) {
    await writeFile(join(files, name), 'x'.repeat(100))
    const at = new Date(now.getTime() - ageHours * HOUR)
    await utimes(join(files, name), at, at)
  }
  const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => kube.close())
  kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'longhorn-system' } })
  const customs = kube.kubeConfig().makeApiClient(CustomObjectsApi)
  const target = { group: 'longhorn.io', version: 'v1beta2', namespace: 'longhorn-system', plural: 'backups' }
  const backup = async (name: string, volume: string, ageHours: number, state: string) => {
    await customs.createNamespacedCustomObject({ ...target, body: { apiVersion: 'longhorn.io/v1beta2', kind: 'Backup', metadata: { name, namespace: 'longhorn-system' }, spec: { snapshotName: `snap-${name}` } } })
    await customs.patchNamespacedCustomObjectStatus({ ...target, name, body: { status: { volumeName: volume, state, backupCreatedAt: new Date(now.getTime() - ageHours * HOUR).toISOString() } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
  }
  await backup('a-1', 'pvc-a', 50, 'Completed')
  await backup('a-2', 'pvc-a', 2, 'Error')
  await backup('b-1', 'pvc-b', 3, 'Completed')
  const common = { minSizeBytes: 1, maxShrinkPercent: 50 }
  const config: VerifyBackupConfig = {
    sets: [
      { name: 'postgresql', format: 'pg-dumpall-gzip', directory: files, pattern: '*.sql.gz', rpo: '24h', ...common },
      { name: 'gone', format: 'redis-rdb', directory: join(dir, 'nothing-here'), pattern: '*', rpo: '1h', ...common },
      { name: 'longhorn', format: 'longhorn', rpo: '24h', longhorn: { namespace: 'longhorn-system', volumes: ['pvc-a', 'pvc-b', 'pvc-c'] }, ...common },
    ],
  }
  const rows = await backupFreshness(config, kube.kubeConfig(), now)
  t.same(rows[0], { set: 'postgresql', format: 'pg-dumpall-gzip', item: null, rpoSeconds: 86_400, ageSeconds: 5 * 3600, newest: 'pg-new.sql.gz', fresh: true }, 'a set of files: its newest artifact\'s age')
  t.same(rows[1], { set: 'gone', format: 'redis-rdb', item: null, rpoSeconds: 3600, ageSeconds: null, newest: null, fresh: false }, 'no artifact: not fresh')
  t.match(rows.slice(2), [
    { set: 'longhorn', item: 'pvc-a', ageSeconds: 50 * 3600, newest: 'a-1', fresh: false },
    { set: 'longhorn', item: 'pvc-b', ageSeconds: 3 * 3600, newest: 'b-1', fresh: true },
    { set: 'longhorn', item: 'pvc-c', ageSeconds: null, newest: null, fresh: false },
  ], 'a Longhorn set: each volume\'s newest Completed Backup (a failed one does not count)')

  const without = await backupFreshness({ sets: [config.sets[2]!] }, undefined, now)
  t.equal(without.length, 3)
  t.match(without[0], { item: 'pvc-a', ageSeconds: null, fresh: false, error: /no Kubernetes API/ }, 'without an API: said, not thrown')
})

t.test('certificates: notAfter and Ready; none where cert-manager is not installed', async (t) => {
  const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => kube.close())
  kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'web' } })
  const customs = kube.kubeConfig().makeApiClient(CustomObjectsApi)
  const target = { group: 'cert-manager.io', version: 'v1', namespace: 'web', plural: 'certificates' }
  const cert = async (name: string, status: Record<string, unknown>) => {
    await customs.createNamespacedCustomObject({ ...target, body: { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name, namespace: 'web' }, spec: { secretName: `${name}-tls`, dnsNames: [`${name}.example.com`], issuerRef: { name: 'ca' } } } })
    await customs.patchNamespacedCustomObjectStatus({ ...target, name, body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
  }
  await cert('late', { notAfter: '2027-03-01T00:00:00Z', conditions: [{ type: 'Ready', status: 'True', reason: 'Ready' }] })
  await cert('soon', { notAfter: '2026-12-10T00:00:00Z', conditions: [{ type: 'Ready', status: 'False', reason: 'Expiring' }] })
  await cert('never', { conditions: [{ type: 'Issuing', status: 'True' }] })
  const { certificates, note } = await certificateStates(kube.kubeConfig())
  t.equal(note, undefined)
  t.same(certificates, [
    { namespace: 'web', name: 'never', notAfter: null, ready: false, reason: 'NoReadyCondition' },
    { namespace: 'web', name: 'soon', notAfter: '2026-12-10T00:00:00Z', ready: false, reason: 'Expiring' },
    { namespace: 'web', name: 'late', notAfter: '2027-03-01T00:00:00Z', ready: true, reason: null },
  ], 'soonest first, names, times and states only')

  const bare = await startKubernetesSimulator({ controllers: { enabled: false }, omitGroups: ['cert-manager.io'] })
  t.teardown(() => bare.close())
  t.match(await certificateStates(bare.kubeConfig()), { certificates: [], note: /cert-manager is not installed/ })
})
