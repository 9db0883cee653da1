import type { V1Job } from '@kubernetes/client-node'
import type { AppsV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '../../../shared/kubernetes/api.ts'
import { CaretakerError } from '../../../shared/errors.ts'
import { listInNamespaces } from '../../../shared/kubernetes/listing.ts'
import type { HealthPolicy, HealthReportConfig } from '../config.ts'
import {
  backupFindings, backupJobCounts, certificateFindings, nodeFinding, podFinding, pvcFinding, vaultFinding,
  WarningEventGroups, type CertificateLike, type Finding, type VaultHealth,
} from '../findings.ts'
import { pages } from '../listing.ts'
import { vaultHaCheck } from '../platform.ts'
import type { DayFigures } from './digest.ts'

/**
 * The report's basic checks, one function each: what each lists, handed
 * to the pure judgements of findings.ts. Each returns how many objects it
 * looked at; a check that cannot run says why through `skip`.
 */

/** What every check of one report reads with and reports to. */
export interface CheckScope {
  config: HealthReportConfig
  policy: HealthPolicy
  core: CoreV1Api
  batch: BatchV1Api
  apps: AppsV1Api
  customs: CustomObjectsApi
  kubeConfig: KubeConfig
  /** The configured namespaces, or `[undefined]` for the whole cluster. */
  scopes: Array<string | undefined>
  /** Many namespaces: one cluster-wide list kept to them where the RBAC allows it (shared/kubernetes/listing.ts). */
  listing: { kubeConfig: KubeConfig; namespaces: string[] | undefined; pageSize: number }
  now: Date
  add: (f: Finding | undefined) => void
  /** This check cannot run here, and why. */
  skip: (reason: string) => void
  /** Raw figures for the day's record (the weekly digest's trends), from what the checks read anyway. */
  figures: DayFigures
}

interface Paging { limit: number; _continue?: string }

const where = (namespace: string | undefined) => (namespace ? ` in ${namespace}` : '')

/** Nodes not Ready. */
export async function checkNodes(s: CheckScope): Promise<number> {
  let seen = 0
  for await (const node of pages('Nodes', s.config.pageSize, (p) => s.core.listNode(p))) { seen++; s.add(nodeFinding(node)) }
  return seen
}

/** Pods neither Running nor Completed past the grace period. */
export async function checkPods(s: CheckScope): Promise<number> {
  let seen = 0
  for await (const pod of listInNamespaces({ ...s.listing, what: 'Pods', resource: { group: '', resource: 'pods' }, namespaced: (namespace, p) => s.core.listNamespacedPod({ namespace, ...p }), clusterWide: (p) => s.core.listPodForAllNamespaces(p) })) { seen++; s.add(podFinding(pod, s.now, s.policy.graceMs)) }
  return seen
}

/** The last day's Warning events, grouped. */
export async function checkEvents(s: CheckScope): Promise<number> {
  let seen = 0
  const groups = new WarningEventGroups(s.now, s.policy.eventWindowMs)
  const fieldSelector = 'type=Warning'
  for await (const event of listInNamespaces({ ...s.listing, what: 'Warning Events', resource: { group: '', resource: 'events' }, namespaced: (namespace, p) => s.core.listNamespacedEvent({ namespace, fieldSelector, ...p }), clusterWide: (p) => s.core.listEventForAllNamespaces({ fieldSelector, ...p }) })) { seen++; groups.add(event) }
  groups.findings().forEach(s.add)
  return seen
}

/** Certificates not Ready or expiring; skipped where cert-manager is not installed. */
export async function checkCertificates(s: CheckScope): Promise<number> {
  let seen = 0
  try {
    for (const namespace of s.scopes) {
      const target = { group: 'cert-manager.io', version: 'v1', plural: 'certificates' }
      const list = namespace ? (p: Paging) => s.customs.listNamespacedCustomObject({ ...target, namespace, ...p }) : (p: Paging) => s.customs.listClusterCustomObject({ ...target, ...p })
      for await (const cert of pages<CertificateLike>(`Certificates${where(namespace)}`, s.config.pageSize, list)) {
        seen++
        certificateFindings(cert, s.now, s.policy.certificateExpiryMs).forEach(s.add)
      }
    }
  } catch (err) {
    if (!(err instanceof CaretakerError && err.details?.code === 404)) throw err
    s.skip('cert-manager is not installed: the cluster serves no Certificates')
  }
  return seen
}

/** Vault sealed or unhealthy; when healthy, its HA members. */
export async function checkVault(s: CheckScope): Promise<number> {
  if (!s.config.vault) { s.skip('no Vault address is configured'); return 0 }
  const health = vaultFinding(s.config.vault.address, await vaultHealth(s.config, s.policy, s.config.vault.address))
  s.add(health)
  if (!health) (await vaultHaCheck(s.config.vault, s.policy)).forEach(s.add)
  return 1 + s.config.vault.members.length
}

/** GET /v1/sys/health, a standby counting as healthy; unreachable says why. */
export async function vaultHealth(config: HealthReportConfig, policy: HealthPolicy, address: string): Promise<VaultHealth> {
  const url = `${address.replace(/\/+$/, '')}/v1/sys/health?standbyok=true&perfstandbyok=true`
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(policy.vaultTimeoutMs), redirect: 'error' })
    const body = await res.json().catch(() => ({})) as { sealed?: boolean; initialized?: boolean; standby?: boolean; version?: string }
    return {
      reachable: true, status: res.status,
      ...(typeof body.sealed === 'boolean' ? { sealed: body.sealed } : {}),
      ...(typeof body.initialized === 'boolean' ? { initialized: body.initialized } : {}),
      ...(typeof body.standby === 'boolean' ? { standby: body.standby } : {}),
      ...(typeof body.version === 'string' ? { version: body.version } : {}),
    }
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } }
    const error = e.name === 'TimeoutError' ? `no answer within ${config.vault?.timeout ?? ''}` : (e.cause?.code ?? e.name)
    return { reachable: false, error }
  }
}

