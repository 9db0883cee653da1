import { parseDuration } from '../../shared/duration.ts'
import { SecretValue } from '../../shared/logger.ts'
import type { KvSecret } from '../../shared/vault/client.ts'
import { ROTATED_AT_KEY, type SecretPolicy } from './config.ts'
import { crashPoint } from './crash.ts'
import type { Delivery, SyncedSecret } from './delivery.ts'
import { closeJournal, journalRef, type Journal } from './journal.ts'
import type { SecretLock } from './lease.ts'
import { hashes, RESTARTED, rotatedMetadata, safeMessage, workloadName, type Recovery, type RotationDeps } from './step.ts'
import { openTarget, type TargetSession } from './targets/index.ts'

/**
 * Where a cut-off rotation stands, from its journal and Vault's secret now
 * (a pure decision; only 'untouched' needs the target asked, whether the
 * new value logs in):
 *  - written: Vault holds the journal's new value;
 *  - untouched: Vault holds the previous value at the version the rotation read;
 *  - restored: Vault holds the previous value at a later version (written, then put back by a rollback);
 *  - foreign: Vault holds a value neither the journal's new nor its previous one.
 */
export type RecoveryState = 'written' | 'untouched' | 'restored' | 'foreign'

export function recoveryState(journal: Pick<Journal, 'next' | 'previous' | 'state'>, vaultNow: Pick<KvSecret, 'data' | 'version'>, keys: readonly string[]): RecoveryState {
  const holds = (values: Record<string, string>) => keys.every((k) => vaultNow.data[k] === values[k])
  if (holds(journal.next)) return 'written'
  if (!holds(journal.previous)) return 'foreign'
  return vaultNow.version === journal.state.previousVersion ? 'untouched' : 'restored'
}

/**
 * Finishes or undoes a rotation that was cut off, from its journal and what
 * Vault and the target hold now (the journal's record of the step reached
 * may be behind: the state decides):
 *  - Vault holds the new value: it was written, so finish: the target gets
 *    it (again: idempotent) and must log in with it, then the Secrets, the
 *    consumers (unless they had restarted already), the old ACL password.
 *  - Vault still at the version read, and the target accepts the new value
 *    on every node: the target changed, so finish the same way, writing
 *    Vault first (check-and-set on that version).
 *  - Otherwise (the target did not take it, or took it on some nodes only;
 *    or Vault had been written and put back by a rollback): undo: the
 *    target gets the old value back on every node and must log in with it;
 *    a Vault that had been written meanwhile gets its metadata back, the
 *    Secrets resync and the consumers restart.
 *  - Vault holds a third value (written by someone else): if it works on
 *    the target, the journal is obsolete; otherwise nothing is guessed.
 * The journal is deleted only once this succeeded; a failure keeps it.
 */
export async function recover(journal: Journal, stepOnLease: string | null, policy: SecretPolicy, deps: RotationDeps, lock: SecretLock, delivery: Delivery): Promise<Recovery> {
  const { vault, config, signal } = deps
  const ms = (d: string) => parseDuration(d) ?? 0
  const { mount, path } = policy.vault
  const key = policy.keys[0]!
  const stepFound = stepOnLease ?? 'unknown (the Lease kept no record)'
  const interrupted = { trigger: journal.state.trigger, startedAt: journal.state.startedAt, holder: journal.state.holder }
  const result = (action: Recovery['action'], message: string): Recovery => ({ action, stepFound, interrupted, message })
  const vaultNow = await vault.readKv(mount, path)
  const next = new SecretValue(journal.next[key] ?? '')
  const previous = journal.previous[key] !== undefined ? new SecretValue(journal.previous[key]) : undefined
  const logsIn = (session: TargetSession, value: SecretValue) => session.verify(value).then(() => true, () => false)
  const toSync: SyncedSecret[] = []
  for (const ref of policy.externalSecrets) toSync.push(await delivery.syncedSecret(ref, policy.vault, policy.keys))
  const sync = async (values: Record<string, string>) => {
    const expected = hashes(new Map(policy.keys.map((k) => [k, values[k] ?? ''])))
    for (const s of toSync) await delivery.forceSync(s.externalSecret, new Date())
    for (const s of toSync) await delivery.waitForSecret(s, expected, ms(config.syncTimeout), signal)
  }
  const restart = async () => {
    for (const w of policy.consumers) await delivery.waitForRollout(w, await delivery.restart(w, new Date()), ms(config.rolloutTimeout), signal)
  }

  const session = await openTarget(policy, journal.previous, vault, ms(config.connectTimeout), next)
  try {
    session.resume(next)
    const state = recoveryState(journal, vaultNow, policy.keys)
    const written = state === 'written'
    const untouched = state === 'untouched'
    if (state === 'foreign') {
      const value = vaultNow.data[key]
      if (value !== undefined && await logsIn(session, new SecretValue(value))) {
        await closeJournal(vault, journalRef(config, policy))
        return result('superseded', `${mount}/${path} was written by someone else since (version ${vaultNow.version}) and its value works against the target; the journal was obsolete and is deleted`)
      }
      return result('failed', `${mount}/${path} was written by someone else since (version ${vaultNow.version}) and its value does not log in to the target: needs a person`)
    }
    if (written || (untouched && await logsIn(session, next))) {
      await session.apply(next)
      await session.verify(next)
      crashPoint('recover:apply')
      let version = vaultNow.version
      if (!written) version = await vault.writeKv(mount, path, { ...vaultNow.data, ...journal.next }, vaultNow.version)
      const recordedAt = Date.parse(vaultNow.customMetadata[ROTATED_AT_KEY] ?? '')
      if (!written || !(recordedAt >= Date.parse(journal.state.startedAt))) await vault.writeCustomMetadata(mount, path, rotatedMetadata(vaultNow.customMetadata, new Date(), journal.state.requestKey))
      crashPoint('recover:write')
      await lock.record(stepOnLease ?? 'recover').catch(() => undefined)
      await sync(journal.next)
      crashPoint('recover:sync')
      const restarted = stepOnLease !== null && RESTARTED.includes(stepOnLease)
      if (!restarted) await restart()
      const retired = session.dualCredential ? await session.retire() : false
      await closeJournal(vault, journalRef(config, policy))
      return result('rolled-forward', [
        written ? `Vault held the new value already (version ${version})` : `the target held the new value: written to Vault as version ${version}`,
        toSync.length ? 'the Secrets carry it' : '',
        policy.consumers.length ? (restarted ? 'the consumers had restarted with it' : `restarted ${policy.consumers.map(workloadName).join(', ')}`) : '',
        retired ? 'the old password removed' : '',
      ].filter(Boolean).join('; '))
    }
    await session.revert()
    if (policy.target.kind !== 'generated' && previous) await session.verify(previous)
    crashPoint('recover:revert')
    const rewritten = !untouched
    if (rewritten) {
      await vault.writeCustomMetadata(mount, path, journal.state.previousMetadata)
      await sync(journal.previous)
      await restart()
    }
    await closeJournal(vault, journalRef(config, policy))
    return result('rolled-back', [
      policy.target.kind === 'generated' ? 'the new value never reached Vault; it is discarded' : `the target has the previous credential on every node (${session.description})`,
      rewritten ? 'Vault held the previous value again; the Secrets carry it and the consumers restarted with it' : `Vault keeps version ${vaultNow.version}`,
    ].join('; '))
  } catch (err) {
    return result('failed', safeMessage(err, deps.log))
  } finally {
    await session.close()
  }
}
