import { HOUR, GiB, iso, uuidFrom, PROTECTED_LABEL, RETENTION_DAYS, type Ctx } from './context.ts'
import { externalSecret } from './secrets.ts'
import { certificate } from './certificates.ts'
import { backupCronJob } from './backup-jobs.ts'
import { podSpec, pvc, secretEnv, service, statefulSet, volumeName } from './workloads.ts'

/** PostgreSQL and Redis in `databases` (with their backups and CSI VolumeSnapshots), and Vault's own namespace. */

export function seedDatabases(ctx: Ctx) {
  const ns = 'databases'
  externalSecret(ctx, ns, 'postgres-credentials', [{ secretKey: 'POSTGRES_PASSWORD', path: 'databases/postgres/superuser', property: 'password' }, { secretKey: 'APP_PASSWORD', path: 'databases/postgres/app', property: 'password' }, { secretKey: 'REPORTING_PASSWORD', path: 'databases/postgres/reporting', property: 'password' }])
  externalSecret(ctx, ns, 'redis-credentials', [{ secretKey: 'REDIS_PASSWORD', path: 'databases/redis', property: 'password' }])
  certificate(ctx, ns, 'postgres-tls', 'renewing', { kind: 'ClusterIssuer', name: 'internal-ca' }, ['postgres.databases.svc', 'postgres.databases.svc.cluster.local'])

  const pgSpec = podSpec([{ name: 'postgres', image: 'postgres:15.18', ports: [{ containerPort: 5432, name: 'postgres' }], env: [secretEnv('POSTGRES_PASSWORD', 'postgres-credentials', 'POSTGRES_PASSWORD'), { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' }], volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql/data' }, { name: 'tls', mountPath: '/etc/postgres/tls', readOnly: true }] }], [{ name: 'tls', secret: { secretName: 'postgres-tls', defaultMode: 384 } }])
  statefulSet(ctx, ns, 'postgres', 1, pgSpec, '20Gi')
  const redisSpec = podSpec([{ name: 'redis', image: 'redis:7.0.15', ports: [{ containerPort: 6379, name: 'redis' }], args: ['--requirepass', '$(REDIS_PASSWORD)', '--appendonly', 'yes'], envFrom: [{ secretRef: { name: 'redis-credentials' } }], volumeMounts: [{ name: 'data', mountPath: '/data' }] }])
  statefulSet(ctx, ns, 'redis', 2, redisSpec, '5Gi')
  service(ctx, ns, 'postgres', 5432)
  service(ctx, ns, 'redis', 6379)
  pvc(ctx, ns, 'data-postgres-0', '20Gi')
  pvc(ctx, ns, 'data-redis-0', '5Gi')
  pvc(ctx, ns, 'data-redis-1', '5Gi')
  pvc(ctx, ns, 'data-postgres-old-0', '20Gi', { ageDays: 400 }) // used by no Pod since the upgrade

  const backupVolume = { name: 'backups', persistentVolumeClaim: { claimName: 'backups' } }
  pvc(ctx, ns, 'backups', '200Gi')
  backupCronJob(ctx, ns, 'postgres-backup', { cron: '0 2 * * *', hour: 2, minute: 0 },
    { name: 'pg-dumpall', image: 'postgres:15.18', command: ['/bin/sh', '-c', 'pg_dumpall -h postgres | gzip > /backups/postgres/all_databases_$(date +%Y%m%d_%H%M%S).sql.gz'], env: [secretEnv('PGPASSWORD', 'postgres-credentials', 'POSTGRES_PASSWORD'), { name: 'PGUSER', value: 'postgres' }], volumeMounts: [{ name: 'backups', mountPath: '/backups' }] },
    [backupVolume], ['Complete', 'Complete', 'Complete'])
  backupCronJob(ctx, ns, 'redis-backup', { cron: '30 1 * * *', hour: 1, minute: 30 },
    { name: 'redis-save', image: 'redis:7.0.15', command: ['/bin/sh', '-c', 'redis-cli -h redis --rdb /backups/redis/dump_$(date +%Y%m%d_%H%M%S).rdb'], env: [secretEnv('REDISCLI_AUTH', 'redis-credentials', 'REDIS_PASSWORD')], volumeMounts: [{ name: 'backups', mountPath: '/backups' }] },
    [backupVolume], ['Failed', 'Complete', 'Complete'])

  // CSI snapshots of the PostgreSQL volume, hourly-ish to two months old.
  const claim = 'data-postgres-0'
  const snapshots: Array<{ ageHours: number, ready?: boolean, protect?: boolean, suffix?: string }> = [
    { ageHours: 0.1, ready: false },
    { ageHours: 12 }, { ageHours: 36 }, { ageHours: 60 }, { ageHours: 156 }, { ageHours: 324 }, { ageHours: 492 }, { ageHours: 708 },
    { ageHours: 852 }, { ageHours: 1092 }, { ageHours: 1452 },
    { ageHours: 2160, protect: true, suffix: 'pre-upgrade-15' },
  ]
  let restoredFrom = ''
  for (const s of snapshots) {
    const created = ctx.ago(s.ageHours * HOUR)
    const stamp = created.toISOString().replace(/[-:]/g, '').slice(0, 13).replace('T', '-').toLowerCase()
    const name = `postgres-data-${s.suffix ?? stamp}`
    const ready = s.ready !== false
    const vs = ctx.put({
      apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot',
      metadata: { name, namespace: ns, labels: { 'app.kubernetes.io/name': 'postgres', ...(s.protect ? { [PROTECTED_LABEL]: 'true' } : {}) }, finalizers: ['snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection', 'snapshot.storage.kubernetes.io/volumesnapshot-bound-protection'], creationTimestamp: iso(created) },
      spec: { source: { persistentVolumeClaimName: claim }, volumeSnapshotClassName: 'longhorn-snapshot' },
      status: { boundVolumeSnapshotContentName: `snapcontent-${uuidFrom(name)}`, readyToUse: ready, ...(ready ? { creationTime: iso(created), restoreSize: '20Gi' } : {}) },
    })
    ctx.put({
      apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotContent',
      metadata: { name: `snapcontent-${uuidFrom(name)}`, finalizers: ['snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection'], creationTimestamp: iso(created) },
      spec: { deletionPolicy: 'Delete', driver: 'driver.longhorn.io', source: { volumeHandle: volumeName(ns, claim) }, volumeSnapshotClassName: 'longhorn-snapshot', volumeSnapshotRef: { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', name, namespace: ns, uid: ctx.uid(vs) } },
      status: { readyToUse: ready, snapshotHandle: `snap://${volumeName(ns, claim)}/snapshot-${uuidFrom(name)}`, ...(ready ? { creationTime: created.getTime() * 1_000_000, restoreSize: 20 * GiB } : {}) },
    })
    if (s.ageHours === 852) restoredFrom = name
    const ageDays = Math.round((s.ageHours / 24) * 10) / 10
    ctx.summary.snapshots.push({ kind: 'VolumeSnapshot', namespace: ns, name, createdAt: iso(created), ageDays, ready, beyondRetention: ageDays > RETENTION_DAYS.volumeSnapshots, ...(s.protect ? { protected: true } : {}), ...(s.ageHours === 852 ? { inUse: true } : {}) })
  }
  // A restore test volume provisioned from an old snapshot: that snapshot must stay.
  pvc(ctx, ns, 'postgres-restore-check', '20Gi', { ageDays: 2, dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: restoredFrom } })
}

export function seedVaultNamespace(ctx: Ctx) {
  const ns = 'vault'
  const spec = podSpec([{ name: 'vault', image: 'hashicorp/vault:1.19.0', args: ['server'], ports: [{ containerPort: 8200, name: 'http' }, { containerPort: 8201, name: 'cluster' }], volumeMounts: [{ name: 'data', mountPath: '/vault/data' }] }])
  statefulSet(ctx, ns, 'vault', 3, spec, '10Gi')
  service(ctx, ns, 'vault', 8200)
  for (const i of [0, 1, 2]) pvc(ctx, ns, `data-vault-${i}`, '10Gi')
  pvc(ctx, ns, 'vault-snapshots', '20Gi')
  backupCronJob(ctx, ns, 'vault-backup', { cron: '0 2 * * *', hour: 2, minute: 0 },
    { name: 'raft-snapshot', image: 'hashicorp/vault:1.19.0', command: ['/bin/sh', '-c', 'vault operator raft snapshot save /backups/vault/vault_$(date +%Y%m%d_%H%M%S).snap'], env: [{ name: 'VAULT_ADDR', value: 'http://vault.vault.svc:8200' }], volumeMounts: [{ name: 'backups', mountPath: '/backups' }] },
    [{ name: 'backups', persistentVolumeClaim: { claimName: 'vault-snapshots' } }], ['Complete', 'Complete', 'Complete'])
}
