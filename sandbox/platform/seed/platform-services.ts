import { DAY, iso, type Ctx, type Obj } from './context.ts'
import { helmRelease } from './helm.ts'
import { backupCronJob } from './backup-jobs.ts'

/** kube-system (Traefik's Helm release, the etcd backup) and monitoring (a failing ExternalSecret, Grafana's release, PrometheusRules). */

export function seedKubeSystem(ctx: Ctx) {
  // K3s installs Traefik with Helm; one upgrade behind the demo chart repository (sandbox/platform/chart-repository).
  helmRelease(ctx, 'kube-system', 'traefik', 1, 'superseded', { name: 'traefik', version: '32.1.1', appVersion: 'v3.1.6' })
  helmRelease(ctx, 'kube-system', 'traefik', 2, 'deployed', { name: 'traefik', version: '33.0.0', appVersion: 'v3.2.0' })
  backupCronJob(ctx, 'kube-system', 'etcd-backup', { cron: '0 1 * * *', hour: 1, minute: 0 },
    { name: 'etcdctl', image: 'registry.k8s.io/etcd:3.5.21-0', command: ['/bin/sh', '-c', 'etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key snapshot save /backups/etcd/etcd_$(date +%Y%m%d_%H%M%S).db'], volumeMounts: [{ name: 'pki', mountPath: '/etc/kubernetes/pki/etcd', readOnly: true }, { name: 'backups', mountPath: '/backups' }] },
    [{ name: 'pki', hostPath: { path: '/etc/kubernetes/pki/etcd', type: 'Directory' } }, { name: 'backups', hostPath: { path: '/var/backups', type: 'DirectoryOrCreate' } }], ['Complete', 'Complete', 'Complete'])
}

export function seedMonitoring(ctx: Ctx) {
  // An ExternalSecret that has not synced for two days: its Vault path does not exist (health-report's NotReady:SecretSyncedError).
  // Not one of summary.externalSecrets, which lists the synced ones.
  const failedAt = iso(ctx.ago(2 * DAY))
  ctx.put({
    apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret',
    metadata: { name: 'grafana-admin', namespace: 'monitoring', labels: { 'app.kubernetes.io/managed-by': 'external-secrets' }, creationTimestamp: iso(ctx.ago(30 * DAY)) },
    spec: {
      refreshInterval: '1h',
      secretStoreRef: { kind: 'ClusterSecretStore', name: 'vault-backend' },
      target: { name: 'grafana-admin', creationPolicy: 'Owner', deletionPolicy: 'Retain' },
      data: [{ secretKey: 'admin-password', remoteRef: { key: 'monitoring/grafana/admin', property: 'password' } }],
    },
    status: {
      refreshTime: null,
      conditions: [{ type: 'Ready', status: 'False', reason: 'SecretSyncedError', message: 'could not get secret data from provider', lastTransitionTime: failedAt }],
    },
  })
  helmRelease(ctx, 'monitoring', 'grafana', 5, 'deployed', { name: 'grafana', version: '8.5.2', appVersion: '11.3.0' })
  const rule = (name: string, groups: Obj[]) => ctx.put({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name, namespace: 'monitoring', labels: { release: 'kube-prometheus-stack', 'app.kubernetes.io/part-of': 'caretaker' } }, spec: { groups } })
  rule('caretaker-backups', [{
    name: 'backups',
    rules: [
      { alert: 'BackupJobFailed', expr: 'kube_job_status_failed{job_name=~".*-backup-.*"} > 0', for: '5m', labels: { severity: 'warning' }, annotations: { summary: 'Backup Job {{ $labels.namespace }}/{{ $labels.job_name }} failed', runbook_url: 'https://runbooks.example.com/backups#job-failed' } },
      { alert: 'BackupTooOld', expr: 'time() - caretaker_backup_newest_artifact_timestamp_seconds > caretaker_backup_rpo_seconds', for: '30m', labels: { severity: 'critical' }, annotations: { summary: 'The newest {{ $labels.backup_set }} backup is older than its RPO' } },
      { alert: 'BackupVerificationFailed', expr: 'caretaker_backup_verification_result{result="failed"} == 1', labels: { severity: 'critical' }, annotations: { summary: 'Backup {{ $labels.backup_set }} failed verification' } },
    ],
  }])
  rule('platform-health', [{
    name: 'platform',
    rules: [
      { alert: 'KubePodCrashLooping', expr: 'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1', for: '15m', labels: { severity: 'warning' }, annotations: { summary: 'Pod {{ $labels.namespace }}/{{ $labels.pod }} is crash looping' } },
      { alert: 'CertificateExpiringSoon', expr: 'certmanager_certificate_expiration_timestamp_seconds - time() < 7 * 24 * 3600', for: '1h', labels: { severity: 'warning' }, annotations: { summary: 'Certificate {{ $labels.namespace }}/{{ $labels.name }} expires within a week' } },
      { alert: 'VaultSealed', expr: 'vault_core_unsealed == 0', for: '1m', labels: { severity: 'critical' }, annotations: { summary: 'Vault {{ $labels.instance }} is sealed' } },
      { record: 'namespace:container_cpu_usage_seconds:rate5m', expr: 'sum by (namespace) (rate(container_cpu_usage_seconds_total[5m]))' },
    ],
  }])
}
