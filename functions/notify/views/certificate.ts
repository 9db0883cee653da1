import { formatDuration } from '../../../shared/duration.ts'
import type { Severity } from '../config.ts'
import { clip, facts, nsName, num, plural, rec, recs, sentence, severityOf, some, stamp, str, when, workloads, written, type Data, type Template } from './read.ts'

// --- certificate ----------------------------------------------------------

const CERTIFICATE_ACTIONS: Record<string, string> = {
  none: 'nothing (not due for a renewal request)',
  'renewal-requested': 'renewal requested',
  'would-request-renewal': 'renewal would be requested (dry-run)',
  cooldown: 'renewal requested earlier, within the cooldown',
  issuing: 'issuance in progress',
  stuck: 'issuance stuck, reported',
  'request-deleted': 'issuance stuck, failed request deleted for a retry',
  'would-delete-request': 'issuance stuck, failed request would be deleted (dry-run)',
  restarted: 're-issued, workloads restarted',
  'would-restart': 're-issued, workloads would be restarted (dry-run)',
}

export function certificate(d: Data): string {
  return nsName(d) ?? 'unknown Certificate'
}

export function certificateWhere(d: Data): string {
  const secret = str(d.secretName)
  return `Certificate ${certificate(d)}${secret ? ` (Secret ${secret})` : ''}`
}

/** A cmctl command line for the Certificate: `cmctl status certificate -n production api-tls`. */
export function cmctl(verb: 'status certificate' | 'renew', d: Data): string {
  const ns = str(d.namespace)
  return `\`cmctl ${verb}${ns ? ` -n ${ns}` : ''} ${str(d.name) ?? '<name>'}\``
}

/** Seconds until expiry: the row's own, else from notAfter. */
export function expiresIn(d: Data, now: string): number | undefined {
  const s = num(d.expiresInSeconds)
  if (s !== undefined) return s
  const ms = (typeof d.notAfter === 'string' ? Date.parse(d.notAfter) : Number.NaN) - Date.parse(now)
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined
}

/** `in 6d 2h` / `EXPIRED 2d ago`. */
export function expiry(seconds: number | undefined): string | undefined {
  if (seconds === undefined) return undefined
  return seconds > 0 ? `in ${formatDuration(seconds * 1000)}` : `EXPIRED ${formatDuration(-seconds * 1000)} ago`
}

