import type { CloudEvent } from 'cloudevents'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { defineFunction, type FunctionModule, type HandlerContext } from '../../shared/runtime/function.ts'
import { ActionFailed, runAction, type ActionResult } from './actions/index.ts'
import { checkConfig, configSchema, type ResolvedAction, type RespondToAlertConfig, type Rule } from './config.ts'
import { cooldownOf, describeAction, findRule, isLastAttempt, planActions, remediatedReason, targetOf, type Alert, type Target } from './plan.ts'
import { asCaretakerError, createResponder, DEDUP_MS, keepClaim, needKube, reasonOf, type Responder } from './responder.ts'
import { handleRestartRequest, RESTART_REQUESTED } from './restart-request.ts'
import { alertKey, type ActionRecord } from './state.ts'
import { resolveActions, TargetError } from './targets.ts'
import { EventTypes, isEvent } from '../../shared/events/catalogue.ts'

/**
 * respond-to-alert: matches Alertmanager alerts against rules and runs their
 * bounded actions, with cooldown per rule and target, a cap per window
 * across rules, redelivery dedup (all three on Leases), dry-run, an audit
 * Event and a reply saying what was done and why, or why not. The steps of
 * an alert are below in the order they run; the decisions are in plan.ts,
 * each action in actions/, manual restart requests in restart-request.ts.
 */

const FIRING = EventTypes.AlertFiring
const RESOLVED = EventTypes.AlertResolved
const REMEDIATED = EventTypes.AlertRemediated
const SKIPPED = EventTypes.AlertSkipped
const FAILED = EventTypes.AlertFailed

/** Why an alert is not acted on (the skipped metric's reason label). */
type SkipReason = 'no-rule' | 'template' | 'unconfirmed' | 'namespace' | 'target' | 'duplicate' | 'cooldown' | 'cap'
interface Skip { skip: SkipReason; reason: string; extra?: Record<string, unknown> }
const skipped = (skip: SkipReason, reason: string, extra?: Record<string, unknown>): Skip => ({ skip, reason, ...(extra ? { extra } : {}) })

/** An alert's handling, step by step. */
export async function respondToAlert(r: Responder, context: HandlerContext, event: CloudEvent<unknown>): Promise<CloudEvent<unknown>> {
  if (!isEvent(event, FIRING, RESOLVED)) throw new CaretakerError(Errors.UnknownEventType, `event type ${JSON.stringify(event.type)} is not handled here`)
  const alert: Alert = event.data
  const alertname = alert.labels.alertname ?? ''
  const base = { alertname, fingerprint: alert.fingerprint, ...(context.dryRun ? { dryRun: true } : {}) }
  const skip = ({ skip: why, reason, extra = {} }: Skip) => {
    r.skipped.inc({ reason: why })
    context.log.info({ alertname, fingerprint: alert.fingerprint, reason, ...extra }, 'alert skipped')
    return context.reply({ type: SKIPPED, subject: alertname, data: { ...base, ...extra, reason } })
  }

  // 1: The first rule that matches the alert's labels, and its target rendered from them.
  const rule = findRule(r.rules, alert.labels)
  if (!rule) return skip(skipped('no-rule', 'no rule matches the alert'))
  let target: Target
  try { target = targetOf(rule, rule.actions, alert.labels) } catch (err) { return skip(skipped('template', `rule ${rule.name}: ${(err as Error).message}`, { rule: rule.name })) }

  // 2: Alertmanager confirms the alert.
  const unconfirmed = await confirmAlert(r, alert)
  if (unconfirmed) return skip(skipped('unconfirmed', unconfirmed, { rule: rule.name, target: target.target }))

  // 3: A resolved alert: its silence is expired.
  if (alert.status === 'resolved') return context.reply({ type: REMEDIATED, subject: alertname, data: { ...base, ...await endSilence(r, context, alert, rule, target) } })

  // 4: The target is in an allowed namespace, and known (a runCronJob fromJob resolved to its CronJob).
  if (!rule.allowedNamespaces.includes(target.namespace)) {
    return skip(skipped('namespace', `namespace ${target.namespace} is not among the rule's allowed namespaces (${rule.allowedNamespaces.join(', ')})`, { rule: rule.name, target: target.target }))
  }
  let actions: ResolvedAction[]
  try {
    actions = await resolveActions(() => needKube(r).kube, rule.actions, target.namespace, alert.labels)
  } catch (err) {
    if (err instanceof TargetError) return skip(skipped('target', `rule ${rule.name}: ${err.message}`, { rule: rule.name, target: target.target }))
    throw err
  }
  target = targetOf(rule, actions, alert.labels)
  const who = { rule: rule.name, target: target.target }

  // 5: The claim on the alert, the rule's cooldown on the target and a slot of the cap (not in a dry run).
  const key = alertKey(alert)
  const admitted = context.dryRun ? { attempt: 0 } : await admit(r, context, event.id, alert, rule, target, key)
  if ('skip' in admitted) return skip({ ...admitted, extra: who })

  // 6: The actions, under a silence; on failure what blocks a retry is given back.
  const results: ActionResult[] = []
  const silenceId = await act(r, context, { event, alert, rule, target, key, actions, attempt: admitted.attempt, results })

  // 7: Done: the cooldown runs from now and the alert is recorded as handled.
  if (!context.dryRun) await confirmDone(r, context, target, key, cooldownOf(rule, r.config).cooldownMs, { ...who, alertname })
  context.log.info({ ...who, alertname, actions: results.map((res) => res.message) }, context.dryRun ? 'dry-run: alert remediation planned' : 'alert remediated')
  const { reason, skippedAsDone } = remediatedReason(rule.name, context.dryRun, results)
  return context.reply({ type: REMEDIATED, subject: alertname, data: { ...base, ...who, reason, actions: results, ...(skippedAsDone.length ? { skippedAsDone } : {}), ...(silenceId ? { silenceId } : {}) } })
}

