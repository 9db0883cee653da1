import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { AppsV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi, KubernetesObjectApi, type KubernetesObject, type V1Container, type V1PodSpec } from '@kubernetes/client-node'
import { CronExpressionParser } from 'cron-parser'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator } from '../../sandbox/simulators/vault/index.ts'
import { vaultClient } from '../../sandbox/simulators/vault/client.ts'
import { seedSandbox, PROTECTED_LABEL, RETENTION_DAYS, type SeedSummary } from '../../sandbox/platform/index.ts'

const NOW = new Date('2026-11-22T12:00:00Z')
const DAY = 86_400_000

const vault = await startVaultSimulator()
const kube = await startKubernetesSimulator({ controllers: { vault: { url: vault.url, token: vault.rootToken } } })
t.teardown(async () => { await kube.close(); await vault.close() })
const summary: SeedSummary = await seedSandbox({ kube, vault, now: NOW })
await kube.controllers.idle()

const kc = kube.kubeConfig()
const core = kc.makeApiClient(CoreV1Api)
const apps = kc.makeApiClient(AppsV1Api)
const batch = kc.makeApiClient(BatchV1Api)
const custom = kc.makeApiClient(CustomObjectsApi)
const objects = KubernetesObjectApi.makeApiClient(kc)
const vc = vaultClient(vault.url, vault.rootToken)

type Custom = { metadata: { name: string, namespace?: string, labels?: Record<string, string>, creationTimestamp?: string | Date, uid?: string }, spec: Record<string, unknown>, status?: Record<string, unknown> }
const listCustom = async (group: string, version: string, plural: string, namespace?: string): Promise<Custom[]> =>
  ((namespace ? await custom.listNamespacedCustomObject({ group, version, namespace, plural }) : await custom.listClusterCustomObject({ group, version, plural })) as { items: Custom[] }).items
const cond = (o: { status?: Record<string, unknown> }, type: string) => ((o.status?.conditions ?? []) as Array<{ type: string, status: string, reason?: string }>).find((c) => c.type === type)

