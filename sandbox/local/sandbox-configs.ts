import type { Target as DatabaseTarget } from '../../functions/maintain-databases/config.ts'
import { DEFAULT_RESTORE_JOB, type VerifyBackupConfig } from '../../functions/verify-backup/config.ts'
import { findPostgresBinDir } from '../../shared/postgres/throwaway.ts'
import type { DemoBackups, SeedSummary } from '../platform/index.ts'
import { EventTypes } from '../../shared/events/catalogue.ts'

/**
 * Each function's config in the sandbox, pointing at the demo platform: the
 * same shape as the ConfigMaps in manifests/, with the sandbox's paths and
 * names. A function with no entry here runs with its defaults.
 */
export interface SandboxFacts {
  readonly backups: DemoBackups
  readonly seeded: SeedSummary
  /** The volumes that have Longhorn Backup objects, and their namespace. */
  readonly longhorn?: { readonly namespace: string; readonly volumes: readonly string[] }
  /** A loopback chart repository serving the demo index.yaml (sandbox/platform/chart-repository), and the K3s channels. */
  readonly chartRepository?: string
  /** The demo Vault (the active node) and every node of its HA cluster. */
  readonly vault?: { readonly address: string; readonly members: readonly string[] }
  /** The sandbox's Alertmanager, when one is installed. */
  readonly alertmanager?: { readonly address: string }
  /** The demo PostgreSQL and Redis that run, with thresholds for their size (sandbox/platform/databases.ts). */
  readonly databases?: { readonly targets: readonly DatabaseTarget[]; readonly thresholds: Record<string, number> }
}

const FORMAT: Record<string, VerifyBackupConfig['sets'][number]['format']> = {
  'etcd-snapshot': 'etcd-snapshot',
  gzip: 'pg-dumpall-gzip',
  'redis-rdb': 'redis-rdb',
  'vault-raft': 'vault-raft-snapshot',
  'git-bundle': 'git-bundle',
}

const SET_NAME: Record<string, string> = { postgres: 'postgresql' }

function verifyBackup(facts: SandboxFacts): VerifyBackupConfig {
  const cronJobs = new Map(facts.seeded.backupJobs.map((j) => [j.cronJob, j.namespace]))
  const sets: VerifyBackupConfig['sets'] = facts.backups.sets.map((s) => {
    const cronJob = `${s.name}-backup`
    const namespace = cronJobs.get(cronJob)
    return {
      name: SET_NAME[s.name] ?? s.name,
      format: FORMAT[s.format]!,
      directory: s.dir,
      pattern: s.pattern,
      rpo: `${s.rpoHours}h`,
      minSizeBytes: 64,
      maxShrinkPercent: 50,
      ...(namespace ? { cronJob: { namespace, name: cronJob } } : {}),
      // The restore test needs PostgreSQL's server programs on this machine.
      ...(s.format === 'gzip' && findPostgresBinDir() ? { restore: { timeout: '5m', databases: [], queries: [] } } : {}),
    }
  })
  if (facts.longhorn && facts.longhorn.volumes.length > 0) {
    sets.push({ name: 'longhorn', format: 'longhorn', rpo: '24h', minSizeBytes: 1, maxShrinkPercent: 50, longhorn: { namespace: facts.longhorn.namespace, volumes: [...facts.longhorn.volumes] } })
  }
  // A set switched to restore.mode: job restores in a Job the simulator's kubelet stand-in runs, the demo backups as its claim.
  return { sets, restoreJob: { ...DEFAULT_RESTORE_JOB, backups: { claimName: 'backups', mountPath: facts.backups.dir } } }
}

/**
 * The daily check on the demo platform. Longhorn and ExternalSecrets are seeded: a degraded volume, one no backup
 * job covers, an ExternalSecret that does not sync. The Vault HA cluster has its standby sealed; the Alertmanager
 * (when installed) has the demo alerts firing. Without an Alertmanager the alerts check is left out.
 */
export function healthReportConfig(facts: Pick<SandboxFacts, 'seeded' | 'vault' | 'alertmanager'>): Record<string, unknown> {
  const backupCronJobs = [...new Map(facts.seeded.backupJobs.map((j) => [`${j.namespace}/${j.cronJob}`, j])).values()]
  return {
    namespaces: [...facts.seeded.namespaces],
    checks: [
      'nodes', 'pods', 'events', 'certificates', 'backups', 'pvcs', 'node-pressure', 'cordoned', 'disk-usage', 'resource-usage', 'commitment', 'workloads', 'pods-not-ready', 'restarts', 'longhorn', 'externalsecrets',
      ...(facts.vault ? ['vault'] : []),
      ...(facts.alertmanager ? ['alerts'] : []),
    ],
    backups: backupCronJobs.map((j) => ({ namespace: j.namespace, name: j.cronJob, window: j.schedule.split(/\s+/)[4] === '*' ? '24h' : '7d' })),
    ...(facts.vault ? { vault: { address: facts.vault.address, members: [...facts.vault.members], minStandbys: 1 } } : {}),
    ...(facts.alertmanager ? { alertmanager: { address: facts.alertmanager.address } } : {}),
  }
}

