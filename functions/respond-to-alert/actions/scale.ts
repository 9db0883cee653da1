import { AppsV1Api } from '../../../shared/kubernetes/api.ts'
import { kubernetesError } from '../../../shared/kubernetes/client.ts'
import type { ResolvedAction } from '../config.ts'
import { render } from '../matchers.ts'
import { mergePatch, type ActionRunner } from './action.ts'

type Scale = Extract<ResolvedAction, { type: 'scale' }>

/** The replicas a scale action wants: the current count moved by `delta`, kept within min..max. */
export function scaledReplicas(action: Pick<Scale, 'delta' | 'min' | 'max'>, current: number): number {
  return Math.min(action.max, Math.max(action.min, current + action.delta))
}

/** Scales a Deployment or StatefulSet by `delta` within its bounds; at a bound it stays. */
export const scale: ActionRunner<Scale> = {
  async run(action, { context, kube, recorder, rule, labels, namespace }) {
    const name = render(action.name, labels)
    const at = `${namespace}/${name}`
    const apps = kube().makeApiClient(AppsV1Api)
    let current: number
    try {
      current = action.kind === 'Deployment'
        ? (await apps.readNamespacedDeployment({ namespace, name })).spec?.replicas ?? 1
        : (await apps.readNamespacedStatefulSet({ namespace, name })).spec?.replicas ?? 1
    } catch (err) { throw kubernetesError(err, `read ${action.kind} ${at}`) }
    const wanted = scaledReplicas(action, current)
    const base = { action: `scale ${action.kind}`, target: at }
    if (wanted === current) return { ...base, done: false, message: `${action.kind} ${at} stays at ${current} replicas (bounds ${action.min}..${action.max})` }
    if (context.dryRun) return { ...base, done: false, dryRun: true, message: `would scale ${action.kind} ${at} from ${current} to ${wanted}` }
    const body = { spec: { replicas: wanted } }
    try {
      if (action.kind === 'Deployment') await apps.patchNamespacedDeployment({ namespace, name, body }, mergePatch)
      else await apps.patchNamespacedStatefulSet({ namespace, name, body }, mergePatch)
    } catch (err) { throw kubernetesError(err, `scale ${action.kind} ${at}`) }
    await recorder?.record({ apiVersion: 'apps/v1', kind: action.kind, namespace, name }, { type: 'Normal', reason: 'AlertRemediated', action: 'Scale', message: `rule ${rule.name}: scaled from ${current} to ${wanted} for alert ${labels.alertname ?? ''}` })
    return { ...base, done: true, message: `scaled ${action.kind} ${at} from ${current} to ${wanted}` }
  },
}
