import type { KvSecret, Vault } from '../../shared/vault/client.ts'
import type { RotateSecretConfig, SecretPolicy, VaultRef } from './config.ts'

/**
 * The journal of one rotation in progress, kept in Vault so it survives the
 * pod: written (check-and-set: none may exist) before the target changes,
 * it holds the new value, the previous data of the secret and what the
 * rotation started from; it is deleted, every version, once the rotation
 * has finished or been undone. A journal found by the next holder of the
 * secret's Lease (the redelivered request, a restarted or another replica,
 * the daily sweep) means a rotation was cut off: that holder finishes it
 * (the target took the new value) or undoes it (it did not) before
 * anything else. Its values are as secret as the secret's own, so it lives
 * in Vault only, at `<journal.path>/<secret name>` of `journal.mount`.
 */

export interface JournalState {
  /** Who started it and when: for the reply of whoever finds it. */
  trigger: string
  requestKey?: string
  startedAt: string
  holder: string
  /** The version of the secret the rotation read (its check-and-set base). */
  previousVersion: number
  /** The secret's custom metadata before, to put back on an undo. */
  previousMetadata: Record<string, string>
  /** Set when a rollback could not finish: why the journal was kept. */
  note?: string
}

export interface Journal {
  state: JournalState
  /** The new values of the policy's keys. */
  next: Record<string, string>
  /** The secret's whole data at `previousVersion`. */
  previous: Record<string, string>
  /** The journal's own KV version (check-and-set base for an update). */
  version: number
}

export function journalRef(config: Pick<RotateSecretConfig, 'journal'>, policy: Pick<SecretPolicy, 'name'>): VaultRef {
  return { mount: config.journal.mount, path: `${config.journal.path}/${policy.name}` }
}

function parse(secret: KvSecret): Journal {
  const json = (field: string) => JSON.parse(secret.data[field] ?? '{}') as Record<string, string>
  return { state: json('state') as unknown as JournalState, next: json('next'), previous: json('previous'), version: secret.version }
}

export async function readJournal(vault: Vault, ref: VaultRef): Promise<Journal | undefined> {
  const found = await vault.readKvIfPresent(ref.mount, ref.path)
  return found && found.data.state ? parse(found) : undefined
}

/** Writes a journal: a new one with check-and-set 0 (none may exist), an update on the version read. */
export async function writeJournal(vault: Vault, ref: VaultRef, journal: Omit<Journal, 'version'>, cas = 0): Promise<number> {
  return vault.writeKv(ref.mount, ref.path, { state: JSON.stringify(journal.state), next: JSON.stringify(journal.next), previous: JSON.stringify(journal.previous) }, cas)
}

export async function closeJournal(vault: Vault, ref: VaultRef): Promise<void> {
  await vault.deleteKvAll(ref.mount, ref.path)
}
