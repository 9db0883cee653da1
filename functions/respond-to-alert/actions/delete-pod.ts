import { CoreV1Api } from '../../../shared/kubernetes/api.ts'
import { kubernetesError, kubernetesStatusCode } from '../../../shared/kubernetes/client.ts'
import type { ResolvedAction } from '../config.ts'
import { render } from '../matchers.ts'
import type { ActionRunner } from './action.ts'

/** Deletes a Pod (its controller starts a new one): a Pod gone already is what the action asks for. */
export const deletePod: ActionRunner<Extract<ResolvedAction, { type: 'deletePod' }>> = {
  async run(action, { context, kube, recorder, rule, labels, namespace }) {
    const name = render(action.name, labels)
    const at = `${namespace}/${name}`
    if (context.dryRun) return { action: 'delete Pod', target: at, done: false, dryRun: true, message: `would delete Pod ${at}` }
    const core = kube().makeApiClient(CoreV1Api)
    try {
      await core.deleteNamespacedPod({ namespace, name })
    } catch (err) {
      // Gone already: a retry after a later action failed (the claim is given back and every action runs again),
      // or the Pod went by itself. What the action asks for holds; deleting it is not done twice, nor reported so.
      if (kubernetesStatusCode(err) === 404) return { action: 'delete Pod', target: at, done: true, message: `Pod ${at} is gone already` }
      throw kubernetesError(err, `delete Pod ${at}`)
    }
    await recorder?.record({ apiVersion: 'v1', kind: 'Pod', namespace, name }, { type: 'Normal', reason: 'AlertRemediated', action: 'Delete', message: `rule ${rule.name}: deleted for alert ${labels.alertname ?? ''}` })
    return { action: 'delete Pod', target: at, done: true, message: `deleted Pod ${at}` }
  },
}
