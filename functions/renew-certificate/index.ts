import type { CloudEvent } from 'cloudevents'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { API_SERVER_CHANGE_TYPES } from '../../shared/events/types/knative.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { certificateRow } from './certificates.ts'
import { configSchema, type RenewCertificateConfig } from './config.ts'
import { followUp } from './follow-up.ts'
import { actionOf, certificateOf, reissueData, renewalData, stuckData, sweepReport, triggerOf, type SweepRow } from './outcomes.ts'
import { certificateApi, createRenewer, type Renewer } from './renewer.ts'
import { EventTypes } from '../../shared/events/catalogue.ts'

/**
 * renew-certificate: follows cert-manager Certificates. One not Ready for
 * too long, or past its renewal time with no issuance in progress, gets a
 * renewal requested as `cmctl renew` does it, at most once per cooldown
 * (kept on the Certificate, so a restart does not forget it). When a
 * Certificate's Secret is re-issued, the workloads that mount it and opted
 * in are restarted. The daily sweep reports every Certificate's expiry.
 * The steps of one look at a Certificate are in follow-up.ts, the pure
 * decisions in certificates.ts and outcomes.ts.
 */

const CHANGES = API_SERVER_CHANGE_TYPES
const PING = 'dev.knative.sources.ping'
const RENEWAL_TRIGGERED = EventTypes.CertificateRenewalTriggered
const REISSUED = EventTypes.CertificateReissued
const EXPIRING = EventTypes.CertificateExpiring
const REPORTED = EventTypes.CertificatesReported
const STUCK = EventTypes.CertificateStuck

/** A change to a Certificate (or an Event on one): follow it up, and answer with what was done. */
export async function onChange(r: Renewer, event: CloudEvent<unknown>, context: HandlerContext): Promise<CloudEvent<unknown> | undefined> {
  // 1: The Certificate the event is about, in a followed namespace, as it is now.
  const target = certificateOf(event)
  if (!target) return undefined
  if (r.watched.size > 0 && !r.watched.has(target.namespace)) {
    context.log.debug({ certificate: `${target.namespace}/${target.name}` }, 'not in a configured namespace')
    return undefined
  }
  const cert = await certificateApi(r).read(target.namespace, target.name)
  if (!cert) return undefined

  // 2: Follow it up: restart on re-issue, request a renewal, report a stuck issuance.
  const follow = await followUp(r, cert, context)
  r.metrics.observe(certificateRow(follow.state, new Date(), r.policy))

  // 3: Answer with the most telling outcome; emit the others beside it.
  const subject = `${target.namespace}/${target.name}`
  const trigger = triggerOf(event)
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

/** The daily sweep: every Certificate followed up, an event per outcome and per expiring one, and the report. */
export async function sweep(r: Renewer, context: HandlerContext): Promise<CloudEvent<unknown>> {
  const rows: SweepRow[] = []
  let index = 0
  for await (const cert of certificateApi(r).list(r.config.namespaces, r.config.pageSize)) {
    if (context.signal.aborted) throw new CaretakerError(Errors.ShuttingDown, 'the sweep was interrupted by shutdown; it will be retried')
    const follow = await followUp(r, cert, context, true)
    const row = { ...certificateRow(follow.state, new Date(), r.policy), action: actionOf(follow, context.dryRun), ...(follow.renewal ? { reason: follow.renewal.reason } : follow.decision.renew ? {} : { reason: follow.decision.message }) }
    r.metrics.observe(row)
    rows.push(row)
    const subject = `${row.namespace}/${row.name}`
    if (follow.reissue) await context.emit({ type: REISSUED, subject, data: reissueData(follow, 'sweep', context.dryRun) }, ++index)
    if (follow.renewal) await context.emit({ type: RENEWAL_TRIGGERED, subject, data: renewalData(follow, 'sweep', context.dryRun) }, ++index)
    if (follow.stuck) await context.emit({ type: STUCK, subject, data: stuckData(follow, 'sweep', context.dryRun) }, ++index)
    if (row.expiring) {
      const expired = (row.expiresInSeconds ?? 0) <= 0
      await context.emit({ type: EXPIRING, subject, data: { ...row, severity: expired ? 'critical' : 'warning', thresholdSeconds: Math.floor(r.policy.expiryThresholdMs / 1000) } }, ++index)
    }
  }
  context.log.info({ certificates: rows.length, expiring: rows.filter((row) => row.expiring).length, notReady: rows.filter((row) => !row.ready).length }, 'certificate sweep done')
  return context.reply({ type: REPORTED, data: sweepReport(rows, r.policy, context.dryRun) })
}

export default defineFunction<RenewCertificateConfig>({
  name: 'renew-certificate',
  description: 'requests renewal of stuck or due cert-manager Certificates, restarts workloads on re-issue, reports expiry',
  accepts: [...CHANGES, PING],
  configSchema,
  setup({ config, kubeConfig, log, metrics }) {
    const renewer = createRenewer(config, kubeConfig, log, metrics)
    return {
      async handle(context, event) {
        if (event.type === PING) return sweep(renewer, context)
        return onChange(renewer, event, context)
      },
    }
  },
})
