import { parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { SecretValue } from '../../shared/logger.ts'
import type { KvSecret } from '../../shared/vault/client.ts'
import { ROTATED_AT_KEY, type RotateSecretConfig, type SecretPolicy, type Workload } from './config.ts'
import { crashPoint } from './crash.ts'
import { Delivery, type SyncedSecret } from './delivery.ts'
import { describeRule, generateValue } from './generate.ts'
import { closeJournal, journalRef, readJournal, writeJournal, type Journal } from './journal.ts'
import { acquireLease, LeaseLost, type SecretLock } from './lease.ts'
import { recover } from './recover.ts'
import { rollBack } from './rollback.ts'
import { hashes, REQUEST_KEY, rotatedMetadata, safeMessage, StepFailure, STEPS, workloadName, type Recovery, type RotationDeps, type RotationReport, type RunInfo, type Step, type StepRecord } from './step.ts'
import { openTarget, TargetError, type TargetSession } from './targets/index.ts'

/**
 * The rotation of one secret, in the order of the runbook:
 *  1 lock (a Lease)  2 read Vault  3 generate, and journal the new value in
 *  Vault  4 apply to the target and prove it by logging in  5 write Vault
 *  with check-and-set, record the rotation time  6 force-sync the
 *  ExternalSecrets, wait for the Secrets  7 restart the consumers, wait for
 *  the rollouts  8 close the journal, the outcome.
 * A failed step undoes what was done. A rotation cut off outright (the pod
 * killed, Vault sealed mid-way) leaves its journal: whoever takes the Lease
 * next finishes it or undoes it first ('recover'), and says which. The
 * invariant, success, failure or kill: the credential in Vault works
 * against the target once a holder has been through. The steps apart from
 * the forward run are their own modules: recover.ts (a cut-off rotation),
 * rollback.ts (a failed one), plan.ts (dry-run); step.ts what they share.
 */

/** How long a rotation watches a held Lease: past its whole duration a dead holder's Lease has expired. */
const leaseWait = (config: RotateSecretConfig) => (parseDuration(config.leaseDuration) ?? 0) + 2000

export async function rotateSecret(policy: SecretPolicy, run: RunInfo, deps: RotationDeps, options: { recoverOnly?: boolean } = {}): Promise<RotationReport> {
  const { config, vault, log, signal } = deps
  const started = Date.now()
  const ms = (d: string) => parseDuration(d) ?? 0
  const { mount, path } = policy.vault
  const journalAt = journalRef(config, policy)
  const steps: StepRecord[] = []
  const base = { secret: policy.name, trigger: run.trigger, target: { kind: policy.target.kind } as Record<string, unknown>, vault: { mount, path } as Record<string, unknown> }

  const attempt = await acquireLease(deps.kubeConfig, config.leaseNamespace, policy.name, ms(config.leaseDuration), { waitMs: leaseWait(config) })
  if (!attempt.acquired) {
    const where = `Lease ${config.leaseNamespace}/rotate-secret.${policy.name}, holder ${attempt.holder}${attempt.renewedAt ? `, renewed ${attempt.renewedAt}` : ''}${attempt.step ? `, at step ${attempt.step}` : ''}`
    const reason = attempt.released
      ? `another rotation of ${policy.name} holds its lock (${where}) and finished while this one waited; this request changed nothing`
      : `another rotation of ${policy.name} holds its lock (${where}) and is alive (it renews the Lease); this request changed nothing. Should that holder stop, the next one to take the Lease finishes or undoes its work`
    if (attempt.released && run.requestKey) {
      // The holder that finished while this waited may have been finishing this very request's cut-off rotation
      // (the recovery at process start, say): Vault's metadata says so, and the reply is that outcome.
      const now = await vault.readKv(mount, path).catch(() => undefined)
      if (now?.customMetadata[REQUEST_KEY] === run.requestKey) {
        return { outcome: 'already-rotated', data: { ...base, vault: { mount, path, version: now.version }, alreadyRotated: true, rotatedAt: now.customMetadata[ROTATED_AT_KEY] ?? null, heldBy: attempt.holder, steps, durationMs: Date.now() - started } }
      }
    }
    if (!attempt.released && run.requestKey) {
      // This very request's rotation still running elsewhere (its first delivery timed out, say): retry later
      // for its true outcome, which Vault records (already-rotated), instead of a lock failure that ends the retries.
      const journal = await readJournal(vault, journalAt).catch(() => undefined)
      if (journal?.state.requestKey === run.requestKey) {
        throw new CaretakerError(Errors.EventInProgress, `this request's rotation of ${policy.name} is still running (${where}); retry later: once it has finished, a redelivery finds it done (already rotated) or, had it been rolled back, rotates`)
      }
    }
    steps.push({ step: 'lock', ok: false, durationMs: Date.now() - started, message: reason })
    return { outcome: 'failed', failedStep: 'lock', rolledBack: true, data: { ...base, failedStep: 'lock', reason, changed: false, rolledBack: true, credentialInVault: 'previous', rollback: [], heldBy: attempt.holder, ...(attempt.step ? { heldAtStep: attempt.step } : {}), steps, durationMs: Date.now() - started } }
  }
  const lock: SecretLock = attempt.lock
  steps.push({ step: 'lock', ok: true, durationMs: Date.now() - started, message: `Lease ${config.leaseNamespace}/${lock.name}${attempt.takenOver ? ` (taken over from ${attempt.takenOver.holder}, which stopped renewing it${attempt.takenOver.step ? ` at step ${attempt.takenOver.step}` : ''})` : ''}` })
  const delivery = new Delivery(deps.kubeConfig)

  let current: KvSecret | undefined
  let target: TargetSession | undefined
  const next = new Map<string, SecretValue>()
  let journaled = false
  let appliedAt: number | undefined
  let written: number | undefined
  let rotatedAt: Date | undefined
  const toSync: SyncedSecret[] = []
  let syncStarted = false
  const patched: Workload[] = []
  const rolledOut: Workload[] = []
  let recovered: Recovery | undefined
  let releaseLock = true
  /** Whether this run ends with a journal left in Vault (then the Lease keeps its step record for the next holder). */
  let journalLeft = false

  /** One step: recorded on the Lease as it starts (`record`: what to record instead), timed, its failure a StepFailure. */
  const step = async <T>(name: Step, work: () => Promise<T>, describe: (result: T) => string, record: string = name): Promise<T> => {
    const at = Date.now()
    crashPoint(`before:${name}`)
    try {
      await lock.record(record)
      const result = await work()
      steps.push({ step: name, ok: true, durationMs: Date.now() - at, message: describe(result) })
      return result
    } catch (err) {
      const message = safeMessage(err, log)
      steps.push({ step: name, ok: false, durationMs: Date.now() - at, message })
      throw new StepFailure(name, message, err instanceof LeaseLost)
    }
  }

  try {
    // A journal left by a rotation that was cut off: finish or undo it before anything else.
    let journal: Journal | undefined
    try {
      journal = await readJournal(vault, journalAt)
    } catch (err) {
      steps.push({ step: 'recover', ok: false, durationMs: 0, message: safeMessage(err, log) })
      throw new StepFailure('recover', `reading the journal ${journalAt.mount}/${journalAt.path}: ${safeMessage(err, log)}`)
    }
    if (journal) {
      const found = journal
      const stepFound = attempt.takenOver?.step ?? found.state.note ?? null
      // The Lease keeps the cut-off rotation's step while this one recovers it, in case this one is cut off too.
      recovered = await step('recover', () => recover(found, stepFound, policy, deps, lock, delivery), (r) => `${r.action}: ${r.message}`, stepFound ?? 'recover')
      if (recovered.action === 'failed') throw new StepFailure('recover', recovered.message)
      if (recovered.action === 'rolled-forward' || options.recoverOnly) {
        const after = await vault.readKv(mount, path)
        const data = { ...base, vault: { mount, path, version: after.version }, recovered, rotatedAt: after.customMetadata[ROTATED_AT_KEY] ?? null, steps, durationMs: Date.now() - started }
        if (recovered.action === 'rolled-forward') {
          return { outcome: 'rotated', data: { ...data, keys: policy.keys, dueAt: new Date(Date.parse(String(after.customMetadata[ROTATED_AT_KEY] ?? new Date().toISOString())) + ms(policy.interval)).toISOString(), externalSecrets: [], consumers: policy.consumers.map((w) => ({ ...w, restarted: true })), lockoutWindowMs: 0, warnings: [] } }
        }
        const failedStep = (STEPS.includes(recovered.stepFound) ? recovered.stepFound : 'recover') as Step
        return { outcome: 'failed', failedStep, rolledBack: true, data: { ...data, failedStep, reason: `the rotation started by ${recovered.interrupted.trigger} at ${recovered.interrupted.startedAt} was cut off at step ${recovered.stepFound}; ${recovered.message}`, changed: true, rolledBack: true, credentialInVault: 'previous', rollback: [] } }
      }
    } else if (options.recoverOnly) {
      return { outcome: 'already-rotated', data: { ...base, nothingToRecover: true, steps, durationMs: Date.now() - started } }
    }
    const withRecovery = recovered ? { recovered } : {}

    current = await step('read', async () => {
      const secret = await vault.readKv(mount, path)
      // The ExternalSecrets are resolved now, so a wrong reference fails before anything changes.
      for (const ref of policy.externalSecrets) toSync.push(await delivery.syncedSecret(ref, policy.vault, policy.keys))
      return secret
    }, (s) => `version ${s.version} of ${mount}/${path}`)
    base.vault.previousVersion = current.version
    if (run.requestKey && current.customMetadata[REQUEST_KEY] === run.requestKey) {
      log.info({ secret: policy.name, version: current.version }, 'this request rotated the secret already')
      return { outcome: 'already-rotated', data: { ...base, ...withRecovery, vault: { mount, path, version: current.version }, alreadyRotated: true, rotatedAt: current.customMetadata[ROTATED_AT_KEY] ?? null, steps, durationMs: Date.now() - started } }
    }
    const before = current
    await step('generate', async () => {
      for (const key of policy.keys) next.set(key, generateValue(policy.generate))
      // Journaled before the target changes: if this process dies from here on, the next holder knows the new value.
      await writeJournal(vault, journalAt, {
        state: { trigger: run.trigger, ...(run.requestKey ? { requestKey: run.requestKey } : {}), startedAt: new Date(started).toISOString(), holder: lock.holder, previousVersion: before.version, previousMetadata: before.customMetadata },
        next: Object.fromEntries([...next].map(([k, v]) => [k, v.reveal()])),
        previous: before.data,
      })
      journaled = true
    }, () => `${policy.keys.length} new value${policy.keys.length > 1 ? 's' : ''}: ${describeRule(policy.generate)}; journaled in Vault at ${journalAt.mount}/${journalAt.path}`)
    if (signal.aborted) throw new StepFailure('apply', 'shutting down: stopped before anything changed')

    const password = next.get(policy.keys[0]!)!
    await step('apply', async () => {
      target = await openTarget(policy, before.data, vault, ms(config.connectTimeout))
      try {
        await target.apply(password)
      } catch (err) {
        // Sent but unanswered (a Keycloak PUT whose reply was lost): the rollback puts the old credential back too.
        if (err instanceof TargetError && err.mayHaveChanged) appliedAt = Date.now()
        throw err
      }
      appliedAt = Date.now()
    }, () => `new credential set: ${target!.description}`)
    base.target = { kind: policy.target.kind, description: target!.description }
    await step('verify', () => target!.verify(password), () => (policy.target.kind === 'generated' ? 'nothing to log in to' : policy.target.kind === 'keycloak-client' ? 'Keycloak accepted the new secret at the token endpoint' : 'logged in with the new credential'))

    rotatedAt = new Date()
    const values = Object.fromEntries([...next].map(([k, v]) => [k, v.reveal()]))
    await step('write', async () => {
      written = await vault.writeKv(mount, path, { ...before.data, ...values }, before.version)
      crashPoint('write:data')
      await vault.writeCustomMetadata(mount, path, rotatedMetadata(before.customMetadata, rotatedAt!, run.requestKey))
    }, () => `version ${written} written (check-and-set on version ${before.version}), rotation time recorded`)

    const expected = hashes(new Map([...next].map(([k, v]) => [k, v.reveal()])))
    await step('sync', async () => {
      syncStarted = toSync.length > 0
      for (const s of toSync) await delivery.forceSync(s.externalSecret, new Date())
      for (const s of toSync) await delivery.waitForSecret(s, expected, ms(config.syncTimeout), signal)
    }, () => (toSync.length ? `${toSync.map((s) => `Secret ${s.secret.namespace}/${s.secret.name}`).join(', ')} carr${toSync.length > 1 ? 'y' : 'ies'} the new value` : 'no ExternalSecret to sync'))

    await step('restart', async () => {
      for (const w of policy.consumers) {
        const generation = await delivery.restart(w, new Date())
        patched.push(w)
        await delivery.waitForRollout(w, generation, ms(config.rolloutTimeout), signal)
        rolledOut.push(w)
      }
    }, () => (policy.consumers.length ? `restarted ${policy.consumers.map(workloadName).join(', ')}` : 'no consumer to restart'))
    const windowMs = target!.dualCredential || policy.target.kind === 'generated' ? 0 : Date.now() - appliedAt!

    // Old and new were both valid until now; removing the old one cannot lock anyone out, and failing to is no reason to undo.
    const warnings: string[] = []
    let oldRemoved: boolean | null = null
    if (target!.dualCredential) {
      crashPoint('before:retire')
      const at = Date.now()
      try {
        await lock.record('retire')
        oldRemoved = await target!.retire()
        steps.push({ step: 'retire', ok: true, durationMs: Date.now() - at, message: oldRemoved ? 'old password removed' : 'no old password to remove' })
      } catch (err) {
        oldRemoved = false
        const message = safeMessage(err, log)
        steps.push({ step: 'retire', ok: false, durationMs: Date.now() - at, message })
        warnings.push(`the old password is still valid: ${message}`)
      }
    }
    crashPoint('before:finish')
    await lock.record('finish').catch(() => undefined)
    try {
      await closeJournal(vault, journalAt)
    } catch (err) {
      journalLeft = true
      warnings.push(`the rotation's journal could not be deleted (${safeMessage(err, log)}); the next rotation of ${policy.name} finds it complete and deletes it`)
    }
    crashPoint('before:release')
    const interval = ms(policy.interval)
    return {
      outcome: 'rotated',
      data: {
        ...base,
        ...withRecovery,
        vault: { mount, path, previousVersion: before.version, version: written },
        keys: policy.keys,
        rotatedAt: rotatedAt.toISOString(),
        dueAt: new Date(rotatedAt.getTime() + interval).toISOString(),
        externalSecrets: toSync.map((s) => ({ namespace: s.externalSecret.namespace, name: s.externalSecret.name, secret: s.secret.name, synced: true })),
        consumers: rolledOut.map((w) => ({ ...w, restarted: true })),
        lockoutWindowMs: windowMs,
        ...(oldRemoved !== null ? { oldCredentialRemoved: oldRemoved } : {}),
        warnings,
        steps,
        durationMs: Date.now() - started,
      },
    }
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err
    if (err.lockLost) {
      // Another holder took the Lease over and resumes or undoes this rotation from its journal: touch nothing more.
      releaseLock = false
      return {
        outcome: 'failed', failedStep: err.step, rolledBack: false,
        data: { ...base, vault: { mount, path, previousVersion: current?.version ?? null, version: written ?? current?.version ?? null }, failedStep: err.step, reason: err.message, changed: appliedAt !== undefined || written !== undefined, rolledBack: false, credentialInVault: written !== undefined ? 'new' : 'previous', rollback: [], journal: 'kept', steps, durationMs: Date.now() - started },
      }
    }
    if (err.step === 'recover') {
      journalLeft = true
      const message = recovered?.message ?? err.message
      return {
        outcome: 'failed', failedStep: 'recover', rolledBack: false,
        data: { ...base, ...(recovered ? { recovered } : {}), failedStep: 'recover', reason: `a rotation cut off earlier left its journal, and it could not be finished or undone yet: ${message}; the journal is kept for the next attempt`, changed: false, rolledBack: false, credentialInVault: 'previous', rollback: [], journal: 'kept', steps, durationMs: Date.now() - started },
      }
    }
    const rollback = await rollBack({ prior: current, written, appliedAt, target, syncStarted, toSync, patched, rolledOut }, policy, deps, delivery)
    const rolledBack = rollback.undo.every((r) => r.ok)
    let journal: 'closed' | 'kept' | 'none' = journaled ? 'kept' : 'none'
    journalLeft = journaled
    if (journaled && rolledBack && rollback.vaultHoldsPrevious) {
      try {
        await closeJournal(vault, journalAt)
        journal = 'closed'
        journalLeft = false
      } catch {
        // Vault sealed or unreachable: the next holder finds the journal, sees the rollback done and deletes it.
      }
    }
    return {
      outcome: 'failed',
      failedStep: err.step,
      rolledBack,
      data: {
        ...base,
        ...(recovered ? { recovered } : {}),
        vault: { mount, path, previousVersion: current?.version ?? null, version: rollback.vaultVersion ?? current?.version ?? null },
        failedStep: err.step,
        reason: err.message,
        changed: appliedAt !== undefined || written !== undefined,
        rolledBack,
        credentialInVault: rollback.vaultHoldsPrevious ? 'previous' : 'new',
        rollback: rollback.undo,
        journal,
        steps,
        durationMs: Date.now() - started,
      },
    }
  } finally {
    await (target as TargetSession | undefined)?.close()
    if (releaseLock) await lock.release({ keepRecord: journalLeft })
  }
}