/** The configured backup CronJobs' Jobs: failed or missing within their windows; their counts for the day's record. */
export async function checkBackups(s: CheckScope): Promise<number> {
  const { config } = s
  let seen = 0
  const byNamespace = new Map<string, V1Job[]>()
  for (const namespace of new Set(config.backups.map((b) => b.namespace))) {
    const jobs: V1Job[] = []
    for await (const job of pages(`Jobs in ${namespace}`, config.pageSize, (p) => s.batch.listNamespacedJob({ namespace, ...p }))) {
      if (job.metadata?.ownerReferences?.some((o) => o.kind === 'CronJob' && config.backups.some((b) => b.namespace === namespace && b.name === o.name))) jobs.push(job)
    }
    byNamespace.set(namespace, jobs)
  }
  const jobCounts = { failed: 0, succeeded: 0 }
  config.backups.forEach((b, i) => {
    seen++
    const jobs = byNamespace.get(b.namespace) ?? []
    backupFindings(b, jobs, s.now, s.policy.backupWindowMs[i]!).forEach(s.add)
    const n = backupJobCounts(b, jobs, s.now, s.policy.backupWindowMs[i]!)
    jobCounts.failed += n.failed
    jobCounts.succeeded += n.succeeded
  })
  s.figures.backupJobs = jobCounts
  return seen
}

/** PVCs stuck Pending. */
export async function checkPvcs(s: CheckScope): Promise<number> {
  let seen = 0
  for await (const pvc of listInNamespaces({ ...s.listing, what: 'PersistentVolumeClaims', resource: { group: '', resource: 'persistentvolumeclaims' }, namespaced: (namespace, p) => s.core.listNamespacedPersistentVolumeClaim({ namespace, ...p }), clusterWide: (p) => s.core.listPersistentVolumeClaimForAllNamespaces(p) })) { seen++; s.add(pvcFinding(pvc, s.now, s.policy.graceMs)) }
  return seen
}
