import { CaretakerError, Errors } from '../../../shared/errors.ts'
import type { ResolvedAction } from '../config.ts'
import { render } from '../matchers.ts'
import type { ActionRunner } from './action.ts'
import { EventTypes } from '../../../shared/events/catalogue.ts'

const NOTIFICATION = EventTypes.AlertNotification

/** Tells people through notify (dev.caretaker.alert.notification), with a message rendered from the labels. */
export const notify: ActionRunner<Extract<ResolvedAction, { type: 'notify' }>> = {
  async run(action, { context, rule, labels, index }) {
    const message = render(action.message, labels)
    if (context.dryRun) return { action: 'notify', done: false, dryRun: true, message: `would notify: ${message}` }
    const sent = await context.emit({ type: NOTIFICATION, subject: labels.alertname, data: { alertname: labels.alertname ?? '', severity: labels.severity ?? '', message, rule: rule.name, labels } }, index)
    if (!sent) throw new CaretakerError(Errors.DependencyUnavailable, 'the notification was not accepted by the broker')
    return { action: 'notify', done: true, message }
  },
}
