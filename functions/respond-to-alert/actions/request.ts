import { CaretakerError, Errors } from '../../../shared/errors.ts'
import type { ResolvedAction } from '../config.ts'
import { render } from '../matchers.ts'
import type { ActionRunner } from './action.ts'

/** Emits a request event (another function's runbook, e.g. a backup check) with data rendered from the labels. */
export const request: ActionRunner<Extract<ResolvedAction, { type: 'request' }>> = {
  async run(action, { context, labels, index }) {
    const data = Object.fromEntries(Object.entries(action.data).map(([k, v]) => [k, render(v, labels)]))
    if (context.dryRun) return { action: `request ${action.eventType}`, done: false, dryRun: true, message: `would emit ${action.eventType}` }
    const sent = await context.emit({ type: action.eventType, data }, index)
    if (!sent) throw new CaretakerError(Errors.DependencyUnavailable, `the request ${action.eventType} was not accepted by the broker`)
    return { action: `request ${action.eventType}`, done: true, message: `emitted ${action.eventType}` }
  },
}
