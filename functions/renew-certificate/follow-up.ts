import { CaretakerError } from '../../shared/errors.ts'
import type { HandlerContext } from '../../shared/runtime/function.ts'
import {
  certificateState, currentRequest, date, reissue, renewalDecision, requestState, withManualTrigger,
  REQUESTED_AT_ANNOTATION, RESTARTED_REVISION_ANNOTATION, STUCK_REPORTED_AT_ANNOTATION,
  type Certificate, type CertificateState, type RenewalDecision,
} from './certificates.ts'
import { inCooldown, stuckReportDue, type FollowUp, type Reissue, type Renewal, type Stuck } from './outcomes.ts'
import { certificateApi, note, type Renewer } from './renewer.ts'
import { rolloutRestart, workloadsMounting } from './workloads.ts'

/** Tries at claiming the cooldown when the Certificate changes under us. */
const CLAIM_ATTEMPTS = 3

/**
 * One look at a Certificate, in runbook order: restart what mounts a
 * re-issued Secret, request a renewal when one is due, and when its
 * issuance is stuck say why (and retry a failed request when opted in).
 * One at a time per Certificate in this instance.
 */
export function followUp(r: Renewer, cert: Certificate, context: HandlerContext, sweeping = false): Promise<FollowUp> {
  return r.perCertificate.run(`${cert.metadata.namespace}/${cert.metadata.name}`, async () => {
    const { cert: current, reissue: reissued } = await followReissue(r, cert, certificateState(cert), context)
    const renewal = await followRenewal(r, current, context)
    const stuck = !renewal.decision.renew && renewal.decision.why === 'stuck' ? await followStuck(r, current, renewal.state, renewal.decision, context, sweeping) : undefined
    return { ...renewal, ...(reissued ? { reissue: reissued } : {}), ...(stuck ? { stuck } : {}) }
  })
}

/** Restart the opted-in workloads that mount the re-issued Secret, then record the revision they now run with. */
export async function followReissue(r: Renewer, cert: Certificate, state: CertificateState, context: HandlerContext): Promise<{ cert: Certificate; reissue?: Reissue }> {
  const changed = reissue(state)
  if (!changed) return { cert }
  const workloads = await workloadsMounting(r.kubeConfig!, state.namespace, state.secretName, r.config.pageSize)
  const at = `${state.namespace}/${state.name}`
  if (context.dryRun) {
    context.log.info({ certificate: at, revision: changed.revision, workloads: workloads.map((w) => `${w.kind}/${w.name}`) }, 'dry-run: the workloads would be restarted')
    return { cert, reissue: { ...changed, workloads: workloads.map((w) => ({ ...w, restarted: false })) } }
  }
  const now = new Date()
  for (const w of workloads) {
    await rolloutRestart(r.kubeConfig!, w, now)
    r.metrics.restarted(w.namespace, w.kind)
    context.log.info({ certificate: at, workload: `${w.kind}/${w.namespace}/${w.name}`, revision: changed.revision }, 'workload restarted for the re-issued certificate')
  }
  const updated = await certificateApi(r).annotate(cert, { [RESTARTED_REVISION_ANNOTATION]: String(changed.revision) })
  if (workloads.length > 0) {
    await note(r, cert, 'Normal', 'WorkloadsRestarted', 'Restart', `Secret ${state.secretName} re-issued (revision ${changed.revision}): restarted ${workloads.map((w) => `${w.kind}/${w.name}`).join(', ')}`)
  }
  return { cert: updated, reissue: { ...changed, workloads: workloads.map((w) => ({ ...w, restarted: true })) } }
}

/**
 * Request a renewal as `cmctl renew`: the Issuing condition on the status
 * subresource. The cooldown is claimed first, on the version of the
 * Certificate that was judged, so two deliveries never both request.
 */
