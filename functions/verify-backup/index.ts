import { resolve } from 'node:path'
import type { CloudEvent } from 'cloudevents'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { LEFT_AT_DEADLINE } from '../../shared/deadline.ts'
import { API_SERVER_CHANGE_TYPES } from '../../shared/events/types/knative.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { checkConfig, configSchema, type VerifyBackupConfig } from './config.ts'
import { onJob } from './jobs.ts'
import { fitsBeforeDeadline, setOfRequest, sweepSummary } from './sets.ts'
import type { SetReport } from './verify.ts'
import { outcome, outcomeType, verifySet } from './verify-set.ts'
import { createVerifier, type Verifier } from './verifier.ts'
import { EventTypes, isEvent } from '../../shared/events/catalogue.ts'

/**
 * verify-backup: proves each backup set is present, fresh, intact and (for
 * the sets with a restore test) restorable, as soon as its backup Job completes, in a daily
 * sweep, and on request. Read-only: it never changes or deletes a backup.
 * One set's verification is verify-set.ts (its checks: verify.ts, formats/,
 * restore*.ts), a Job's completion jobs.ts, the pure choices sets.ts.
 */

const JOB_EVENTS = API_SERVER_CHANGE_TYPES
const PING = EventTypes.Ping
const REQUEST = EventTypes.BackupVerifyRequested
const SWEEP = EventTypes.BackupSweepCompleted

/** A request: one set, or one artifact of a set. */
export async function onRequest(v: Verifier, event: CloudEvent<unknown>, context: HandlerContext): Promise<CloudEvent<unknown>> {
  if (!isEvent(event, REQUEST)) throw new CaretakerError(Errors.UnknownEventType, `event type ${JSON.stringify(event.type)} is not handled here`)
  const data = event.data
  const set = setOfRequest(v.config, data)
  return outcome(await verifySet(v, set, context, data.path ? resolve(data.path) : undefined), context, 'request')
}

/**
 * The daily sweep: every set in turn, an outcome event each. A set that no
 * longer fits before the run's deadline is asked for again as a request of
 * its own, which the Broker brings back with a deadline of its own.
 */
export async function sweep(v: Verifier, context: HandlerContext): Promise<CloudEvent<unknown>> {
  const results: SetReport[] = []
  const deferred: string[] = []
  const restoring: Array<{ set: string; job: string }> = []
  for (const [i, set] of v.config.sets.entries()) {
    if (context.signal.aborted) throw new CaretakerError(Errors.ShuttingDown, 'the sweep was interrupted by shutdown; it will be retried')
    if (!fitsBeforeDeadline(set, context.deadline)) {
      deferred.push(set.name)
      const sent = await context.emit({ type: REQUEST, subject: set.name, data: { set: set.name } }, 1000 + i)
      context.log.warn({ set: set.name, requested: sent }, `backup set not verified in this sweep: ${LEFT_AT_DEADLINE}`)
      continue
    }
    const result = await verifySet(v, set, context)
    if (result.restore) restoring.push({ set: set.name, job: result.restore.job })
    else results.push(result)
    await context.emit({ type: outcomeType(result), subject: set.name, data: { ...result, trigger: 'sweep' } }, i + 1)
  }
  return context.reply({ type: SWEEP, data: sweepSummary(results, deferred, restoring) })
}

export default defineFunction<VerifyBackupConfig>({
  name: 'verify-backup',
  description: 'verifies backups: presence, age, size, integrity by format, checksum, restore test',
  accepts: [...JOB_EVENTS, PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, log, metrics, runDeadlineMs }) {
    checkConfig(config, runDeadlineMs)
    const verifier = createVerifier(config, kubeConfig, log, metrics)
    return {
      async handle(context, event) {
        if (event.type === PING) return sweep(verifier, context)
        if (event.type === REQUEST) return onRequest(verifier, event, context)
        return onJob(verifier, event, context)
      },
    }
  },
})
