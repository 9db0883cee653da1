import type { SecretValue } from '../../../shared/logger.ts'

/**
 * One open connection to the system a secret unlocks. A target changes the
 * credential (every node or none), proves the new one by logging in with it,
 * undoes the change, and, where old and new can be valid side by side,
 * removes the old one last.
 */
export interface TargetSession {
  /** What changes, in words: for the plan and the reply. */
  readonly description: string
  /** Whether the old and new credential are both valid until `retire` (no lockout window). */
  readonly dualCredential: boolean
  /** Sets the new credential; on a partial failure, what was changed is undone before it throws. */
  apply(next: SecretValue): Promise<void>
  /** Logs in with the new credential (every node). */
  verify(next: SecretValue): Promise<void>
  /** Puts the old credential back (and removes the new one). */
  revert(): Promise<void>
  /**
   * Recovery of a rotation cut off mid-way: `next` may have reached any
   * node, so revert() must undo it on every node (apply and retire are
   * idempotent already).
   */
  resume(next: SecretValue): void
  /** Removes the old credential once nobody uses it; false when there was nothing to remove. */
  retire(): Promise<boolean>
  close(): Promise<void>
}

/**
 * A target's failure, in words that never carry a credential.
 * `mayHaveChanged`: thrown by apply when the change may have been made even
 * though it failed (a request whose answer was lost), so the rollback must
 * put the old credential back too.
 */
export class TargetError extends Error {
  readonly mayHaveChanged: boolean
  constructor(message: string, options: { mayHaveChanged?: boolean } = {}) {
    super(message)
    this.name = 'TargetError'
    this.mayHaveChanged = options.mayHaveChanged === true
  }
}

/** The no-op target of a generated secret (a signing key): only Vault and the consumers change. */
export const generatedTarget: TargetSession = {
  description: 'generated value (no external target)',
  dualCredential: false,
  apply: async () => undefined,
  verify: async () => undefined,
  revert: async () => undefined,
  resume: () => undefined,
  retire: async () => false,
  close: async () => undefined,
}