export async function followRenewal(r: Renewer, first: Certificate, context: HandlerContext): Promise<{ state: CertificateState; decision: RenewalDecision; renewal?: Renewal }> {
  let cert = first
  for (let attempt = 1; ; attempt++) {
    const now = new Date()
    const state = certificateState(cert)
    const decision = renewalDecision(state, now, r.policy)
    if (!decision.renew) return { state, decision }
    const at = `${state.namespace}/${state.name}`
    if (context.dryRun) {
      context.log.info({ certificate: at, reason: decision.reason }, 'dry-run: a renewal would be requested')
      return { state, decision, renewal: { reason: decision.reason, message: decision.message, requested: false } }
    }
    let claimed: Certificate
    try {
      claimed = await certificateApi(r).annotate(cert, { [REQUESTED_AT_ANNOTATION]: now.toISOString() }, cert.metadata.resourceVersion)
    } catch (err) {
      if (err instanceof CaretakerError && err.details?.code === 409 && attempt < CLAIM_ATTEMPTS) {
        const fresh = await certificateApi(r).read(state.namespace, state.name)
        if (!fresh) return { state, decision: { renew: false, why: 'healthy', message: 'the Certificate is gone' } }
        cert = fresh
        continue
      }
      throw err
    }
    try {
      await certificateApi(r).updateStatus({ ...claimed, status: { ...claimed.status, conditions: withManualTrigger(claimed.status?.conditions, claimed.metadata.generation, now) } })
    } catch (err) {
      // Give the cooldown back: nothing was requested, so the next delivery may try again.
      const previous = cert.metadata.annotations?.[REQUESTED_AT_ANNOTATION] ?? null
      await certificateApi(r).annotate(claimed, { [REQUESTED_AT_ANNOTATION]: previous }).catch((undo: unknown) => {
        context.log.warn({ certificate: at, reason: (undo as Error).message }, 'the cooldown claim could not be given back')
      })
      throw err
    }
    r.metrics.renewalRequested(state.namespace, decision.reason)
    context.log.info({ certificate: at, reason: decision.reason }, 'renewal requested')
    await note(r, cert, 'Normal', 'RenewalRequested', 'Renew', `renewal requested (${decision.reason}): ${decision.message}`)
    return { state, decision, renewal: { reason: decision.reason, message: decision.message, requested: true } }
  }
}

/**
 * An issuance stuck for longer than the policy allows: say why, from the
 * Certificate's conditions and its current CertificateRequest; and, when
 * opted in, delete a request cert-manager will never finish (failed,
 * denied, invalid) so that it makes a new one, at most once per cooldown
 * (claimed on the Certificate like a renewal, so replicas act once).
 */
export async function followStuck(r: Renewer, first: Certificate, state: CertificateState, decision: RenewalDecision, context: HandlerContext, sweeping: boolean): Promise<Stuck> {
  const api = certificateApi(r)
  let cert = first
  const now = new Date()
  const at = `${state.namespace}/${state.name}`
  const request = currentRequest(state, await api.requests(state.namespace, r.config.pageSize))
  const judged = request ? requestState(request) : null
  let action: Stuck['action'] = 'reported'
  if (request && judged?.failed && r.config.retryFailedRequests) {
    if (context.dryRun) action = 'would-delete-request'
    else if (inCooldown(state.requestedAt, now, r.policy)) action = 'cooldown'
    else {
      try {
        cert = await api.annotate(cert, { [REQUESTED_AT_ANNOTATION]: now.toISOString() }, cert.metadata.resourceVersion)
      } catch (err) {
        // Another delivery claimed it first: it deletes the request.
        if (err instanceof CaretakerError && err.details?.code === 409) return { issuingSince: state.issuingSince!, message: decision.message, request: judged, action: 'cooldown', report: false }
        throw err
      }
      await api.deleteRequest(request)
      action = 'request-deleted'
      r.metrics.renewalRequested(state.namespace, 'failed-request')
      context.log.info({ certificate: at, request: judged.name, reason: judged.reason }, 'stuck issuance: failed CertificateRequest deleted for cert-manager to try again')
      await note(r, cert, 'Normal', 'FailedRequestDeleted', 'Retry', `issuing since ${state.issuingSince!.toISOString()}; CertificateRequest ${judged.name} ${judged.reason}${judged.message ? `: ${judged.message}` : ''}; deleted so that cert-manager makes a new one`)
    }
  }
  // The sweep reports every stuck issuance; a change event at most once per cooldown, claimed on the Certificate.
  let report = sweeping || action === 'request-deleted'
  if (!report && stuckReportDue(date(cert.metadata.annotations?.[STUCK_REPORTED_AT_ANNOTATION]), now, r.policy)) {
    if (context.dryRun) report = true
    else {
      try {
        cert = await api.annotate(cert, { [STUCK_REPORTED_AT_ANNOTATION]: now.toISOString() }, cert.metadata.resourceVersion)
        report = true
      } catch (err) {
        if (!(err instanceof CaretakerError && err.details?.code === 409)) throw err
      }
    }
  }
  if (report && !context.dryRun && action !== 'request-deleted') {
    await note(r, cert, 'Warning', 'IssuanceStuck', 'Report', `${decision.message}${judged ? `; CertificateRequest ${judged.name}: ${judged.reason}${judged.message ? `: ${judged.message}` : ''}` : '; no CertificateRequest for the revision being issued'}`)
  }
  return { issuingSince: state.issuingSince!, message: decision.message, request: judged, action, report }
}
