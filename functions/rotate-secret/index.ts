import type { CloudEvent } from 'cloudevents'
import { CaretakerError, Errors, loggableUnexpected } from '../../shared/errors.ts'
import { LEFT_AT_DEADLINE, timeLeft } from '../../shared/deadline.ts'
import { parseDuration } from '../../shared/duration.ts'
import { EventRecorder } from '../../shared/kubernetes/events.ts'
import { defineFunction, type BackgroundContext, type HandlerContext } from '../../shared/runtime/function.ts'
import { checkConfig, configSchema, ROTATED_AT_KEY, type RotateSecretConfig, type SecretPolicy } from './config.ts'
import { isDueForRotation, type DueDecision } from './due.ts'
import { journalRef, readJournal } from './journal.ts'
import { leftLease } from './lease.ts'
import { RotationMetrics } from './metrics.ts'
import { planRotation } from './plan.ts'
import { rotateSecret } from './rotation.ts'
import { requestKeyOf, type RotationDeps, type RotationReport } from './step.ts'
import { EventTypes, isEvent } from '../../shared/events/catalogue.ts'

/**
 * rotate-secret: rotates PostgreSQL role passwords, Redis passwords, Keycloak
 * OIDC client secrets and generated secrets through Vault, on a daily
 * due-date sweep and on request
 * (manual, or from respond-to-alert when a secret leaked), without ever
 * leaving a credential in Vault that does not work against its target.
 */

const PING = 'dev.knative.sources.ping'
const REQUEST = EventTypes.SecretRotateRequested
const ROTATED = EventTypes.SecretRotated
const FAILED = EventTypes.SecretRotationFailed
const SWEEP = EventTypes.SecretSweepCompleted

