import type { Finding } from '../findings.ts'

/**
 * The externalsecrets check's judgement: an ExternalSecret
 * (external-secrets.io/v1, or v1beta1 on older installs) whose Ready
 * condition is not True, with the operator's reason and message
 * (external-secrets/external-secrets apis/externalsecrets/v1
 * externalsecret_types.go: ConditionReasonSecretSyncedError
 * "SecretSyncedError", SecretDeleted, SecretMissing; Ready True with
 * SecretSynced). Pure: the caller lists them.
 */

export interface ExternalSecretLike {
  metadata?: { name?: string; namespace?: string; creationTimestamp?: Date | string }
  status?: {
    conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string; lastTransitionTime?: string }>
    refreshTime?: string | null
  }
}

export interface ExternalSecretPolicy {
  /** A new ExternalSecret without a Ready condition yet is given this long. */
  graceMs: number
  /** Not Ready for longer than this (since the condition's lastTransitionTime) is critical: the Secret may be stale, or missing. */
  criticalAfterMs: number
}

function time(value: Date | string | undefined | null): Date | undefined {
  if (value === undefined || value === null || value === '') return undefined
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? undefined : d
}

export function externalSecretFinding(es: ExternalSecretLike, now: Date, policy: ExternalSecretPolicy): Finding | undefined {
  const ready = es.status?.conditions?.find((c) => c.type === 'Ready')
  if (ready?.status === 'True') return undefined
  const object = { kind: 'ExternalSecret', ...(es.metadata?.namespace ? { namespace: es.metadata.namespace } : {}), name: es.metadata?.name ?? '' }
  if (!ready) {
    const created = time(es.metadata?.creationTimestamp)
    if (created && now.getTime() - created.getTime() < policy.graceMs) return undefined
    return { check: 'externalsecrets', severity: 'warning', object, reason: 'NotSynced', message: 'the ExternalSecret has no Ready condition: is the external-secrets operator running?', ...(created ? { since: created.toISOString() } : {}) }
  }
  const since = time(ready.lastTransitionTime)
  const long = since !== undefined && now.getTime() - since.getTime() > policy.criticalAfterMs
  const synced = time(es.status?.refreshTime)
  return {
    check: 'externalsecrets', severity: long ? 'critical' : 'warning', object,
    reason: ready.reason ? `NotReady:${ready.reason}` : `Ready=${ready.status ?? 'Unknown'}`,
    message: `${ready.message ?? 'not Ready'}${synced ? ` (last synced ${synced.toISOString()})` : ' (never synced)'}`,
    ...(since ? { since: since.toISOString() } : {}),
  }
}
