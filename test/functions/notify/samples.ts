import type { JsonSchema } from '../../../shared/schema.ts'

/**
 * Example data for an event type: realistic hand-written data for the types
 * notify has templates for, and for every other type an instance built from
 * its catalogue schema, so a type added later has an example too.
 */

export const EXAMPLE_TIME = '2026-11-22T06:00:00.000Z'

const checks = [
  { check: 'presence', ok: true, message: 'newest artifact all_databases_20261122_020000.sql.gz', evidence: {}, durationMs: 3 },
  { check: 'age', ok: true, message: '4h old, RPO 24h', evidence: {}, durationMs: 1 },
  { check: 'size', ok: true, message: '46.0 MiB, 2% larger than the one before', evidence: {}, durationMs: 1 },
  { check: 'integrity', ok: true, message: 'gzip stream complete, SQL ends with the dump trailer', evidence: {}, durationMs: 840 },
]
const artifact = { name: 'all_databases_20261122_020000.sql.gz', path: '/backups/postgresql/all_databases_20261122_020000.sql.gz', size: 48_213_004, modified: '2026-11-22T02:04:00.000Z' }

const rotationSteps = [
  { step: 'lock', ok: true, durationMs: 14, message: 'Lease caretaker/rotate-secret.postgres-app' },
  { step: 'read', ok: true, durationMs: 31, message: 'version 7 of secret/databases/postgres/app' },
  { step: 'generate', ok: true, durationMs: 1, message: '1 new value: 40 characters, alphanumeric' },
  { step: 'apply', ok: true, durationMs: 88, message: 'new credential set: PostgreSQL role app@postgres.databases.svc:5432' },
  { step: 'verify', ok: true, durationMs: 41, message: 'logged in with the new credential' },
  { step: 'write', ok: true, durationMs: 25, message: 'version 8 written (check-and-set on version 7), rotation time recorded' },
  { step: 'sync', ok: true, durationMs: 6_120, message: 'Secret production/api-db-credentials carries the new value' },
  { step: 'restart', ok: true, durationMs: 42_560, message: 'restarted Deployment/production/api, Deployment/production/billing-sync' },
]

const healthyCertificate = {
  ready: true, readyReason: 'Ready', readyMessage: 'Certificate is up to date and has not expired', readySince: '2026-10-12T08:00:00.000Z',
  issuing: false, revision: 3, notAfter: '2027-01-10T08:00:00.000Z', renewalTime: '2026-12-11T08:00:00.000Z', expiresInSeconds: 4_240_800, expiring: false, action: 'none', reason: 'Ready and before its renewal time',
}
const apiTls = {
  namespace: 'production', name: 'api-tls', secretName: 'api-tls',
  ready: true, readyReason: 'Ready', readyMessage: 'Certificate is up to date and has not expired', readySince: '2026-09-02T09:12:00.000Z',
  issuing: false, revision: 4, notAfter: '2026-11-28T09:12:00.000Z', renewalTime: '2026-10-29T09:12:00.000Z', expiresInSeconds: 529_920, expiring: true,
  action: 'cooldown', reason: 'renewal was due at 2026-10-29T09:12:00.000Z and no issuance is in progress; a renewal was already requested at 2026-11-22T01:00:00.000Z, within the cooldown',
}

