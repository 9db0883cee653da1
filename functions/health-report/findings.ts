import type { CoreV1Event, V1Job, V1Node, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node'
import type { HealthCheck } from './config.ts'

/**
 * The daily check's judgements, one pure function per kind of object: what
 * counts as a problem, how severe, and how it reads. The code that lists
 * objects and asks Vault feeds them; nothing here calls anything.
 */

export type Severity = 'warning' | 'critical'

export interface Finding {
  check: HealthCheck
  severity: Severity
  object: { kind: string; namespace?: string; name: string }
  reason: string
  message: string
  count?: number
  since?: string
  lastSeen?: string
}

const CHECK_ORDER: readonly HealthCheck[] = [
  'nodes', 'vault', 'backups', 'certificates', 'pods', 'pvcs', 'events',
  'node-pressure', 'disk-usage', 'workloads', 'resource-usage', 'commitment', 'restarts', 'pods-not-ready', 'cordoned',
  'alerts', 'longhorn', 'externalsecrets',
]

function time(value: Date | string | undefined | null): Date | undefined {
  if (value === undefined || value === null) return undefined
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? undefined : d
}

const iso = (d: Date | undefined) => d?.toISOString()
const ns = (namespace: string | undefined) => (namespace ? { namespace } : {})

/** A node whose Ready condition is not True (False, or Unknown when its kubelet stopped reporting). */
export function nodeFinding(node: V1Node): Finding | undefined {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')
  if (ready?.status === 'True') return undefined
  const since = iso(time(ready?.lastTransitionTime))
  return {
    check: 'nodes', severity: 'critical', object: { kind: 'Node', name: node.metadata?.name ?? '' },
    reason: ready ? (ready.reason ?? `Ready=${ready.status}`) : 'NoReadyCondition',
    message: ready?.message ?? 'the node reports no Ready condition',
    ...(since ? { since } : {}),
  }
}

/**
 * What `kubectl get pods` shows in its STATUS column: the pod's reason,
 * else an init container's or a container's waiting or terminated reason,
 * else the phase.
 */
export function podStatus(pod: V1Pod): { status: string; message?: string } {
  let status = pod.status?.reason ?? pod.status?.phase ?? 'Unknown'
  let message = pod.status?.message
  const inits = pod.status?.initContainerStatuses ?? []
  const initCount = pod.spec?.initContainers?.length ?? inits.length
  let initializing = false
  for (const [i, c] of inits.entries()) {
    const term = c.state?.terminated
    if (term && term.exitCode === 0) continue
    initializing = true
    if (term) status = `Init:${term.reason ?? (term.signal ? `Signal:${term.signal}` : `ExitCode:${term.exitCode}`)}`
    else if (c.state?.waiting?.reason && c.state.waiting.reason !== 'PodInitializing') status = `Init:${c.state.waiting.reason}`
    else status = `Init:${i}/${initCount}`
    message = term?.message ?? c.state?.waiting?.message ?? message
    break
  }
  if (!initializing) {
    let running = false
    for (const c of [...(pod.status?.containerStatuses ?? [])].reverse()) {
      if (c.state?.waiting?.reason) { status = c.state.waiting.reason; message = c.state.waiting.message ?? message }
      else if (c.state?.terminated?.reason) { status = c.state.terminated.reason; message = c.state.terminated.message ?? message }
      else if (c.state?.terminated) status = c.state.terminated.signal ? `Signal:${c.state.terminated.signal}` : `ExitCode:${c.state.terminated.exitCode}`
      else if (c.state?.running && c.ready) running = true
    }
    // A Running pod whose last container completed still reads Running while another one runs.
    if (status === 'Completed' && running) status = 'Running'
  }
  if (pod.metadata?.deletionTimestamp) status = pod.status?.reason === 'NodeLost' ? 'Unknown' : 'Terminating'
  return { status, ...(message ? { message } : {}) }
}

const STARTING = new Set(['Pending', 'ContainerCreating', 'PodInitializing', 'Terminating'])

/** A pod neither Running nor Completed (as kubectl shows it), with its reason; one still starting is given the grace. */
export function podFinding(pod: V1Pod, now: Date, graceMs: number): Finding | undefined {
  const phase = pod.status?.phase
  const { status, message } = podStatus(pod)
  if ((phase === 'Running' && status === 'Running') || (phase === 'Succeeded' && (status === 'Completed' || status === 'Succeeded'))) return undefined
  const created = time(pod.metadata?.creationTimestamp)
  const starting = STARTING.has(status) || status.startsWith('Init:') && /^Init:\d+\/\d+$/.test(status)
  if (starting && created && now.getTime() - created.getTime() < graceMs) return undefined
  const since = iso(time(pod.status?.startTime) ?? created)
  return {
    check: 'pods', severity: 'warning', object: { kind: 'Pod', ...ns(pod.metadata?.namespace), name: pod.metadata?.name ?? '' },
    reason: status,
    message: `phase ${phase ?? 'unknown'}${message ? `: ${message}` : ''}`,
    ...(since ? { since } : {}),
  }
}

/** When an Event last happened: the newest of its timestamps. */
export function eventLastSeen(event: CoreV1Event): Date | undefined {
  return time(event.series?.lastObservedTime) ?? time(event.lastTimestamp) ?? time(event.eventTime) ?? time(event.metadata?.creationTimestamp)
}

/** Warning events within the window, grouped by reason and object: how many times, first and last seen, the latest message. */
export class WarningEventGroups {
  readonly #groups = new Map<string, Finding & { firstSeen: Date; last: Date }>()

  readonly #now: Date
  readonly #windowMs: number

  constructor(now: Date, windowMs: number) {
    this.#now = now
    this.#windowMs = windowMs
  }

  add(event: CoreV1Event): void {
    if (event.type !== 'Warning') return
    const last = eventLastSeen(event)
    if (!last || this.#now.getTime() - last.getTime() > this.#windowMs) return
    const first = time(event.firstTimestamp) ?? time(event.eventTime) ?? last
    const o = event.involvedObject
    const reason = event.reason ?? 'Unknown'
    const key = [reason, o.kind, o.namespace ?? '', o.name].join('\0')
    const count = Math.max(1, event.series?.count ?? event.count ?? 1)
    const group = this.#groups.get(key)
    if (!group) {
      this.#groups.set(key, {
        check: 'events', severity: 'warning', object: { kind: o.kind ?? 'Unknown', ...ns(o.namespace), name: o.name ?? '' },
        reason, message: event.message ?? '', count, firstSeen: first, last,
      })
      return
    }
    group.count = (group.count ?? 0) + count
    if (first < group.firstSeen) group.firstSeen = first
    if (last >= group.last) { group.last = last; group.message = event.message ?? group.message }
  }

  findings(): Finding[] {
    return [...this.#groups.values()].map(({ firstSeen, last, ...f }) => ({ ...f, since: firstSeen.toISOString(), lastSeen: last.toISOString() }))
  }
}

/** The part of a cert-manager Certificate the check reads. */
export interface CertificateLike {
  metadata?: { name?: string; namespace?: string }
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }>; notAfter?: string }
}

