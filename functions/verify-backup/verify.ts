import { basename, resolve } from 'node:path'
import { formatDuration, parseDuration } from '../../shared/duration.ts'
import type { BackupCheck, BackupFailure } from '../../shared/events/types/backup.ts'
import { listArtifacts, type Artifact } from './artifacts.ts'
import type { BackupSet } from './config.ts'
import { verifyEtcdSnapshot } from './formats/etcd.ts'
import { verifyGitBundle } from './formats/git-bundle.ts'
import { verifyGzip } from './formats/gzip.ts'
import { verifyRdb } from './formats/rdb.ts'
import { sidecarPath, verifySidecar } from './formats/sidecar.ts'
import type { FormatVerdict } from './formats/stream.ts'
import { verifySumsArchive } from './formats/tar-sums.ts'
import { verifyVaultSnapshot } from './formats/vault-snapshot.ts'

/**
 * The checks of one backup set, in the spec's order, stopping at the first
 * failure: presence, age, size, integrity by format, the side checksum, the
 * set's depth against its retention, the restore test. Read-only: nothing
 * here writes to a backup.
 */

/** The check names and failure codes are the event catalogue's (shared/events/types/backup.ts). */
export type CheckName = BackupCheck

/** A check's verdict; `failure` says which way it failed, where it can fail in more than one. */
export interface CheckVerdict extends FormatVerdict {
  readonly failure?: BackupFailure
}

export interface CheckReport {
  readonly check: CheckName
  readonly failure?: BackupFailure
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
  readonly time: string
  readonly timeSource: Artifact['timeSource']
  readonly timeNote?: string
}

export interface SetReport {
  readonly set: string
  readonly format: BackupSet['format']
  readonly verified: boolean
  /** What failed, when something did: the failing check's `failure`, else its name. */
  readonly failedCheck?: CheckName | BackupFailure
  readonly artifact?: ArtifactInfo
  /** The set's newest artifact, when a request named an older one: the set's newest-artifact metrics are not this report's. */
  readonly newestArtifact?: string
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
  return { name: a.name, path: a.path, size: a.size, modified: a.modified.toISOString(), time: a.time.toISOString(), timeSource: a.timeSource, ...(a.timeNote ? { timeNote: a.timeNote } : {}) }
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
    case 'sha256sums-tar-gzip':
      return verifySumsArchive(artifact.path, artifact.size, signal)
    case 'longhorn':
      throw new Error('longhorn sets are verified through the Kubernetes API')
  }
}

/** Runs checks in order; `run` stops at the first failure. */
export class CheckRun {
  readonly checks: CheckReport[] = []
  failed: CheckName | BackupFailure | undefined