/**
 * Alert events reach the function unauthenticated (Knative's default install): Alertmanager, the source of
 * truth, must have a firing alert firing, and a resolved one no longer firing, before anything is done.
 * Why not, when it does not.
 */
export async function confirmAlert(r: Responder, alert: Alert): Promise<string | undefined> {
  if (!r.config.verifyAlerts || await r.alertmanager.isFiring(alert) === (alert.status === 'firing')) return undefined
  return alert.status === 'firing'
    ? `unconfirmed: Alertmanager has no firing alert ${alert.fingerprint} with these labels and startsAt`
    : `unconfirmed: Alertmanager still has alert ${alert.fingerprint} firing`
}

/**
 * A resolved alert: the silence its rule set is expired. It is kept under the resolved target; that target's
 * Job may be gone by now (then the silence runs out by itself). A dry run leaves it.
 */
export async function endSilence(r: Responder, context: HandlerContext, alert: Alert, rule: Rule, target: Target): Promise<Record<string, unknown>> {
  if (context.dryRun) return { rule: rule.name, target: target.target, reason: 'resolved; dry-run: the silence is left as it is', actions: [] }
  try {
    target = targetOf(rule, await resolveActions(() => needKube(r).kube, rule.actions, target.namespace, alert.labels), alert.labels)
  } catch (err) { if (!(err instanceof TargetError)) throw err }
  const { state } = needKube(r)
  const id = rule.silence ? await state.silenceOf(target.key) : undefined
  if (id) {
    await r.alertmanager.expireSilence(id)
    await state.setSilence(target.key, undefined)
  }
  return { rule: rule.name, target: target.target, reason: 'resolved', actions: [], ...(id ? { silenceId: id } : {}) }
}

/**
 * A re-sent notification of the same alert (same fingerprint, status, startsAt) acts once: the claim lasts
 * claimFor until the actions are done, so neither a failure nor a holder killed midway blocks the alert.
 * Then the rule's cooldown on the target, then a slot of the cap across rules (an alert storm is reported once).
 */
