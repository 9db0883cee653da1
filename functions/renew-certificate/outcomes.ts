import type { CloudEvent } from 'cloudevents'
import type { CertificateRow, CertificateState, RenewalDecision, RequestState } from './certificates.ts'
import type { RenewalPolicy } from './config.ts'
import type { Workload } from './workloads.ts'

/**
 * renew-certificate's pure decisions about one event and one follow-up:
 * which Certificate an event is about, whether a retry or a report of a
 * stuck issuance is due, and the data of the events it answers with.
 * Nothing here calls the API (the Certificate's own decisions are in
 * certificates.ts).
 */

/** What the sweep's report says was done about a Certificate. */
export type Action = 'none' | 'renewal-requested' | 'would-request-renewal' | 'cooldown' | 'issuing' | 'stuck' | 'request-deleted' | 'would-delete-request' | 'restarted' | 'would-restart'

export interface Renewal { reason: 'not-ready' | 'renewal-due'; message: string; requested: boolean }
export interface Reissue { previous: number; revision: number; workloads: Array<Workload & { restarted: boolean }> }
export interface Stuck {
  issuingSince: Date
  message: string
  request: RequestState | null
  action: 'reported' | 'request-deleted' | 'would-delete-request' | 'cooldown'
  /** Whether this look reports it (a change event reports a stuck issuance at most once per cooldown). */
  report: boolean
}

/** What one look at a Certificate found and did. */
export interface FollowUp {
  state: CertificateState
  decision: RenewalDecision
  renewal?: Renewal
  reissue?: Reissue
  stuck?: Stuck
}

export interface CertificateRef { namespace: string; name: string }

/**
 * The Certificate an ApiServerSource event is about: the Certificate itself
 * (Resource or Reference mode), or a core Event recorded on one.
 */
export function certificateOf(event: CloudEvent<unknown>): CertificateRef | undefined {
  const data = event.data as Record<string, unknown>
  if (event.type.startsWith('dev.knative.apiserver.ref.')) {
    const ref = data as { kind?: string; apiVersion?: string; namespace?: string; name?: string }
    return ref.kind === 'Certificate' && ref.apiVersion?.startsWith('cert-manager.io/') && ref.namespace && ref.name ? { namespace: ref.namespace, name: ref.name } : undefined
  }
  if (data.kind === 'Certificate' && String(data.apiVersion).startsWith('cert-manager.io/')) {
    const meta = data.metadata as { namespace?: string; name: string }
    return meta.namespace ? { namespace: meta.namespace, name: meta.name } : undefined
  }
  // A core Event that cert-manager recorded on a Certificate.
  if (data.kind === 'Event') {
    // Its own Events (RenewalRequested, WorkloadsRestarted) would only bring it back to the same Certificate.
    if ((data.source as { component?: string } | undefined)?.component === 'renew-certificate') return undefined
    const involved = data.involvedObject as { kind?: string; apiVersion?: string; namespace?: string; name?: string } | undefined
    if (involved?.kind === 'Certificate' && involved.apiVersion?.startsWith('cert-manager.io/') && involved.namespace && involved.name) {
      return { namespace: involved.namespace, name: involved.name }
    }
  }
  return undefined
}

/** What brought a change event: a core Event on the Certificate, or the Certificate itself. */
export function triggerOf(event: CloudEvent<unknown>): 'event' | 'certificate' {
  return String((event.data as { kind?: string }).kind ?? 'Certificate') === 'Event' ? 'event' : 'certificate'
}

/** Whether a renewal (or a failed request's deletion) was requested less than the cooldown ago. */
export function inCooldown(requestedAt: Date | undefined, now: Date, policy: RenewalPolicy): boolean {
  return requestedAt !== undefined && now.getTime() - requestedAt.getTime() < policy.cooldownMs
}

/** Whether a stuck issuance may be reported again from a change event: never before, or a cooldown ago. */
export function stuckReportDue(lastReported: Date | undefined, now: Date, policy: RenewalPolicy): boolean {
  return !lastReported || now.getTime() - lastReported.getTime() >= policy.cooldownMs
}

export function actionOf(follow: FollowUp, dryRun: boolean): Action {
  if (follow.stuck) return follow.stuck.action === 'reported' ? 'stuck' : follow.stuck.action
  if (follow.renewal) return follow.renewal.requested ? 'renewal-requested' : 'would-request-renewal'
  if (follow.reissue) return dryRun ? 'would-restart' : 'restarted'
  if (!follow.decision.renew && (follow.decision.why === 'cooldown' || follow.decision.why === 'issuing')) return follow.decision.why
  return 'none'
}

/** The data of dev.caretaker.certificate.stuck. */
export function stuckData(follow: FollowUp, trigger: string, dryRun: boolean) {
  const { state, stuck } = follow
  return {
    namespace: state.namespace, name: state.name, secretName: state.secretName,
    issuingSince: stuck!.issuingSince.toISOString(), stuckForSeconds: Math.max(0, Math.floor((Date.now() - stuck!.issuingSince.getTime()) / 1000)),
    message: stuck!.message, readyReason: state.readyReason, readyMessage: state.readyMessage,
    request: stuck!.request, action: stuck!.action, dryRun, trigger,
  }
}

/** The data of dev.caretaker.certificate.renewal.triggered. */
export function renewalData(follow: FollowUp, trigger: string, dryRun: boolean) {
  const { state, renewal } = follow
  return {
    namespace: state.namespace, name: state.name, secretName: state.secretName,
    reason: renewal!.reason, message: renewal!.message, requested: renewal!.requested, dryRun,
    notAfter: state.notAfter?.toISOString() ?? null, renewalTime: state.renewalTime?.toISOString() ?? null,
    readyReason: state.readyReason, trigger,
  }
}

/** The data of dev.caretaker.certificate.reissued. */
export function reissueData(follow: FollowUp, trigger: string, dryRun: boolean) {
  const { state, reissue: r } = follow
  return { namespace: state.namespace, name: state.name, secretName: state.secretName, revision: r!.revision, previousRevision: r!.previous, dryRun, workloads: r!.workloads, trigger }
}

/** A line of the sweep's report. */
export type SweepRow = CertificateRow & { action: Action; reason?: string }

/** The data of dev.caretaker.certificates.reported: the counts over the sweep's lines, and the lines. */
export function sweepReport(rows: SweepRow[], policy: RenewalPolicy, dryRun: boolean) {
  return {
    total: rows.length,
    notReady: rows.filter((r) => !r.ready).length,
    expiring: rows.filter((r) => r.expiring).length,
    renewalsRequested: rows.filter((r) => r.action === 'renewal-requested' || r.action === 'would-request-renewal').length,
    stuck: rows.filter((r) => r.action === 'stuck' || r.action === 'request-deleted' || r.action === 'would-delete-request' || (r.action === 'cooldown' && r.issuing)).length,
    thresholdSeconds: Math.floor(policy.expiryThresholdMs / 1000),
    dryRun,
    certificates: rows,
  }
}
