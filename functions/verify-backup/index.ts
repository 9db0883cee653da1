import { basename, resolve } from 'node:path'
import type { V1Job, V1Pod } from '@kubernetes/client-node'
import { BatchV1Api, CoreV1Api } from '../../shared/kubernetes/api.ts'
import type { CloudEvent } from 'cloudevents'
import picomatch from 'picomatch'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { LEFT_AT_DEADLINE, pastDeadline, timeLeft } from '../../shared/deadline.ts'
import { parseDuration } from '../../shared/duration.ts'
import { API_SERVER_CHANGE_TYPES } from '../../shared/events/types/knative.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import { KeyedSerial } from '../../shared/serial.ts'
import { EventRecorder } from '../../shared/kubernetes/events.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { podNamespace } from '../../shared/runtime/settings.ts'
import { isInside } from './artifacts.ts'
import { checkConfig, configSchema, DEFAULT_RESTORE_JOB, type BackupSet, type VerifyBackupConfig } from './config.ts'
import { readDumpVersion } from './formats/pg-version.ts'
import { fail } from './formats/stream.ts'
import { ARTIFACT_LABEL, ARTIFACT_PATH_ANNOTATION, artifactHash, restoreJob, restoreSetLabel, restoreVerdict, RESTORE_TEST_LABEL } from './restore-job.ts'
import { verifyLonghornSet } from './longhorn.ts'
import { BackupMetrics } from './metrics.ts'
import { restoreRunner } from './restore.ts'
import { CheckRun, report, verifyFileSet, type RestoreJobStep, type SetReport } from './verify.ts'

/**
 * verify-backup: proves each backup set is present, fresh, intact and (for
 * the sets with a restore test) restorable, as soon as its backup Job completes, in a daily
 * sweep, and on request. Read-only: it never changes or deletes a backup.
 */

const JOB_EVENTS = API_SERVER_CHANGE_TYPES
const PING = 'dev.knative.sources.ping'
const REQUEST = 'dev.caretaker.backup.verify.requested'
const VERIFIED = 'dev.caretaker.backup.verified'
const FAILED = 'dev.caretaker.backup.verification.failed'
const SWEEP = 'dev.caretaker.backup.sweep.completed'
const RESTORE_STARTED = 'dev.caretaker.backup.restore.started'
/** The Job controller's label on a Job's Pods (kubernetes/kubernetes pkg/controller/job, batch.kubernetes.io/job-name since 1.27). */
const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name'
/** Job uids already verified, so later updates of a finished Job do not verify again. */
const SEEN_JOBS_MAX = 1000

type JobState = 'complete' | 'failed' | 'running'

function jobState(job: V1Job): JobState {
  const conditions = job.status?.conditions ?? []
  if (conditions.some((c) => c.type === 'Complete' && c.status === 'True')) return 'complete'
  if (conditions.some((c) => c.type === 'Failed' && c.status === 'True')) return 'failed'
  return 'running'
}

function cronJobOwner(job: V1Job): string | undefined {
  return job.metadata?.ownerReferences?.find((o) => o.kind === 'CronJob')?.name
}