export async function admit(r: Responder, context: HandlerContext, eventId: string, alert: Alert, rule: Rule, target: Target, key: string): Promise<{ attempt: number } | Skip> {
  const { state } = needKube(r)
  const { config, claimMs } = r
  const claim = await state.claimAlert(key, eventId, claimMs)
  if (!claim.claimed) {
    // The Broker redelivers this very event while its claim is live: the holder died or is still at it. The
    // retry comes back when the claim is finished (a duplicate then) or has expired (it acts then).
    if (claim.state === 'in-progress' && claim.sameEvent) throw new CaretakerError(Errors.EventInProgress, `alert ${alert.labels.alertname ?? ''} (${alert.fingerprint}) is being handled by an earlier delivery of this event; retry later`)
    return skipped('duplicate', claim.state === 'done' ? 'duplicate: this alert was handled already' : 'duplicate: this alert is being handled by another delivery')
  }
  if (!await state.takeCooldown(target.key, claimMs)) {
    await state.finishAlert(key, DEDUP_MS)
    return skipped('cooldown', `cooldown: rule ${rule.name} acted on ${target.target} less than ${cooldownOf(rule, config).cooldown} ago`)
  }
  const slot = await state.takeCapSlot(config.cap.actions, r.capWindowMs)
  if (!slot.taken) {
    await state.releaseCooldown(target.key)
    await state.finishAlert(key, DEDUP_MS)
    if (slot.report) {
      context.log.warn({ cap: config.cap }, 'alert storm: the action cap is reached; further alerts are skipped until the window passes')
      await r.recorder?.record({ apiVersion: 'v1', kind: 'Namespace', name: config.stateNamespace, namespace: config.stateNamespace }, { type: 'Warning', reason: 'AlertStormCapReached', action: 'Skip', message: `respond-to-alert reached its cap of ${config.cap.actions} actions per ${config.cap.window}; alerts are skipped until the window passes` })
    }
    return skipped('cap', slot.report ? `cap reached: ${config.cap.actions} actions per ${config.cap.window} (alert storm; reported once)` : 'cap reached')
  }
  return { attempt: claim.attempt }
}

interface Attempt {
  event: CloudEvent<unknown>
  alert: Alert
  rule: Rule
  target: Target
  /** The alert's dedup key: its claim. */
  key: string
  actions: ResolvedAction[]
  attempt: number
  /** Filled with each action's result as it runs, for the reply or the failure event. */
  results: ActionResult[]
}

/**
 * Silences the alert (when the rule says so) and runs the plan's actions in order, each recorded on the claim
 * once done. On failure the cooldown, the claim and the silence are given back for the retry (the cap slot
 * stays used), and on the last attempt notify is told. The silence's id, if one was set.
 */
export async function act(r: Responder, context: HandlerContext, a: Attempt): Promise<string | undefined> {
  const { alert, rule, target, key, results } = a
  const who = { rule: rule.name, target: target.target, alertname: alert.labels.alertname ?? '' }
  let silenceId: string | undefined
  const stop = context.dryRun ? () => {} : keepClaim(needKube(r).state, { key, eventId: a.event.id, cooldownKey: target.key }, r.claimMs, (e) => {
    context.log.warn({ ...who, reason: reasonOf(e) }, 'could not renew the claim on the alert; it runs out after claimFor')
  })
  try {
    if (rule.silence && !context.dryRun) {
      silenceId = await r.alertmanager.silence(alert, rule.name, r.silenceMs)
      if (silenceId) await needKube(r).state.setSilence(target.key, silenceId)
    }
    await runPlan(r, context, a)
  } catch (err) {
    stop()
    if (context.dryRun) throw err
    // Should giving back fail too, the cooldown and the claim run out by themselves after claimFor.
    const forget = (what: string) => (e: unknown) => context.log.warn({ reason: reasonOf(e) }, `could not give back the ${what}; it runs out by itself`)
    await r.state?.releaseCooldown(target.key).catch(forget('cooldown'))
    await r.state?.failAlert(key, r.claimMs).catch(forget('claim'))
    if (silenceId) await r.alertmanager.expireSilence(silenceId).catch(forget('silence'))
    const error = asCaretakerError(err)
    const last = isLastAttempt(a.attempt, r.config.retries)
    context.log.error({ ...who, attempt: a.attempt, last, reason: error.message }, last ? 'alert remediation failed on the last attempt' : 'alert remediation failed; the Broker retries')
    if (last) {
      // The Trigger's last attempt: tell notify it failed. The error reply still dead-letters the alert event.
      const base = { alertname: who.alertname, fingerprint: alert.fingerprint }
      await context.emit({ type: FAILED, subject: who.alertname, data: { ...base, rule: rule.name, target: target.target, reason: `rule ${rule.name} failed after ${a.attempt} attempts: ${error.message}`, error: error.code, attempts: a.attempt, actions: results } }, rule.actions.length + 1)
    }
    throw error
  }
  stop()
  return silenceId
}

