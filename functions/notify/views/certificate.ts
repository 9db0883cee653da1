import { formatDuration } from '../../../shared/duration.ts'
import type { Views } from './index.ts'
import { EventTypes } from '../../../shared/events/catalogue.ts'

/** renew-certificate: one Certificate's renewal, issuance, re-issue and expiry, and the report over all. */

interface Named { readonly namespace?: string; readonly name?: string }
interface Expiry { readonly expiresInSeconds?: number | null; readonly notAfter?: string | null }

/** `namespace/name`, or the name alone. */
export function nsName(d: Named): string | undefined {
  return d.name ? (d.namespace ? `${d.namespace}/${d.name}` : d.name) : undefined
}

function certificate(d: Named): string {
  return nsName(d) ?? 'unknown Certificate'
}

/** Seconds until expiry: the row's own, else from notAfter and the event's time. */
function expiresIn(d: Expiry, now: string): number | undefined {
  if (typeof d.expiresInSeconds === 'number') return d.expiresInSeconds
  const ms = (d.notAfter ? Date.parse(d.notAfter) : Number.NaN) - Date.parse(now)
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined
}

/** `in 6d 2h` / `EXPIRED 2d ago`. */
function expiry(seconds: number | undefined): string | undefined {
  if (seconds === undefined) return undefined
  return seconds > 0 ? `in ${formatDuration(seconds * 1000)}` : `EXPIRED ${formatDuration(-seconds * 1000)} ago`
}

export const certificateViews: Views = {
  [EventTypes.CertificateStuck]: (d) => ({ certificateName: certificate(d) }),
  [EventTypes.CertificateRenewalTriggered]: (d, event) => ({ certificateName: certificate(d), left: expiresIn(d, event.time) }),
  [EventTypes.CertificateReissued]: (d) => {
    const list = d.workloads ?? []
    return {
      certificateName: certificate(d),
      // `Deployment production/api`.
      workloadNames: list.map((w) => [w.kind, nsName(w)].filter(Boolean).join(' ')).filter((s) => s.length > 0),
      allRestarted: list.every((w) => w.restarted === true),
    }
  },
  [EventTypes.CertificateExpiring]: (d, event) => {
    const left = expiresIn(d, event.time)
    return { certificateName: certificate(d), left, expired: left !== undefined && left <= 0 }
  },
  [EventTypes.CertificatesReported]: (d, event) => {
    const rows = d.certificates ?? []
    const timed = rows.map((r) => ({ r, left: expiresIn(r, event.time) }))
    const expiringRows = timed.filter((e) => e.r.expiring === true).sort((a, b) => (a.left ?? Number.MAX_SAFE_INTEGER) - (b.left ?? Number.MAX_SAFE_INTEGER))
    const notReadyRows = rows.filter((r) => r.ready === false)
    const soonest = timed.filter((e) => e.left !== undefined).sort((a, b) => a.left! - b.left!)[0]
    return {
      totalCount: d.total ?? rows.length,
      expiringCount: d.expiring ?? expiringRows.length,
      notReadyCount: d.notReady ?? notReadyRows.length,
      renewalCount: d.renewalsRequested ?? rows.filter((r) => r.action === 'renewal-requested' || r.action === 'would-request-renewal').length,
      expiredCount: expiringRows.filter((e) => e.left !== undefined && e.left <= 0).length,
      // The soonest first: `production/api-tls (in 6d 3h)`.
      expiringList: expiringRows.map((e) => `${certificate(e.r)} (${expiry(e.left) ?? 'soon'})`),
      notReadyList: notReadyRows.map((r) => `${certificate(r)} (${r.readyReason ?? '?'})`),
      firstNotReady: notReadyRows[0] ? { namespace: notReadyRows[0].namespace, name: notReadyRows[0].name } : undefined,
      soonest: soonest ? `${certificate(soonest.r)} ${expiry(soonest.left)!}` : undefined,
      namespaces: [...new Set(rows.map((r) => r.namespace).filter((n): n is string => n !== undefined))].sort(),
    }
  },
}
