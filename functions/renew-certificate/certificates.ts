import type { V1PodTemplateSpec } from '@kubernetes/client-node'
import type { RenewalPolicy } from './config.ts'

/**
 * The pure decisions of renew-certificate: what state a cert-manager
 * Certificate is in, whether it needs a renewal requested, whether its
 * Secret was re-issued since the workloads were last restarted, and which
 * workloads mount that Secret and opted in. Nothing here calls the API.
 */

/** When renew-certificate last requested a renewal: the cooldown, kept on the Certificate so a restart does not forget it. */
export const REQUESTED_AT_ANNOTATION = 'renew-certificate.caretaker.dev/requested-at'
/** When a stuck issuance of the Certificate was last reported: at most once per cooldown from its change events. */
export const STUCK_REPORTED_AT_ANNOTATION = 'renew-certificate.caretaker.dev/stuck-reported-at'
/** The Certificate revision whose workloads were last restarted. */
export const RESTARTED_REVISION_ANNOTATION = 'renew-certificate.caretaker.dev/restarted-revision'
/** On a Deployment, StatefulSet or DaemonSet: "true" (any certificate Secret it mounts) or a comma-separated list of Secret names. */
export const OPT_IN_ANNOTATION = 'caretaker.dev/restart-on-certificate-renewal'
/** What `kubectl rollout restart` sets on the pod template. */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt'

/** The Issuing condition `cmctl renew` sets. */
export const MANUAL_TRIGGER = { type: 'Issuing', status: 'True', reason: 'ManuallyTriggered', message: 'Certificate re-issuance manually triggered' } as const

export interface CertificateCondition {
  type: string
  status: string
  reason?: string
  message?: string
  lastTransitionTime?: string
  observedGeneration?: number
}

/** A cert-manager.io/v1 Certificate, as much of it as is read here. */
export interface Certificate {
  apiVersion?: string
  kind?: string
  metadata: { name: string; namespace?: string; uid?: string; generation?: number; resourceVersion?: string; creationTimestamp?: string | Date; annotations?: Record<string, string> }
  spec: { secretName: string; [k: string]: unknown }
  status?: { conditions?: CertificateCondition[]; notAfter?: string; notBefore?: string; renewalTime?: string; revision?: number; [k: string]: unknown }
}

/** What the controller's view and the report's line share. */
interface CertificateIdentity {
  namespace: string
  name: string
  secretName: string
  ready: boolean
  readyReason: string
  readyMessage: string
  issuing: boolean
}

export interface CertificateState extends CertificateIdentity {
  /** When the Ready condition last changed (the creation time when it has none). */
  readySince: Date | undefined
  /** When the Issuing condition last changed, while it is True. */
  issuingSince: Date | undefined
  uid: string | undefined
  revision: number | undefined
  notAfter: Date | undefined
  renewalTime: Date | undefined
  requestedAt: Date | undefined
  restartedRevision: number | undefined
}

export function date(value: string | Date | undefined): Date | undefined {
  if (value === undefined) return undefined
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? undefined : d
}

function condition(cert: Certificate, type: string): CertificateCondition | undefined {
  return cert.status?.conditions?.find((c) => c.type === type)
}

export function certificateState(cert: Certificate): CertificateState {
  const ready = condition(cert, 'Ready')
  const annotations = cert.metadata.annotations ?? {}
  const restarted = Number.parseInt(annotations[RESTARTED_REVISION_ANNOTATION] ?? '', 10)
  return {
    namespace: cert.metadata.namespace ?? '',
    name: cert.metadata.name,
    secretName: cert.spec.secretName,
    ready: ready?.status === 'True',
    readyReason: ready?.reason ?? (ready ? '' : 'NoReadyCondition'),
    readyMessage: ready?.message ?? '',
    readySince: date(ready?.lastTransitionTime) ?? date(cert.metadata.creationTimestamp),
    issuing: condition(cert, 'Issuing')?.status === 'True',
    issuingSince: condition(cert, 'Issuing')?.status === 'True' ? date(condition(cert, 'Issuing')?.lastTransitionTime) : undefined,
    uid: cert.metadata.uid,
    revision: cert.status?.revision,
    notAfter: date(cert.status?.notAfter),
    renewalTime: date(cert.status?.renewalTime),
    requestedAt: date(annotations[REQUESTED_AT_ANNOTATION]),
    restartedRevision: Number.isInteger(restarted) ? restarted : undefined,
  }
}

