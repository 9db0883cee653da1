import { createHash } from 'node:crypto'
import { utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { VaultSimulator } from '../../simulators/vault/index.ts'

/** The demo backup sets' shape (what `createDemoBackups` returns), file names, schedules, and how one artifact is written. */

export type BackupFormat = 'etcd-snapshot' | 'gzip' | 'redis-rdb' | 'vault-raft' | 'git-bundle'
export type DemoExpectation = 'verified' | 'corrupt' | 'stale'

export interface DemoArtifact {
  path: string
  file: string
  takenAt: Date
  size: number
  /** SHA-256 of the file as written */
  sha256: string
  /** the `.sha256` file beside it, when there is one (sha256sum format) */
  checksumFile?: string
  /** deliberately damaged (a truncated copy) */
  corrupt?: boolean
}

export interface DemoBackupSet {
  name: 'etcd' | 'postgres' | 'redis' | 'vault' | 'gitea'
  dir: string
  format: BackupFormat
  /** the file names, as a glob */
  pattern: string
  /** the runbook's schedule (cron, UTC) */
  schedule: string
  rpoHours: number
  retentionDays: number
  /** newest first */
  artifacts: DemoArtifact[]
  /** what verifying the newest artifact should conclude */
  expected: DemoExpectation
}

export interface DemoBackups { dir: string, sets: DemoBackupSet[] }

export interface DemoBackupOptions {
  /** Take the Vault snapshots from this simulator (restorable into it without force); otherwise from a throwaway one. */
  vault?: VaultSimulator
}

export const HOUR = 3_600_000
export const DAY = 24 * HOUR
const pad = (n: number, w = 2) => String(n).padStart(w, '0')
export const backupStamp = (d: Date): string => `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}_${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`
export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** The `count` most recent times at hh:mm UTC (every `everyDays` days, on `weekday` if given) not after `now`, skipping the first `skip`. */
export function scheduleTimes(now: Date, hh: number, mm: number, count: number, opts: { skip?: number, weekday?: number } = {}): Date[] {
  const out: Date[] = []
  const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), hh, mm, 0))
  for (let t = day.getTime(); out.length < count + (opts.skip ?? 0); t -= DAY) {
    const d = new Date(t)
    if (d > now) continue
    if (opts.weekday !== undefined && d.getUTCDay() !== opts.weekday) continue
    out.push(d)
  }
  return out.slice(opts.skip ?? 0)
}

export async function writeArtifact(dir: string, file: string, data: Buffer, takenAt: Date, options: { checksum?: boolean, durationMs?: number, corruptTo?: number } = {}): Promise<DemoArtifact> {
  const path = join(dir, file)
  const finished = new Date(takenAt.getTime() + (options.durationMs ?? 90_000))
  let checksumFile: string | undefined
  if (options.checksum) {
    // Written by the backup job from what it produced, before any later damage.
    checksumFile = `${path}.sha256`
    await writeFile(checksumFile, `${sha256(data)}  ${file}\n`)
    await utimes(checksumFile, finished, finished)
  }
  const written = options.corruptTo !== undefined ? data.subarray(0, options.corruptTo) : data
  await writeFile(path, written)
  await utimes(path, finished, finished)
  return { path, file, takenAt, size: written.length, sha256: sha256(written), ...(checksumFile ? { checksumFile } : {}), ...(options.corruptTo !== undefined ? { corrupt: true } : {}) }
}