  async run(check: CheckName, fn: () => Promise<CheckVerdict> | CheckVerdict): Promise<boolean> {
    if (this.failed) return false
    const started = performance.now()
    const verdict = await fn()
    const failure = verdict.ok ? undefined : verdict.failure
    this.checks.push({ check, ...(failure ? { failure } : {}), ok: verdict.ok, message: verdict.message, evidence: verdict.evidence, durationMs: Math.round(performance.now() - started) })
    if (!verdict.ok) this.failed = failure ?? check
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

const DAY_MS = 86_400_000
/** A name's time this far ahead of now is clock skew between hosts; further, the name or its zone is wrong. */
export const FUTURE_TOLERANCE_MS = 5 * 60_000
/** At most this many names listed in a message or its evidence. */
const LIST_MAX = 5

function listed(names: string[]): string {
  return names.length > LIST_MAX ? `${names.slice(0, LIST_MAX).join(', ')} and ${names.length - LIST_MAX} more` : names.join(', ')
}

/**
 * The age check. The artifact's time comes from its name where the set
 * says how to read it (a copy resets a modification time, never a name).
 * A whole set is judged by its newest artifact against the RPO; a request
 * naming an older artifact verifies that artifact, and its age is reported,
 * not judged: the RPO is the set's, the newest artifact's.
 */
export function ageVerdict(set: BackupSet, artifact: Artifact, all: readonly Artifact[], now: Date): CheckVerdict {
  const rpoMs = parseDuration(set.rpo)!
  const ageMs = now.getTime() - artifact.time.getTime()
  const newest = all[0]!
  const isNewest = newest === artifact
  const unparsed = set.timestamp ? all.filter((a) => a.timeSource === 'mtime').map((a) => a.name) : []
  const by = artifact.timeSource === 'name' ? 'by its name' : set.timestamp ? `by its modification time: ${artifact.timeNote ?? 'its name has no timestamp'}` : 'by its modification time'
  const evidence = {
    ageSeconds: Math.round(ageMs / 1000), rpoSeconds: rpoMs / 1000, time: artifact.time.toISOString(), timeSource: artifact.timeSource, modified: artifact.modified.toISOString(),
    ...(unparsed.length > 0 ? { unparsedNames: unparsed.slice(0, LIST_MAX), unparsedCount: unparsed.length } : {}),
    ...(isNewest ? {} : { newest: newest.name, newestAgeSeconds: Math.round((now.getTime() - newest.time.getTime()) / 1000) }),
  }
  if (set.timestamp?.unparsed === 'fail' && unparsed.length > 0) {
    return { ok: false, failure: 'age-name-unparsed', message: `${unparsed.length} artifact(s) of the set have no timestamp in their name (${listed(unparsed)}); the set's timestamp.unparsed is "fail": rename them or remove them from the set's directory`, evidence }
  }
  if (-ageMs > FUTURE_TOLERANCE_MS) {
    return { ok: false, failure: 'age-future', message: `${artifact.name} is dated ${artifact.time.toISOString()}, ${formatDuration(-ageMs)} in the future (${by}): check the set's timestamp.zone and the clock of the host that names the backups`, evidence }
  }
  const age = formatDuration(Math.max(0, ageMs))
  if (!isNewest) {
    return { ok: true, message: `${artifact.name} is ${age} old (${by}); a requested artifact older than the newest (${newest.name}): the RPO of ${set.rpo} is judged on the newest`, evidence }
  }
  return ageMs <= rpoMs
    ? { ok: true, message: `${age} old (${by}), within the RPO of ${set.rpo}`, evidence }
    : { ok: false, message: `the newest artifact, ${artifact.name}, is ${age} old (${by}), older than the RPO of ${set.rpo}`, evidence }
}

/** Not empty, not under the floor, not shrunk beyond the tolerance against the artifact before it. */
export function sizeVerdict(set: BackupSet, artifact: Pick<Artifact, 'name' | 'size'>, previous: Pick<Artifact, 'name' | 'size'> | undefined, label = ''): CheckVerdict {
  const evidence = { size: artifact.size, minSizeBytes: set.minSizeBytes, previous: previous?.name ?? null, previousSize: previous?.size ?? null, maxShrinkPercent: set.maxShrinkPercent }
  if (artifact.size === 0) return { ok: false, failure: 'size-empty', message: `${label}${artifact.name} is empty (0 bytes)`, evidence }
  if (artifact.size < set.minSizeBytes) return { ok: false, failure: 'size-below-floor', message: `${label}${artifact.name} is ${artifact.size} bytes, below the set's floor of ${set.minSizeBytes} (minSizeBytes)`, evidence }
  if (previous && previous.size > 0) {
    const shrink = ((previous.size - artifact.size) / previous.size) * 100
    if (shrink > set.maxShrinkPercent) {
      return { ok: false, failure: 'size-shrunk', message: `${label}${artifact.name} is ${shrink.toFixed(1)}% smaller than ${previous.name} (${previous.size} → ${artifact.size} bytes), more than the ${set.maxShrinkPercent}% tolerated (maxShrinkPercent)`, evidence: { ...evidence, shrinkPercent: Number(shrink.toFixed(1)) } }
    }
  }
  return { ok: true, message: `${label}${artifact.size} bytes`, evidence }
}

/** An artifact (or a Longhorn Backup) with its time, for the depth check. */
export interface Dated {
  readonly name: string
  readonly time: Date
}

/**
 * The set's depth against its retention, from its artifacts newest first:
 * the oldest must be at least `retention.days` old, less one RPO (the
 * schedule's interval: the clean-up and the backup run on their own
 * clocks); not older than `retention.maxDays` (a clean-up silently not
 * deleting, as a `find` whose pattern no longer matches); and, with
 * `retention.maxGap`, no two neighbours further apart than that.
 */
export function depthVerdict(set: BackupSet, items: readonly Dated[], now: Date, label = ''): CheckVerdict {
  const retention = set.retention!
  const rpoMs = parseDuration(set.rpo)!
  const maxDays = retention.maxDays ?? Math.ceil(retention.days * 1.5)
  const oldest = items.at(-1)
  const oldestAgeMs = oldest ? now.getTime() - oldest.time.getTime() : 0
  const evidence = {
    count: items.length, oldest: oldest?.name ?? null, oldestAgeSeconds: Math.round(oldestAgeMs / 1000),
    retentionDays: retention.days, maxDays, ...(retention.maxGap ? { maxGapSeconds: parseDuration(retention.maxGap)! / 1000 } : {}),
  }
  const oldestAge = formatDuration(Math.max(0, oldestAgeMs))
  if (!oldest || oldestAgeMs < retention.days * DAY_MS - rpoMs) {
    return { ok: false, failure: 'depth-short', message: `${label}the oldest artifact${oldest ? `, ${oldest.name}, is ${oldestAge} old` : ' is missing'}, ${items.length} in all: the set must reach back ${retention.days} days (retention.days); history is missing, or the clean-up deletes too much`, evidence }
  }
  if (oldestAgeMs > maxDays * DAY_MS) {
    const beyond = items.filter((a) => now.getTime() - a.time.getTime() > retention.days * DAY_MS).length
    return { ok: false, failure: 'depth-excess', message: `${label}the oldest artifact, ${oldest.name}, is ${oldestAge} old, beyond the ${maxDays} days allowed (retention.maxDays) for a set kept ${retention.days} days; ${beyond} of ${items.length} are older than ${retention.days} days: the clean-up is not deleting (does its pattern still match the names?)`, evidence: { ...evidence, olderThanRetention: beyond } }
  }
  if (retention.maxGap) {
    const maxGapMs = parseDuration(retention.maxGap)!
    const gaps: Array<{ after: string; before: string; seconds: number }> = []
    for (let i = 0; i + 1 < items.length; i++) {
      const gapMs = items[i]!.time.getTime() - items[i + 1]!.time.getTime()
      if (gapMs > maxGapMs) gaps.push({ after: items[i + 1]!.name, before: items[i]!.name, seconds: Math.round(gapMs / 1000) })
    }
    if (gaps.length > 0) {
      const shown = gaps.slice(0, LIST_MAX).map((g) => `${formatDuration(g.seconds * 1000)} between ${g.after} and ${g.before}`).join('; ')
      return { ok: false, failure: 'depth-gap', message: `${label}${gaps.length} gap(s) longer than ${retention.maxGap} (retention.maxGap): ${shown}${gaps.length > LIST_MAX ? '; …' : ''}`, evidence: { ...evidence, gaps: gaps.slice(0, LIST_MAX), gapCount: gaps.length } }
    }
  }
  return { ok: true, message: `${label}${items.length} artifact(s), the oldest ${oldestAge} old: within ${retention.days} to ${maxDays} days`, evidence }
}

export async function verifyFileSet(set: BackupSet, options: VerifyOptions): Promise<SetReport> {
  const started = performance.now()
  const run = new CheckRun()
  const all = await listArtifacts(set.directory!, set.pattern!, set.timestamp)
  // `only` names the file as it sits in the directory; a link's path is its target's.
  const index = options.only ? all.findIndex((a) => a.path === options.only || resolve(set.directory!, a.name) === options.only) : 0
  const artifact = index >= 0 ? all[index] : undefined
  const previous = index >= 0 ? all[index + 1] : undefined
  const done = (r: SetReport): SetReport => (index > 0 ? { ...r, newestArtifact: all[0]!.name } : r)

  await run.run('presence', () => artifact
    ? { ok: true, message: `${artifact.name} (${all.length} artifact(s) in the set)`, evidence: { directory: set.directory, pattern: set.pattern, count: all.length } }
    : { ok: false, message: options.only ? `${basename(options.only)} is not an artifact of set ${set.name}` : `no artifact matching ${set.pattern} in ${set.directory}`, evidence: { directory: set.directory, pattern: set.pattern, count: all.length } })
  if (!artifact) return report(set, run, started, options.now)

  await run.run('age', () => ageVerdict(set, artifact, all, options.now))
  await run.run('size', () => sizeVerdict(set, artifact, previous))
  await run.run('integrity', () => integrityCheck(set, artifact, options.signal))

  const sidecar = run.failed ? undefined : await sidecarPath(artifact.path)
  if (sidecar) await run.run('checksum', () => verifySidecar(artifact.path, sidecar, options.signal))

  // Depth is the set's, not one artifact's: not judged on a request naming one.
  if (set.retention && !options.only) await run.run('depth', () => depthVerdict(set, all, options.now))

  if (set.restore?.mode === 'job' && options.restoreJob && !run.failed) {
    const step = await options.restoreJob(artifact, set, options.signal)
    if ('started' in step) return done(report(set, run, started, options.now, artifact, step.started))
    await run.run('restore', () => step.verdict)
  } else if (set.restore && set.restore.mode !== 'job' && options.restore) {
    const restore = options.restore
    await run.run('restore', () => restore(artifact, set, options.signal))
  }
  return done(report(set, run, started, options.now, artifact))
}