export type RenewalReason = 'not-ready' | 'renewal-due'

export type RenewalDecision =
  | { renew: true; reason: RenewalReason; message: string }
  | { renew: false; why: 'healthy' | 'issuing' | 'stuck' | 'not-ready-recently' | 'cooldown'; message: string }

const iso = (d: Date) => d.toISOString()

/**
 * Whether to request a renewal now: not Ready for longer than the policy
 * allows, or past its renewal time, with no issuance in progress (as `cmctl
 * renew` refuses to trigger one twice), and not within the cooldown of the
 * last request.
 */
export function renewalDecision(state: CertificateState, now: Date, policy: RenewalPolicy): RenewalDecision {
  if (state.issuing) {
    const since = state.issuingSince
    if (since && now.getTime() - since.getTime() >= policy.stuckIssuingMs) {
      return { renew: false, why: 'stuck', message: `issuing since ${iso(since)}, longer than the threshold: the issuance is stuck` }
    }
    return { renew: false, why: 'issuing', message: 'an issuance is in progress (Issuing condition is True)' }
  }
  let wanted: { reason: RenewalReason; message: string } | undefined
  if (!state.ready) {
    const since = state.readySince
    if (since && now.getTime() - since.getTime() < policy.notReadyForMs) {
      return { renew: false, why: 'not-ready-recently', message: `not Ready (${state.readyReason}) since ${iso(since)}, not yet for longer than the threshold` }
    }
    wanted = { reason: 'not-ready', message: `not Ready (${state.readyReason}${state.readyMessage ? `: ${state.readyMessage}` : ''})${since ? ` since ${iso(since)}` : ''}` }
  } else if (state.renewalTime && state.renewalTime.getTime() <= now.getTime()) {
    wanted = { reason: 'renewal-due', message: `renewal was due at ${iso(state.renewalTime)} and no issuance is in progress` }
  }
  if (!wanted) return { renew: false, why: 'healthy', message: 'Ready and before its renewal time' }
  if (state.requestedAt && now.getTime() - state.requestedAt.getTime() < policy.cooldownMs) {
    return { renew: false, why: 'cooldown', message: `${wanted.message}; a renewal was already requested at ${iso(state.requestedAt)}, within the cooldown` }
  }
  return { renew: true, ...wanted }
}

/**
 * The revisions when the Secret was re-issued since the workloads were last
 * restarted. Revision 1 is the first issuance, which workloads started with;
 * so a Certificate never seen before counts from 1.
 */
export function reissue(state: CertificateState): { previous: number; revision: number } | undefined {
  if (state.revision === undefined) return undefined
  const previous = state.restartedRevision ?? 1
  return state.revision > previous ? { previous, revision: state.revision } : undefined
}

/** The conditions `cmctl renew` writes: Issuing=True, reason ManuallyTriggered, replacing an Issuing condition there was. */
export function withManualTrigger(conditions: CertificateCondition[] | undefined, generation: number | undefined, now: Date): CertificateCondition[] {
  const next: CertificateCondition = { ...MANUAL_TRIGGER, lastTransitionTime: iso(now), ...(generation !== undefined ? { observedGeneration: generation } : {}) }
  const others = (conditions ?? []).filter((c) => c.type !== 'Issuing')
  return [...others, next]
}

/** Whether a pod template mounts the Secret (a secret volume, or a projected volume's secret source). */
export function mountsSecret(template: V1PodTemplateSpec | undefined, secretName: string): boolean {
  return (template?.spec?.volumes ?? []).some((v) =>
    v.secret?.secretName === secretName || (v.projected?.sources ?? []).some((s) => s.secret?.name === secretName))
}

