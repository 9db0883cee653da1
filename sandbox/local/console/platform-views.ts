import { CustomObjectsApi, type KubeConfig } from '../../../shared/kubernetes/api.ts'
import { parseDuration } from '../../../shared/duration.ts'
import { kubernetesError } from '../../../shared/kubernetes/client.ts'
import { pages } from '../../../shared/kubernetes/listing.ts'
import { listArtifacts } from '../../../functions/verify-backup/artifacts.ts'
import type { VerifyBackupConfig } from '../../../functions/verify-backup/config.ts'
import { createdAt, type LonghornBackup } from '../../../functions/verify-backup/longhorn.ts'
import type { CertificateLike } from '../../../functions/health-report/findings.ts'

/**
 * What the console draws of the platform, read as the functions read it:
 * each backup set's newest artifact against its RPO (verify-backup's
 * config, its artifact listing and its reading of Longhorn Backups), and
 * each cert-manager Certificate's notAfter and Ready condition (what
 * health-report's certificates check judges). Names, times and states only.
 */

export interface BackupFreshness {
  readonly set: string
  readonly format: string
  /** A Longhorn set's volume; null for a set of files. */
  readonly item: string | null
  readonly rpoSeconds: number
  /** The newest artifact's age; null when there is none (or it could not be read: `error`). */
  readonly ageSeconds: number | null
  readonly newest: string | null
  readonly fresh: boolean
  readonly error?: string
}

const PAGE_SIZE = 500

export async function backupFreshness(config: VerifyBackupConfig, kubeConfig: KubeConfig | undefined, now: Date): Promise<BackupFreshness[]> {
  const rows: BackupFreshness[] = []
  for (const set of config.sets) {
    const rpoSeconds = (parseDuration(set.rpo) ?? 0) / 1000
    const row = (item: string | null, newest: { name: string; time: number } | undefined, error?: string): BackupFreshness => {
      const ageSeconds = newest ? Math.max(0, Math.round((now.getTime() - newest.time) / 1000)) : null
      return { set: set.name, format: set.format, item, rpoSeconds, ageSeconds, newest: newest?.name ?? null, fresh: ageSeconds !== null && ageSeconds <= rpoSeconds, ...(error ? { error } : {}) }
    }
    if (set.format === 'longhorn' && set.longhorn) {
      const namespace = set.longhorn.namespace
      let items: LonghornBackup[] = []
      let error: string | undefined
      if (!kubeConfig) error = 'no Kubernetes API to read Longhorn Backups from'
      else {
        try {
          const customs = kubeConfig.makeApiClient(CustomObjectsApi)
          for await (const b of pages<LonghornBackup>(`Longhorn Backups in ${namespace}`, PAGE_SIZE, (p) => customs.listNamespacedCustomObject({ group: 'longhorn.io', version: 'v1beta2', namespace, plural: 'backups', ...p }))) items.push(b)
        } catch (err) {
          error = kubernetesError(err, `list longhorn.io backups in ${namespace}`).message
          items = []
        }
      }
      for (const volume of set.longhorn.volumes) {
        const newest = items.filter((b) => b.status?.volumeName === volume && b.status.state === 'Completed').sort((a, b) => createdAt(b) - createdAt(a))[0]
        rows.push(row(volume, newest ? { name: newest.metadata?.name ?? '?', time: createdAt(newest) } : undefined, error))
      }
      continue
    }
    if (!set.directory) {
      rows.push(row(null, undefined, 'the set names no directory'))
      continue
    }
    try {
      const newest = (await listArtifacts(set.directory, set.pattern ?? '*', set.timestamp))[0]
      rows.push(row(null, newest ? { name: newest.name, time: newest.time.getTime() } : undefined))
    } catch (err) {
      rows.push(row(null, undefined, (err as Error).message))
    }
  }
  return rows
}

export interface CertificateState {
  readonly namespace: string
  readonly name: string
  readonly notAfter: string | null
  readonly ready: boolean
  /** The Ready condition's reason when not Ready. */
  readonly reason: string | null
}

/** Every Certificate the API serves; none (and a note) where cert-manager is not installed. */
export async function certificateStates(kubeConfig: KubeConfig): Promise<{ certificates: CertificateState[]; note?: string }> {
  const customs = kubeConfig.makeApiClient(CustomObjectsApi)
  const certificates: CertificateState[] = []
  try {
    for await (const cert of pages<CertificateLike>('Certificates', PAGE_SIZE, (p) => customs.listClusterCustomObject({ group: 'cert-manager.io', version: 'v1', plural: 'certificates', ...p }))) {
      const ready = cert.status?.conditions?.find((c) => c.type === 'Ready')
      certificates.push({
        namespace: cert.metadata?.namespace ?? '', name: cert.metadata?.name ?? '',
        notAfter: cert.status?.notAfter ?? null, ready: ready?.status === 'True',
        reason: ready?.status === 'True' ? null : ready?.reason ?? 'NoReadyCondition',
      })
    }
  } catch (err) {
    const e = kubernetesError(err, 'list Certificates')
    if (e.details?.code === 404) return { certificates, note: 'cert-manager is not installed: the cluster serves no Certificates' }
    throw e
  }
  return { certificates: certificates.sort((a, b) => (a.notAfter ?? '').localeCompare(b.notAfter ?? '')) }
}
