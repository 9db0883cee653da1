/**
 * The demo platform's firing alerts, as Prometheus would send them to
 * Alertmanager: a backup Job that failed in databases (a warning the alerts
 * check reports) and kube-prometheus' Watchdog (severity none: counted, no
 * finding).
 *
 * Alertmanager resolves an alert at its endsAt, or resolve_timeout after its
 * last update when it has none (prometheus/alertmanager docs/configuration.md,
 * `resolve_timeout`): Prometheus re-sends firing alerts with an endsAt a few
 * minutes ahead, and a long-running sandbox re-posts these the same way
 * (DEMO_ALERTS_REPOST_MS, each time with `endsAt` DEMO_ALERTS_VALID_MS ahead).
 */
import type { PostableAlert } from '../harness/alertmanager-process.ts'

export const DEMO_ALERTS_REPOST_MS = 60_000
export const DEMO_ALERTS_VALID_MS = 10 * 60_000

/** The alerts to post at `postedAt`; `since` is when they started firing (the sandbox's start). */
export function demoAlerts(since: Date, postedAt: Date = since): PostableAlert[] {
  const endsAt = new Date(postedAt.getTime() + DEMO_ALERTS_VALID_MS).toISOString()
  return [
    { labels: { alertname: 'BackupJobFailed', severity: 'warning', namespace: 'databases', job_name: 'redis-backup-29012345' }, annotations: { summary: 'Backup Job databases/redis-backup-29012345 failed' }, startsAt: new Date(since.getTime() - 3_600_000).toISOString(), endsAt },
    { labels: { alertname: 'Watchdog', severity: 'none' }, annotations: { summary: 'An alert that should always be firing' }, startsAt: since.toISOString(), endsAt },
  ]
}