export const HANDWRITTEN: Record<string, { subject?: string; data: unknown }> = {
  'dev.caretaker.backup.verified': {
    subject: 'postgresql',
    data: { set: 'postgresql', format: 'pg-dumpall-gzip', verified: true, artifact, checks: [...checks, { check: 'restore', ok: true, message: 'restored; app.orders has 1204 rows', evidence: {}, durationMs: 9120 }], durationMs: 9965, verifiedAt: EXAMPLE_TIME, trigger: 'job:postgres-backup-29400120' },
  },
  'dev.caretaker.backup.verification.failed': {
    subject: 'postgresql',
    data: { set: 'postgresql', format: 'pg-dumpall-gzip', verified: false, failedCheck: 'restore', artifact, checks: [...checks, { check: 'restore', ok: false, message: 'database app is missing after the restore', evidence: {}, durationMs: 9120 }], durationMs: 9965, verifiedAt: EXAMPLE_TIME, trigger: 'sweep' },
  },
  'dev.caretaker.backup.restore.started': {
    subject: 'postgresql',
    data: { set: 'postgresql', format: 'pg-dumpall-gzip', verified: false, artifact, checks, durationMs: 845, verifiedAt: EXAMPLE_TIME, trigger: 'job:postgres-backup-29400120',
      restore: { state: 'started', job: 'restore-postgresql-3f2a9c0d1e4b5a67', namespace: 'caretaker', image: 'docker.io/library/postgres:16', existing: false } },
  },
  'dev.caretaker.backup.sweep.completed': {
    data: { verified: 4, failed: 2, sets: [
      { set: 'postgresql', verified: false, failedCheck: 'restore', artifact: 'all_databases_20261122_020000.sql.gz' },
      { set: 'etcd', verified: true, artifact: 'etcd_20261122_010000.db' },
      { set: 'redis', verified: false, failedCheck: 'age', artifact: 'dump_20261120_030000.rdb' },
      { set: 'vault', verified: true, artifact: 'vault_20261122_020000.snap' },
      { set: 'gitea', verified: true, artifact: 'gitea_20261120.bundle' },
      { set: 'longhorn', verified: true, artifact: null },
    ] },
  },
  'dev.caretaker.secret.rotated': {
    subject: 'postgres-app',
    data: {
      secret: 'postgres-app', trigger: 'sweep',
      target: { kind: 'postgres-role', description: 'PostgreSQL role app@postgres.databases.svc:5432' },
      vault: { mount: 'secret', path: 'databases/postgres/app', previousVersion: 7, version: 8 },
      keys: ['password'],
      rotatedAt: '2026-11-22T04:00:09.000Z', dueAt: '2027-02-20T04:00:09.000Z',
      externalSecrets: [{ namespace: 'production', name: 'api-db-credentials', secret: 'api-db-credentials', synced: true }],
      consumers: [{ kind: 'Deployment', namespace: 'production', name: 'api', restarted: true }, { kind: 'Deployment', namespace: 'production', name: 'billing-sync', restarted: true }],
      lockoutWindowMs: 41_230,
      warnings: [],
      steps: rotationSteps,
      durationMs: 48_911,
    },
  },
  'dev.caretaker.secret.rotation.failed': {
    subject: 'postgres-app',
    data: {
      secret: 'postgres-app', trigger: 'sweep', failedStep: 'sync',
      reason: 'ExternalSecret production/api-db-credentials: Secret production/api-db-credentials did not carry the new value within 2m',
      changed: true, rolledBack: false, credentialInVault: 'new',
      rollback: [
        { step: 'write', ok: false, message: 'Vault could not get the previous value back (vault: 503 Vault is sealed); it keeps the new one, and so does the target' },
        { step: 'apply', ok: true, message: 'the new credential stays on the target, matching Vault' },
      ],
      steps: [...rotationSteps.slice(0, 5), { step: 'sync', ok: false, durationMs: 120_004, message: 'ExternalSecret production/api-db-credentials: Secret production/api-db-credentials did not carry the new value within 2m' }],
      target: { kind: 'postgres-role', description: 'PostgreSQL role app@postgres.databases.svc:5432' },
      vault: { mount: 'secret', path: 'databases/postgres/app', previousVersion: 7, version: 8 },
      durationMs: 121_380,
    },
  },
  'dev.caretaker.secret.sweep.completed': {
    data: {
      checkedAt: '2026-11-22T04:00:00.000Z', due: 2, rotated: 1, failed: 1,
      secrets: [
        { secret: 'postgres-app', due: true, reason: 'last rotated 91 days ago; the interval is 90d', rotatedAt: '2026-08-23T04:00:05.000Z', dueAt: '2026-11-21T04:00:05.000Z', result: 'failed', failedStep: 'sync', rolledBack: false },
        { secret: 'redis-app', due: true, reason: 'no rotation time is recorded', rotatedAt: null, dueAt: null, result: 'rotated' },
        { secret: 'postgres-reporting', due: false, reason: 'last rotated 79 days ago; due at 2026-12-03T04:00:00.000Z', rotatedAt: '2026-09-04T04:00:00.000Z', dueAt: '2026-12-03T04:00:00.000Z' },
        { secret: 'jwt-signing', due: false, reason: 'last rotated 20 days ago; due at 2027-05-01T04:00:00.000Z', rotatedAt: '2026-11-02T04:00:00.000Z', dueAt: '2027-05-01T04:00:00.000Z' },
        { secret: 'session-secret', due: false, reason: 'last rotated 133 days ago; due at 2027-01-10T04:00:00.000Z', rotatedAt: '2026-07-14T04:00:00.000Z', dueAt: '2027-01-10T04:00:00.000Z' },
      ],
    },
  },
  'dev.caretaker.certificate.renewal.triggered': {
    subject: 'staging/web-tls',
    data: {
      namespace: 'staging', name: 'web-tls', secretName: 'web-tls', reason: 'not-ready',
      message: 'not Ready (DoesNotExist: Issuing certificate as Secret does not exist) since 2026-11-22T04:40:00.000Z',
      requested: true, dryRun: false, notAfter: null, renewalTime: null, readyReason: 'DoesNotExist', trigger: 'sweep',
    },
  },
  'dev.caretaker.certificate.reissued': {
    subject: 'production/api-tls',
    data: {
      namespace: 'production', name: 'api-tls', secretName: 'api-tls', revision: 5, previousRevision: 4, dryRun: false,
      workloads: [{ kind: 'Deployment', namespace: 'production', name: 'api', restarted: true }, { kind: 'StatefulSet', namespace: 'production', name: 'gateway', restarted: true }],
      trigger: 'certificate',
    },
  },
  'dev.caretaker.certificate.stuck': {
    subject: 'production/shop-tls',
    data: {
      namespace: 'production', name: 'shop-tls', secretName: 'shop-tls', issuingSince: '2026-11-22T02:10:00.000Z', stuckForSeconds: 13_800,
      message: 'issuing since 2026-11-22T02:10:00.000Z, longer than the threshold: the issuance is stuck', readyReason: 'Expired', readyMessage: 'Certificate expired on Sun, 22 Nov 2026 01:00:00 UTC',
      request: { name: 'shop-tls-7', reason: 'Failed', message: 'Failed to wait for order resource "shop-tls-7-1837" to become ready: order is in "invalid" state', failed: true },
      action: 'request-deleted', dryRun: false, trigger: 'certificate',
    },
  },
  'dev.caretaker.certificate.expiring': {
    subject: 'production/api-tls',
    data: { ...apiTls, severity: 'warning', thresholdSeconds: 1_209_600 },
  },
  'dev.caretaker.certificates.reported': {
    data: {
      total: 6, notReady: 1, expiring: 1, renewalsRequested: 1, thresholdSeconds: 1_209_600, dryRun: false,
      certificates: [
        apiTls,
        { namespace: 'staging', name: 'web-tls', secretName: 'web-tls', ready: false, readyReason: 'DoesNotExist', readyMessage: 'Issuing certificate as Secret does not exist', readySince: '2026-11-22T04:40:00.000Z', issuing: false, notAfter: null, renewalTime: null, expiresInSeconds: null, expiring: false, action: 'renewal-requested', reason: 'not-ready' },
        { ...healthyCertificate, namespace: 'production', name: 'admin-tls', secretName: 'admin-tls' },
        { ...healthyCertificate, namespace: 'production', name: 'grpc-tls', secretName: 'grpc-tls', notAfter: '2027-01-30T08:00:00.000Z', renewalTime: '2026-12-31T08:00:00.000Z', expiresInSeconds: 5_968_800 },
        { ...healthyCertificate, namespace: 'monitoring', name: 'grafana-tls', secretName: 'grafana-tls' },
        { ...healthyCertificate, namespace: 'vault', name: 'vault-tls', secretName: 'vault-tls', notAfter: '2027-02-14T10:00:00.000Z', renewalTime: '2027-01-15T10:00:00.000Z', expiresInSeconds: 7_272_000 },
      ],
    },
  },
  'dev.caretaker.configuration.backed-up': {
    subject: 'configuration_20261122_060000.tar.gz',
    data: {
      archive: { name: 'configuration_20261122_060000.tar.gz', path: '/backups/configuration/configuration_20261122_060000.tar.gz', size: 1_482_113, sha256: '9f2c4e1b7a3d5f60e8b1c2d3a4f5061728394a5b6c7d8e9f0a1b2c3d4e5f6071', files: 61 },
      counts: { dashboards: 42, 'alert-rules': 17, 'contact-points': 3, policies: 1, prometheusrules: 6, configmaps: 9 },
      parts: ['dashboards', 'alert-rules', 'contact-points', 'policies', 'prometheusrules', 'configmaps'],
      reason: 'before the Grafana 11 upgrade', startedAt: '2026-11-22T06:00:00.000Z', durationMs: 4_210,
      retention: { keep: 30, kept: 30, deleted: [], wouldDelete: ['configuration_20261022_060000.tar.gz'], dryRun: true },
    },
  },
  'dev.caretaker.health.reported': {
    data: {
      status: 'critical', checkedAt: '2026-11-22T06:00:00.000Z',
      checks: ['nodes', 'pods', 'events', 'certificates', 'vault', 'backups', 'pvcs'],
      counts: { critical: 2, warning: 4 },
      scanned: { nodes: 6, pods: 241, events: 57, certificates: 14, vault: 1, backups: 3, pvcs: 22 },
      findings: [
        { check: 'nodes', severity: 'critical', object: { kind: 'Node', name: 'worker-3' }, reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', since: '2026-11-22T05:41:10.000Z' },
        { check: 'backups', severity: 'critical', object: { kind: 'Job', namespace: 'backups', name: 'redis-backup-29400120' }, reason: 'BackupFailed', message: 'backup Job of CronJob redis-backup failed (BackoffLimitExceeded: Job has reached the specified backoff limit)', since: '2026-11-22T03:00:04.000Z' },
        { check: 'certificates', severity: 'warning', object: { kind: 'Certificate', namespace: 'production', name: 'api-tls' }, reason: 'Expiring', message: 'expires at 2026-11-28T09:12:00.000Z, in 6 days' },
        { check: 'pods', severity: 'warning', object: { kind: 'Pod', namespace: 'production', name: 'api-7d9c5-x2kqp' }, reason: 'CrashLoopBackOff', message: 'phase Running: back-off 5m0s restarting failed container=api pod=api-7d9c5-x2kqp_production', since: '2026-11-22T02:13:00.000Z' },
        { check: 'pvcs', severity: 'warning', object: { kind: 'PersistentVolumeClaim', namespace: 'monitoring', name: 'data-loki-2' }, reason: 'Pending', message: 'Pending (storage class longhorn) since 2026-11-22T05:02:00.000Z', since: '2026-11-22T05:02:00.000Z' },
        { check: 'events', severity: 'warning', object: { kind: 'Pod', namespace: 'production', name: 'api-7d9c5-x2kqp' }, reason: 'BackOff', message: 'Back-off restarting failed container api in pod api-7d9c5-x2kqp_production', count: 48, since: '2026-11-22T02:14:00.000Z', lastSeen: '2026-11-22T05:58:30.000Z' },
      ],
    },
  },
  'dev.caretaker.health.digest': {
    data: {
      kind: 'weekly', from: '2026-11-16', to: '2026-11-22', reported: 6, missing: ['2026-11-19'], status: 'critical',
      days: [
        { day: '2026-11-16', status: 'degraded', counts: { critical: 0, warning: 3 } },
        { day: '2026-11-17', status: 'degraded', counts: { critical: 0, warning: 2 } },
        { day: '2026-11-18', status: 'degraded', counts: { critical: 0, warning: 2 } },
        { day: '2026-11-20', status: 'critical', counts: { critical: 1, warning: 2 } },
        { day: '2026-11-21', status: 'critical', counts: { critical: 1, warning: 2 } },
        { day: '2026-11-22', status: 'critical', counts: { critical: 2, warning: 4 } },
      ],
      trends: [
        { key: 'critical', first: 0, last: 2, max: 2, change: 2 },
        { key: 'warning', first: 3, last: 4, max: 4, change: 1 },
        { key: 'check:backups', first: 0, last: 1, max: 1, change: 1 },
        { key: 'check:pods', first: 2, last: 1, max: 2, change: -1 },
        { key: 'reason:pods/CrashLoopBackOff', first: 1, last: 1, max: 1, change: 0 },
      ],
      recurring: [
        { problem: 'pods CrashLoopBackOff Pod production/api-7d9c5-x2kqp', days: 6, firstSeen: '2026-11-16', lastSeen: '2026-11-22' },
        { problem: 'backups BackupFailed Job backups/redis-backup-29400120', days: 3, firstSeen: '2026-11-20', lastSeen: '2026-11-22' },
      ],
      new: ['nodes NodeStatusUnknown Node worker-3'],
      resolved: ['pods Evicted Pod production/web-5f6d8-k2j9x'],
      previousWeek: { reported: 7, counts: { critical: 1, warning: 12 } },
    },
  },
  'dev.caretaker.updates.reported': {
    data: {
      checkedAt: '2026-12-01T08:00:00.000Z',
      namespaces: ['kube-system', 'cert-manager', 'longhorn-system', 'monitoring'],
      counts: { current: 2, 'update-available': 1, 'major-update': 1, unknown: 1 },
      deprecated: 1,
      kubernetes: { version: 'v1.30.4+k3s1', channel: 'stable', latest: 'v1.30.5+k3s1', status: 'update-available' },
      repositories: [{ name: 'jetstack', ok: true, charts: 6 }, { name: 'longhorn', ok: false, reason: 'no answer within 20000 ms' }, { name: 'prometheus-community', ok: true, charts: 58 }, { name: 'traefik', ok: true, charts: 3 }],
      objects: [
        { namespace: 'monitoring', release: 'kube-prometheus-stack', revision: 14, chart: 'kube-prometheus-stack', version: '62.7.0', appVersion: 'v0.76.1', repository: 'prometheus-community', status: 'major-update', latest: { version: '66.3.1', appVersion: 'v0.78.2', created: '2024-11-28T10:21:03.000Z' } },
        { namespace: 'kube-system', release: 'traefik', revision: 3, chart: 'traefik', version: '33.0.0', appVersion: 'v3.2.0', repository: 'traefik', status: 'update-available', latest: { version: '33.2.1', appVersion: 'v3.2.3', created: '2024-12-13T09:21:45.871Z' } },
        { namespace: 'longhorn-system', release: 'longhorn', revision: 5, chart: 'longhorn', version: '1.7.1', appVersion: 'v1.7.1', repository: 'longhorn', status: 'unknown', reason: 'repository longhorn could not be read: no answer within 20000 ms' },
        { namespace: 'cert-manager', release: 'cert-manager', revision: 8, chart: 'cert-manager', version: 'v1.16.2', appVersion: 'v1.16.2', repository: 'jetstack', status: 'current', latest: { version: 'v1.16.2', appVersion: 'v1.16.2' } },
        { namespace: 'monitoring', release: 'ingress', revision: 2, chart: 'nginx-ingress', version: '1.41.3', appVersion: 'v0.34.1', repository: 'prometheus-community', status: 'current', latest: { version: '1.41.3' }, deprecated: true },
      ],
    },
  },
  'dev.caretaker.database.reported': {
    subject: 'orders',
    data: {
      target: 'orders', kind: 'postgres', tasks: ['health', 'analyze', 'bloat', 'indexes', 'vacuum-analyze'], status: 'warning',
      findings: [
        { task: 'health', check: 'connect', severity: 'ok', message: 'connected to PostgreSQL 16.4 (primary)', evidence: { version: '16.4', inRecovery: false, replicationLagSeconds: null } },
        { task: 'bloat', check: 'dead-tuples', severity: 'warning', message: 'orders.public.order_events: 34% dead tuples (2210934 dead, 4291022 live): VACUUM (ANALYZE) reclaims them', evidence: { database: 'orders', table: 'public.order_events', deadTuples: 2_210_934, liveTuples: 4_291_022, deadRatio: 0.34 } },
        { task: 'indexes', check: 'unused', severity: 'info', message: 'orders: index order_events_legacy_idx on public.order_events has never been used since statistics were reset (734003200 bytes)', evidence: { database: 'orders', index: 'order_events_legacy_idx', table: 'public.order_events', bytes: 734_003_200 } },
        { task: 'vacuum-analyze', check: 'lock-unavailable', severity: 'warning', message: 'VACUUM (ANALYZE) skipped orders.public.payments: another session holds a conflicting lock', evidence: { table: 'orders.public.payments' } },
      ],
      actions: [
        { task: 'analyze', action: 'ANALYZE', target: 'orders.public.order_events', outcome: 'done', durationMs: 2_140 },
        { task: 'analyze', action: 'ANALYZE', target: 'orders.public.payments', outcome: 'done', durationMs: 610 },
        { task: 'vacuum-analyze', action: 'VACUUM (ANALYZE)', target: 'orders.public.order_events', outcome: 'done', durationMs: 48_200 },
        { task: 'vacuum-analyze', action: 'VACUUM (ANALYZE)', target: 'orders.public.payments', outcome: 'skipped', reason: 'its lock could not be had within the lock timeout' },
      ],
      durationMs: 53_480, dryRun: false,
    },
  },
  'dev.caretaker.database.maintenance.completed': {
    subject: 'weekly',
    data: {
      schedule: 'weekly', status: 'critical', dryRun: false,
      targets: [
        { target: 'orders', kind: 'postgres', status: 'warning', findings: 2, actions: 4 },
        { target: 'cache', kind: 'redis', status: 'critical', findings: 2, actions: 4 },
        { target: 'billing', kind: 'postgres', status: 'ok', findings: 0, actions: 18 },
      ],
    },
  },
  'dev.caretaker.database.degraded': {
    subject: 'cache',
    data: {
      target: 'cache', status: 'critical',
      findings: [
        { task: 'health', check: 'replication', severity: 'critical', message: 'redis-1.cache:6379: the replica\'s link to its primary is down', evidence: { role: 'slave', connectedReplicas: 0, offset: 81_234_112, linkStatus: 'down', primary: 'redis-0.cache:6379' } },
        { task: 'memory', check: 'fragmentation', severity: 'warning', message: 'redis-0.cache:6379: 3.21G used, fragmentation ratio 1.74 (2416640000 bytes wasted)', evidence: { fragmentationRatio: 1.74, fragmentationBytes: 2_416_640_000, allocator: 'jemalloc-5.3.0' } },
      ],
    },
  },
  'dev.caretaker.snapshots.pruned': {
    data: {
      dryRun: false, capReached: false,
      policies: [
        {
          policy: 'csi-daily', kind: 'VolumeSnapshot', listed: 42, kept: 30, deleted: 11, failed: 1, deferred: 0,
          objects: [
            { namespace: 'databases', name: 'data-postgres-0-20261115', volume: 'databases/data-postgres-0', createdAt: '2026-11-15T01:00:00.000Z', ready: true, action: 'keep', reasons: ['daily 2026-11-15'] },
            { namespace: 'databases', name: 'data-postgres-0-20261101', volume: 'databases/data-postgres-0', createdAt: '2026-11-01T01:00:00.000Z', ready: true, action: 'deleted', reasons: ['kept by no rule'] },
            { namespace: 'databases', name: 'data-postgres-0-20261031', volume: 'databases/data-postgres-0', createdAt: '2026-10-31T01:00:00.000Z', ready: true, action: 'failed', reasons: ['kept by no rule', 'kubernetes: delete VolumeSnapshot databases/data-postgres-0-20261031: Conflict: the object has been modified'] },
          ],
        },
        {
          policy: 'longhorn-backups', kind: 'LonghornBackup', listed: 60, kept: 52, deleted: 8, failed: 0, deferred: 0,
          objects: [
            { namespace: 'longhorn-system', name: 'backup-3f1c0a9e', volume: 'pvc-1b2c3d4e', createdAt: '2026-08-20T02:00:00.000Z', ready: true, action: 'deleted', reasons: ['older than the maximum age'] },
          ],
        },
      ],
    },
  },
  'dev.caretaker.resources.cleaned': {
    data: {
      dryRun: false, capReached: false,
      counts: { keep: 23, deleted: 7, reported: 2 },
      objects: [
        { kind: 'Job', namespace: 'backups', name: 'postgres-backup-29398680', action: 'deleted', reasons: ['finished more than 7d ago'] },
        { kind: 'Job', namespace: 'backups', name: 'postgres-backup-29398560', action: 'deleted', reasons: ['finished more than 7d ago'] },
        { kind: 'Job', namespace: 'production', name: 'db-migrate-41', action: 'deleted', reasons: ['finished more than 7d ago'] },
        { kind: 'Job', namespace: 'production', name: 'db-migrate-40', action: 'deleted', reasons: ['finished more than 7d ago'] },
        { kind: 'ReplicaSet', namespace: 'production', name: 'api-6f8d9c7b4', action: 'deleted', reasons: ['beyond api\'s revision history of 3'] },
        { kind: 'ReplicaSet', namespace: 'production', name: 'api-5c7b8d6f9', action: 'deleted', reasons: ['beyond api\'s revision history of 3'] },
        { kind: 'ReplicaSet', namespace: 'production', name: 'worker-7b9c8d5f6', action: 'deleted', reasons: ['beyond worker\'s revision history of 3'] },
        { kind: 'PersistentVolumeClaim', namespace: 'production', name: 'data-old-search-0', action: 'reported', reasons: ['no Pod mounts it (deletion is not enabled)'] },
        { kind: 'PersistentVolumeClaim', namespace: 'staging', name: 'scratch-import', action: 'reported', reasons: ['no Pod mounts it (deletion is not enabled)'] },
        { kind: 'Job', namespace: 'backups', name: 'postgres-backup-29400120', action: 'keep', reasons: ['kept by its CronJob\'s history limits'] },
      ],
    },
  },
  'dev.caretaker.alert.remediated': {
    subject: 'KubePodCrashLooping',
    data: {
      alertname: 'KubePodCrashLooping', fingerprint: '5f1c2e9a7b3d4c60', rule: 'crash-looping-pod', target: 'production/deletePod:api-7d9c5-x2kqp,notify',
      reason: 'rule crash-looping-pod matched',
      actions: [
        { action: 'delete Pod', target: 'production/api-7d9c5-x2kqp', done: true, message: 'deleted Pod production/api-7d9c5-x2kqp' },
        { action: 'notify', done: true, message: 'deleted crash-looping pod production/api-7d9c5-x2kqp' },
      ],
    },
  },
  'dev.caretaker.alert.skipped': {
    subject: 'KubePodCrashLooping',
    data: {
      alertname: 'KubePodCrashLooping', fingerprint: '5f1c2e9a7b3d4c60', rule: 'crash-looping-pod', target: 'production/deletePod:api-7d9c5-x2kqp,notify',
      reason: 'cooldown: rule crash-looping-pod acted on production/deletePod:api-7d9c5-x2kqp,notify less than 30m ago',
    },
  },
  'dev.caretaker.alert.failed': {
    subject: 'KubePodCrashLooping',
    data: {
      alertname: 'KubePodCrashLooping', fingerprint: '5f1c2e9a7b3d4c60', rule: 'crash-looping-pod', target: 'production/deletePod:api-7d9c5-x2kqp,notify',
      reason: 'rule crash-looping-pod failed after 6 attempts: kubernetes: delete Pod production/api-7d9c5-x2kqp: Forbidden', error: 'dependency_failed', attempts: 6, actions: [],
    },
  },
  'dev.caretaker.alert.notification': {
    subject: 'production/api-7d9c5',
    data: { alertname: 'KubePodCrashLooping', severity: 'warning', message: 'deleted crash-looping pod production/api-7d9c5', rule: 'crash-looping-pod', labels: { namespace: 'production', pod: 'api-7d9c5' } },
  },
  'dev.caretaker.workload.restarted': {
    subject: 'production/api',
    data: {
      kind: 'Deployment', namespace: 'production', name: 'api', target: 'production/api', reason: 'connection pool stuck after the database failover', requestedBy: 'alice@example.org',
      rolled: true, rollout: 'deployment "api" successfully rolled out', healthy: true, healthStatus: 'HTTP 200',
      message: 'restarted Deployment production/api; deployment "api" successfully rolled out; http://api.production.svc:8080/healthz answered HTTP 200',
    },
  },
  'dev.caretaker.workload.restart.failed': {
    subject: 'production/api',
    data: {
      kind: 'Deployment', namespace: 'production', name: 'api', target: 'production/api', reason: 'connection pool stuck after the database failover', requestedBy: 'alice@example.org',
      rolled: false, rollout: 'deployment "api" exceeded its progress deadline: ReplicaSet "api-6c9f8d7b5" has timed out progressing.',
      message: 'restarted Deployment production/api (by an earlier attempt); deployment "api" exceeded its progress deadline: ReplicaSet "api-6c9f8d7b5" has timed out progressing.',
      error: 'dependency_failed', attempts: 6,
    },
  },
}

function merge(a: JsonSchema, b: JsonSchema): JsonSchema {
  const out: Record<string, unknown> = { ...a, ...b }
  if (a.properties || b.properties) out.properties = { ...(a.properties as object), ...(b.properties as object) }
  if (a.required || b.required) out.required = [...new Set([...(a.required as string[] ?? []), ...(b.required as string[] ?? [])])]
  return out as JsonSchema
}

/** One instance of a schema: every declared property, the first enum value, booleans false, minimums respected. */
export function exampleOf(schema: JsonSchema, name = 'value'): unknown {
  const s = schema as Record<string, unknown>
  if ('const' in s) return s.const
  if (Array.isArray(s.enum)) return s.enum[0]
  for (const k of ['oneOf', 'anyOf', 'allOf'] as const) {
    if (Array.isArray(s[k])) {
      const rest = Object.fromEntries(Object.entries(s).filter(([key]) => key !== k))
      const parts = s[k] as JsonSchema[]
      return exampleOf(k === 'allOf' ? parts.reduce(merge, rest as JsonSchema) : merge(rest as JsonSchema, parts[0]!), name)
    }
  }
  const type = Array.isArray(s.type) ? (s.type as string[]).find((x) => x !== 'null') : s.type as string | undefined
  switch (type ?? (s.properties ? 'object' : 'string')) {
    case 'object': {
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, JsonSchema>)) out[k] = exampleOf(v, k)
      if (Object.keys(out).length === 0 && s.additionalProperties && typeof s.additionalProperties === 'object') out.example = exampleOf(s.additionalProperties as JsonSchema, 'example')
      return out
    }
    case 'array': {
      const n = Math.max(1, Number(s.minItems ?? 1))
      return Array.from({ length: n }, () => exampleOf((s.items ?? {}) as JsonSchema, name))
    }
    case 'integer':
    case 'number':
      return Math.max(Number(s.minimum ?? 1), 1)
    case 'boolean':
      return false
    case 'null':
      return null
    default:
      if (s.format === 'date-time') return EXAMPLE_TIME
      if (s.format === 'uri' || /url$/i.test(name)) return `https://example.org/${name}`
      return `example-${name}`
  }
}

export function exampleData(type: string, schema: JsonSchema): { subject?: string; data: unknown } {
  return HANDWRITTEN[type] ?? { subject: 'example-subject', data: exampleOf(schema) }
}