export function sandboxConfigs(facts: SandboxFacts): Record<string, unknown> {
  return {
    // The namespaces the demo's Certificates are in (renewals are only reported while the process runs in dry-run).
    'renew-certificate': { namespaces: [...new Set(facts.seeded.certificates.map((c) => c.namespace))].sort(), notReadyFor: '1h', expiryThreshold: '14d', cooldown: '6h' },
    'health-report': healthReportConfig(facts),
    'verify-backup': verifyBackup(facts),
    // The demo PostgreSQL and Redis, where they are installed (none otherwise: a request names none).
    'maintain-databases': facts.databases?.targets.length ? { targets: [...facts.databases.targets], thresholds: { ...facts.databases.thresholds } } : { targets: [] },
    // The demo's generated secrets (JWT signing key, session secret) with the runbooks' 180 days; the sandbox runs no PostgreSQL or Redis to rotate.
    'rotate-secret': {
      secrets: [
        { name: 'api-jwt', vault: { mount: 'secret', path: 'production/api/jwt' }, keys: ['signingKey'], interval: '180d', generate: { bytes: 48, encoding: 'base64' }, target: { kind: 'generated' }, externalSecrets: [{ namespace: 'production', name: 'api-jwt' }], consumers: [{ kind: 'Deployment', namespace: 'production', name: 'api' }] },
        { name: 'web-session', vault: { mount: 'secret', path: 'production/web/session' }, keys: ['sessionSecret'], interval: '180d', generate: { bytes: 48, encoding: 'base64' }, target: { kind: 'generated' }, externalSecrets: [{ namespace: 'production', name: 'web-session' }], consumers: [{ kind: 'Deployment', namespace: 'production', name: 'web' }] },
      ],
    },
    'clean-up-resources': { namespaces: ['production', 'databases'] },
    // The demo's Helm releases (traefik, grafana) against a loopback repository serving a fixture index; without one, against none (every release unknown).
    'check-updates': facts.chartRepository
      ? { namespaces: ['kube-system', 'monitoring'], repositories: [{ name: 'demo', url: `${facts.chartRepository}/charts` }], charts: { traefik: 'demo', grafana: 'demo' }, kubernetes: { channelsUrl: `${facts.chartRepository}/k3s/v1-release/channels` } }
      : { namespaces: ['kube-system', 'monitoring'], repositories: [] },
    // Every function listens on loopback here: the webhook takes no credentials (allowed only there).
    'alertmanager-bridge': { auth: 'none' },
    // The runbooks' example rules (manifests/respond-to-alert/config.yaml) on the sandbox's namespaces; no Alertmanager, so
    // no silences, and the alerts sent by hand cannot be confirmed with one (in a cluster they are).
    'respond-to-alert': {
      verifyAlerts: false,
      // Manual restarts of the demo's workloads (README: respond-to-alert, Manual restart). No workload of the demo
      // serves HTTP, so the Vault it runs stands for a health URL one may name besides the namespace's Services.
      manualRestart: { namespaces: ['production'], cooldown: '15m', healthUrls: facts.vault ? [`${facts.vault.address}/v1/sys/health`] : [] },
      rules: [
        { name: 'crash-looping-pod', matchers: ['alertname="KubePodCrashLooping"'], allowedNamespaces: ['production', 'databases'], actions: [{ type: 'deletePod', name: '{{ $labels.pod }}' }, { type: 'notify', message: 'deleted crash-looping pod {{ $labels.namespace }}/{{ $labels.pod }}' }] },
        { name: 'backup-job-failed', matchers: ['alertname="KubeJobFailed"', 'job_name=~".+-backup-[0-9]+"'], allowedNamespaces: ['databases', 'kube-system', 'vault'], actions: [{ type: 'runCronJob', fromJob: '{{ $labels.job_name }}' }] },
        { name: 'secret-exposed', matchers: ['alertname="SecretExposed"', 'secret!=""'], namespace: 'caretaker', allowedNamespaces: ['caretaker'], actions: [{ type: 'request', eventType: EventTypes.SecretRotateRequested, data: { secret: '{{ $labels.secret }}', reason: 'alert SecretExposed' } }] },
        { name: 'vault-sealed', matchers: ['alertname="VaultSealed"'], namespace: 'vault', allowedNamespaces: ['vault'], actions: [{ type: 'notify', message: 'Vault {{ $labels.instance }} is sealed: unseal it (human step)' }] },
      ],
    },
    // The demo's snapshots, with the shipped retention (the process runs in dry-run unless told otherwise).
    'prune-snapshots': {
      policies: [
        { name: 'volume-snapshots', kind: 'VolumeSnapshot', namespaces: [...new Set(facts.seeded.snapshots.filter((s) => s.kind === 'VolumeSnapshot').map((s) => s.namespace))], keepDaily: 30, maxAge: '30d', grace: '6h', timeZone: 'Etc/UTC' },
        { name: 'longhorn-backups', kind: 'LonghornBackup', namespaces: [...new Set(facts.seeded.snapshots.filter((s) => s.kind === 'Backup').map((s) => s.namespace))], keepDaily: 14, maxAge: '14d', grace: '6h', timeZone: 'Etc/UTC' },
      ].filter((p) => p.namespaces.length > 0),
    },
    // The demo's monitoring namespace (where the shipped RBAC lets it read), archived beside the demo backups; no Grafana runs in the sandbox.
    'back-up-configuration': {
      output: { directory: `${facts.backups.dir}/configuration`, prefix: 'configuration', keep: 30 },
      parts: ['prometheusrules', 'configmaps'],
      kubernetes: { namespaces: ['monitoring'] },
    },
    // Every outcome to the log; warnings and worse also to a Mattermost hook that is set only when NOTIFY_MATTERMOST_URL is (else reported as not configured).
    notify: {
      cluster: 'sandbox',
      channels: [{ name: 'log', kind: 'log' }, { name: 'mattermost', kind: 'mattermost', url: { env: 'NOTIFY_MATTERMOST_URL' } }],
      routes: [{ types: ['dev.caretaker.*'], minSeverity: 'info', channels: ['log'] }, { types: ['dev.caretaker.*'], minSeverity: 'warning', channels: ['mattermost'] }],
    },
  }
}