/** A Certificate not Ready, and one expiring within the threshold (or expired): up to two findings. */
export function certificateFindings(cert: CertificateLike, now: Date, expiryMs: number): Finding[] {
  const object = { kind: 'Certificate', ...ns(cert.metadata?.namespace), name: cert.metadata?.name ?? '' }
  const out: Finding[] = []
  const ready = cert.status?.conditions?.find((c) => c.type === 'Ready')
  if (ready?.status !== 'True') {
    const since = iso(time(ready?.lastTransitionTime))
    out.push({ check: 'certificates', severity: 'warning', object, reason: ready?.reason ? `NotReady:${ready.reason}` : 'NotReady', message: ready?.message ?? 'the Certificate has no Ready condition yet', ...(since ? { since } : {}) })
  }
  const notAfter = time(cert.status?.notAfter)
  if (notAfter) {
    const left = notAfter.getTime() - now.getTime()
    if (left <= 0) out.push({ check: 'certificates', severity: 'critical', object, reason: 'Expired', message: `expired at ${notAfter.toISOString()}` })
    else if (left < expiryMs) out.push({ check: 'certificates', severity: 'warning', object, reason: 'Expiring', message: `expires at ${notAfter.toISOString()}, in ${Math.floor(left / 86_400_000)} days` })
  }
  return out
}

