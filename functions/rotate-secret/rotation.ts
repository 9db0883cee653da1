import { createHash } from 'node:crypto'
import type { KubeConfig } from '@kubernetes/client-node'
import { parseDuration } from '../../shared/duration.ts'
import { CaretakerError, loggableUnexpected } from '../../shared/errors.ts'
import type { Logger, SecretValue } from '../../shared/logger.ts'
import type { KvSecret, Vault } from '../../shared/vault/client.ts'
import { ROTATED_AT_KEY, type RotateSecretConfig, type SecretPolicy, type Workload } from './config.ts'
import { Delivery, DeliveryError, sha256, type SyncedSecret } from './delivery.ts'
import { describeRule, generateValue } from './generate.ts'
import { acquireLease } from './lease.ts'
import { describeTarget, openTarget, TargetError, type TargetSession } from './targets/index.ts'

/**
 * The rotation of one secret, in the order of the runbook:
 *  1 lock (a Lease)  2 read Vault  3 generate  4 apply to the target and
 *  prove it by logging in  5 write Vault with check-and-set, record the
 *  rotation time  6 force-sync the ExternalSecrets, wait for the Secrets
 *  7 restart the consumers, wait for the rollouts  8 the outcome.
 * A failed step undoes what was done. The invariant, success or failure:
 * the credential in Vault works against the target.
 */

export type Step = 'lock' | 'read' | 'generate' | 'apply' | 'verify' | 'write' | 'sync' | 'restart' | 'retire'

export interface StepRecord {
  step: Step
  ok: boolean
  durationMs: number
  message: string
}

/** Vault custom-metadata key: which request did the last rotation (a hash of its source and id), so a redelivery is recognised even after a restart. */
export const REQUEST_KEY = 'rotation-request'
export const ROTATED_BY_KEY = 'rotated-by'

export interface RotationDeps {
  config: RotateSecretConfig
  vault: Vault
  kubeConfig: KubeConfig
  log: Logger
  signal: AbortSignal
}

export interface RunInfo {
  trigger: string
  /** Set for a request event: recorded in Vault so its redelivery does not rotate again. */
  requestKey?: string
}

export type RotationReport =
  | { outcome: 'rotated'; data: Record<string, unknown> }
  | { outcome: 'already-rotated'; data: Record<string, unknown> }
  | { outcome: 'failed'; failedStep: Step; rolledBack: boolean; data: Record<string, unknown> }

export function requestKeyOf(source: string, id: string): string {
  return createHash('sha256').update(source).update('\0').update(id).digest('hex').slice(0, 32)
}

class StepFailure extends Error {
  readonly step: Step
  constructor(step: Step, message: string) {
    super(message)
    this.step = step
  }
}

/** An error's message when it is one of ours (they never carry a value); a generic one otherwise, with the stack logged. */
function safeMessage(err: unknown, log: Logger): string {
  if (err instanceof CaretakerError || err instanceof TargetError || err instanceof DeliveryError || err instanceof StepFailure) return err.message
  log.error({ err: loggableUnexpected(err) }, 'unexpected error in a rotation step')
  return 'unexpected error (the function\'s log has the stack)'
}

const hashes = (values: Map<string, string>) => new Map([...values].map(([k, v]) => [k, sha256(v)]))
const workloadName = (w: Workload) => `${w.kind}/${w.namespace}/${w.name}`

