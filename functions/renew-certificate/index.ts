import type { CloudEvent } from 'cloudevents'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { API_SERVER_CHANGE_TYPES } from '../../shared/events/types/knative.ts'
import { KeyedSerial } from '../../shared/serial.ts'
import { EventRecorder } from '../../shared/kubernetes/events.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { CertificateApi } from './certificate-api.ts'
import {
  certificateRow, certificateState, currentRequest, date, reissue, renewalDecision, requestState, withManualTrigger,
  REQUESTED_AT_ANNOTATION, RESTARTED_REVISION_ANNOTATION, STUCK_REPORTED_AT_ANNOTATION,
  type Certificate, type CertificateRow, type CertificateState, type RenewalDecision, type RequestState,
} from './certificates.ts'
import { configSchema, renewalPolicy, type RenewCertificateConfig } from './config.ts'
import { CertificateMetrics } from './metrics.ts'
import { rolloutRestart, workloadsMounting, type Workload } from './workloads.ts'

/**
 * renew-certificate: follows cert-manager Certificates. One not Ready for
 * too long, or past its renewal time with no issuance in progress, gets a
 * renewal requested as `cmctl renew` does it, at most once per cooldown
 * (kept on the Certificate, so a restart does not forget it). When a
 * Certificate's Secret is re-issued, the workloads that mount it and opted
 * in are restarted. The daily sweep reports every Certificate's expiry.
 */

const CHANGES = API_SERVER_CHANGE_TYPES
const PING = 'dev.knative.sources.ping'
const RENEWAL_TRIGGERED = 'dev.caretaker.certificate.renewal.triggered'
const REISSUED = 'dev.caretaker.certificate.reissued'
const EXPIRING = 'dev.caretaker.certificate.expiring'
const REPORTED = 'dev.caretaker.certificates.reported'
const STUCK = 'dev.caretaker.certificate.stuck'
/** Tries at claiming the cooldown when the Certificate changes under us. */
const CLAIM_ATTEMPTS = 3

type Action = 'none' | 'renewal-requested' | 'would-request-renewal' | 'cooldown' | 'issuing' | 'stuck' | 'request-deleted' | 'would-delete-request' | 'restarted' | 'would-restart'

interface Renewal { reason: 'not-ready' | 'renewal-due'; message: string; requested: boolean }
interface Reissue { previous: number; revision: number; workloads: Array<Workload & { restarted: boolean }> }
interface Stuck {
  issuingSince: Date
  message: string
  request: RequestState | null
  action: 'reported' | 'request-deleted' | 'would-delete-request' | 'cooldown'
  /** Whether this look reports it (a change event reports a stuck issuance at most once per cooldown). */
  report: boolean
}
interface FollowUp {
  state: CertificateState
  decision: RenewalDecision
  renewal?: Renewal
  reissue?: Reissue
  stuck?: Stuck
}

interface Target { namespace: string; name: string }

