import { BatchV1Api, type KubeConfig } from '../../shared/kubernetes/api.ts'
import { kubernetesError, kubernetesStatusCode } from '../../shared/kubernetes/client.ts'
import type { Action, ResolvedAction } from './config.ts'
import { render } from './matchers.ts'

/** The alert names a target that cannot be acted on (a Job gone, or not a CronJob's): skipped, not retried. */
export class TargetError extends Error {}

/**
 * The actions with their targets known: a runCronJob `fromJob` becomes the
 * CronJob that controls that Job (its ownerReference, as the CronJob
 * controller sets it: kubernetes/kubernetes pkg/controller/cronjob,
 * getJobFromTemplate2). A Job gone, or not run by a CronJob, is a TargetError.
 */
export async function resolveActions(kube: () => KubeConfig, actions: readonly Action[], namespace: string, labels: Record<string, string>): Promise<ResolvedAction[]> {
  const out: ResolvedAction[] = []
  for (const a of actions) {
    if (!('fromJob' in a)) { out.push(a); continue }
    const job = render(a.fromJob, labels)
    let read
    try {
      read = await kube().makeApiClient(BatchV1Api).readNamespacedJob({ namespace, name: job })
    } catch (err) {
      if (kubernetesStatusCode(err) === 404) throw new TargetError(`Job ${namespace}/${job} is gone, so the CronJob to re-run is not known`)
      throw kubernetesError(err, `read Job ${namespace}/${job}`)
    }
    const owner = read.metadata?.ownerReferences?.find((o) => o.kind === 'CronJob' && o.apiVersion.startsWith('batch/') && o.controller === true)
    if (!owner) throw new TargetError(`Job ${namespace}/${job} is not run by a CronJob`)
    out.push({ type: 'runCronJob', name: owner.name })
  }
  return out
}
