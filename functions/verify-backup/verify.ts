import { basename, resolve } from 'node:path'
import { formatDuration, parseDuration } from '../../shared/duration.ts'
import { listArtifacts, type Artifact } from './artifacts.ts'
import type { BackupSet } from './config.ts'
import { verifyEtcdSnapshot } from './formats/etcd.ts'
import { verifyGitBundle } from './formats/git-bundle.ts'
import { verifyGzip } from './formats/gzip.ts'
import { verifyRdb } from './formats/rdb.ts'
import { sidecarPath, verifySidecar } from './formats/sidecar.ts'
import type { FormatVerdict } from './formats/stream.ts'
import { verifyVaultSnapshot } from './formats/vault-snapshot.ts'

/**
 * The checks of one backup set, in the spec's order, stopping at the first
 * failure: presence, age, size, integrity by format, the side checksum, the
 * restore test. Read-only: nothing here writes to a backup.
 */

export type CheckName = 'job' | 'presence' | 'age' | 'size' | 'integrity' | 'checksum' | 'restore' | 'longhorn'

export interface CheckReport {
  readonly check: CheckName
  readonly ok: boolean
  readonly message: string
  readonly evidence: Readonly<Record<string, unknown>>
  readonly durationMs: number
}

export interface ArtifactInfo {
  readonly name: string
  readonly path: string
  readonly size: number
  readonly modified: string
}

export interface SetReport {
  readonly set: string
  readonly format: BackupSet['format']
  readonly verified: boolean
  /** The check that failed, when one did. */
  readonly failedCheck?: CheckName
  readonly artifact?: ArtifactInfo
  readonly checks: CheckReport[]
  readonly durationMs: number
  readonly verifiedAt: string
  /** A restore test handed to a Kubernetes Job (`restore.mode: job`): the verdict comes when the Job finishes. */
  readonly restore?: RestoreStarted
}

export interface RestoreStarted {
  readonly state: 'started'
  readonly job: string
  readonly namespace: string
  readonly image: string
  /** The Job was there already (a redelivery, or another replica): not created again. */
  readonly existing: boolean
}

/**
 * The restore test as a Job: either a verdict now (the test cannot start,
 * or the Job has finished and this is its verdict) or the Job it started.
 */
export type RestoreJobStep = (artifact: Artifact, set: BackupSet, signal: AbortSignal) => Promise<{ verdict: FormatVerdict } | { started: RestoreStarted }>

/** Restores a PostgreSQL dump into a throwaway server and runs the set's queries. */
export type RestoreRunner = (artifact: Artifact, set: BackupSet, signal: AbortSignal) => Promise<FormatVerdict>

export interface VerifyOptions {
  readonly now: Date
  readonly signal: AbortSignal
  readonly restore?: RestoreRunner
  /** For sets with `restore.mode: job`. */
  readonly restoreJob?: RestoreJobStep
  /** Verify this artifact instead of the newest (a manual request naming a file). */
  readonly only?: string
}

export function artifactInfo(a: Artifact): ArtifactInfo {
  return { name: a.name, path: a.path, size: a.size, modified: a.modified.toISOString() }
}

function integrityCheck(set: BackupSet, artifact: Artifact, signal: AbortSignal): Promise<FormatVerdict> {
  switch (set.format) {
    case 'pg-dumpall-gzip':
      return verifyGzip(artifact.path, artifact.size, { pgDumpall: true, signal })
    case 'etcd-snapshot':
      return verifyEtcdSnapshot(artifact.path, artifact.size, signal)
    case 'redis-rdb':
      return verifyRdb(artifact.path, artifact.size, signal)
    case 'vault-raft-snapshot':
      return verifyVaultSnapshot(artifact.path, artifact.size, signal)
    case 'git-bundle':
      return verifyGitBundle(artifact.path, artifact.size, signal)
    case 'longhorn':
      throw new Error('longhorn sets are verified through the Kubernetes API')
  }
}

/** Runs checks in order; `run` stops at the first failure. */
export class CheckRun {
  readonly checks: CheckReport[] = []
  failed: CheckName | undefined