export default defineFunction<RotateSecretConfig>({
  name: 'rotate-secret',
  description: 'rotates PostgreSQL, Redis, Keycloak client and generated secrets through Vault, with a Lease per secret and a rollback on failure',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, log, metrics: registry, vault, runDeadlineMs }) {
    checkConfig(config, runDeadlineMs)
    // What one rotation may wait for at most: its Secret's sync, then a rollout.
    const rotationMs = parseDuration(config.syncTimeout)! + parseDuration(config.rolloutTimeout)!
    const metrics = new RotationMetrics(registry)
    const recorder = kubeConfig ? new EventRecorder(kubeConfig, 'rotate-secret', log) : undefined

    /** What a rotation runs with: a request's or the sweep's context, or the background's at process start. */
    type RunContext = Pick<HandlerContext, 'log' | 'signal'>

    function deps(context: RunContext): RotationDeps {
      if (!vault) throw new CaretakerError(Errors.DependencyUnavailable, 'rotate-secret needs Vault (VAULT_ADDR with VAULT_TOKEN or VAULT_K8S_ROLE), and none is configured')
      if (!kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'rotate-secret needs the Kubernetes API (its locks are Leases), and none is configured')
      return { config, vault, kubeConfig, log: context.log, signal: context.signal }
    }

    function policyNamed(name: string): SecretPolicy {
      const policy = config.secrets.find((s) => s.name === name)
      if (!policy) throw new CaretakerError(Errors.InvalidRequest, `no secret named "${name}"; configured secrets: ${config.secrets.map((s) => s.name).join(', ') || 'none'}`)
      return policy
    }

    async function recordEvent(policy: SecretPolicy, report: RotationReport): Promise<void> {
      if (!recorder) return
      const on = policy.externalSecrets[0]
      const target = on
        ? { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', namespace: on.namespace, name: on.name }
        : { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: config.leaseNamespace, name: `rotate-secret.${policy.name}` }
      const d = report.data
      const vaultRef = d.vault as { mount: string; path: string; version?: number }
      await recorder.record(target, report.outcome === 'failed'
        ? { type: 'Warning', reason: 'SecretRotationFailed', action: 'Rotate', message: `secret ${policy.name}: the ${report.failedStep} step failed: ${String(d.reason)}; ${report.rolledBack ? 'rolled back' : 'the rollback did not complete'}; Vault holds the ${String(d.credentialInVault)} value` }
        : { type: 'Normal', reason: 'SecretRotated', action: 'Rotate', message: `secret ${policy.name} rotated: ${vaultRef.mount}/${vaultRef.path} version ${vaultRef.version}, ${(d.consumers as unknown[]).length} consumer(s) restarted` })
    }

    /** `at`: what found a cut-off rotation, should there be one (the metric's label). */
    async function rotate(policy: SecretPolicy, context: RunContext, at: 'request' | 'sweep' | 'start', trigger: string, requestKey?: string, recoverOnly = false): Promise<RotationReport> {
      const report = await rotateSecret(policy, { trigger, ...(requestKey ? { requestKey } : {}) }, deps(context), { recoverOnly })
      const recovered = report.data.recovered as { action: string } | undefined
      if (recovered) {
        metrics.recovered(policy.name, recovered.action, at)
        context.log.warn({ secret: policy.name, recovered, at }, 'a rotation cut off earlier was found and finished or undone')
      }
      const d = report.data
      if (report.outcome === 'rotated') {
        metrics.rotated(policy.name, new Date(String(d.rotatedAt)), new Date(String(d.dueAt)), Number(d.durationMs), Number(d.lockoutWindowMs))
        context.log.info({ secret: policy.name, version: (d.vault as { version: number }).version, lockout_window_ms: d.lockoutWindowMs, duration_ms: d.durationMs }, 'secret rotated')
      } else if (report.outcome === 'failed') {
        metrics.failed(policy.name, report.failedStep, report.rolledBack, Number(d.durationMs))
        context.log.warn({ secret: policy.name, failed_step: report.failedStep, reason: d.reason, rolled_back: report.rolledBack, credential_in_vault: d.credentialInVault }, 'secret rotation failed')
      }
      if (report.outcome !== 'already-rotated' && !(report.outcome === 'failed' && report.failedStep === 'lock')) await recordEvent(policy, report)
      return report
    }

    const typeOf = (report: RotationReport) => (report.outcome === 'failed' ? FAILED : ROTATED)

    async function onRequest(event: CloudEvent<unknown>, context: HandlerContext) {
      if (!isEvent(event, REQUEST)) throw new CaretakerError(Errors.UnknownEventType, `event type ${JSON.stringify(event.type)} is not handled here`)
      const data = event.data
      const policy = policyNamed(data.secret)
      const trigger = data.reason ? `request: ${data.reason}` : 'request'
      if (context.dryRun) {
        const plan = await planRotation(policy, deps(context))
        context.log.info({ secret: policy.name }, 'dry-run: the rotation plan is reported, nothing changes')
        return context.reply({ type: ROTATED, subject: policy.name, data: { secret: policy.name, trigger, dryRun: true, plan } })
      }
      const report = await rotate(policy, context, 'request', trigger, requestKeyOf(event.source, event.id))
      // A cut-off rotation that cannot be resolved yet (Vault sealed, a target down): retryable, so the broker
      // redelivers the request later and that delivery resolves it, instead of a recorded final answer.
      if (report.outcome === 'failed' && report.failedStep === 'recover') throw new CaretakerError(Errors.DependencyUnavailable, String(report.data.reason))
      return context.reply({ type: typeOf(report), subject: policy.name, data: report.data })
    }

    async function sweep(context: HandlerContext) {
      const d = deps(context)
      const now = new Date()
      const decisions: Array<{ policy: SecretPolicy; decision: DueDecision }> = []
      for (const policy of config.secrets) {
        const current = await d.vault.readKv(policy.vault.mount, policy.vault.path)
        const decision = isDueForRotation(current.customMetadata[ROTATED_AT_KEY], policy.interval, now)
        metrics.known(policy.name, decision.rotatedAt, decision.dueAt)
        decisions.push({ policy, decision })
      }
      const results: Array<Record<string, unknown>> = []
      let index = 0
      for (const { policy, decision } of decisions) {
        const row: Record<string, unknown> = { secret: policy.name, due: decision.due, reason: decision.reason, rotatedAt: decision.rotatedAt, dueAt: decision.dueAt }
        // A secret not due may still have a rotation cut off mid-way (its journal in Vault): finish or undo it.
        const journal = decision.due || context.dryRun
          ? undefined
          : await readJournal(d.vault, journalRef(config, policy)).catch((err: Error) => {
            // Unreadable (a Vault policy without the journal path, say): the rotation itself refuses then; the sweep goes on.
            row.journal = `unreadable: ${err.message}`
            return undefined
          })
        if (journal) {
          if (context.signal.aborted) throw new CaretakerError(Errors.ShuttingDown, 'the sweep was interrupted by shutdown; it will be retried')
          const report = await rotate(policy, context, 'sweep', 'sweep', undefined, true)
          row.result = report.outcome === 'already-rotated' ? 'nothing-to-recover' : report.outcome
          row.recovered = report.data.recovered ?? null
          if (report.outcome === 'failed') { row.failedStep = report.failedStep; row.rolledBack = report.rolledBack }
          if (report.outcome !== 'already-rotated') await context.emit({ type: typeOf(report), subject: policy.name, data: report.data }, ++index)
        }
        if (decision.due) {
          if (context.dryRun) {
            row.plan = await planRotation(policy, d)
          } else if (timeLeft(context.deadline) <= rotationMs) {
            // Not started: a rotation is never cut short by the request timeout.
            // It is asked for again as a request of its own, with a deadline of its own.
            row.result = 'deferred'
            row.reason = `${decision.reason}; ${LEFT_AT_DEADLINE}`
            const sent = await context.emit({ type: REQUEST, subject: policy.name, data: { secret: policy.name, reason: 'due; left by the sweep at its deadline' } }, 1000 + results.length)
            context.log.warn({ secret: policy.name, requested: sent }, `due rotation not started in this sweep: ${LEFT_AT_DEADLINE}`)
          } else {
            if (context.signal.aborted) throw new CaretakerError(Errors.ShuttingDown, 'the sweep was interrupted by shutdown; it will be retried')
            const report = await rotate(policy, context, 'sweep', 'sweep')
            row.result = report.outcome
            if (report.data.recovered) row.recovered = report.data.recovered
            if (report.outcome === 'failed') { row.failedStep = report.failedStep; row.rolledBack = report.rolledBack }
            await context.emit({ type: typeOf(report), subject: policy.name, data: report.data }, ++index)
          }
        }
        results.push(row)
      }
      context.log.info({ due: decisions.filter((x) => x.decision.due).length, secrets: decisions.length }, context.dryRun ? 'dry-run sweep: due secrets planned, nothing changed' : 'rotation sweep done')
      return context.reply({
        type: SWEEP,
        data: {
          checkedAt: now.toISOString(),
          ...(context.dryRun ? { dryRun: true } : {}),
          due: results.filter((r) => r.due).length,
          rotated: results.filter((r) => r.result === 'rotated').length,
          failed: results.filter((r) => r.result === 'failed').length,
          deferred: results.filter((r) => r.result === 'deferred').length,
          secrets: results,
        },
      })
    }

    /**
     * At process start, in the background (readiness does not wait): a
     * rotation whose holder died (its Lease expired, given up with its
     * journal kept, or held by this pod's previous incarnation) is finished
     * or undone now, by the very path a redelivery takes (the Lease decides
     * which replica does it; the others are refused and leave it), instead
     * of waiting for the broker's redelivery or the daily sweep. A Lease
     * whose holder is alive is that holder's. The outcome goes to the
     * Broker as the reply would have, and to the log and the metrics. The
     * work was started by a request with dry-run off, so it is finished
     * whatever this process's dry-run default.
     */
    async function recoverAtStart(context: BackgroundContext): Promise<void> {
      if (!vault || !kubeConfig || !config.recoverAtStart) return
      let recovered = 0
      for (const policy of config.secrets) {
        if (context.signal.aborted) return
        try {
          const left = await leftLease(kubeConfig, config.leaseNamespace, policy.name)
          if (!left) continue
          context.log.info({ secret: policy.name, holder: left.holder, step: left.step, left: left.left }, 'a rotation\'s Lease was left by a holder that is gone: recovering it')
          const report = await rotate(policy, context, 'start', 'recovery at process start', undefined, true)
          if (report.outcome === 'already-rotated') {
            context.log.info({ secret: policy.name }, 'nothing to recover: the rotation had finished (or another replica recovered it); its Lease is gone')
            continue
          }
          if (report.outcome === 'failed' && report.failedStep === 'lock') {
            context.log.info({ secret: policy.name, heldBy: report.data.heldBy }, 'another replica holds the Lease and recovers the rotation')
            continue
          }
          const key = `recover/${policy.name}/${left.holder ?? 'released'}/${left.renewedAt ?? ''}`
          const sent = await context.emit({ type: typeOf(report), subject: policy.name, data: report.data }, key)
          recovered++
          context.log.info({ secret: policy.name, outcome: report.outcome, sent }, 'recovery at process start done')
        } catch (err) {
          const reason = err instanceof CaretakerError ? err.message : 'unexpected error (see the stack)'
          if (!(err instanceof CaretakerError)) context.log.error({ err: loggableUnexpected(err) }, 'recovery at process start failed')
          context.log.warn({ secret: policy.name, reason }, 'recovery at process start failed; a redelivery or the daily sweep tries again')
        }
      }
      context.log.info({ secrets: config.secrets.length, recovered }, 'recovery at process start: every secret\'s Lease checked')
    }

    return {
      start: recoverAtStart,
      async handle(context, event) {
        if (event.type === PING) return sweep(context)
        return onRequest(event, context)
      },
    }
  },
})
