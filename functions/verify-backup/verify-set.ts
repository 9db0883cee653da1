import { CaretakerError, Errors } from '../../shared/errors.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import type { HandlerContext } from '../../shared/runtime/function.ts'
import type { BackupSet } from './config.ts'
import { readDumpVersion } from './formats/pg-version.ts'
import { fail } from './formats/stream.ts'
import { verifyLonghornSet } from './longhorn.ts'
import { restoreJob } from './restore-job.ts'
import { verifyFileSet, type RestoreJobStep, type SetReport } from './verify.ts'
import type { Verifier } from './verifier.ts'
import { EventTypes } from '../../shared/events/catalogue.ts'

const VERIFIED = EventTypes.BackupVerified
const FAILED = EventTypes.BackupVerificationFailed
const RESTORE_STARTED = EventTypes.BackupRestoreStarted

/** The type of a set's outcome event: verified, failed, or its restore test handed to a Job. */
export function outcomeType(result: SetReport): string {
  return result.restore ? RESTORE_STARTED : result.verified ? VERIFIED : FAILED
}

export function outcome(result: SetReport, context: HandlerContext, trigger: string) {
  return context.reply({ type: outcomeType(result), subject: result.set, data: { ...result, trigger } })
}

/**
 * Verifies one set (its newest artifact, or `only`), one at a time per set:
 * the checks of its format, then its metrics, the Event on its CronJob and
 * a log line. A restore test handed to a Job is reported when it finishes.
 */
export function verifySet(v: Verifier, set: BackupSet, context: HandlerContext, only?: string, restoreStep?: RestoreJobStep): Promise<SetReport> {
  return v.perSet.run(set.name, async () => {
    const now = new Date()
    const result = set.format === 'longhorn'
      ? await verifyLonghornSet(set, v.kubeConfig, now)
      : await verifyFileSet(set, { now, signal: context.signal, restore: v.restore, restoreJob: restoreStep ?? ((a, s, signal) => startRestoreJob(v, a, s, signal, context)), ...(only ? { only } : {}) })
    if (result.restore) {
      context.log.info({ set: set.name, artifact: result.artifact?.name, job: result.restore.job, existing: result.restore.existing }, 'restore test handed to a Job; the verdict comes when it finishes')
      return result
    }
    v.metrics.observe(result)
    await noteOnCronJob(v, set, result, context)
    const line = { set: set.name, verified: result.verified, failed_check: result.failedCheck, artifact: result.artifact?.name, duration_ms: result.durationMs }
    if (result.verified) context.log.info(line, 'backup set verified')
    else context.log.warn({ ...line, reason: result.checks.at(-1)?.message }, 'backup set failed verification')
    return result
  })
}

/** The verdict as an Event on the set's backup CronJob, where `kubectl describe` shows it. */
export async function noteOnCronJob(v: Verifier, set: BackupSet, result: SetReport, context: HandlerContext): Promise<void> {
  if (!v.recorder || !set.cronJob) return
  if (context.dryRun) {
    context.log.info({ set: set.name }, 'dry-run: the Event on the CronJob is not recorded')
    return
  }
  const last = result.checks.at(-1)
  await v.recorder.onCronJob(set.cronJob.namespace, set.cronJob.name, result.verified
    ? { type: 'Normal', reason: 'BackupVerified', action: 'Verify', message: `backup set ${set.name}: ${result.artifact?.name ?? 'backups'} verified (${result.checks.map((c) => c.check).join(', ')})` }
    : { type: 'Warning', reason: 'BackupVerificationFailed', action: 'Verify', message: `backup set ${set.name}: ${result.failedCheck} check failed: ${last?.message ?? ''}` })
}

/**
 * Starts the restore test of one artifact as a Job in the image of the
 * dump's own major version. The Job's name comes from the set and the
 * artifact: a redelivery, a sweep or another replica finds it there (409)
 * and creates nothing more.
 */
export async function startRestoreJob(v: Verifier, artifact: Parameters<RestoreJobStep>[0], set: BackupSet, signal: AbortSignal, context: HandlerContext): ReturnType<RestoreJobStep> {
  const version = await readDumpVersion(artifact.path, signal)
  if (!version) return { verdict: fail('restore test cannot run: the dump has no "-- Dumped from database version" header to choose the PostgreSQL image by', {}) }
  if (!v.batch) throw new CaretakerError(Errors.DependencyUnavailable, 'a restore test in job mode creates a Kubernetes Job, and no Kubernetes API is configured')
  const body = restoreJob({ set, artifact, version, config: v.restoreJob, namespace: v.restoreNamespace })
  const name = body.metadata!.name!
  const image = body.spec!.template.spec!.containers[0]!.image!
  const namespace = v.restoreNamespace
  const started = { state: 'started' as const, job: name, namespace, image }
  if (context.dryRun) {
    context.log.info({ set: set.name, job: name, image }, 'dry-run: the restore Job is not created')
    return { started: { ...started, existing: false } }
  }
  try {
    await v.batch.createNamespacedJob({ namespace, body })
    context.log.info({ set: set.name, job: name, image, dumpedFrom: version.server }, 'restore Job created')
    return { started: { ...started, existing: false } }
  } catch (err) {
    const e = kubernetesError(err, `create Job ${namespace}/${name}`)
    if (e.details?.code !== 409) throw e
    return { started: { ...started, existing: true } }
  }
}