/** The actions in order: what earlier attempts at this alert got through (recorded on its claim) is not done again. */
export async function runPlan(r: Responder, context: HandlerContext, { alert, rule, target, key, actions, results }: Attempt): Promise<void> {
  const labels = alert.labels
  const who = { rule: rule.name, target: target.target, alertname: labels.alertname ?? '' }
  const records = context.dryRun ? [] : await needKube(r).state.actionsDone(key)
  const record = (rec: ActionRecord) => needKube(r).state.recordAction(key, rec).then((ok) => {
    if (!ok) context.log.warn({ ...who, action: rec.action }, 'could not record the action as done; a retry would run it again')
  }, (e: unknown) => context.log.warn({ ...who, action: rec.action, reason: reasonOf(e) }, 'could not record the action as done; a retry would run it again'))
  for (const { index, action, id, done, resume } of planActions(actions, target.namespace, labels, records)) {
    if (done) {
      results.push({ ...describeAction(action, target.namespace, labels), done: true, alreadyDone: true, message: `already done by an earlier attempt: ${done.message}` })
      continue
    }
    let result: ActionResult
    try {
      result = await runAction(action, {
        context, kube: () => needKube(r).kube, recorder: r.recorder, rule, labels, namespace: target.namespace, index, restartTimeout: r.config.restartTimeout,
        ...(resume ? { resume } : {}),
        written: (w, message) => record({ index, action: id, phase: 'restarted', generation: w.generation, message }),
      })
    } catch (err) {
      r.actionsTaken.inc({ rule: rule.name, action: action.type, result: 'failed' })
      if (err instanceof ActionFailed) results.push(err.result)
      throw err
    }
    results.push(result)
    r.actionsTaken.inc({ rule: rule.name, action: action.type, result: context.dryRun ? 'dry-run' : 'done' })
    if (!context.dryRun) await record({ index, action: id, phase: 'done', message: result.message })
  }
}

/**
 * The actions are done: a failure to record it must not have the Broker redeliver (that would act twice).
 * Unrecorded, the claim and the cooldown run out after claimFor; the next notification of the alert may act.
 */
async function confirmDone(r: Responder, context: HandlerContext, target: Target, key: string, cooldownMs: number, who: Record<string, string>): Promise<void> {
  const { state } = needKube(r)
  try {
    await state.confirmCooldown(target.key, cooldownMs)
    await state.finishAlert(key, DEDUP_MS)
  } catch (err) {
    context.log.warn({ ...who, reason: reasonOf(err) }, 'remediated, but the cooldown and dedup record could not be made final; they run out after claimFor')
  }
}

/** A fresh module (one per replica: a test may host two in one process). */
export function createRespondToAlert(): FunctionModule {
  return defineFunction<RespondToAlertConfig>({
    name: 'respond-to-alert',
    description: 'bounded, audited responses to Alertmanager alerts: restart, delete pod, scale, re-run a CronJob, request, silence, notify; and manual restarts that wait for the rollout and a health URL',
    accepts: [FIRING, RESOLVED, RESTART_REQUESTED],
    configSchema,
    setup({ config, kubeConfig, log, metrics, runDeadlineMs }) {
      checkConfig(config, runDeadlineMs)
      const responder = createResponder(config, kubeConfig, log, metrics)
      return {
        async handle(context, event) {
          if (!context.dryRun) responder.sweepNowAndThen()
          if (event.type === RESTART_REQUESTED) return handleRestartRequest(responder, context, event)
          return respondToAlert(responder, context, event)
        },
      }
    },
  })
}

export default createRespondToAlert()
