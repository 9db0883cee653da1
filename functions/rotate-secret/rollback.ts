import { parseDuration } from '../../shared/duration.ts'
import type { KvSecret } from '../../shared/vault/client.ts'
import type { SecretPolicy, Workload } from './config.ts'
import { crashPoint } from './crash.ts'
import type { Delivery, SyncedSecret } from './delivery.ts'
import { hashes, safeMessage, workloadName, type RotationDeps, type Step } from './step.ts'
import type { TargetSession } from './targets/index.ts'

/** What a rotation had done when a step failed: what its rollback undoes. */
export interface Progress {
  /** The secret as read (its data and metadata before). */
  prior: KvSecret | undefined
  /** The version the new value was written as, if it was. */
  written: number | undefined
  /** When the target took the new value, if it did. */
  appliedAt: number | undefined
  target: TargetSession | undefined
  syncStarted: boolean
  toSync: SyncedSecret[]
  /** Consumers whose restart was asked for, and those whose rollout finished. */
  patched: Workload[]
  rolledOut: Workload[]
}

export interface Rollback {
  undo: Array<{ step: Step; ok: boolean; message: string }>
  vaultHoldsPrevious: boolean
  vaultVersion?: number
}

/**
 * Undoes what was done, newest first, keeping the invariant at each point:
 * Vault gets the previous value back first; only then does the target
 * (which must match Vault), and only then are the Secrets synced and the
 * consumers that had restarted restarted again. A Vault that cannot be
 * restored keeps the new value, so the target keeps it too.
 */
export async function rollBack(done: Progress, policy: SecretPolicy, deps: RotationDeps, delivery: Delivery): Promise<Rollback> {
  const { vault, config, log, signal } = deps
  const { mount, path } = policy.vault
  const { written, appliedAt, target, syncStarted, toSync, patched, rolledOut } = done
  const undo: Array<{ step: Step; ok: boolean; message: string }> = []
  let vaultHoldsPrevious = written === undefined
  let vaultVersion: number | undefined
  const prior = done.prior
  if (written !== undefined && prior) {
    try {
      vaultVersion = await vault.writeKv(mount, path, prior.data, written)
      await vault.writeCustomMetadata(mount, path, prior.customMetadata)
      vaultHoldsPrevious = true
      undo.push({ step: 'write', ok: true, message: `version ${vaultVersion} holds the previous value again` })
      crashPoint('rollback:vault')
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
