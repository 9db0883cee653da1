import type { Finding, Severity } from '../findings.ts'

/**
 * The alerts check's judgement: Alertmanager's firing alerts, as
 * `GET /api/v2/alerts?active=true&silenced=false&inhibited=false` lists
 * them (prometheus/alertmanager api/v2/openapi.yaml, `gettableAlerts`:
 * labels, annotations, startsAt, fingerprint, status.state), grouped by
 * alertname, namespace and severity label: one finding per group, with how
 * many fire and since when the oldest of them does. Pure: the caller asks
 * Alertmanager.
 */

export interface AlertLike {
  labels?: Record<string, string>
  annotations?: Record<string, string>
  startsAt?: string
  fingerprint?: string
  status?: { state?: string }
}

export interface AlertPolicy {
  /** Severity labels whose alerts are critical findings; any other (not ignored) is a warning. */
  criticalSeverities: readonly string[]
  /** Severity labels that are no finding (kube-prometheus' Watchdog and InfoInhibitor carry `none`); they are still counted. */
  ignoredSeverities: readonly string[]
  /** An alert firing for less than this is not (yet) a finding. */
  minFiringMs: number
}

export interface AlertSummary {
  firing: number
  /** By the `severity` label; an alert without one counts as `none`. */
  bySeverity: Record<string, number>
  oldest?: { alertname: string; severity: string; namespace?: string; startsAt: string }
}

/** Labels that name what an alert is about, in the order a person looks for them. */
const SUBJECT_LABELS = ['pod', 'node', 'instance', 'job_name', 'deployment', 'statefulset', 'daemonset', 'persistentvolumeclaim', 'service', 'job', 'container']

function started(alert: AlertLike): Date | undefined {
  const d = alert.startsAt ? new Date(alert.startsAt) : undefined
  return d && !Number.isNaN(d.getTime()) ? d : undefined
}

function subject(labels: Record<string, string>): string | undefined {
  const name = SUBJECT_LABELS.find((l) => labels[l])
  return name ? `${name}=${labels[name]}` : undefined
}

export function alertFindings(address: string, alerts: readonly AlertLike[], now: Date, policy: AlertPolicy): { findings: Finding[]; summary: AlertSummary } {
  const bySeverity: Record<string, number> = {}
  let oldest: { alert: AlertLike; at: Date } | undefined
  const groups = new Map<string, { alerts: Array<{ alert: AlertLike; at: Date | undefined }>; alertname: string; namespace?: string; label: string }>()
  let firing = 0
  for (const alert of alerts) {
    // The query asks for active ones only; an `unprocessed` or `suppressed` one that slips through is not firing.
    if (alert.status?.state !== undefined && alert.status.state !== 'active') continue
    firing++
    const labels = alert.labels ?? {}
    const label = labels['severity'] || 'none'
    bySeverity[label] = (bySeverity[label] ?? 0) + 1
    const at = started(alert)
    if (at && (!oldest || at < oldest.at)) oldest = { alert, at }
    if (policy.ignoredSeverities.includes(label)) continue
    if (at && now.getTime() - at.getTime() < policy.minFiringMs) continue
    const alertname = labels['alertname'] || 'unnamed'
    const namespace = labels['namespace'] || undefined
    const key = [alertname, namespace ?? '', label].join('\0')
    const group = groups.get(key) ?? { alerts: [], alertname, ...(namespace ? { namespace } : {}), label }
    group.alerts.push({ alert, at })
    groups.set(key, group)
  }
  const findings: Finding[] = []
  for (const g of groups.values()) {
    const sorted = [...g.alerts].sort((a, b) => (a.at?.getTime() ?? Infinity) - (b.at?.getTime() ?? Infinity))
    const first = sorted[0]!
    const labels = first.alert.labels ?? {}
    const text = first.alert.annotations?.['summary'] ?? first.alert.annotations?.['description'] ?? first.alert.annotations?.['message']
    const about = subject(labels)
    const severity: Severity = policy.criticalSeverities.includes(g.label) ? 'critical' : 'warning'
    findings.push({
      check: 'alerts', severity,
      object: { kind: 'Alert', ...(g.namespace ? { namespace: g.namespace } : {}), name: g.alertname },
      reason: `Firing:${g.label}`,
      message: `${g.alerts.length === 1 ? '1 alert' : `${g.alerts.length} alerts`} firing in ${address}${about ? ` (oldest: ${about})` : ''}${text ? `: ${text}` : ''}`,
      count: g.alerts.length,
      ...(first.at ? { since: first.at.toISOString() } : {}),
    })
  }
  const summary: AlertSummary = { firing, bySeverity }
  if (oldest) {
    const labels = oldest.alert.labels ?? {}
    summary.oldest = { alertname: labels['alertname'] || 'unnamed', severity: labels['severity'] || 'none', ...(labels['namespace'] ? { namespace: labels['namespace'] } : {}), startsAt: oldest.at.toISOString() }
  }
  return { findings, summary }
}