function targetOf(event: CloudEvent<unknown>): Target | undefined {
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

function actionOf(follow: FollowUp, dryRun: boolean): Action {
  if (follow.stuck) return follow.stuck.action === 'reported' ? 'stuck' : follow.stuck.action
  if (follow.renewal) return follow.renewal.requested ? 'renewal-requested' : 'would-request-renewal'
  if (follow.reissue) return dryRun ? 'would-restart' : 'restarted'
  if (!follow.decision.renew && (follow.decision.why === 'cooldown' || follow.decision.why === 'issuing')) return follow.decision.why
  return 'none'
}

export default defineFunction<RenewCertificateConfig>({
  name: 'renew-certificate',
  description: 'requests renewal of stuck or due cert-manager Certificates, restarts workloads on re-issue, reports expiry',
  accepts: [...CHANGES, PING],
  configSchema,
  setup({ config, kubeConfig, log, metrics: registry }) {
    const policy = renewalPolicy(config)
    const metrics = new CertificateMetrics(registry)
    const certificates = kubeConfig ? new CertificateApi(kubeConfig) : undefined
    const recorder = kubeConfig ? new EventRecorder(kubeConfig, 'renew-certificate', log) : undefined
    const watched = new Set(config.namespaces)
    // One follow-up per Certificate at a time in this instance: an Event and
    // the sweep arriving together act once, in turn.
    const perCertificate = new KeyedSerial()

    function api(): CertificateApi {
      if (!certificates || !kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'renew-certificate needs the Kubernetes API, and none is configured')
      return certificates
    }

    function note(cert: Certificate, type: 'Normal' | 'Warning', reason: string, action: string, message: string): Promise<boolean> {
      const { namespace, name, uid } = cert.metadata
      return recorder?.record({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', namespace, name, ...(uid ? { uid } : {}) }, { type, reason, action, message }) ?? Promise.resolve(false)
    }

    /** Restart the opted-in workloads that mount the re-issued Secret, then record the revision they now run with. */
    async function followReissue(cert: Certificate, state: CertificateState, context: HandlerContext): Promise<{ cert: Certificate; reissue?: Reissue }> {
      const changed = reissue(state)
      if (!changed) return { cert }
      const workloads = await workloadsMounting(kubeConfig!, state.namespace, state.secretName, config.pageSize)
      const at = `${state.namespace}/${state.name}`
      if (context.dryRun) {
        context.log.info({ certificate: at, revision: changed.revision, workloads: workloads.map((w) => `${w.kind}/${w.name}`) }, 'dry-run: the workloads would be restarted')
        return { cert, reissue: { ...changed, workloads: workloads.map((w) => ({ ...w, restarted: false })) } }
      }
      const now = new Date()
      for (const w of workloads) {
        await rolloutRestart(kubeConfig!, w, now)
        metrics.restarted(w.namespace, w.kind)
        context.log.info({ certificate: at, workload: `${w.kind}/${w.namespace}/${w.name}`, revision: changed.revision }, 'workload restarted for the re-issued certificate')
      }
      const updated = await api().annotate(cert, { [RESTARTED_REVISION_ANNOTATION]: String(changed.revision) })
      if (workloads.length > 0) {
        await note(cert, 'Normal', 'WorkloadsRestarted', 'Restart', `Secret ${state.secretName} re-issued (revision ${changed.revision}): restarted ${workloads.map((w) => `${w.kind}/${w.name}`).join(', ')}`)
      }
      return { cert: updated, reissue: { ...changed, workloads: workloads.map((w) => ({ ...w, restarted: true })) } }
    }

    /**
     * Request a renewal as `cmctl renew`: the Issuing condition on the status
     * subresource. The cooldown is claimed first, on the version of the
     * Certificate that was judged, so two deliveries never both request.
     */
    async function followRenewal(first: Certificate, context: HandlerContext): Promise<{ state: CertificateState; decision: RenewalDecision; renewal?: Renewal }> {
      let cert = first
      for (let attempt = 1; ; attempt++) {
        const now = new Date()
        const state = certificateState(cert)
        const decision = renewalDecision(state, now, policy)
        if (!decision.renew) return { state, decision }
        const at = `${state.namespace}/${state.name}`
        if (context.dryRun) {
          context.log.info({ certificate: at, reason: decision.reason }, 'dry-run: a renewal would be requested')
          return { state, decision, renewal: { reason: decision.reason, message: decision.message, requested: false } }
        }
        let claimed: Certificate
        try {
          claimed = await api().annotate(cert, { [REQUESTED_AT_ANNOTATION]: now.toISOString() }, cert.metadata.resourceVersion)
        } catch (err) {
          if (err instanceof CaretakerError && err.details?.code === 409 && attempt < CLAIM_ATTEMPTS) {
            const fresh = await api().read(state.namespace, state.name)
            if (!fresh) return { state, decision: { renew: false, why: 'healthy', message: 'the Certificate is gone' } }
            cert = fresh
            continue
          }
          throw err
        }
        try {
          await api().updateStatus({ ...claimed, status: { ...claimed.status, conditions: withManualTrigger(claimed.status?.conditions, claimed.metadata.generation, now) } })
        } catch (err) {
          // Give the cooldown back: nothing was requested, so the next delivery may try again.
          const previous = cert.metadata.annotations?.[REQUESTED_AT_ANNOTATION] ?? null
          await api().annotate(claimed, { [REQUESTED_AT_ANNOTATION]: previous }).catch((undo: unknown) => {
            context.log.warn({ certificate: at, reason: (undo as Error).message }, 'the cooldown claim could not be given back')
          })
          throw err
        }
        metrics.renewalRequested(state.namespace, decision.reason)
        context.log.info({ certificate: at, reason: decision.reason }, 'renewal requested')
        await note(cert, 'Normal', 'RenewalRequested', 'Renew', `renewal requested (${decision.reason}): ${decision.message}`)
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
    async function followStuck(first: Certificate, state: CertificateState, decision: RenewalDecision, context: HandlerContext, sweeping: boolean): Promise<Stuck> {
      let cert = first
      const now = new Date()
      const at = `${state.namespace}/${state.name}`
      const request = currentRequest(state, await api().requests(state.namespace, config.pageSize))
      const judged = request ? requestState(request) : null
      let action: Stuck['action'] = 'reported'
      if (request && judged?.failed && config.retryFailedRequests) {
        const inCooldown = state.requestedAt !== undefined && now.getTime() - state.requestedAt.getTime() < policy.cooldownMs
        if (context.dryRun) action = 'would-delete-request'
        else if (inCooldown) action = 'cooldown'
        else {
          try {
            cert = await api().annotate(cert, { [REQUESTED_AT_ANNOTATION]: now.toISOString() }, cert.metadata.resourceVersion)
          } catch (err) {
            // Another delivery claimed it first: it deletes the request.
            if (err instanceof CaretakerError && err.details?.code === 409) return { issuingSince: state.issuingSince!, message: decision.message, request: judged, action: 'cooldown', report: false }
            throw err
          }
          await api().deleteRequest(request)
          action = 'request-deleted'
          metrics.renewalRequested(state.namespace, 'failed-request')
          context.log.info({ certificate: at, request: judged.name, reason: judged.reason }, 'stuck issuance: failed CertificateRequest deleted for cert-manager to try again')
          await note(cert, 'Normal', 'FailedRequestDeleted', 'Retry', `issuing since ${state.issuingSince!.toISOString()}; CertificateRequest ${judged.name} ${judged.reason}${judged.message ? `: ${judged.message}` : ''}; deleted so that cert-manager makes a new one`)
        }
      }
      let report = sweeping || action === 'request-deleted'
      const lastReported = date(cert.metadata.annotations?.[STUCK_REPORTED_AT_ANNOTATION])
      if (!report && (!lastReported || now.getTime() - lastReported.getTime() >= policy.cooldownMs)) {
        if (context.dryRun) report = true
        else {
          try {
            cert = await api().annotate(cert, { [STUCK_REPORTED_AT_ANNOTATION]: now.toISOString() }, cert.metadata.resourceVersion)
            report = true
          } catch (err) {
            if (!(err instanceof CaretakerError && err.details?.code === 409)) throw err
          }
        }
      }
      if (report && !context.dryRun && action !== 'request-deleted') {
        await note(cert, 'Warning', 'IssuanceStuck', 'Report', `${decision.message}${judged ? `; CertificateRequest ${judged.name}: ${judged.reason}${judged.message ? `: ${judged.message}` : ''}` : '; no CertificateRequest for the revision being issued'}`)
      }
      return { issuingSince: state.issuingSince!, message: decision.message, request: judged, action, report }
    }

    function followUp(cert: Certificate, context: HandlerContext, sweeping = false): Promise<FollowUp> {
      return perCertificate.run(`${cert.metadata.namespace}/${cert.metadata.name}`, async () => {
        const { cert: current, reissue: reissued } = await followReissue(cert, certificateState(cert), context)
        const renewal = await followRenewal(current, context)
        const stuck = !renewal.decision.renew && renewal.decision.why === 'stuck' ? await followStuck(current, renewal.state, renewal.decision, context, sweeping) : undefined
        return { ...renewal, ...(reissued ? { reissue: reissued } : {}), ...(stuck ? { stuck } : {}) }
      })
    }

    function stuckData(follow: FollowUp, trigger: string, dryRun: boolean) {
      const { state, stuck } = follow
      return {
        namespace: state.namespace, name: state.name, secretName: state.secretName,
        issuingSince: stuck!.issuingSince.toISOString(), stuckForSeconds: Math.max(0, Math.floor((Date.now() - stuck!.issuingSince.getTime()) / 1000)),
        message: stuck!.message, readyReason: state.readyReason, readyMessage: state.readyMessage,
        request: stuck!.request, action: stuck!.action, dryRun, trigger,
      }
    }

    function renewalData(follow: FollowUp, trigger: string, dryRun: boolean) {
      const { state, renewal } = follow
      return {
        namespace: state.namespace, name: state.name, secretName: state.secretName,
        reason: renewal!.reason, message: renewal!.message, requested: renewal!.requested, dryRun,
        notAfter: state.notAfter?.toISOString() ?? null, renewalTime: state.renewalTime?.toISOString() ?? null,
        readyReason: state.readyReason, trigger,
      }
    }

    function reissueData(follow: FollowUp, trigger: string, dryRun: boolean) {
      const { state, reissue: r } = follow
      return { namespace: state.namespace, name: state.name, secretName: state.secretName, revision: r!.revision, previousRevision: r!.previous, dryRun, workloads: r!.workloads, trigger }
    }

    async function onChange(event: CloudEvent<unknown>, context: HandlerContext) {
      const target = targetOf(event)
      if (!target) return undefined
      if (watched.size > 0 && !watched.has(target.namespace)) {
        context.log.debug({ certificate: `${target.namespace}/${target.name}` }, 'not in a configured namespace')
        return undefined
      }
      const cert = await api().read(target.namespace, target.name)
      if (!cert) return undefined
      const follow = await followUp(cert, context)
      metrics.observe(certificateRow(follow.state, new Date(), policy))
      const subject = `${target.namespace}/${target.name}`
      const trigger = String((event.data as { kind?: string }).kind ?? 'Certificate') === 'Event' ? 'event' : 'certificate'
      if (follow.renewal && follow.reissue) {
        await context.emit({ type: REISSUED, subject, data: reissueData(follow, trigger, context.dryRun) }, 1)
      }
      if (follow.reissue && follow.stuck?.report) {
        await context.emit({ type: STUCK, subject, data: stuckData(follow, trigger, context.dryRun) }, 2)
      }
      if (follow.renewal) return context.reply({ type: RENEWAL_TRIGGERED, subject, data: renewalData(follow, trigger, context.dryRun) })
      if (follow.reissue) return context.reply({ type: REISSUED, subject, data: reissueData(follow, trigger, context.dryRun) })
      if (follow.stuck?.report) return context.reply({ type: STUCK, subject, data: stuckData(follow, trigger, context.dryRun) })
      context.log.debug({ certificate: subject, decision: follow.decision }, 'nothing to do')
      return undefined
    }

    async function sweep(context: HandlerContext) {
      const rows: Array<CertificateRow & { action: Action; reason?: string }> = []
      let index = 0
      for await (const cert of api().list(config.namespaces, config.pageSize)) {
        if (context.signal.aborted) throw new CaretakerError(Errors.ShuttingDown, 'the sweep was interrupted by shutdown; it will be retried')
        const follow = await followUp(cert, context, true)
        const row = { ...certificateRow(follow.state, new Date(), policy), action: actionOf(follow, context.dryRun), ...(follow.renewal ? { reason: follow.renewal.reason } : follow.decision.renew ? {} : { reason: follow.decision.message }) }
        metrics.observe(row)
        rows.push(row)
        const subject = `${row.namespace}/${row.name}`
        if (follow.reissue) await context.emit({ type: REISSUED, subject, data: reissueData(follow, 'sweep', context.dryRun) }, ++index)
        if (follow.renewal) await context.emit({ type: RENEWAL_TRIGGERED, subject, data: renewalData(follow, 'sweep', context.dryRun) }, ++index)
        if (follow.stuck) await context.emit({ type: STUCK, subject, data: stuckData(follow, 'sweep', context.dryRun) }, ++index)
        if (row.expiring) {
          const expired = (row.expiresInSeconds ?? 0) <= 0
          await context.emit({ type: EXPIRING, subject, data: { ...row, severity: expired ? 'critical' : 'warning', thresholdSeconds: Math.floor(policy.expiryThresholdMs / 1000) } }, ++index)
        }
      }
      context.log.info({ certificates: rows.length, expiring: rows.filter((r) => r.expiring).length, notReady: rows.filter((r) => !r.ready).length }, 'certificate sweep done')
      return context.reply({
        type: REPORTED,
        data: {
          total: rows.length,
          notReady: rows.filter((r) => !r.ready).length,
          expiring: rows.filter((r) => r.expiring).length,
          renewalsRequested: rows.filter((r) => r.action === 'renewal-requested' || r.action === 'would-request-renewal').length,
          stuck: rows.filter((r) => r.action === 'stuck' || r.action === 'request-deleted' || r.action === 'would-delete-request' || (r.action === 'cooldown' && r.issuing)).length,
          thresholdSeconds: Math.floor(policy.expiryThresholdMs / 1000),
          dryRun: context.dryRun,
          certificates: rows,
        },
      })
    }

    return {
      async handle(context, event) {
        if (event.type === PING) return sweep(context)
        return onChange(event, context)
      },
    }
  },
})