  async run(check: CheckName, fn: () => Promise<FormatVerdict> | FormatVerdict): Promise<boolean> {
    if (this.failed) return false
    const started = performance.now()
    const verdict = await fn()
    this.checks.push({ check, ok: verdict.ok, message: verdict.message, evidence: verdict.evidence, durationMs: Math.round(performance.now() - started) })
    if (!verdict.ok) this.failed = check
    return verdict.ok
  }
}

export function report(set: BackupSet, run: CheckRun, started: number, now: Date, artifact?: Artifact, restore?: RestoreStarted): SetReport {
  return {
    set: set.name,
    format: set.format,
    // A restore still running in a Job has not verified anything yet.
    verified: run.failed === undefined && !restore,
    ...(run.failed ? { failedCheck: run.failed } : {}),
    ...(artifact ? { artifact: artifactInfo(artifact) } : {}),
    checks: run.checks,
    durationMs: Math.round(performance.now() - started),
    verifiedAt: now.toISOString(),
    ...(restore ? { restore } : {}),
  }
}

export async function verifyFileSet(set: BackupSet, options: VerifyOptions): Promise<SetReport> {
  const started = performance.now()
  const run = new CheckRun()
  const all = await listArtifacts(set.directory!, set.pattern!)
  // `only` names the file as it sits in the directory; a link's path is its target's.
  const index = options.only ? all.findIndex((a) => a.path === options.only || resolve(set.directory!, a.name) === options.only) : 0
  const artifact = index >= 0 ? all[index] : undefined
  const previous = index >= 0 ? all[index + 1] : undefined

  await run.run('presence', () => artifact
    ? { ok: true, message: `${artifact.name} (${all.length} artifact(s) in the set)`, evidence: { directory: set.directory, pattern: set.pattern, count: all.length } }
    : { ok: false, message: options.only ? `${basename(options.only)} is not an artifact of set ${set.name}` : `no artifact matching ${set.pattern} in ${set.directory}`, evidence: { directory: set.directory, pattern: set.pattern, count: all.length } })
  if (!artifact) return report(set, run, started, options.now)

  const rpoMs = parseDuration(set.rpo)!
  const ageMs = options.now.getTime() - artifact.modified.getTime()
  await run.run('age', () => ({
    ok: ageMs <= rpoMs,
    message: ageMs <= rpoMs ? `${formatDuration(ageMs)} old, within the RPO of ${set.rpo}` : `the newest artifact is ${formatDuration(ageMs)} old, older than the RPO of ${set.rpo}`,
    evidence: { ageSeconds: Math.round(ageMs / 1000), rpoSeconds: rpoMs / 1000, modified: artifact.modified.toISOString() },
  }))

  await run.run('size', () => {
    const evidence = { size: artifact.size, minSizeBytes: set.minSizeBytes, previousSize: previous?.size ?? null, maxShrinkPercent: set.maxShrinkPercent }
    if (artifact.size === 0) return { ok: false, message: 'the artifact is empty', evidence }
    if (artifact.size < set.minSizeBytes) return { ok: false, message: `${artifact.size} bytes, below the floor of ${set.minSizeBytes}`, evidence }
    if (previous && previous.size > 0) {
      const shrink = ((previous.size - artifact.size) / previous.size) * 100
      if (shrink > set.maxShrinkPercent) {
        return { ok: false, message: `${shrink.toFixed(1)}% smaller than ${previous.name} (${previous.size} → ${artifact.size} bytes), more than the ${set.maxShrinkPercent}% tolerated`, evidence: { ...evidence, shrinkPercent: Number(shrink.toFixed(1)) } }
      }
    }
    return { ok: true, message: `${artifact.size} bytes`, evidence }
  })

  await run.run('integrity', () => integrityCheck(set, artifact, options.signal))

  const sidecar = run.failed ? undefined : await sidecarPath(artifact.path)
  if (sidecar) await run.run('checksum', () => verifySidecar(artifact.path, sidecar, options.signal))

  if (set.restore?.mode === 'job' && options.restoreJob && !run.failed) {
    const step = await options.restoreJob(artifact, set, options.signal)
    if ('started' in step) return report(set, run, started, options.now, artifact, step.started)
    await run.run('restore', () => step.verdict)
  } else if (set.restore && set.restore.mode !== 'job' && options.restore) {
    const restore = options.restore
    await run.run('restore', () => restore(artifact, set, options.signal))
  }
  return report(set, run, started, options.now, artifact)
}
