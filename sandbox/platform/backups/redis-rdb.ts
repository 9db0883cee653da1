import { createHash } from 'node:crypto'
import { redisRdb, type RdbEntry } from '../formats.ts'
import { DAY } from './layout.ts'

// Redis: sessions, a rate limiter, feature flags

export function redisDump(takenAt: Date, dayIndex: number): Buffer {
  const entries: RdbEntry[] = [
    { key: 'config:feature-flags', data: { type: 'hash', value: { 'new-checkout': 'on', 'dark-mode': 'off', 'search-v2': dayIndex % 2 ? 'on' : 'off' } } },
    { key: 'queue:workers', data: { type: 'set', value: ['worker-0', 'worker-1', 'worker-2'] } },
    { key: 'stats:orders:total', data: { type: 'string', value: String(150 + dayIndex * 12) } },
    ...Array.from({ length: 5 }, (_, i): RdbEntry => ({ key: `session:${createHash('sha1').update(`s${dayIndex}-${i}`).digest('hex').slice(0, 16)}`, expiresAt: new Date(takenAt.getTime() + 365 * DAY), data: { type: 'string', value: JSON.stringify({ user: i + 1, issued: takenAt.toISOString() }) } })),
  ]
  return redisRdb(entries, takenAt)
}
