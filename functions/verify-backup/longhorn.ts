import { CustomObjectsApi, type KubeConfig } from '../../shared/kubernetes/api.ts'
import { formatDuration, parseDuration } from '../../shared/duration.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import type { BackupSet } from './config.ts'
import { CheckRun, depthVerdict, report, sizeVerdict, type CheckVerdict, type SetReport } from './verify.ts'

/**
 * A Longhorn set is verified through the Kubernetes API: for each volume,
 * the newest Backup object (longhorn.io/v1beta2) must be Completed, newer
 * than the RPO, and not shrunk beyond the tolerance against the one before;
 * with a `retention`, its Completed backups must reach back that far, no further.
 */

export interface LonghornBackup {
  metadata?: { name?: string; creationTimestamp?: string | Date }
  status?: { state?: string; volumeName?: string; backupCreatedAt?: string; size?: string; error?: string; url?: string }
}

/** When a Longhorn Backup was taken: its backupCreatedAt, else when its object was made (ms since the epoch). */
export function createdAt(b: LonghornBackup): number {
  const t = b.status?.backupCreatedAt ? Date.parse(b.status.backupCreatedAt) : NaN
  if (!Number.isNaN(t)) return t
  const c = b.metadata?.creationTimestamp
  return c ? new Date(c).getTime() : 0
}

function withVolume(volume: string, verdict: CheckVerdict): CheckVerdict {
  return { ...verdict, evidence: { volume, ...verdict.evidence } }
}

export async function verifyLonghornSet(set: BackupSet, kubeConfig: KubeConfig | undefined, now: Date): Promise<SetReport> {
  const started = performance.now()
  const run = new CheckRun()
  const namespace = set.longhorn!.namespace
  let items: LonghornBackup[] = []
  const listed = await run.run('longhorn', async () => {
    if (!kubeConfig) return { ok: false, message: 'no Kubernetes API configured: Longhorn backups cannot be read', evidence: {} }
    try {
      const api = kubeConfig.makeApiClient(CustomObjectsApi)
      const list = await api.listNamespacedCustomObject({ group: 'longhorn.io', version: 'v1beta2', namespace, plural: 'backups' }) as { items?: LonghornBackup[] }
      items = list.items ?? []
      return { ok: true, message: `${items.length} Backup object(s) in ${namespace}`, evidence: { namespace, count: items.length } }
    } catch (err) {
      const e = kubernetesError(err, `list longhorn.io backups in ${namespace}`)
      return { ok: false, message: e.message, evidence: { namespace } }
    }
  })
  if (!listed) return report(set, run, started, now)

  const rpoMs = parseDuration(set.rpo)!
  for (const volume of set.longhorn!.volumes) {
    const backups = items.filter((b) => b.status?.volumeName === volume).sort((a, b) => createdAt(b) - createdAt(a))
    const newest = backups[0]
    await run.run('presence', () => newest
      ? { ok: true, message: `${volume}: newest backup ${newest.metadata?.name ?? '?'}`, evidence: { volume, count: backups.length, backup: newest.metadata?.name ?? null } }
      : { ok: false, message: `${volume}: no Longhorn backup found`, evidence: { volume, count: 0 } })
    if (!newest) break
    await run.run('integrity', () => newest.status?.state === 'Completed'
      ? { ok: true, message: `${volume}: ${newest.metadata?.name} is Completed`, evidence: { volume, state: 'Completed', url: newest.status.url ?? null } }
      : { ok: false, message: `${volume}: newest backup ${newest.metadata?.name} is ${newest.status?.state || 'in no state'}${newest.status?.error ? `: ${newest.status.error}` : ''}`, evidence: { volume, state: newest.status?.state ?? null } })
    const ageMs = now.getTime() - createdAt(newest)
    await run.run('age', () => ({
      ok: ageMs <= rpoMs,
      message: ageMs <= rpoMs ? `${volume}: ${formatDuration(ageMs)} old` : `${volume}: the newest backup is ${formatDuration(ageMs)} old, older than the RPO of ${set.rpo}`,
      evidence: { volume, ageSeconds: Math.round(ageMs / 1000), rpoSeconds: rpoMs / 1000 },
    }))
    const size = Number(newest.status?.size ?? NaN)
    const previous = backups.slice(1).find((b) => b.status?.state === 'Completed')
    const previousSize = Number(previous?.status?.size ?? NaN)
    await run.run('size', () => Number.isNaN(size)
      ? { ok: true, message: `${volume}: size not reported`, evidence: { volume, size: null, previousSize: Number.isNaN(previousSize) ? null : previousSize } }
      : withVolume(volume, sizeVerdict(set, { name: newest.metadata?.name ?? '?', size }, Number.isNaN(previousSize) ? undefined : { name: previous?.metadata?.name ?? '?', size: previousSize }, `${volume}: `)))
    // The volume's depth: its Completed backups against the set's retention (Longhorn's RecurringJob `retain`).
    if (set.retention) {
      const completed = backups.filter((b) => b.status?.state === 'Completed').map((b) => ({ name: b.metadata?.name ?? '?', time: new Date(createdAt(b)) }))
      await run.run('depth', () => withVolume(volume, depthVerdict(set, completed, now, `${volume}: `)))
    }
    if (run.failed) break
  }
  return report(set, run, started, now)
}
