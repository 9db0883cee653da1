/**
 * Durations as operators write them in config: `90s`, `30m`, `24h`, `7d`,
 * `2w`, or combined (`1h30m`). Milliseconds inside the code.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g

/** The JSON-schema pattern of a duration, for config schemas. */
export const DURATION_PATTERN = '^(\\d+(\\.\\d+)?(ms|s|m|h|d|w))+$'

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!new RegExp(DURATION_PATTERN).test(text)) return undefined
  let total = 0
  for (const m of text.matchAll(PART)) total += Number(m[1]) * UNIT_MS[m[2]!]!
  return total
}

/** A short human form: `2d 3h`, `45m`, `12s`. */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : ''
  let rest = Math.abs(Math.round(ms / 1000))
  if (rest < 60) return `${sign}${rest}s`
  const parts: string[] = []
  for (const [unit, seconds] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    const n = Math.floor(rest / seconds)
    if (n > 0) parts.push(`${n}${unit}`)
    rest -= n * seconds
    if (parts.length === 2) break
  }
  return sign + parts.join(' ')
}
