import { BatchV1Api } from '../../../shared/kubernetes/api.ts'
import { kubernetesError } from '../../../shared/kubernetes/client.ts'
import type { ResolvedAction } from '../config.ts'
import { render } from '../matchers.ts'
import type { ActionRunner } from './action.ts'

/**
 * Creates a Job from a CronJob's template, as `kubectl create job --from=cronjob/<name>`
 * does: the manual-instantiate annotation and the CronJob as controlling owner.
 */
export const runCronJob: ActionRunner<Extract<ResolvedAction, { type: 'runCronJob' }>> = {
  async run(action, { context, kube, recorder, rule, labels, namespace }) {
    const name = render(action.name, labels)
    const at = `${namespace}/${name}`
    if (context.dryRun) return { action: 'create Job from CronJob', target: at, done: false, dryRun: true, message: `would create a Job from CronJob ${at}` }
    const batch = kube().makeApiClient(BatchV1Api)
    try {
      const cron = await batch.readNamespacedCronJob({ namespace, name })
      const jobName = `${name.slice(0, 40)}-alert-${Math.floor(Date.now() / 1000).toString(36)}`
      await batch.createNamespacedJob({ namespace, body: {
        apiVersion: 'batch/v1', kind: 'Job',
        metadata: { name: jobName, namespace, annotations: { 'cronjob.kubernetes.io/instantiate': 'manual' }, labels: cron.spec?.jobTemplate.metadata?.labels ?? {},
          ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name, uid: cron.metadata!.uid!, controller: true }] },
        spec: cron.spec!.jobTemplate.spec!,
      } })
      await recorder?.record({ apiVersion: 'batch/v1', kind: 'CronJob', namespace, name, ...(cron.metadata?.uid ? { uid: cron.metadata.uid } : {}) }, { type: 'Normal', reason: 'AlertRemediated', action: 'Run', message: `rule ${rule.name}: created Job ${jobName} for alert ${labels.alertname ?? ''}` })
      return { action: 'create Job from CronJob', target: at, done: true, message: `created Job ${namespace}/${jobName}` }
    } catch (err) { throw kubernetesError(err, `create a Job from CronJob ${at}`) }
  },
}
