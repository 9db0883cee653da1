import { parseDuration } from '../../shared/duration.ts'

/** Whether a secret is due, and why, from the rotation time recorded in Vault. */
export interface DueDecision {
  due: boolean
  reason: string
  rotatedAt: string | null
  /** When the next rotation falls due (null when none is recorded). */
  dueAt: string | null
}

/**
 * A secret is due when its last rotation is at least `interval` ago. A
 * secret with no (or an unreadable) rotation time is due: its age is unknown,
 * and an unknown age must not keep a credential forever.
 */
export function isDueForRotation(rotatedAt: string | undefined, interval: string, now: Date): DueDecision {
  const ms = parseDuration(interval) ?? 0
  const at = rotatedAt ? Date.parse(rotatedAt) : Number.NaN
  if (!rotatedAt || Number.isNaN(at)) {
    return { due: true, reason: rotatedAt ? `the recorded rotation time "${rotatedAt}" is not a date` : 'no rotation time is recorded', rotatedAt: rotatedAt ?? null, dueAt: null }
  }
  const dueAt = new Date(at + ms)
  const due = dueAt.getTime() <= now.getTime()
  const days = Math.floor((now.getTime() - at) / 86_400_000)
  return { due, reason: due ? `last rotated ${days} days ago; the interval is ${interval}` : `last rotated ${days} days ago; due at ${dueAt.toISOString()}`, rotatedAt, dueAt: dueAt.toISOString() }
}
