import type { V1Job, V1Pod } from '@kubernetes/client-node'
import type { CloudEvent } from 'cloudevents'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import type { HandlerContext } from '../../shared/runtime/function.ts'
import type { BackupSet } from './config.ts'
import { fail } from './formats/stream.ts'
import { ARTIFACT_LABEL, ARTIFACT_PATH_ANNOTATION, artifactHash, restoreVerdict } from './restore-job.ts'
import { backupJobSet, jobState, jobUid, restoreJobSet } from './sets.ts'
import { CheckRun, report, type RestoreJobStep } from './verify.ts'
import { noteOnCronJob, outcome, verifySet } from './verify-set.ts'
import type { Verifier } from './verifier.ts'
import { EventTypes, isEvent } from '../../shared/events/catalogue.ts'
import { byCodeUnits } from '../../shared/order.ts'

/** The Job controller's label on a Job's Pods (kubernetes/kubernetes pkg/controller/job, batch.kubernetes.io/job-name since 1.27). */
const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name'

/**
 * A Job finished (ApiServerSource): a backup Job of a set is verified (or,
 * failed, reported as such), a restore Job's verdict completes its set's
 * verification. Each finished Job is judged once per instance.
 */
export async function onJob(v: Verifier, event: CloudEvent<unknown>, context: HandlerContext): Promise<CloudEvent<unknown> | undefined> {
  // 1: The Job as the API has it now.
  const job = await jobOf(v, event, context)
  if (!job) return undefined

  // 2: A restore Job: its verdict.
  const restoreOf = restoreJobSet(v.config, job, v.restoreNamespace)
  if (restoreOf) {
    const { set } = restoreOf
    if (!set) {
      context.log.info({ job: job.metadata?.name, set: restoreOf.label }, 'a restore Job of a set that is not configured for job mode: ignored')
      return undefined
    }
    if (jobState(job) === 'running') return undefined
    const uid = jobUid(job)
    if (!v.seenJobs.claim(uid, set.name)) {
      context.log.info({ set: set.name, job: job.metadata?.name }, 'this restore Job was judged already')
      return undefined
    }
    try {
      return await onRestoreJob(v, job, set, context)
    } catch (err) {
      // Not judged after all (the API or the file failed us): the redelivery judges it.
      v.seenJobs.forget(uid)
      throw err
    }
  }

  // 3: A backup Job of a configured set, finished: verify the set, or report the failed Job.
  const set = backupJobSet(v.config, job)
  if (!set) {
    context.log.debug({ job: `${job.metadata?.namespace ?? ''}/${job.metadata?.name}` }, 'not the Job of a configured backup set')
    return undefined
  }
  const state = jobState(job)
  if (state === 'running') return undefined
  if (!v.seenJobs.claim(jobUid(job), set.name)) {
    context.log.info({ set: set.name, job: job.metadata?.name }, 'this Job was verified already')
    return undefined
  }
  if (state === 'failed') return failedBackupJob(v, job, set, context)
  return outcome(await verifySet(v, set, context), context, `job:${job.metadata?.name}`)
}

/**
 * The Job an ApiServerSource event is about, as the API has it now. The
 * event's own copy (Resource mode) is never trusted: anyone who can post
 * to the broker could forge a "finished" Job. Only a Job the API returns,
 * with the uid the event names, counts; one that does not exist is ignored.
 */
export async function jobOf(v: Verifier, event: CloudEvent<unknown>, context: HandlerContext): Promise<V1Job | undefined> {
  let ref: { namespace?: string | undefined; name?: string | undefined; uid?: string | undefined }
  if (isEvent(event, EventTypes.ApiServerResourceAdd, EventTypes.ApiServerResourceUpdate)) {
    // The object as the source sent it: the catalogue's schema checks its identity, the rest is a Job's.
    const job: V1Job = event.data
    if (job.kind !== 'Job') return undefined
    ref = { namespace: job.metadata?.namespace, name: job.metadata?.name, uid: job.metadata?.uid }
  } else if (isEvent(event, EventTypes.ApiServerRefAdd, EventTypes.ApiServerRefUpdate)) {
    const data = event.data
    if (data.kind !== 'Job') return undefined
    ref = { namespace: data.namespace, name: data.name }
  } else return undefined
  if (!ref.namespace || !ref.name) return undefined
  if (!v.batch) throw new CaretakerError(Errors.DependencyUnavailable, 'a Job event is confirmed through the Kubernetes API, and none is configured')
  let job: V1Job
  try {
    job = await v.batch.readNamespacedJob({ namespace: ref.namespace, name: ref.name })
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

/** A failed backup Job left no new artifact: the set fails its `job` check. */
async function failedBackupJob(v: Verifier, job: V1Job, set: BackupSet, context: HandlerContext): Promise<CloudEvent<unknown>> {
  const started = performance.now()
  const run = new CheckRun()
  const failedCondition = job.status?.conditions?.find((c) => c.type === 'Failed')
  await run.run('job', () => ({ ok: false, message: `backup Job ${job.metadata?.name} failed${failedCondition?.reason ? ` (${failedCondition.reason})` : ''}: no new artifact`, evidence: { job: job.metadata?.name, reason: failedCondition?.reason ?? null, message: failedCondition?.message ?? null } }))
  const result = report(set, run, started, new Date())
  v.metrics.observe(result)
  await noteOnCronJob(v, set, result, context)
  return outcome(result, context, `job:${job.metadata?.name}`)
}

/**
 * A restore Job finished: the artifact it restored is verified again up
 * to the restore (it may have changed or gone since), and the restore
 * check is the Job's verdict, read from its Pod's termination message.
 */
export async function onRestoreJob(v: Verifier, job: V1Job, set: BackupSet, context: HandlerContext): Promise<CloudEvent<unknown> | undefined> {
  const path = job.metadata?.annotations?.[ARTIFACT_PATH_ANNOTATION]
  const hash = job.metadata?.labels?.[ARTIFACT_LABEL]
  if (!path || !hash || !set.directory) {
    context.log.warn({ job: job.metadata?.name }, 'a restore Job without its artifact annotation and label: ignored')
    return undefined
  }
  const pod = await podOf(v, job)
  const step: RestoreJobStep = async (artifact) => artifactHash(artifact) === hash
    ? { verdict: restoreVerdict(set, job, pod) }
    : { verdict: fail(`${artifact.name} changed after the restore Job ${job.metadata?.name} started (another size or modification time): its restore says nothing about this version`, { job: job.metadata?.name ?? null }) }
  return outcome(await verifySet(v, set, context, path, step), context, `restore-job:${job.metadata?.name}`)
}

/** The newest Pod of a Job (backoffLimit 0: normally its only one). */
async function podOf(v: Verifier, job: V1Job): Promise<V1Pod | undefined> {
  if (!v.core) return undefined
  const namespace = job.metadata!.namespace!
  try {
    const pods = await v.core.listNamespacedPod({ namespace, labelSelector: `${JOB_NAME_LABEL}=${job.metadata!.name}` })
    const own = pods.items.filter((p) => !job.metadata?.uid || p.metadata?.ownerReferences?.some((o) => o.uid === job.metadata?.uid))
    return own.sort((a, b) => byCodeUnits(String(b.metadata?.creationTimestamp ?? ''), String(a.metadata?.creationTimestamp ?? '')))[0]
  } catch (err) {
    throw kubernetesError(err, `list the Pods of Job ${namespace}/${job.metadata!.name}`)
  }
}
