import type { Severity } from '../config.ts'

/** A word of an event's data as notify's severity: `error` is critical, `degraded` a warning, `ok` info; other words none. */
export function severityWord(v: unknown): Severity | undefined {
  if (typeof v !== 'string') return undefined
  const s = v.toLowerCase()
  if (['critical', 'error', 'page', 'fatal', 'failed', 'unhealthy', 'down'].includes(s)) return 'critical'
  if (['warning', 'warn', 'degraded', 'expiring'].includes(s)) return 'warning'
  if (['info', 'ok', 'none', 'healthy', 'success', 'succeeded', 'notice'].includes(s)) return 'info'
  return undefined
}