/** What Vault's sys/health answered (or that it could not be reached). */
export type VaultHealth =
  | { reachable: true; status: number; sealed?: boolean; initialized?: boolean; standby?: boolean; version?: string }
  | { reachable: false; error: string }

export function vaultFinding(address: string, health: VaultHealth): Finding | undefined {
  const object = { kind: 'Vault', name: address }
  if (!health.reachable) return { check: 'vault', severity: 'critical', object, reason: 'Unreachable', message: `sys/health could not be read: ${health.error}` }
  const s = health.status
  // 200 active, 429 standby, 472 DR secondary, 473 performance standby: all healthy.
  if ([200, 429, 472, 473].includes(s) && health.sealed !== true) return undefined
  if (s === 501 || health.initialized === false) return { check: 'vault', severity: 'critical', object, reason: 'NotInitialized', message: 'Vault is not initialized' }
  if (s === 503 || health.sealed === true) return { check: 'vault', severity: 'critical', object, reason: 'Sealed', message: 'Vault is sealed: unseal it with the unseal keys (a human step)' }
  return { check: 'vault', severity: 'critical', object, reason: 'Unhealthy', message: `sys/health answered HTTP ${s}` }
}

export type JobOutcome = 'succeeded' | 'failed' | 'running'

export function jobOutcome(job: V1Job): JobOutcome {
  const conditions = job.status?.conditions ?? []
  if (conditions.some((c) => c.type === 'Complete' && c.status === 'True')) return 'succeeded'
  if (conditions.some((c) => c.type === 'Failed' && c.status === 'True')) return 'failed'
  return 'running'
}

function jobStarted(job: V1Job): Date | undefined {
  return time(job.status?.startTime) ?? time(job.metadata?.creationTimestamp)
}

/** A backup CronJob's Jobs started within its window, oldest first. */
function backupJobsInWindow(cronJob: { name: string }, jobs: V1Job[], now: Date, windowMs: number): Array<{ job: V1Job; started: Date }> {
  return jobs
    .filter((j) => j.metadata?.ownerReferences?.some((o) => o.kind === 'CronJob' && o.name === cronJob.name))
    .map((job) => ({ job, started: jobStarted(job) }))
    .filter((j): j is { job: V1Job; started: Date } => j.started !== undefined && now.getTime() - j.started.getTime() <= windowMs)
    .sort((a, b) => a.started.getTime() - b.started.getTime())
}

/** For the weekly digest: a backup CronJob's Jobs in its window that failed and that succeeded (running ones in neither). */
export function backupJobCounts(cronJob: { name: string }, jobs: V1Job[], now: Date, windowMs: number): { failed: number; succeeded: number } {
  const outcomes = backupJobsInWindow(cronJob, jobs, now, windowMs).map((j) => jobOutcome(j.job))
  return { failed: outcomes.filter((o) => o === 'failed').length, succeeded: outcomes.filter((o) => o === 'succeeded').length }
}

/**
 * A backup CronJob's Jobs in its window: each failed Job that no later
 * success made good, or, when no Job ran in the window at all, that the
 * backup is missing.
 */
export function backupFindings(cronJob: { namespace: string; name: string }, jobs: V1Job[], now: Date, windowMs: number): Finding[] {
  const recent = backupJobsInWindow(cronJob, jobs, now, windowMs)
  const object = { kind: 'CronJob', namespace: cronJob.namespace, name: cronJob.name }
  if (recent.length === 0) {
    const hours = Math.round(windowMs / 3_600_000)
    return [{ check: 'backups', severity: 'critical', object, reason: 'BackupMissing', message: `no backup Job started in the last ${hours} h` }]
  }
  const lastSuccess = recent.filter((j) => jobOutcome(j.job) === 'succeeded').at(-1)?.started
  return recent
    .filter((j) => jobOutcome(j.job) === 'failed' && !(lastSuccess && lastSuccess > j.started))
    .map(({ job, started }) => {
      const failed = job.status?.conditions?.find((c) => c.type === 'Failed')
      return {
        check: 'backups' as const, severity: 'critical' as const,
        object: { kind: 'Job', namespace: cronJob.namespace, name: job.metadata?.name ?? '' },
        reason: 'BackupFailed',
        message: `backup Job of CronJob ${cronJob.name} failed${failed?.reason ? ` (${failed.reason}${failed.message ? `: ${failed.message}` : ''})` : ''}`,
        since: started.toISOString(),
      }
    })
}