/** Whether a workload's opt-in annotation covers this Secret. */
export function optedIn(annotations: Record<string, string> | undefined, secretName: string): boolean {
  const value = annotations?.[OPT_IN_ANNOTATION]?.trim()
  if (!value || value === 'false') return false
  if (value === 'true') return true
  return value.split(',').map((s) => s.trim()).includes(secretName)
}

export interface CertificateRow extends CertificateIdentity {
  readySince: string | null
  revision?: number
  notAfter: string | null
  renewalTime: string | null
  expiresInSeconds: number | null
  expiring: boolean
}

/** A Certificate's line of the report; `expiring` when it expires within the threshold (or has expired). */
export function certificateRow(state: CertificateState, now: Date, policy: RenewalPolicy): CertificateRow {
  const expiresInMs = state.notAfter ? state.notAfter.getTime() - now.getTime() : undefined
  return {
    namespace: state.namespace,
    name: state.name,
    secretName: state.secretName,
    ready: state.ready,
    readyReason: state.readyReason,
    readyMessage: state.readyMessage,
    readySince: state.readySince ? iso(state.readySince) : null,
    issuing: state.issuing,
    ...(state.revision !== undefined ? { revision: state.revision } : {}),
    notAfter: state.notAfter ? iso(state.notAfter) : null,
    renewalTime: state.renewalTime ? iso(state.renewalTime) : null,
    expiresInSeconds: expiresInMs === undefined ? null : Math.floor(expiresInMs / 1000),
    expiring: expiresInMs !== undefined && expiresInMs < policy.expiryThresholdMs,
  }
}

/** The annotation cert-manager puts on each CertificateRequest: the Certificate revision it is for. */
export const REQUEST_REVISION_ANNOTATION = 'cert-manager.io/certificate-revision'

/** A cert-manager.io/v1 CertificateRequest, as much as is read here. */
export interface CertificateRequest {
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; annotations?: Record<string, string>; ownerReferences?: Array<{ kind: string; name: string; uid: string }> }
  status?: { conditions?: CertificateCondition[]; failureTime?: string }
}

export interface RequestState {
  name: string
  /** Ready's reason (Pending, Failed, Issued…), or the Denied/InvalidRequest condition's. */
  reason: string
  message: string
  /** cert-manager will not finish it: Ready=False with reason Failed, Denied=True or InvalidRequest=True. */
  failed: boolean
}

/**
 * The CertificateRequest of the issuance in progress: owned by the
 * Certificate and annotated with the revision being issued (the current
 * revision + 1), as cert-manager's issuing controller names and finds it
 * (pkg/controller/certificates/issuing, pkg/controller/certificates/requestmanager).
 */
export function currentRequest(state: CertificateState, requests: readonly CertificateRequest[]): CertificateRequest | undefined {
  const next = String((state.revision ?? 0) + 1)
  return requests.find((r) =>
    r.metadata.annotations?.[REQUEST_REVISION_ANNOTATION] === next
    && (r.metadata.ownerReferences ?? []).some((o) => o.kind === 'Certificate' && (state.uid ? o.uid === state.uid : o.name === state.name)))
}

/** What a CertificateRequest says of itself; failed as cert-manager's issuing controller judges it. */
export function requestState(request: CertificateRequest): RequestState {
  const conditions = request.status?.conditions ?? []
  const find = (type: string) => conditions.find((c) => c.type === type)
  const denied = find('Denied')
  const invalid = find('InvalidRequest')
  const ready = find('Ready')
  if (denied?.status === 'True') return { name: request.metadata.name, reason: denied.reason ?? 'Denied', message: denied.message ?? '', failed: true }
  if (invalid?.status === 'True') return { name: request.metadata.name, reason: invalid.reason ?? 'InvalidRequest', message: invalid.message ?? '', failed: true }
  const failed = ready?.status === 'False' && ready.reason === 'Failed'
  return { name: request.metadata.name, reason: ready?.reason ?? (ready ? '' : 'NoReadyCondition'), message: ready?.message ?? '', failed }
}
