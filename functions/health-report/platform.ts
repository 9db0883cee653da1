import type { CustomObjectsApi } from '@kubernetes/client-node'
import { CaretakerError } from '../../shared/errors.ts'
import type { HealthPolicy, HealthReportConfig } from './config.ts'
import type { Finding, VaultHealth } from './findings.ts'
import { pages } from './listing.ts'
import { alertFindings, type AlertLike, type AlertSummary } from './checks/alerts.ts'
import { externalSecretFinding, type ExternalSecretLike } from './checks/external-secrets.ts'
import { volumeBackupFinding, volumeHealthFinding, type LonghornVolumeLike, type RecurringJobLike } from './checks/longhorn.ts'
import { vaultHaFindings, type VaultLeader } from './checks/vault-ha.ts'

/**
 * The platform checks' reading: Alertmanager, Longhorn, external-secrets and
 * Vault's HA endpoints. Each returns the findings the pure judgements in
 * checks/ make, how many objects it read, or why it was skipped. A missing
 * CRD is a skip, not an error; an API that fails is an error (Knative
 * retries the report).
 */

export type CheckResult = { findings: Finding[]; seen: number; alerts?: AlertSummary } | { skipped: string }

type Paging = { limit: number; _continue?: string }
const where = (namespace: string | undefined) => (namespace ? ` in ${namespace}` : '')
const notServed = (err: unknown) => err instanceof CaretakerError && err.details?.code === 404

interface Answer { status: number; body: unknown }

/** GET a JSON document with a timeout; a transport failure is returned as text, never thrown. */
async function getJson(url: string, timeoutMs: number, timeoutText: string): Promise<Answer | { error: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error', headers: { accept: 'application/json' } })
    const body = await res.json().catch(() => undefined) as unknown
    return { status: res.status, body }
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } }
    return { error: e.name === 'TimeoutError' ? `no answer within ${timeoutText}` : (e.cause?.code ?? e.name) }
  }
}

const base = (address: string) => address.replace(/\/+$/, '')

export async function alertsCheck(am: NonNullable<HealthReportConfig['alertmanager']>, policy: HealthPolicy, now: Date): Promise<CheckResult> {
  // prometheus/alertmanager api/v2/openapi.yaml, getAlerts: active, silenced, inhibited (and unprocessed) filter the list.
  const answer = await getJson(`${base(am.address)}/api/v2/alerts?active=true&silenced=false&inhibited=false`, policy.alertmanagerTimeoutMs, am.timeout)
  const object = { kind: 'Alertmanager', name: am.address }
  if ('error' in answer) return { findings: [{ check: 'alerts', severity: 'critical', object, reason: 'Unreachable', message: `Alertmanager's API could not be read: ${answer.error}; alerts may go unseen` }], seen: 0 }
  if (answer.status !== 200 || !Array.isArray(answer.body)) {
    return { findings: [{ check: 'alerts', severity: 'critical', object, reason: 'Unhealthy', message: `GET /api/v2/alerts answered HTTP ${answer.status}${Array.isArray(answer.body) ? '' : ' without a list of alerts'}` }], seen: 0 }
  }
  const alerts = answer.body as AlertLike[]
  const { findings, summary } = alertFindings(am.address, alerts, now, { criticalSeverities: am.criticalSeverities, ignoredSeverities: am.ignoredSeverities, minFiringMs: policy.alertMinFiringMs })
  return { findings, seen: alerts.length, alerts: summary }
}