t.test('every seeded object is listable through the client, as the summary says', async (t) => {
  t.ok(summary.objects.length > 150, `${summary.objects.length} objects`)
  for (const [key, count] of Object.entries(summary.counts)) {
    const [apiVersion, kind] = key.split(' ') as [string, string]
    const list = await objects.list(apiVersion, kind)
    const seeded = summary.objects.filter((o) => o.apiVersion === apiVersion && o.kind === kind)
    const names = new Set(list.items.map((o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name}`))
    t.ok(seeded.every((o) => names.has(`${o.namespace ?? ''}/${o.name}`)), `${kind}: all ${count} seeded objects are listed`)
  }
  const ns = (await core.listNamespace()).items.map((n) => n.metadata?.name)
  for (const n of ['production', 'databases', 'vault', 'monitoring', 'caretaker']) t.ok(ns.includes(n), `namespace ${n}`)
})

t.test('production: Deployments consume Secrets by env, envFrom and volumes, and those Secrets hold the Vault values', async (t) => {
  const deps = (await apps.listNamespacedDeployment({ namespace: 'production' })).items
  t.same(deps.map((d) => d.metadata?.name).sort(), ['api', 'web', 'worker'])
  const refs = { env: 0, envFrom: 0, volume: 0 }
  for (const d of deps) {
    const spec = d.spec!.template.spec as V1PodSpec
    const names = new Set<string>()
    for (const c of spec.containers as V1Container[]) {
      for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) { refs.env++; names.add(e.valueFrom.secretKeyRef.name!) }
      for (const e of c.envFrom ?? []) if (e.secretRef) { refs.envFrom++; names.add(e.secretRef.name!) }
    }
    for (const v of spec.volumes ?? []) if (v.secret) { refs.volume++; names.add(v.secret.secretName!) }
    for (const n of names) {
      const s = await core.readNamespacedSecret({ name: n, namespace: 'production' })
      t.ok(Object.keys(s.data ?? {}).length, `${d.metadata?.name} uses Secret ${n}, which exists with data`)
    }
  }
  t.ok(refs.env > 0 && refs.envFrom > 0 && refs.volume > 0, `secretKeyRef ${refs.env}, envFrom ${refs.envFrom}, volumes ${refs.volume}`)
  const worker = deps.find((d) => d.metadata?.name === 'worker')!
  t.equal(worker.status?.readyReplicas, 1, 'worker is one replica short')
  const pods = (await core.listNamespacedPod({ namespace: 'production', labelSelector: 'app.kubernetes.io/name=worker' })).items
  t.ok(pods.some((p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff'), 'a worker Pod is crash looping')
  const rs = (await apps.listNamespacedReplicaSet({ namespace: 'production', labelSelector: 'app.kubernetes.io/name=api' })).items
  t.equal(rs.filter((r) => r.spec?.replicas === 0).length, 4, 'api keeps four old ReplicaSets at zero, beyond its revision history of 2')
  t.ok(rs.every((r) => r.metadata?.ownerReferences?.[0]?.uid === deps.find((d) => d.metadata?.name === 'api')!.metadata?.uid), 'owned by the Deployment')

  // ExternalSecrets: bound to Vault KV paths; their Secrets carry what Vault holds.
  t.ok(summary.externalSecrets.length >= 5)
  for (const es of summary.externalSecrets) {
    const obj = (await custom.getNamespacedCustomObject({ group: 'external-secrets.io', version: 'v1', namespace: es.namespace, plural: 'externalsecrets', name: es.name })) as Custom
    t.equal(cond(obj, 'Ready')?.status, 'True', `${es.namespace}/${es.name} is Ready`)
    const data = (obj.spec.data as Array<{ secretKey: string, remoteRef: { key: string, property: string } }>)
    const s = await core.readNamespacedSecret({ name: es.secret, namespace: es.namespace })
    t.equal(s.metadata?.ownerReferences?.[0]?.uid, obj.metadata.uid, `${es.secret} is owned by its ExternalSecret`)
    for (const d of data) {
      const read = await vc.read(`secret/data/${d.remoteRef.key}`)
      const fromVault = ((read.data as { data: Record<string, string> }).data)[d.remoteRef.property]
      t.equal(Buffer.from(s.data![d.secretKey]!, 'base64').toString(), fromVault, `${es.secret}.${d.secretKey} = secret/${d.remoteRef.key}#${d.remoteRef.property}`)
    }
  }
})

t.test('databases: StatefulSets, and backup CronJobs with the runbook schedules and their Jobs', async (t) => {
  const sts = (await apps.listNamespacedStatefulSet({ namespace: 'databases' })).items.map((s) => s.metadata?.name).sort()
  t.same(sts, ['postgres', 'redis'])
  const expected: Record<string, { ns: string, schedule: RegExp }> = {
    'etcd-backup': { ns: 'kube-system', schedule: /^0 1 \* \* \*$/ },
    'postgres-backup': { ns: 'databases', schedule: /^0 2 \* \* \*$/ },
    'vault-backup': { ns: 'vault', schedule: /^0 2 \* \* \*$/ },
    'redis-backup': { ns: 'databases', schedule: /^\d+ \d+ \* \* \*$/ },
    'gitea-backup': { ns: 'gitea', schedule: /^\d+ \d+ \* \* [0-6]$/ },
  }
  const cjs = (await batch.listCronJobForAllNamespaces()).items
  t.same(cjs.map((c) => c.metadata?.name).sort(), Object.keys(expected).sort())
  let complete = 0
  let failed = 0
  for (const cj of cjs) {
    const e = expected[cj.metadata!.name!]!
    t.equal(cj.metadata?.namespace, e.ns, `${cj.metadata?.name} in ${e.ns}`)
    t.match(cj.spec?.schedule, e.schedule, `${cj.metadata?.name}: ${cj.spec?.schedule}`)
    const jobs = (await batch.listNamespacedJob({ namespace: e.ns })).items.filter((j) => j.metadata?.ownerReferences?.some((o) => o.kind === 'CronJob' && o.uid === cj.metadata?.uid))
    t.ok(jobs.length >= 2, `${cj.metadata?.name} owns ${jobs.length} Jobs`)
    for (const j of jobs) {
      const at = new Date(j.metadata!.annotations!['batch.kubernetes.io/cronjob-scheduled-timestamp']!)
      const prev = CronExpressionParser.parse(cj.spec!.schedule, { currentDate: new Date(at.getTime() + 1000), tz: 'UTC' }).prev().toDate()
      t.equal(prev.getTime(), at.getTime(), `${j.metadata?.name} ran at a tick of ${cj.spec?.schedule}`)
      if (j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')) complete++
      if (j.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True')) failed++
    }
    t.ok(new Date(cj.status!.lastScheduleTime!) <= NOW, 'lastScheduleTime is in the past')
  }
  t.equal(failed, 1, 'one backup Job failed')
  t.ok(complete > failed * 5, `${complete} completed`)
  t.equal(summary.backupJobs.filter((j) => j.outcome === 'Failed').map((j) => j.cronJob).join(), 'redis-backup')
})

t.test('cert-manager: Issuers and Certificates in every state, with real certificates in their Secrets', async (t) => {
  t.equal((await listCustom('cert-manager.io', 'v1', 'clusterissuers')).length, 2)
  t.equal((await listCustom('cert-manager.io', 'v1', 'issuers', 'production')).length, 1)
  const certs = [...await listCustom('cert-manager.io', 'v1', 'certificates', 'production'), ...await listCustom('cert-manager.io', 'v1', 'certificates', 'databases')]
  const by = (n: string) => certs.find((c) => c.metadata.name === n)!
  const notAfter = (n: string) => new Date(String(by(n).status?.notAfter))
  t.equal(cond(by('api-tls'), 'Ready')?.status, 'True')
  t.ok(notAfter('api-tls').getTime() - NOW.getTime() > 30 * DAY, 'api-tls: Ready and far from expiry')
  t.equal(cond(by('web-tls'), 'Ready')?.status, 'True')
  t.ok(notAfter('web-tls').getTime() - NOW.getTime() < 7 * DAY, 'web-tls: Ready but expiring within days')
  t.equal(cond(by('admin-tls'), 'Ready')?.status, 'False')
  t.same(cond(by('admin-tls'), 'Issuing'), { ...cond(by('admin-tls'), 'Issuing'), status: 'False', reason: 'Failed' }, 'admin-tls: the issuance failed')
  t.equal(by('admin-tls').status?.failedIssuanceAttempts, 3)
  t.same(cond(by('postgres-tls'), 'Issuing'), { ...cond(by('postgres-tls'), 'Issuing'), status: 'True', reason: 'Renewing' }, 'postgres-tls: renewal in progress')
  t.same(summary.certificates.map((c) => c.state).sort(), ['expiring', 'failed', 'ready', 'renewing'])
  for (const c of summary.certificates) {
    if (c.state === 'failed') {
      await t.rejects(core.readNamespacedSecret({ name: c.secretName, namespace: c.namespace }), { code: 404 }, `${c.name}: no Secret yet`)
      continue
    }
    const s = await core.readNamespacedSecret({ name: c.secretName, namespace: c.namespace })
    t.equal(s.type, 'kubernetes.io/tls')
    const x = new X509Certificate(Buffer.from(s.data!['tls.crt']!, 'base64'))
    t.equal(new Date(x.validTo).toISOString(), notAfter(c.name).toISOString(), `${c.name}: the certificate's notAfter is the status's`)
    t.ok(x.verify(new X509Certificate(Buffer.from(s.data!['ca.crt']!, 'base64')).publicKey), `${c.name}: signed by the CA in ca.crt`)
  }
})

t.test('snapshots: CSI VolumeSnapshots and Longhorn objects of varied ages', async (t) => {
  const vs = await listCustom('snapshot.storage.k8s.io', 'v1', 'volumesnapshots', 'databases')
  const age = (o: Custom) => (NOW.getTime() - new Date(String(o.metadata.creationTimestamp)).getTime()) / DAY
  t.ok(vs.length >= 10, `${vs.length} VolumeSnapshots`)
  t.ok(vs.some((s) => age(s) > RETENTION_DAYS.volumeSnapshots) && vs.some((s) => age(s) < 1), 'ages on both sides of the retention')
  t.ok(vs.some((s) => s.status?.readyToUse === false), 'one is not ready yet')
  t.ok(vs.some((s) => s.metadata.labels?.[PROTECTED_LABEL] === 'true'), 'one carries the protection label')
  const restore = await core.readNamespacedPersistentVolumeClaim({ name: 'postgres-restore-check', namespace: 'databases' })
  const pinned = vs.find((s) => s.metadata.name === restore.spec?.dataSource?.name)
  t.ok(pinned && age(pinned) > RETENTION_DAYS.volumeSnapshots, 'a PVC is restored from a snapshot beyond retention')
  const contents = await listCustom('snapshot.storage.k8s.io', 'v1', 'volumesnapshotcontents')
  for (const s of vs) t.ok(contents.some((c) => (c.spec.volumeSnapshotRef as { uid: string }).uid === s.metadata.uid && c.metadata.name === s.status?.boundVolumeSnapshotContentName), `${s.metadata.name} is bound to its content`)

  const backups = await listCustom('longhorn.io', 'v1beta2', 'backups', 'longhorn-system')
  const states = new Set(backups.map((b) => String(b.status?.state)))
  t.same([...states].sort(), ['Completed', 'Error', 'InProgress'])
  t.ok(backups.some((b) => age(b) > RETENTION_DAYS.longhorn), 'Longhorn backups older than the retention exist')
  const jobs = await listCustom('longhorn.io', 'v1beta2', 'recurringjobs', 'longhorn-system')
  t.same(jobs.map((j) => [j.metadata.name, j.spec.task, j.spec.cron]).sort(), [['backup-daily', 'backup', '0 3 * * *'], ['snapshot-hourly', 'snapshot', '0 * * * *']])
  // Pagination over the Longhorn Snapshots.
  const all: string[] = []
  let cont: string | undefined
  do {
    const page = await custom.listNamespacedCustomObject({ group: 'longhorn.io', version: 'v1beta2', namespace: 'longhorn-system', plural: 'snapshots', limit: 10, ...(cont ? { _continue: cont } : {}) }) as { items: Custom[], metadata: { continue?: string } }
    all.push(...page.items.map((i) => i.metadata.name))
    cont = page.metadata.continue
  } while (cont)
  t.equal(all.length, summary.snapshots.filter((s) => s.kind === 'Snapshot').length, 'paginated listing returns every Longhorn Snapshot')
  t.ok(summary.snapshots.some((s) => s.beyondRetention) && summary.snapshots.some((s) => !s.beyondRetention))
})

t.test('Vault: KV v2 secrets carry their rotation time and interval; some are due', async (t) => {
  t.ok(summary.vaultSecrets.length >= 6)
  for (const s of summary.vaultSecrets) {
    const meta = (await vc.read(`${s.mount}/metadata/${s.path}`)).data as { custom_metadata: Record<string, string>, current_version: number }
    t.equal(meta.custom_metadata['rotated-at'], s.rotatedAt, `${s.path}: rotated-at`)
    t.equal(meta.custom_metadata['rotation-interval'], `${s.intervalDays}d`)
    t.equal(meta.current_version, 2, 'rotated before: two versions')
    const due = NOW.getTime() - new Date(meta.custom_metadata['rotated-at']!).getTime() >= s.intervalDays * DAY
    t.equal(due, s.due, `${s.path}: ${due ? 'due' : 'not due'}`)
  }
  const due = summary.vaultSecrets.filter((s) => s.due).length
  t.ok(due > 0 && due < summary.vaultSecrets.length, `${due} of ${summary.vaultSecrets.length} due`)
  t.same([...new Set(summary.vaultSecrets.map((s) => s.intervalDays))].sort((a, b) => a - b), [90, 180, 365], 'the intervals of functions.md')
})

t.test('monitoring: PrometheusRules', async (t) => {
  const rules = await listCustom('monitoring.coreos.com', 'v1', 'prometheusrules', 'monitoring')
  t.same(rules.map((r) => r.metadata.name).sort(), ['caretaker-backups', 'platform-health'])
  const alerts = rules.flatMap((r) => (r.spec.groups as Array<{ rules: Array<{ alert?: string }> }>).flatMap((g) => g.rules.map((x) => x.alert))).filter(Boolean)
  t.ok(alerts.includes('BackupJobFailed') && alerts.includes('CertificateExpiringSoon'))
})