/** A PVC still Pending after the grace. */
export function pvcFinding(pvc: V1PersistentVolumeClaim, now: Date, graceMs: number): Finding | undefined {
  if (pvc.status?.phase !== 'Pending') return undefined
  const created = time(pvc.metadata?.creationTimestamp)
  if (created && now.getTime() - created.getTime() < graceMs) return undefined
  return {
    check: 'pvcs', severity: 'warning', object: { kind: 'PersistentVolumeClaim', ...ns(pvc.metadata?.namespace), name: pvc.metadata?.name ?? '' },
    reason: 'Pending',
    message: `Pending${pvc.spec?.storageClassName ? ` (storage class ${pvc.spec.storageClassName})` : ''}${created ? ` since ${created.toISOString()}` : ''}`,
    ...(created ? { since: created.toISOString() } : {}),
  }
}

/** healthy with no finding, critical with any critical one, degraded otherwise. */
export function overallStatus(findings: Finding[]): 'healthy' | 'degraded' | 'critical' {
  return statusFromCounts({ critical: findings.filter((f) => f.severity === 'critical').length, warning: findings.filter((f) => f.severity === 'warning').length })
}

export function statusFromCounts(counts: Record<Severity, number>): 'healthy' | 'degraded' | 'critical' {
  if (counts.critical > 0) return 'critical'
  return counts.warning > 0 ? 'degraded' : 'healthy'
}

/** The report's order: by check (the most urgent kinds first), critical before warning, then by object. */
export function sortFindings(findings: Finding[]): Finding[] {
  const key = (f: Finding) => [f.object.namespace ?? '', f.object.kind, f.object.name, f.reason].join('\0')
  return [...findings].sort((a, b) =>
    CHECK_ORDER.indexOf(a.check) - CHECK_ORDER.indexOf(b.check)
    || (a.severity === b.severity ? 0 : a.severity === 'critical' ? -1 : 1)
    || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
}

/**
 * The report's findings, bounded whatever the cluster's size: every finding
 * is counted (by check and severity), and at most `limit` are kept for the
 * reply, critical ones first, so a cluster with 20,000 failing pods answers
 * with the counts and the first few hundred, not a 10 MB event nobody can
 * deliver. Memory holds at most twice the limit.
 */
export class FindingList {
  readonly #limit: number
  readonly #kept: Record<Severity, Finding[]> = { critical: [], warning: [] }
  readonly #counts = new Map<string, number>()
  readonly #omitted: Record<Severity, number> = { critical: 0, warning: 0 }

  constructor(limit: number) {
    this.#limit = limit
  }

  add(f: Finding | undefined): void {
    if (!f) return
    const key = `${f.check}\0${f.severity}`
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1)
    const kept = this.#kept[f.severity]
    if (kept.length < this.#limit) kept.push(f)
    else this.#omitted[f.severity]++
  }

  count(check: HealthCheck, severity: Severity): number {
    return this.#counts.get(`${check}\0${severity}`) ?? 0
  }

  total(severity: Severity): number {
    return this.#kept[severity].length + this.#omitted[severity]
  }

  /** At most the limit, critical first, in the report's order; and how many of each severity were left out. */
  result(): { findings: Finding[]; omitted?: Record<Severity, number> } {
    const critical = this.#kept.critical
    const warning = this.#kept.warning.slice(0, Math.max(0, this.#limit - critical.length))
    const omitted = { critical: this.#omitted.critical, warning: this.#omitted.warning + this.#kept.warning.length - warning.length }
    return { findings: sortFindings([...critical, ...warning]), ...(omitted.critical + omitted.warning > 0 ? { omitted } : {}) }
  }
}