export async function longhornCheck(customs: CustomObjectsApi, config: HealthReportConfig, policy: HealthPolicy, now: Date): Promise<CheckResult> {
  const namespace = config.longhorn.namespace
  if (config.namespaces.length > 0 && !config.namespaces.includes(namespace)) return { skipped: `Longhorn's namespace ${namespace} is not one of config.namespaces, where the function may read` }
  const target = { group: 'longhorn.io', version: 'v1beta2', namespace }
  const jobs: RecurringJobLike[] = []
  const findings: Finding[] = []
  let seen = 0
  try {
    for await (const job of pages<RecurringJobLike>(`Longhorn RecurringJobs in ${namespace}`, config.pageSize, (p) => customs.listNamespacedCustomObject({ ...target, plural: 'recurringjobs', ...p }))) jobs.push(job)
    for await (const volume of pages<LonghornVolumeLike>(`Longhorn Volumes in ${namespace}`, config.pageSize, (p) => customs.listNamespacedCustomObject({ ...target, plural: 'volumes', ...p }))) {
      seen++
      const health = volumeHealthFinding(volume, now, { degradedCriticalMs: policy.longhornDegradedCriticalMs, backupMaxAgeMs: policy.longhornBackupMaxAgeMs })
      if (health) findings.push(health)
      const backup = volumeBackupFinding(volume, jobs, now, { degradedCriticalMs: policy.longhornDegradedCriticalMs, backupMaxAgeMs: policy.longhornBackupMaxAgeMs })
      if (backup) findings.push(backup)
    }
  } catch (err) {
    if (!notServed(err)) throw err
    return { skipped: 'Longhorn is not installed: the cluster serves no longhorn.io/v1beta2 Volumes' }
  }
  return { findings, seen }
}

export async function externalSecretsCheck(customs: CustomObjectsApi, config: HealthReportConfig, policy: HealthPolicy, scopes: Array<string | undefined>, now: Date): Promise<CheckResult> {
  // external-secrets serves v1 (since 0.16); older installs only v1beta1.
  for (const version of ['v1', 'v1beta1']) {
    const findings: Finding[] = []
    let seen = 0
    try {
      for (const namespace of scopes) {
        const target = { group: 'external-secrets.io', version, plural: 'externalsecrets' }
        const list = namespace ? (p: Paging) => customs.listNamespacedCustomObject({ ...target, namespace, ...p }) : (p: Paging) => customs.listClusterCustomObject({ ...target, ...p })
        for await (const es of pages<ExternalSecretLike>(`ExternalSecrets${where(namespace)}`, config.pageSize, list)) {
          seen++
          const f = externalSecretFinding(es, now, { graceMs: policy.graceMs, criticalAfterMs: policy.externalSecretCriticalMs })
          if (f) findings.push(f)
        }
      }
      return { findings, seen }
    } catch (err) {
      if (!notServed(err)) throw err
    }
  }
  return { skipped: 'external-secrets is not installed: the cluster serves no ExternalSecrets' }
}

/** The HA part of the vault check (sys/leader, and each member's sys/health). */
export async function vaultHaCheck(vault: NonNullable<HealthReportConfig['vault']>, policy: HealthPolicy): Promise<Finding[]> {
  const answer = await getJson(`${base(vault.address)}/v1/sys/leader`, policy.vaultTimeoutMs, vault.timeout)
  let leader: VaultLeader
  if ('error' in answer) leader = { reachable: false, error: answer.error }
  else {
    const b = (answer.body ?? {}) as { ha_enabled?: unknown; is_self?: unknown; leader_address?: unknown; errors?: unknown }
    leader = {
      reachable: true, status: answer.status,
      ...(typeof b.ha_enabled === 'boolean' ? { haEnabled: b.ha_enabled } : {}),
      ...(typeof b.is_self === 'boolean' ? { isSelf: b.is_self } : {}),
      ...(typeof b.leader_address === 'string' ? { leaderAddress: b.leader_address } : {}),
      ...(Array.isArray(b.errors) ? { errors: b.errors.filter((e): e is string => typeof e === 'string') } : {}),
    }
  }
  const members = await Promise.all(vault.members.map(async (address) => ({ address, health: await memberHealth(address, policy.vaultTimeoutMs, vault.timeout) })))
  return vaultHaFindings(vault.address, leader, members, vault.minStandbys)
}

/** A member's own sys/health, without standbyok: 429 says standby. */
async function memberHealth(address: string, timeoutMs: number, timeoutText: string): Promise<VaultHealth> {
  const answer = await getJson(`${base(address)}/v1/sys/health`, timeoutMs, timeoutText)
  if ('error' in answer) return { reachable: false, error: answer.error }
  const b = (answer.body ?? {}) as { sealed?: unknown; initialized?: unknown; standby?: unknown }
  return {
    reachable: true, status: answer.status,
    ...(typeof b.sealed === 'boolean' ? { sealed: b.sealed } : {}),
    ...(typeof b.initialized === 'boolean' ? { initialized: b.initialized } : {}),
    ...(typeof b.standby === 'boolean' ? { standby: b.standby } : {}),
  }
}
