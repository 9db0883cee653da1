import { DAY, HOUR, MINUTE, GiB, hex, iso, uuidFrom, RETENTION_DAYS, type Ctx } from './context.ts'
import { volumeName } from './workloads.ts'

/** Longhorn: recurring jobs, volumes, their snapshots and backups, on both sides of retention. */

export function seedLonghorn(ctx: Ctx) {
  const ns = 'longhorn-system'
  const lh = 'longhorn.io/v1beta2'
  ctx.put({ apiVersion: lh, kind: 'RecurringJob', metadata: { name: 'backup-daily', namespace: ns }, spec: { name: 'backup-daily', task: 'backup', cron: '0 3 * * *', retain: RETENTION_DAYS.longhorn, concurrency: 2, groups: ['default'], labels: {}, parameters: {} }, status: { executionCount: 412, ownerID: 'worker-1' } })
  ctx.put({ apiVersion: lh, kind: 'RecurringJob', metadata: { name: 'snapshot-hourly', namespace: ns }, spec: { name: 'snapshot-hourly', task: 'snapshot', cron: '0 * * * *', retain: 24, concurrency: 2, groups: ['default'], labels: {}, parameters: {} }, status: { executionCount: 9870, ownerID: 'worker-1' } })

  const volumes: Array<{ namespace: string, claim: string, size: number, workload: string, robustness: 'healthy' | 'degraded', backups: number }> = [
    { namespace: 'databases', claim: 'data-postgres-0', size: 20, workload: 'postgres', robustness: 'healthy', backups: 20 },
    { namespace: 'databases', claim: 'data-redis-0', size: 5, workload: 'redis', robustness: 'healthy', backups: 6 },
    { namespace: 'databases', claim: 'data-redis-1', size: 5, workload: 'redis', robustness: 'degraded', backups: 0 },
    { namespace: 'gitea', claim: 'gitea-data', size: 10, workload: 'gitea', robustness: 'healthy', backups: 16 },
  ]
  for (const v of volumes) {
    const name = volumeName(v.namespace, v.claim)
    // Daily backups at 03:00; today's is still uploading, one failed three nights ago.
    const backups: Array<{ name: string, at: Date, state: 'Completed' | 'Error' | 'InProgress' }> = []
    for (let t = Date.UTC(ctx.now.getUTCFullYear(), ctx.now.getUTCMonth(), ctx.now.getUTCDate(), 3); backups.length < v.backups; t -= 24 * HOUR) {
      const at = new Date(t)
      if (at > ctx.now) continue
      const state = backups.length === 0 ? 'InProgress' : backups.length === 3 ? 'Error' : 'Completed'
      backups.push({ name: `backup-${hex(`${name}-${t}`, 16)}`, at, state })
    }
    const lastDone = backups.find((b) => b.state === 'Completed')
    ctx.put({
      apiVersion: lh, kind: 'Volume', metadata: { name, namespace: ns, labels: { 'recurring-job-group.longhorn.io/default': 'enabled', longhornvolume: name }, creationTimestamp: iso(ctx.ago(300 * DAY)) },
      spec: { size: String(v.size * GiB), numberOfReplicas: 3, frontend: 'blockdev', accessMode: 'rwo', dataEngine: 'v1', dataLocality: 'disabled', backupCompressionMethod: 'lz4', backupTargetName: 'default', snapshotMaxCount: 250, snapshotDataIntegrity: 'ignored', replicaAutoBalance: 'ignored', unmapMarkSnapChainRemoved: 'ignored', freezeFilesystemForSnapshot: 'ignored', restoreVolumeRecurringJob: 'ignored', staleReplicaTimeout: 30, migratable: false, encrypted: false, disableFrontend: false, image: 'longhornio/longhorn-engine:v1.12.1' },
      status: {
        state: 'attached', robustness: v.robustness, actualSize: Math.round(v.size * GiB * 0.4), currentNodeID: 'worker-1', currentImage: 'longhornio/longhorn-engine:v1.12.1', frontendDisabled: false, ownerID: 'worker-1',
        ...(lastDone ? { lastBackup: lastDone.name, lastBackupAt: iso(new Date(lastDone.at.getTime() + 6 * MINUTE)) } : {}),
        ...(v.robustness === 'degraded' ? { lastDegradedAt: iso(ctx.ago(5 * HOUR)) } : {}),
        kubernetesStatus: { namespace: v.namespace, pvcName: v.claim, pvName: name, pvStatus: 'Bound', lastPVCRefAt: '', lastPodRefAt: '', workloadsStatus: [{ podName: v.workload === 'gitea' ? `gitea-${hex('gitea1', 10)}-p2k4s` : `${v.workload}-0`, podStatus: 'Running', workloadName: v.workload, workloadType: v.workload === 'gitea' ? 'ReplicaSet' : 'StatefulSet' }] },
        conditions: [
          { type: 'Scheduled', status: 'True', reason: '', message: '', lastProbeTime: '', lastTransitionTime: iso(ctx.ago(300 * DAY)) },
          { type: 'Restore', status: 'False', reason: '', message: '', lastProbeTime: '', lastTransitionTime: iso(ctx.ago(300 * DAY)) },
        ],
      },
    })
    // Hourly snapshots for the last six hours, and a few old ones the retention missed.
    let parent = ''
    for (const ageHours of [400, 240, 72, 6, 5, 4, 3, 2, 1]) {
      const created = new Date(Date.UTC(ctx.now.getUTCFullYear(), ctx.now.getUTCMonth(), ctx.now.getUTCDate(), ctx.now.getUTCHours()) - ageHours * HOUR)
      const snap = `snapshot-hourly-${hex(`${name}-${created.getTime()}`, 8)}-${uuidFrom(`${name}-${created.getTime()}`).slice(0, 8)}`
      ctx.put({
        apiVersion: lh, kind: 'Snapshot', metadata: { name: snap, namespace: ns, labels: { longhornvolume: name }, creationTimestamp: iso(created) },
        spec: { volume: name, createSnapshot: true, labels: { RecurringJob: 'snapshot-hourly' } },
        status: { creationTime: iso(created), readyToUse: true, userCreated: false, markRemoved: false, parent, children: {}, size: Math.round(v.size * GiB * 0.01), restoreSize: v.size * GiB, labels: { RecurringJob: 'snapshot-hourly' }, ownerID: 'worker-1', checksum: '', error: '' },
      })
      parent = snap
      const ageDays = Math.round((ageHours / 24) * 10) / 10
      ctx.summary.snapshots.push({ kind: 'Snapshot', namespace: ns, name: snap, createdAt: iso(created), ageDays, ready: true, beyondRetention: ageDays > RETENTION_DAYS.longhorn })
    }
    for (const b of backups) {
      const done = new Date(b.at.getTime() + 6 * MINUTE)
      ctx.put({
        apiVersion: lh, kind: 'Backup', metadata: { name: b.name, namespace: ns, labels: { 'backup-volume': name, 'backup-target': 'default' }, creationTimestamp: iso(b.at) },
        spec: { snapshotName: `backup-daily-${hex(b.name, 8)}`, labels: { RecurringJob: 'backup-daily', 'longhorn.io/volume-access-mode': 'rwo' }, backupMode: 'incremental' },
        status: {
          state: b.state, progress: b.state === 'Completed' ? 100 : b.state === 'InProgress' ? 45 : 12, ownerID: 'worker-1', backupTargetName: 'default', volumeName: name, volumeSize: String(v.size * GiB), snapshotName: `backup-daily-${hex(b.name, 8)}`, snapshotCreatedAt: iso(b.at), compressionMethod: 'lz4',
          ...(b.state === 'Completed' ? { url: `s3://longhorn-backups@us-east-1/?backup=${b.name}&volume=${name}`, backupCreatedAt: iso(done), size: String(Math.round(v.size * GiB * 0.3)), lastSyncedAt: iso(ctx.ago(10 * MINUTE)) } : {}),
          ...(b.state === 'Error' ? { error: 'failed to upload block: context deadline exceeded (Client.Timeout exceeded while awaiting headers)' } : {}),
        },
      })
      const ageDays = Math.round(((ctx.now.getTime() - b.at.getTime()) / DAY) * 10) / 10
      ctx.summary.snapshots.push({ kind: 'Backup', namespace: ns, name: b.name, createdAt: iso(b.at), ageDays, ready: b.state === 'Completed', beyondRetention: ageDays > RETENTION_DAYS.longhorn })
    }
    if (backups.length) {
      ctx.put({
        apiVersion: lh, kind: 'BackupVolume', metadata: { name: `${name}-${hex(name, 8)}`, namespace: ns, labels: { 'backup-target': 'default', 'backup-volume': name } },
        spec: { volumeName: name, backupTargetName: 'default' },
        status: { createdAt: iso(backups[backups.length - 1]!.at), ...(lastDone ? { lastBackupName: lastDone.name, lastBackupAt: iso(new Date(lastDone.at.getTime() + 6 * MINUTE)) } : {}), size: String(v.size * GiB), dataStored: String(Math.round(v.size * GiB * 0.9)), storageClassName: 'longhorn', lastSyncedAt: iso(ctx.ago(10 * MINUTE)), ownerID: 'worker-1' },
      })
    }
  }
  // Vault's raft snapshots volume: labelled for the hourly snapshots only, so no backup job covers it (health-report's NoBackupJob).
  const snapshots = volumeName('vault', 'vault-snapshots')
  ctx.put({
    apiVersion: lh, kind: 'Volume', metadata: { name: snapshots, namespace: ns, labels: { 'recurring-job.longhorn.io/snapshot-hourly': 'enabled', longhornvolume: snapshots }, creationTimestamp: iso(ctx.ago(300 * DAY)) },
    spec: { size: String(20 * GiB), numberOfReplicas: 2, frontend: 'blockdev', accessMode: 'rwo', dataEngine: 'v1', dataLocality: 'disabled', backupTargetName: 'default', staleReplicaTimeout: 30, migratable: false, encrypted: false, disableFrontend: false, image: 'longhornio/longhorn-engine:v1.12.1' },
    status: {
      state: 'attached', robustness: 'healthy', actualSize: 3 * GiB, currentNodeID: 'worker-2', currentImage: 'longhornio/longhorn-engine:v1.12.1', frontendDisabled: false, ownerID: 'worker-2',
      kubernetesStatus: { namespace: 'vault', pvcName: 'vault-snapshots', pvName: snapshots, pvStatus: 'Bound', lastPVCRefAt: '', lastPodRefAt: '', workloadsStatus: [] },
      conditions: [{ type: 'Scheduled', status: 'True', reason: '', message: '', lastProbeTime: '', lastTransitionTime: iso(ctx.ago(300 * DAY)) }],
    },
  })
}
