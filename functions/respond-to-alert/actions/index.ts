import type { ResolvedAction } from '../config.ts'
import type { ActionResult, ActionRunner, ActionStep } from './action.ts'
import { deletePod } from './delete-pod.ts'
import { notify } from './notify.ts'
import { request } from './request.ts'
import { restart } from './restart.ts'
import { runCronJob } from './run-cronjob.ts'
import { scale } from './scale.ts'

/** Every action a rule may take, by its config `type`: one module each. */
export const actions: { readonly [T in ResolvedAction['type']]: ActionRunner<Extract<ResolvedAction, { type: T }>> } = {
  restart, deletePod, scale, runCronJob, request, notify,
}

export function runAction(action: ResolvedAction, step: ActionStep): Promise<ActionResult> {
  // The registry's mapped type pairs each type with its runner; TypeScript cannot narrow the pair through the index.
  return (actions[action.type] as ActionRunner<ResolvedAction>).run(action, step)
}

export { ActionFailed, type ActionResult, type ActionStep } from './action.ts'
export { restartWorkload, type RestartTarget } from './restart.ts'
