import type { CloudEvent } from 'cloudevents'
import { parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { readWorkload } from '../../shared/kubernetes/rollout.ts'
import { PROOF_BY } from '../../shared/runtime/proof.ts'
import type { HandlerContext } from '../../shared/runtime/function.ts'
import { ActionFailed, restartWorkload, type ActionResult, type RestartTarget } from './actions/index.ts'
import { healthUrlAllowed, type HealthCheck, type ManualRestart, type WorkloadKind } from './config.ts'
import { isLastAttempt } from './plan.ts'
import { asCaretakerError, DEDUP_MS, keepClaim, needKube, reasonOf, type Responder } from './responder.ts'
import { EventTypes, isEvent } from '../../shared/events/catalogue.ts'

/**
 * A manual restart (dev.caretaker.workload.restart.requested): the same
 * restart step as a rule's, guarded as the rules are: only in
 * manualRestart.namespaces, a cooldown per workload, the cap across
 * everything the function does, and a claim per request (its CloudEvent
 * source and id) on which the written restart is recorded, so a retry
 * after a failed wait waits for that rollout instead of rolling again.
 */

export const RESTART_REQUESTED = EventTypes.WorkloadRestartRequested
const RESTARTED = EventTypes.WorkloadRestarted
const RESTART_FAILED = EventTypes.WorkloadRestartFailed

/** The data of a manual restart request (shared/events/types/workload.ts). */
interface RestartRequest { kind: WorkloadKind; namespace: string; name: string; wait?: boolean; health?: HealthCheck; reason: string }

type Refusal = 'namespace' | 'health' | 'cooldown' | 'cap'

/** The restart request's handling, in order: check it, claim it, take the cooldown and a cap slot, restart, record. */
export async function handleRestartRequest(r: Responder, context: HandlerContext, event: CloudEvent<unknown>): Promise<CloudEvent<unknown>> {
  const { config, claimMs } = r
  if (!isEvent(event, RESTART_REQUESTED)) throw new CaretakerError(Errors.UnknownEventType, `event type ${JSON.stringify(event.type)} is not handled here`)
  const req: RestartRequest = event.data
  const target = `${req.namespace}/${req.name}`
  const wait = req.wait !== false
  const by = (event as unknown as Record<string, unknown>)[PROOF_BY]
  const base = { kind: req.kind, namespace: req.namespace, name: req.name, target, reason: req.reason, ...(typeof by === 'string' ? { requestedBy: by } : {}), ...(context.dryRun ? { dryRun: true } : {}) }
  const who = { kind: req.kind, target, requested_by: base.requestedBy }
  const refuse = (why: Refusal, message: string, details: Record<string, unknown> = {}): never => {
    r.skipped.inc({ reason: `manual-${why}` })
    context.log.warn({ ...who, reason: message }, 'restart request refused')
    throw new CaretakerError(Errors.Forbidden, message, { details: { refused: why, ...details } })
  }

  // 1: The request is allowed: its namespace and health URL, and the workload exists.
  const manual = checkRequest(config.manualRestart, req, wait, refuse)
  await checkWorkloadExists(r, req)
  const step: RestartTarget = { kind: req.kind, namespace: req.namespace, name: req.name, timeout: config.restartTimeout, wait, ...(req.health ? { health: req.health } : {}) }
  const audit = { reason: 'RestartRequested', message: `restart requested${base.requestedBy ? ` by ${base.requestedBy}` : ''}: ${req.reason}`.slice(0, 1024) }
  const restartStep = { context, kube: () => needKube(r).kube, recorder: r.recorder, audit }
  const cooldown = manual.cooldown ?? config.cooldown
  if (context.dryRun) {
    const planned = await restartWorkload(step, restartStep)
    context.log.info({ ...who, plan: planned.message }, 'dry-run: restart planned')
    return context.reply({ type: RESTARTED, subject: target, data: { ...base, message: `${planned.message}; not done: dry-run (send the request with dryrun=false to restart; a restart of ${target} is then refused for ${cooldown} after it)` } })
  }

  // 2: The request's own claim: the runtime's idempotency store answers a redelivery of a finished request; this claim
  // carries the restart an earlier, failed attempt wrote, and counts attempts for the last one's failure event.
  const { state: st } = needKube(r)
  const key = `restart-request\0${event.source}\0${event.id}`
  const cooldownKey = `manual-restart\0${req.kind}\0${target}`
  const claim = await st.claimAlert(key, event.id, claimMs)
  if (!claim.claimed) {
    if (claim.state === 'in-progress') throw new CaretakerError(Errors.EventInProgress, `the restart request ${event.id} is being handled by an earlier delivery; retry later`)
    const records = await st.actionsDone(key)
    return context.reply({ type: RESTARTED, subject: target, data: { ...base, alreadyRestarted: true, message: `already done by an earlier delivery of this request: ${records.find((rec) => rec.phase === 'done')?.message ?? `restarted ${req.kind} ${target}`}` } })
  }

  // 3: The cooldown per workload and a slot of the cap. A refused request leaves its claim failed, not done: a
  // redelivery is refused again (or acts once the cooldown is over), never answered as if it had restarted.
  const cooldownMs = parseDuration(cooldown)!
  if (!await st.takeCooldown(cooldownKey, claimMs)) {
    await st.failAlert(key, claimMs)
    refuse('cooldown', `${req.kind} ${target} was restarted less than ${cooldown} ago (manualRestart.cooldown): a restart is refused until the cooldown has passed; wait, or if it must roll now use kubectl rollout restart`, { cooldown })
  }
  const slot = await st.takeCapSlot(config.cap.actions, r.capWindowMs)
  if (!slot.taken) {
    await st.releaseCooldown(cooldownKey)
    await st.failAlert(key, claimMs)
    refuse('cap', `respond-to-alert has reached its cap of ${config.cap.actions} actions per ${config.cap.window} (cap): the restart is refused until the window passes`, { cap: config.cap })
  }

  // 4: Restart, or wait for the rollout of the restart an earlier attempt wrote.
  const records = await st.actionsDone(key)
  const earlier = records.find((rec) => rec.index === 1 && rec.phase === 'restarted' && rec.generation !== undefined)
  const stop = keepClaim(st, { key, eventId: event.id, cooldownKey }, claimMs, (e) => {
    context.log.warn({ ...who, reason: reasonOf(e) }, 'could not renew the claim on the restart request; it runs out after claimFor')
  })
  let result: ActionResult
  const id = `restart:${req.kind}:${target}`
  try {
    result = await restartWorkload(step, {
      ...restartStep,
      resume: earlier ? { generation: earlier.generation! } : undefined,
      written: async (w, message) => {
        await st.recordAction(key, { index: 1, action: id, phase: 'restarted', generation: w.generation, message }).catch(() => false).then((ok) => {
          if (!ok) context.log.warn(who, 'could not record the restart as written; a retry would restart again')
        })
      },
    })
  } catch (err) {
    // Give back the cooldown and the claim (the cap slot stays used); on the last attempt, tell notify.
    stop()
    r.actionsTaken.inc({ rule: 'manual', action: 'restart', result: 'failed' })
    const forget = (what: string) => (e: unknown) => context.log.warn({ reason: reasonOf(e) }, `could not give back the ${what}; it runs out by itself`)
    await st.releaseCooldown(cooldownKey).catch(forget('cooldown'))
    await st.failAlert(key, claimMs).catch(forget('claim'))
    const error = asCaretakerError(err)
    const last = isLastAttempt(claim.attempt, config.retries)
    context.log.error({ ...who, attempt: claim.attempt, last, reason: error.message }, last ? 'requested restart failed on the last attempt' : 'requested restart failed; the Broker retries')
    if (last) {
      const got = err instanceof ActionFailed ? err.result : undefined
      await context.emit({ type: RESTART_FAILED, subject: target, data: { ...base, ...pick(got), message: got?.message ?? error.message, error: error.code, attempts: claim.attempt } }, 1)
    }
    throw error
  }
  stop()
  r.actionsTaken.inc({ rule: 'manual', action: 'restart', result: 'done' })

  // 5: Record it done: the cooldown runs from now, and a redelivery is a duplicate.
  try {
    await st.recordAction(key, { index: 1, action: id, phase: 'done', message: result.message })
    await st.confirmCooldown(cooldownKey, cooldownMs)
    await st.finishAlert(key, DEDUP_MS)
  } catch (err) {
    // Done: a failure to record it must not have the Broker redeliver (that would restart twice).
    context.log.warn({ ...who, reason: reasonOf(err) }, 'restarted, but the cooldown and dedup record could not be made final; they run out after claimFor')
  }
  context.log.info({ ...who, result: result.message }, 'restarted on request')
  return context.reply({ type: RESTARTED, subject: target, data: { ...base, ...pick(result), ...(earlier ? { alreadyRestarted: true } : {}), message: result.message } })
}

/** Whether manual restarts are allowed for this request's namespace and health URL; the manualRestart config when so. */
function checkRequest(manual: ManualRestart | undefined, req: RestartRequest, wait: boolean, refuse: (why: Refusal, message: string, details?: Record<string, unknown>) => never): ManualRestart {
  const target = `${req.namespace}/${req.name}`
  if (!manual) return refuse('namespace', `respond-to-alert takes no manual restarts: set manualRestart.namespaces in its config to the namespaces whose workloads may be restarted on request (and grant its ServiceAccount patch on ${req.kind.toLowerCase()}s there)`)
  if (!manual.namespaces.includes(req.namespace)) {
    refuse('namespace', `namespace ${req.namespace} is not among manualRestart.namespaces (${manual.namespaces.join(', ')}): add it to respond-to-alert's config to allow restarting ${req.kind} ${target} on request`, { namespace: req.namespace, allowed: manual.namespaces })
  }
  if (req.health && !wait) throw new CaretakerError(Errors.InvalidEventData, 'data.health needs data.wait: the health check runs once the rollout has finished; drop health or wait: false')
  if (req.health && !healthUrlAllowed(req.health.url, req.namespace, manual.healthUrls)) {
    refuse('health', `data.health.url must be a Service of namespace ${req.namespace} (http://<service>.${req.namespace}.svc[.cluster.local][:port]/...) or start with one of manualRestart.healthUrls (${manual.healthUrls.join(', ') || 'none set'}): add its prefix there to allow it`, { url: withoutCredentials(req.health.url) })
  }
  return manual
}

/** A workload that does not exist is the request's mistake (400, not retried), not the API failing. */
async function checkWorkloadExists(r: Responder, req: RestartRequest): Promise<void> {
  try {
    await readWorkload(needKube(r).kube, req.kind, req.namespace, req.name)
  } catch (err) {
    if (err instanceof CaretakerError && err.details?.code === 404) throw new CaretakerError(Errors.InvalidEventData, `${req.kind} ${req.namespace}/${req.name} does not exist: check data.kind, data.namespace and data.name`)
    throw err
  }
}

/** A URL as it may be shown: user and password dropped. */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url)
    u.username = ''
    u.password = ''
    return u.href
  } catch { return 'an unparseable URL' }
}

/** The rollout and health fields of a restart's result, for the outcome events. */
function pick(r: ActionResult | undefined): Pick<ActionResult, 'rolled' | 'rollout' | 'healthy' | 'healthStatus'> {
  if (!r) return {}
  return { ...(r.rolled !== undefined ? { rolled: r.rolled } : {}), ...(r.rollout !== undefined ? { rollout: r.rollout } : {}), ...(r.healthy !== undefined ? { healthy: r.healthy } : {}), ...(r.healthStatus !== undefined ? { healthStatus: r.healthStatus } : {}) }
}