export async function rotateSecret(policy: SecretPolicy, run: RunInfo, deps: RotationDeps): Promise<RotationReport> {
  const { config, vault, log, signal } = deps
  const started = Date.now()
  const ms = (d: string) => parseDuration(d) ?? 0
  const { mount, path } = policy.vault
  const steps: StepRecord[] = []
  const base = { secret: policy.name, trigger: run.trigger, target: { kind: policy.target.kind } as Record<string, unknown>, vault: { mount, path } as Record<string, unknown> }

  const attempt = await acquireLease(deps.kubeConfig, config.leaseNamespace, policy.name, ms(config.leaseDuration))
  if (!attempt.acquired) {
    const reason = `another rotation of ${policy.name} holds its lock (Lease ${config.leaseNamespace}/rotate-secret.${policy.name}, holder ${attempt.holder}${attempt.renewedAt ? `, renewed ${attempt.renewedAt}` : ''}); nothing was changed`
    steps.push({ step: 'lock', ok: false, durationMs: Date.now() - started, message: reason })
    return { outcome: 'failed', failedStep: 'lock', rolledBack: true, data: { ...base, failedStep: 'lock', reason, changed: false, rolledBack: true, credentialInVault: 'previous', rollback: [], heldBy: attempt.holder, steps, durationMs: Date.now() - started } }
  }
  steps.push({ step: 'lock', ok: true, durationMs: Date.now() - started, message: `Lease ${config.leaseNamespace}/${attempt.lock.name}` })
  const delivery = new Delivery(deps.kubeConfig)

  let current: KvSecret | undefined
  let target: TargetSession | undefined
  const next = new Map<string, SecretValue>()
  let appliedAt: number | undefined
  let written: number | undefined
  let rotatedAt: Date | undefined
  const toSync: SyncedSecret[] = []
  let syncStarted = false
  const patched: Workload[] = []
  const rolledOut: Workload[] = []

  const step = async <T>(name: Step, work: () => Promise<T>, describe: (result: T) => string): Promise<T> => {
    const at = Date.now()
    try {
      const result = await work()
      steps.push({ step: name, ok: true, durationMs: Date.now() - at, message: describe(result) })
      return result
    } catch (err) {
      const message = safeMessage(err, log)
      steps.push({ step: name, ok: false, durationMs: Date.now() - at, message })
      throw new StepFailure(name, message)
    }
  }

  try {
    current = await step('read', async () => {
      const secret = await vault.readKv(mount, path)
      // The ExternalSecrets are resolved now, so a wrong reference fails before anything changes.
      for (const ref of policy.externalSecrets) toSync.push(await delivery.syncedSecret(ref, policy.vault, policy.keys))
      return secret
    }, (s) => `version ${s.version} of ${mount}/${path}`)
    base.vault.previousVersion = current.version
    if (run.requestKey && current.customMetadata[REQUEST_KEY] === run.requestKey) {
      log.info({ secret: policy.name, version: current.version }, 'this request rotated the secret already')
      return { outcome: 'already-rotated', data: { ...base, vault: { mount, path, version: current.version }, alreadyRotated: true, rotatedAt: current.customMetadata[ROTATED_AT_KEY] ?? null, steps, durationMs: Date.now() - started } }
    }
    const before = current
    await step('generate', async () => {
      for (const key of policy.keys) next.set(key, generateValue(policy.generate))
    }, () => `${policy.keys.length} new value${policy.keys.length > 1 ? 's' : ''}: ${describeRule(policy.generate)}`)
    if (signal.aborted) throw new StepFailure('apply', 'shutting down: stopped before anything changed')

    const password = next.get(policy.keys[0]!)!
    await step('apply', async () => {
      target = await openTarget(policy, before.data, vault, ms(config.connectTimeout))
      await target.apply(password)
      appliedAt = Date.now()
    }, () => `new credential set: ${target!.description}`)
    base.target = { kind: policy.target.kind, description: target!.description }
    await step('verify', () => target!.verify(password), () => (policy.target.kind === 'generated' ? 'nothing to log in to' : 'logged in with the new credential'))

    rotatedAt = new Date()
    const values = Object.fromEntries([...next].map(([k, v]) => [k, v.reveal()]))
    await step('write', async () => {
      written = await vault.writeKv(mount, path, { ...before.data, ...values }, before.version)
      const kept = Object.fromEntries(Object.entries(before.customMetadata).filter(([k]) => k !== REQUEST_KEY))
      const metadata: Record<string, string> = { ...kept, [ROTATED_AT_KEY]: rotatedAt!.toISOString(), [ROTATED_BY_KEY]: 'caretaker/rotate-secret', ...(run.requestKey ? { [REQUEST_KEY]: run.requestKey } : {}) }
      await vault.writeCustomMetadata(mount, path, metadata)
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
      const at = Date.now()
      try {
        oldRemoved = await target!.retire()
        steps.push({ step: 'retire', ok: true, durationMs: Date.now() - at, message: oldRemoved ? 'old password removed' : 'no old password to remove' })
      } catch (err) {
        oldRemoved = false
        const message = safeMessage(err, log)
        steps.push({ step: 'retire', ok: false, durationMs: Date.now() - at, message })
        warnings.push(`the old password is still valid: ${message}`)
      }
    }
    const interval = ms(policy.interval)
    return {
      outcome: 'rotated',
      data: {
        ...base,
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
    const rollback = await rollBack()
    const rolledBack = rollback.undo.every((r) => r.ok)
    return {
      outcome: 'failed',
      failedStep: err.step,
      rolledBack,
      data: {
        ...base,
        vault: { mount, path, previousVersion: current?.version ?? null, version: rollback.vaultVersion ?? current?.version ?? null },
        failedStep: err.step,
        reason: err.message,
        changed: appliedAt !== undefined || written !== undefined,
        rolledBack,
        credentialInVault: rollback.vaultHoldsPrevious ? 'previous' : 'new',
        rollback: rollback.undo,
        steps,
        durationMs: Date.now() - started,
      },
    }
  } finally {
    await (target as TargetSession | undefined)?.close()
    await attempt.lock.release()
  }

  /**
   * Undoes what was done, newest first, keeping the invariant at each point:
   * Vault gets the previous value back first; only then does the target
   * (which must match Vault), and only then are the Secrets synced and the
   * consumers that had restarted restarted again. A Vault that cannot be
   * restored keeps the new value, so the target keeps it too.
   */
  async function rollBack(): Promise<{ undo: Array<{ step: Step; ok: boolean; message: string }>; vaultHoldsPrevious: boolean; vaultVersion?: number }> {
    const undo: Array<{ step: Step; ok: boolean; message: string }> = []
    let vaultHoldsPrevious = written === undefined
    let vaultVersion: number | undefined
    const prior = current
    if (written !== undefined && prior) {
      try {
        vaultVersion = await vault.writeKv(mount, path, prior.data, written)
        await vault.writeCustomMetadata(mount, path, prior.customMetadata)
        vaultHoldsPrevious = true
        undo.push({ step: 'write', ok: true, message: `version ${vaultVersion} holds the previous value again` })
      } catch (err) {
        undo.push({ step: 'write', ok: false, message: `Vault could not get the previous value back (${safeMessage(err, log)}); it keeps the new one, and so does the target` })
      }
    }
    if (appliedAt !== undefined && target) {
      if (!vaultHoldsPrevious) {
        undo.push({ step: 'apply', ok: true, message: 'the new credential stays on the target, matching Vault' })
      } else {
        try {
          await target.revert()
          undo.push({ step: 'apply', ok: true, message: `the previous credential is back: ${target.description}` })
        } catch (err) {
          undo.push({ step: 'apply', ok: false, message: safeMessage(err, log) })
        }
      }
    }
    if (syncStarted && vaultHoldsPrevious && prior) {
      const previous = hashes(new Map(policy.keys.map((k) => [k, prior.data[k] ?? ''])))
      try {
        for (const s of toSync) await delivery.forceSync(s.externalSecret, new Date())
        for (const s of toSync) await delivery.waitForSecret(s, previous, parseDuration(config.syncTimeout) ?? 0, signal)
        undo.push({ step: 'sync', ok: true, message: 'the Secrets carry the previous value again' })
      } catch (err) {
        undo.push({ step: 'sync', ok: false, message: safeMessage(err, log) })
      }
    }
    if (patched.length && vaultHoldsPrevious) {
      const stuck = patched.filter((w) => !rolledOut.includes(w))
      try {
        for (const w of rolledOut) {
          const generation = await delivery.restart(w, new Date())
          await delivery.waitForRollout(w, generation, parseDuration(config.rolloutTimeout) ?? 0, signal)
        }
        undo.push({ step: 'restart', ok: true, message: [rolledOut.length ? `restarted again with the previous value: ${rolledOut.map(workloadName).join(', ')}` : '', stuck.length ? `not restarted again (its rollout is stuck; needs attention): ${stuck.map(workloadName).join(', ')}` : ''].filter(Boolean).join('; ') })
      } catch (err) {
        undo.push({ step: 'restart', ok: false, message: safeMessage(err, log) })
      }
    }
    return { undo, vaultHoldsPrevious, ...(vaultVersion !== undefined ? { vaultVersion } : {}) }
  }
}

/** What a rotation would do, read-only: for dry-run. */
export async function planRotation(policy: SecretPolicy, deps: Pick<RotationDeps, 'vault' | 'kubeConfig' | 'config'>): Promise<Record<string, unknown>> {
  const { mount, path } = policy.vault
  const current = await deps.vault.readKv(mount, path)
  const delivery = new Delivery(deps.kubeConfig)
  const synced = []
  for (const ref of policy.externalSecrets) synced.push(await delivery.syncedSecret(ref, policy.vault, policy.keys))
  const target = describeTarget(policy.target, current.data)
  return {
    lock: `Lease ${deps.config.leaseNamespace}/rotate-secret.${policy.name}`,
    vault: { mount, path, currentVersion: current.version, rotatedAt: current.customMetadata[ROTATED_AT_KEY] ?? null },
    keys: policy.keys,
    generate: describeRule(policy.generate),
    target,
    steps: [
      `take the Lease ${deps.config.leaseNamespace}/rotate-secret.${policy.name}`,
      `read ${mount}/${path} (version ${current.version})`,
      `generate ${describeRule(policy.generate)} for ${policy.keys.join(', ')}`,
      policy.target.kind === 'generated' ? 'no external target to change' : `set the new password on ${target}, then log in with it`,
      `write version ${current.version + 1} of ${mount}/${path} (check-and-set on version ${current.version}) and record the rotation time`,
      ...synced.map((s) => `force-sync ExternalSecret ${s.externalSecret.namespace}/${s.externalSecret.name} and wait for Secret ${s.secret.namespace}/${s.secret.name} (keys ${[...s.keys.keys()].join(', ')})`),
      ...policy.consumers.map((w) => `rollout restart ${workloadName(w)} and wait for it`),
      ...(policy.target.kind === 'redis' && policy.target.mode === 'acl' ? [`remove the old password of ACL user ${policy.target.user}`] : []),
    ],
    externalSecrets: synced.map((s) => ({ namespace: s.externalSecret.namespace, name: s.externalSecret.name, secret: s.secret.name })),
    restarts: policy.consumers,
  }
}
