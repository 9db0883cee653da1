import type { KubeConfig } from '../../shared/kubernetes/api.ts'
import { Counter, type Registry } from 'prom-client'
import { parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { EventRecorder } from '../../shared/kubernetes/events.ts'
import type { Logger } from '../../shared/logger.ts'
import { kubeMissing } from './actions/action.ts'
import { Alertmanager } from './alertmanager.ts'
import type { RespondToAlertConfig } from './config.ts'
import { compileRules, type CompiledRule } from './plan.ts'
import { AlertState } from './state.ts'

/** How often expired state Leases are swept, how long past expiry they are kept, and how many one sweep deletes. */
const SWEEP_EVERY_MS = 10 * 60_000
const SWEEP_GRACE_MS = 60 * 60_000
const SWEEP_MAX = 200

/** How long a finished alert (or request) stays recorded as done, against redelivery. */
export const DEDUP_MS = 24 * 3_600_000

/**
 * What respond-to-alert's steps share, built once per replica from its
 * config: the compiled rules, the clients, the Lease state and the metrics.
 */
export interface Responder {
  config: RespondToAlertConfig
  rules: CompiledRule[]
  kubeConfig: KubeConfig | undefined
  /** Cooldown, cap, dedup and claims on Leases; set with the Kubernetes API. */
  state: AlertState | undefined
  recorder: EventRecorder | undefined
  alertmanager: Alertmanager
  actionsTaken: Counter
  skipped: Counter
  /** config.claimFor, config.cap.window and config.silenceFor in ms. */
  claimMs: number
  capWindowMs: number
  silenceMs: number
  /** Sweeps expired state Leases now and then, in the background. */
  sweepNowAndThen(): void
}

export function createResponder(config: RespondToAlertConfig, kubeConfig: KubeConfig | undefined, log: Logger, registry: Registry): Responder {
  const registers = [registry]
  const state = kubeConfig ? new AlertState(kubeConfig, config.stateNamespace) : undefined
  const silenceMs = parseDuration(config.silenceFor)!
  // Expired Leases are swept now and then, in the background of an event: a busy platform's dedup records would
  // otherwise pile up in the namespace. A sweep failing is logged and tried again at the next interval.
  let lastSweep = 0
  return {
    config,
    rules: compileRules(config.rules),
    kubeConfig,
    state,
    recorder: kubeConfig ? new EventRecorder(kubeConfig, 'respond-to-alert', log) : undefined,
    alertmanager: new Alertmanager(config.alertmanagerUrl),
    actionsTaken: new Counter({ name: 'caretaker_alert_actions_total', help: 'Remediation actions by rule, action type and result (done, dry-run, failed)', labelNames: ['rule', 'action', 'result'], registers }),
    skipped: new Counter({ name: 'caretaker_alert_skipped_total', help: 'Alerts not acted on, by why: no-rule, template, unconfirmed, namespace, target, duplicate, cooldown, cap; restart requests refused: manual-namespace, manual-health, manual-cooldown, manual-cap', labelNames: ['reason'], registers }),
    // The Trigger's default backoff (exponential from PT2S, 5 retries: 4 + 8 + 16 + 32 + 64 s) outlasts the default 45 s.
    claimMs: parseDuration(config.claimFor)!,
    capWindowMs: parseDuration(config.cap.window)!,
    silenceMs,
    sweepNowAndThen() {
      if (!state || Date.now() - lastSweep < SWEEP_EVERY_MS) return
      lastSweep = Date.now()
      void state.sweepExpired(Math.max(silenceMs, SWEEP_GRACE_MS), SWEEP_MAX)
        .then((deleted) => { if (deleted > 0) log.info({ deleted }, 'expired state Leases deleted') })
        .catch((err: unknown) => log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'could not sweep expired state Leases; trying again later'))
    },
  }
}

/** The Kubernetes API and the Lease state, or DependencyUnavailable when none is configured. */
export function needKube(r: Responder): { kube: KubeConfig; state: AlertState } {
  if (!r.kubeConfig || !r.state) throw kubeMissing()
  return { kube: r.kubeConfig, state: r.state }
}

/**
 * While actions run (a restart waits for its rollout), the claim and the
 * cooldown are renewed every third of claimFor: a live holder keeps them, a
 * killed one leaves them to run out after claimFor. Returns the stop.
 */
export function keepClaim(state: AlertState, claim: { key: string; eventId: string; cooldownKey: string }, claimMs: number, failed: (err: unknown) => void): () => void {
  const heartbeat = setInterval(() => {
    void Promise.all([state.renewClaim(claim.key, claim.eventId, claimMs), state.renewCooldown(claim.cooldownKey, claimMs)]).catch(failed)
  }, Math.max(100, claimMs / 3))
  return () => clearInterval(heartbeat)
}

/** A failure as the catalogue's error: a foreign one is Internal, with its message. */
export function asCaretakerError(err: unknown): CaretakerError {
  return err instanceof CaretakerError ? err : new CaretakerError(Errors.Internal, err instanceof Error ? err.message : String(err))
}

export function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