export default defineFunction<VerifyBackupConfig>({
  name: 'verify-backup',
  description: 'verifies backups: presence, age, size, integrity by format, checksum, restore test',
  accepts: [...JOB_EVENTS, PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, log, metrics: registry, runDeadlineMs }) {
    checkConfig(config, runDeadlineMs)
    const metrics = new BackupMetrics(registry)
    const recorder = kubeConfig ? new EventRecorder(kubeConfig, 'verify-backup', log) : undefined
    const batch = kubeConfig?.makeApiClient(BatchV1Api)
    const core = kubeConfig?.makeApiClient(CoreV1Api)
    // The Jobs run in the function's own namespace unless the config names another.
    const restoreJobConfig = config.restoreJob ?? DEFAULT_RESTORE_JOB
    const restoreNamespace = restoreJobConfig.namespace ?? podNamespace(process.env) ?? 'caretaker'
    const restore = restoreRunner(config.postgresBinDir === undefined ? {} : { postgresBinDir: config.postgresBinDir })
    const seenJobs = new Map<string, string>()
    // One verification per set at a time: a Job completion and the sweep
    // arriving together verify the set once each, in turn, never at once.
    const perSet = new KeyedSerial()

    async function verifySet(set: BackupSet, context: HandlerContext, only?: string, restoreStep?: RestoreJobStep): Promise<SetReport> {
      return perSet.run(set.name, async () => {
        const now = new Date()
        const result = set.format === 'longhorn'
          ? await verifyLonghornSet(set, kubeConfig, now)
          : await verifyFileSet(set, { now, signal: context.signal, restore, restoreJob: restoreStep ?? ((a, s, signal) => startRestoreJob(a, s, signal, context)), ...(only ? { only } : {}) })
        if (result.restore) {
          context.log.info({ set: set.name, artifact: result.artifact?.name, job: result.restore.job, existing: result.restore.existing }, 'restore test handed to a Job; the verdict comes when it finishes')
          return result
        }
        metrics.observe(result)
        await noteOnCronJob(set, result, context)
        const line = { set: set.name, verified: result.verified, failed_check: result.failedCheck, artifact: result.artifact?.name, duration_ms: result.durationMs }
        if (result.verified) context.log.info(line, 'backup set verified')
        else context.log.warn({ ...line, reason: result.checks.at(-1)?.message }, 'backup set failed verification')
        return result
      })
    }

    async function noteOnCronJob(set: BackupSet, result: SetReport, context: HandlerContext): Promise<void> {
      if (!recorder || !set.cronJob) return
      if (context.dryRun) {
        context.log.info({ set: set.name }, 'dry-run: the Event on the CronJob is not recorded')
        return
      }
      const last = result.checks.at(-1)
      await recorder.onCronJob(set.cronJob.namespace, set.cronJob.name, result.verified
        ? { type: 'Normal', reason: 'BackupVerified', action: 'Verify', message: `backup set ${set.name}: ${result.artifact?.name ?? 'backups'} verified (${result.checks.map((c) => c.check).join(', ')})` }
        : { type: 'Warning', reason: 'BackupVerificationFailed', action: 'Verify', message: `backup set ${set.name}: ${result.failedCheck} check failed: ${last?.message ?? ''}` })
    }

    function outcomeType(result: SetReport): string {
      return result.restore ? RESTORE_STARTED : result.verified ? VERIFIED : FAILED
    }

    function outcome(result: SetReport, context: HandlerContext, trigger: string) {
      return context.reply({ type: outcomeType(result), subject: result.set, data: { ...result, trigger } })
    }

    /**
     * Starts the restore test of one artifact as a Job in the image of the
     * dump's own major version. The Job's name comes from the set and the
     * artifact: a redelivery, a sweep or another replica finds it there (409)
     * and creates nothing more.
     */
    async function startRestoreJob(artifact: Parameters<RestoreJobStep>[0], set: BackupSet, signal: AbortSignal, context: HandlerContext): ReturnType<RestoreJobStep> {
      const version = await readDumpVersion(artifact.path, signal)
      if (!version) return { verdict: fail('restore test cannot run: the dump has no "-- Dumped from database version" header to choose the PostgreSQL image by', {}) }
      if (!batch) throw new CaretakerError(Errors.DependencyUnavailable, 'a restore test in job mode creates a Kubernetes Job, and no Kubernetes API is configured')
      const body = restoreJob({ set, artifact, version, config: restoreJobConfig, namespace: restoreNamespace })
      const name = body.metadata!.name!
      const image = body.spec!.template.spec!.containers[0]!.image!
      const namespace = restoreNamespace
      const started = { state: 'started' as const, job: name, namespace, image }
      if (context.dryRun) {
        context.log.info({ set: set.name, job: name, image }, 'dry-run: the restore Job is not created')
        return { started: { ...started, existing: false } }
      }
      try {
        await batch.createNamespacedJob({ namespace, body })
        context.log.info({ set: set.name, job: name, image, dumpedFrom: version.server }, 'restore Job created')
        return { started: { ...started, existing: false } }
      } catch (err) {
        const e = kubernetesError(err, `create Job ${namespace}/${name}`)
        if (e.details?.code !== 409) throw e
        return { started: { ...started, existing: true } }
      }
    }

    /** The newest Pod of a Job (backoffLimit 0: normally its only one). */
    async function podOf(job: V1Job): Promise<V1Pod | undefined> {
      if (!core) return undefined
      const namespace = job.metadata!.namespace!
      try {
        const pods = await core.listNamespacedPod({ namespace, labelSelector: `${JOB_NAME_LABEL}=${job.metadata!.name}` })
        const own = pods.items.filter((p) => !job.metadata?.uid || p.metadata?.ownerReferences?.some((o) => o.uid === job.metadata?.uid))
        return own.sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')))[0]
      } catch (err) {
        throw kubernetesError(err, `list the Pods of Job ${namespace}/${job.metadata!.name}`)
      }
    }

    /**
     * A restore Job finished: the artifact it restored is verified again up
     * to the restore (it may have changed or gone since), and the restore
     * check is the Job's verdict, read from its Pod's termination message.
     */
    async function onRestoreJob(job: V1Job, set: BackupSet, context: HandlerContext) {
      const path = job.metadata?.annotations?.[ARTIFACT_PATH_ANNOTATION]
      const hash = job.metadata?.labels?.[ARTIFACT_LABEL]
      if (!path || !hash || !set.directory) {
        context.log.warn({ job: job.metadata?.name }, 'a restore Job without its artifact annotation and label: ignored')
        return undefined
      }
      const pod = await podOf(job)
      const step: RestoreJobStep = async (artifact) => artifactHash(artifact) === hash
        ? { verdict: restoreVerdict(set, job, pod) }
        : { verdict: fail(`${artifact.name} changed after the restore Job ${job.metadata?.name} started (another size or modification time): its restore says nothing about this version`, { job: job.metadata?.name ?? null }) }
      return outcome(await verifySet(set, context, path, step), context, `restore-job:${job.metadata?.name}`)
    }

    function setNamed(name: string): BackupSet {
      const set = config.sets.find((s) => s.name === name)
      if (!set) throw new CaretakerError(Errors.InvalidRequest, `no backup set named "${name}"; configured sets: ${config.sets.map((s) => s.name).join(', ') || 'none'}`)
      return set
    }

    function setOfPath(path: string): BackupSet {
      const set = config.sets.find((s) => s.directory && s.pattern && isInside(s.directory, path) && picomatch(s.pattern)(basename(path)))
      if (!set) throw new CaretakerError(Errors.InvalidRequest, `${path} is not an artifact of any configured backup set (it must be directly in a set's directory and match its pattern)`)
      return set
    }

    /**
     * The Job an ApiServerSource event is about, as the API has it now. The
     * event's own copy (Resource mode) is never trusted: anyone who can post
     * to the broker could forge a "finished" Job. Only a Job the API returns,
     * with the uid the event names, counts; one that does not exist is ignored.
     */
    async function jobOf(event: CloudEvent<unknown>, context: HandlerContext): Promise<V1Job | undefined> {
      let ref: { namespace?: string | undefined; name?: string | undefined; uid?: string | undefined }
      if (event.type.startsWith('dev.knative.apiserver.resource.')) {
        const job = event.data as V1Job
        if (job.kind !== 'Job') return undefined
        ref = { namespace: job.metadata?.namespace, name: job.metadata?.name, uid: job.metadata?.uid }
      } else {
        const data = event.data as { kind: string; name: string; namespace?: string }
        if (data.kind !== 'Job') return undefined
        ref = { namespace: data.namespace, name: data.name }
      }
      if (!ref.namespace || !ref.name) return undefined
      if (!batch) throw new CaretakerError(Errors.DependencyUnavailable, 'a Job event is confirmed through the Kubernetes API, and none is configured')
      let job: V1Job
      try {
        job = await batch.readNamespacedJob({ namespace: ref.namespace, name: ref.name })
      } catch (err) {
        const e = kubernetesError(err, `read Job ${ref.namespace}/${ref.name}`)
        if (e.details?.code !== 404) throw e
        context.log.info({ job: `${ref.namespace}/${ref.name}` }, 'the Job of the event does not exist: ignored')
        return undefined
      }
      if (ref.uid && job.metadata?.uid !== ref.uid) {
        context.log.info({ job: `${ref.namespace}/${ref.name}` }, 'the Job of the event is not the one the API has (another uid): ignored')
        return undefined
      }
      return job
    }

    async function onJob(event: CloudEvent<unknown>, context: HandlerContext) {
      const job = await jobOf(event, context)
      if (!job) return undefined
      const namespace = job.metadata?.namespace ?? ''
      const restoreOf = job.metadata?.labels?.[RESTORE_TEST_LABEL]
      if (restoreOf !== undefined && namespace === restoreNamespace) {
        const set = config.sets.find((s) => s.restore?.mode === 'job' && restoreSetLabel(s.name) === restoreOf)
        if (!set) {
          context.log.info({ job: job.metadata?.name, set: restoreOf }, 'a restore Job of a set that is not configured for job mode: ignored')
          return undefined
        }
        if (jobState(job) === 'running') return undefined
        const uid = job.metadata?.uid ?? `${namespace}/${job.metadata?.name}`
        if (seenJobs.has(uid)) {
          context.log.info({ set: set.name, job: job.metadata?.name }, 'this restore Job was judged already')
          return undefined
        }
        seenJobs.set(uid, set.name)
        if (seenJobs.size > SEEN_JOBS_MAX) seenJobs.delete(seenJobs.keys().next().value!)
        try {
          return await onRestoreJob(job, set, context)
        } catch (err) {
          // Not judged after all (the API or the file failed us): the redelivery judges it.
          seenJobs.delete(uid)
          throw err
        }
      }
      const owner = cronJobOwner(job)
      const set = config.sets.find((s) => s.cronJob && s.cronJob.namespace === namespace && s.cronJob.name === owner)
      if (!set) {
        context.log.debug({ job: `${namespace}/${job.metadata?.name}` }, 'not the Job of a configured backup set')
        return undefined
      }
      const state = jobState(job)
      if (state === 'running') return undefined
      const uid = job.metadata?.uid ?? `${namespace}/${job.metadata?.name}`
      if (seenJobs.has(uid)) {
        context.log.info({ set: set.name, job: job.metadata?.name }, 'this Job was verified already')
        return undefined
      }
      seenJobs.set(uid, set.name)
      if (seenJobs.size > SEEN_JOBS_MAX) seenJobs.delete(seenJobs.keys().next().value!)
      if (state === 'failed') {
        const started = performance.now()
        const run = new CheckRun()
        const failedCondition = job.status?.conditions?.find((c) => c.type === 'Failed')
        await run.run('job', () => ({ ok: false, message: `backup Job ${job.metadata?.name} failed${failedCondition?.reason ? ` (${failedCondition.reason})` : ''}: no new artifact`, evidence: { job: job.metadata?.name, reason: failedCondition?.reason ?? null, message: failedCondition?.message ?? null } }))
        const result = report(set, run, started, new Date())
        metrics.observe(result)
        await noteOnCronJob(set, result, context)
        return outcome(result, context, `job:${job.metadata?.name}`)
      }
      return outcome(await verifySet(set, context), context, `job:${job.metadata?.name}`)
    }

    async function sweep(context: HandlerContext) {
      const results: SetReport[] = []
      const deferred: string[] = []
      const restoring: Array<{ set: string; job: string }> = []
      for (const [i, set] of config.sets.entries()) {
        if (context.signal.aborted) throw new CaretakerError(Errors.ShuttingDown, 'the sweep was interrupted by shutdown; it will be retried')
        // A set whose verification (its restore test at most) no longer fits
        // before the run's deadline is not started: it is asked for again as
        // a request of its own, which the Broker brings back with a deadline of its own.
        if (timeLeft(context.deadline) <= (set.restore && set.restore.mode !== 'job' ? parseDuration(set.restore.timeout)! : 0) || pastDeadline(context.deadline)) {
          deferred.push(set.name)
          const sent = await context.emit({ type: REQUEST, subject: set.name, data: { set: set.name } }, 1000 + i)
          context.log.warn({ set: set.name, requested: sent }, `backup set not verified in this sweep: ${LEFT_AT_DEADLINE}`)
          continue
        }
        const result = await verifySet(set, context)
        if (result.restore) restoring.push({ set: set.name, job: result.restore.job })
        else results.push(result)
        await context.emit({ type: outcomeType(result), subject: set.name, data: { ...result, trigger: 'sweep' } }, i + 1)
      }
      return context.reply({
        type: SWEEP,
        data: {
          verified: results.filter((r) => r.verified).length,
          failed: results.filter((r) => !r.verified).length,
          sets: results.map((r) => ({ set: r.set, verified: r.verified, ...(r.failedCheck ? { failedCheck: r.failedCheck } : {}), artifact: r.artifact?.name ?? null })),
          deferred,
          ...(restoring.length > 0 ? { restoring } : {}),
        },
      })
    }

    return {
      async handle(context, event) {
        if (event.type === PING) return sweep(context)
        if (event.type === REQUEST) {
          const data = event.data as { set?: string; path?: string }
          if (data.path) {
            const set = data.set ? setNamed(data.set) : setOfPath(data.path)
            if (data.set && !(set.directory && isInside(set.directory, data.path))) {
              throw new CaretakerError(Errors.InvalidRequest, `${data.path} is not in the directory of backup set ${set.name}`)
            }
            return outcome(await verifySet(set, context, resolve(data.path)), context, 'request')
          }
          return outcome(await verifySet(setNamed(data.set!), context), context, 'request')
        }
        return onJob(event, context)
      },
    }
  },
})