const certificateTemplates: Record<string, Template> = {
  'dev.caretaker.certificate.stuck': (input, d) => {
    const name = certificate(d)
    const request = rec(d.request)
    const requestName = str(request.name)
    const failed = request.failed === true
    const stuckFor = num(d.stuckForSeconds)
    const action = str(d.action)
    const why = requestName
      ? `CertificateRequest ${requestName} is ${str(request.reason) ?? 'not done'}${str(request.message) ? `: ${clip(str(request.message)!, 200)}` : ''}`
      : 'no CertificateRequest exists for the revision being issued'
    return {
      severity: failed ? 'critical' : 'warning',
      title: `Certificate issuance stuck: ${name}${stuckFor !== undefined ? ` (issuing for ${formatDuration(stuckFor * 1000)})` : ''}`,
      what: `${name} has been issuing since ${when(d.issuingSince, input.time) ?? 'a while'} and is not done: ${sentence(why)}${action === 'request-deleted' ? ' The failed request was deleted so that cert-manager makes a new one.' : action === 'would-delete-request' ? ' Dry-run: the failed request would be deleted so that cert-manager makes a new one.' : ''}`,
      where: certificateWhere(d),
      action: action === 'request-deleted'
        ? `Check within the hour that the new request succeeds: ${cmctl('status certificate', d)}.`
        : failed
          ? `The request will not finish by itself: fix what it names (issuer, DNS, approval), then delete it (\`kubectl delete certificaterequest -n ${str(d.namespace) ?? '<namespace>'} ${requestName ?? '<name>'}\`) or turn on retryFailedRequests for renew-certificate.`
          : `Look at what it waits for: ${cmctl('status certificate', d)} names the Order and Challenge (HTTP-01 reachability, DNS-01 records, the issuer's readiness).`,
      facts: facts([
        ['Issuing since', when(d.issuingSince, input.time)],
        ['Request', requestName],
        ['Request state', str(request.reason)],
        ['Ready reason', str(d.readyReason)],
        ['Done', action === 'reported' ? 'reported' : action],
        ['Trigger', str(d.trigger)],
      ]),
    }
  },
  'dev.caretaker.certificate.renewal.triggered': (input, d) => {
    const name = certificate(d)
    const notReady = d.reason === 'not-ready'
    const requested = d.requested === true
    const left = expiresIn(d, input.time)
    const message = str(d.message)
    const severity: Severity = left !== undefined && left <= 0 ? 'critical' : notReady || (left !== undefined && left < 7 * 86_400) ? 'warning' : 'info'
    return {
      severity,
      title: `Certificate renewal ${requested ? 'requested' : 'planned'}: ${name} (${notReady ? 'not Ready' : d.reason === 'renewal-due' ? 'renewal due' : 'renewal'})`,
      what: `${requested ? 'cert-manager was asked' : 'cert-manager would be asked'} to re-issue ${name}, as \`cmctl renew\` does${message ? `: ${sentence(clip(message, 240))}` : '.'}`,
      where: certificateWhere(d),
      action: !requested
        ? `Nothing was changed. To renew it now: ${cmctl('renew', d)}.`
        : notReady
          ? `Check within the hour that it becomes Ready: ${cmctl('status certificate', d)}. If not, the failing CertificateRequest or Order it names says why (issuer, DNS or HTTP-01 challenge).`
          : `Nothing to do unless the re-issue fails: ${cmctl('status certificate', d)} in a few minutes shows it; the new revision restarts the opted-in workloads.`,
      facts: facts([
        ['Why', notReady ? 'not Ready' : d.reason === 'renewal-due' ? 'past its renewal time' : str(d.reason)],
        ['Ready reason', str(d.readyReason)],
        ['Expires', when(d.notAfter, input.time)],
        ['Renewal time', when(d.renewalTime, input.time)],
        ['Trigger', str(d.trigger)],
      ]),
    }
  },
  'dev.caretaker.certificate.reissued': (_input, d) => {
    const name = certificate(d)
    const revision = num(d.revision)
    const previous = num(d.previousRevision)
    const list = recs(d.workloads)
    const names = workloads(list)
    const dryRun = d.dryRun === true
    const notRestarted = list.filter((w) => w.restarted !== true)
    const secret = str(d.secretName)
    const revisions = revision !== undefined ? (previous !== undefined ? `${previous} → ${revision}` : String(revision)) : undefined
    return {
      severity: 'info',
      title: `Certificate re-issued: ${name}${revision !== undefined ? ` (revision ${revision})` : ''}${names.length > 0 ? `, ${plural(names.length, 'workload')} ${dryRun ? 'to restart' : 'restarted'}` : ''}`,
      what: `${secret ? `The Secret ${secret}` : 'Its Secret'} carries a new certificate${revisions ? ` (revision ${revisions})` : ''}; ${names.length === 0
        ? 'no workload mounts it with the opt-in annotation, so none was restarted.'
        : `${dryRun ? 'would restart' : 'restarted'} ${some(names)} so ${names.length === 1 ? 'it serves' : 'they serve'} it.`}`,
      where: certificateWhere(d),
      action: names.length === 0
        ? 'Nothing to do, unless a workload reads this Secret only at start: give it the annotation caretaker.dev/restart-on-certificate-renewal: "true", or restart it by hand.'
        : dryRun || notRestarted.length > 0
          ? `Nothing was restarted${dryRun ? ' (dry-run)' : ''}: until restarted, ${names.length === 1 ? 'it serves' : 'they serve'} the old certificate; restart by hand with \`kubectl rollout restart\`.`
          : 'Nothing to do. If clients report TLS errors, check the restarted workloads\' rollouts (`kubectl rollout status`).',
      facts: facts([['Revision', revisions], ['Secret', secret], [dryRun ? 'Would restart' : 'Restarted', some(names)], ['Trigger', str(d.trigger)]]),
    }
  },
  'dev.caretaker.certificate.expiring': (input, d) => {
    const name = certificate(d)
    const left = expiresIn(d, input.time)
    const expired = left !== undefined && left <= 0
    const ready = d.ready !== false
    const action = str(d.action)
    const readyReason = str(d.readyReason)
    const readyMessage = str(d.readyMessage)
    const threshold = num(d.thresholdSeconds)
    const at = stamp(d.notAfter)
    const state = !ready ? `it is not Ready (${readyReason ?? 'no reason given'}${readyMessage ? `: ${clip(readyMessage, 120)}` : ''})`
      : d.issuing === true || action === 'issuing' ? 'an issuance is in progress'
        : action === 'renewal-requested' ? 'a renewal was requested just now'
          : action === 'would-request-renewal' ? 'a renewal would be requested (dry-run)'
            : action === 'cooldown' ? 'a renewal was requested earlier and has not succeeded yet'
              : `it is Ready, but cert-manager has not renewed it${stamp(d.renewalTime) ? ` (its renewal time is ${stamp(d.renewalTime)!})` : ''}`
    const todo = !ready
      ? `cert-manager cannot issue it: ${cmctl('status certificate', d)} names the failing CertificateRequest or Order; fix the issuer or the challenge (DNS, HTTP-01), then ${cmctl('renew', d)}.`
      : d.issuing === true || action === 'issuing' || action === 'renewal-requested'
        ? `Check that the issuance completes within the hour: ${cmctl('status certificate', d)}; if it stalls, read the CertificateRequest and Order it names.`
        : `Find out why cert-manager has not renewed it (${cmctl('status certificate', d)}), then renew it: ${cmctl('renew', d)}.`
    return {
      severity: severityOf(d.severity) ?? (expired ? 'critical' : 'warning'),
      title: expired ? `Certificate EXPIRED: ${name}${left !== undefined ? ` (${formatDuration(-left * 1000)} ago)` : ''}` : `Certificate expiring${left !== undefined ? ` in ${formatDuration(left * 1000)}` : ''}: ${name}`,
      what: `${name} ${expired ? 'expired' : 'expires'}${at ? ` at ${at}` : ''}${threshold !== undefined && !expired ? `, within the ${formatDuration(threshold * 1000)} threshold` : ''}; ${state}.`,
      where: certificateWhere(d),
      action: `${expired ? 'Clients get TLS errors now. ' : ''}${todo}`,
      facts: facts([
        ['Expires', when(d.notAfter, input.time)],
        ['Ready', typeof d.ready === 'boolean' ? (ready ? 'yes' : `no${readyReason ? ` (${readyReason})` : ''}`) : undefined],
        ['Renewal time', when(d.renewalTime, input.time)],
        ['Done', action ? CERTIFICATE_ACTIONS[action] ?? action : undefined],
        ['Revision', num(d.revision)],
        ['Threshold', threshold !== undefined ? formatDuration(threshold * 1000) : undefined],
      ]),
    }
  },
  'dev.caretaker.certificates.reported': (input, d) => {
    const rows = recs(d.certificates)
    const total = num(d.total) ?? rows.length
    const expiringRows = rows.filter((r) => r.expiring === true)
      .map((r) => ({ r, left: expiresIn(r, input.time) }))
      .sort((a, b) => (a.left ?? Number.MAX_SAFE_INTEGER) - (b.left ?? Number.MAX_SAFE_INTEGER))
    const notReadyRows = rows.filter((r) => r.ready === false)
    const expiring = num(d.expiring) ?? expiringRows.length
    const notReady = num(d.notReady) ?? notReadyRows.length
    const renewals = num(d.renewalsRequested) ?? rows.filter((r) => r.action === 'renewal-requested' || r.action === 'would-request-renewal').length
    const expired = expiringRows.filter((e) => e.left !== undefined && e.left <= 0).length
    const threshold = num(d.thresholdSeconds)
    const namespaces = [...new Set(rows.map((r) => str(r.namespace)).filter((n): n is string => n !== undefined))].sort()
    const problems = expiring > 0 || notReady > 0
    const parts = [
      expiringRows.length > 0 ? `Expiring: ${some(expiringRows.map((e) => `${certificate(e.r)} (${expiry(e.left) ?? 'soon'})`))}.` : undefined,
      notReadyRows.length > 0 ? `Not Ready: ${some(notReadyRows.map((r) => `${certificate(r)} (${str(r.readyReason) ?? '?'})`))}.` : undefined,
      renewals > 0 ? `${d.dryRun === true ? 'Renewal would be requested for' : 'Renewal requested for'} ${plural(renewals, 'Certificate')}.` : undefined,
    ].filter((p): p is string => p !== undefined)
    const soonest = rows.map((r) => ({ r, left: expiresIn(r, input.time) })).filter((e) => e.left !== undefined).sort((a, b) => a.left! - b.left!)[0]
    return {
      severity: expired > 0 ? 'critical' : problems ? 'warning' : 'info',
      title: problems
        ? `Certificates: ${[expired > 0 ? `${expired} EXPIRED` : undefined, expiring - expired > 0 ? `${expiring - expired} expiring` : undefined, notReady > 0 ? `${notReady} not Ready` : undefined].filter(Boolean).join(', ')} (of ${total})`
        : `Certificates: all ${total} Ready, none expiring${threshold !== undefined ? ` within ${formatDuration(threshold * 1000)}` : ''}`,
      what: parts.join(' ') || `Every Certificate is Ready and none expires${threshold !== undefined ? ` within ${formatDuration(threshold * 1000)}` : ' soon'}.`,
      where: namespaces.length > 0 ? `${plural(total, 'Certificate')} in ${namespaces.length === 1 ? 'namespace' : 'namespaces'} ${some(namespaces, 5)}` : 'every Certificate of the configured namespaces',
      action: problems
        ? `Each expiring Certificate has its own message; for a not-Ready one, ${notReadyRows[0] ? cmctl('status certificate', notReadyRows[0]) : '`cmctl status certificate -n <namespace> <name>`'} names the failing request. Fix these today.`
        : 'Nothing to do.',
      facts: facts([
        ['Certificates', total],
        ['Expiring', expiring],
        ['Not Ready', notReady],
        ['Renewals requested', renewals],
        ['Soonest expiry', soonest ? `${certificate(soonest.r)} ${expiry(soonest.left)!}` : undefined],
        ['Threshold', threshold !== undefined ? formatDuration(threshold * 1000) : undefined],
      ]),
    }
  },
}

export const certificateViews = written(certificateTemplates)
