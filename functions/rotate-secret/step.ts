import { createHash } from 'node:crypto'
import type { KubeConfig } from '../../shared/kubernetes/api.ts'
import { CaretakerError, loggableUnexpected } from '../../shared/errors.ts'
import type { Logger } from '../../shared/logger.ts'
import type { Vault } from '../../shared/vault/client.ts'
import { ROTATED_AT_KEY, type RotateSecretConfig, type Workload } from './config.ts'
import { DeliveryError, sha256 } from './delivery.ts'
import { LeaseLost } from './lease.ts'
import { TargetError } from './targets/index.ts'

/**
 * What the steps of a rotation share (rotation.ts runs them in the
 * runbook's order; recover.ts, rollback.ts and plan.ts are its other
 * steps): the step names and records, what a run is given and what it
 * reports, the Vault metadata a rotation writes, and how a step's failure
 * is told without ever carrying a value.
 */

export type Step = 'lock' | 'recover' | 'read' | 'generate' | 'apply' | 'verify' | 'write' | 'sync' | 'restart' | 'retire'

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

/** What the holder found of a rotation cut off before it, and what it did about it. */
export interface Recovery {
  action: 'rolled-forward' | 'rolled-back' | 'superseded' | 'failed'
  /** The step the cut-off rotation had reached (its Lease's record), or where its journal says. */
  stepFound: string
  interrupted: { trigger: string; startedAt: string; holder: string }
  message: string
}

export type RotationReport =
  | { outcome: 'rotated'; data: Record<string, unknown> }
  | { outcome: 'already-rotated'; data: Record<string, unknown> }
  | { outcome: 'failed'; failedStep: Step; rolledBack: boolean; data: Record<string, unknown> }

export function requestKeyOf(source: string, id: string): string {
  return createHash('sha256').update(source).update('\0').update(id).digest('hex').slice(0, 32)
}

export class StepFailure extends Error {
  readonly step: Step
  readonly lockLost: boolean
  constructor(step: Step, message: string, lockLost = false) {
    super(message)
    this.step = step
    this.lockLost = lockLost
  }
}

/** An error's message when it is one of ours (they never carry a value); a generic one otherwise, with the stack logged. */
export function safeMessage(err: unknown, log: Logger): string {
  if (err instanceof CaretakerError || err instanceof TargetError || err instanceof DeliveryError || err instanceof StepFailure || err instanceof LeaseLost) return err.message
  log.error({ err: loggableUnexpected(err) }, 'unexpected error in a rotation step')
  return 'unexpected error (the function\'s log has the stack)'
}

export const hashes = (values: Map<string, string>) => new Map([...values].map(([k, v]) => [k, sha256(v)]))
export const workloadName = (w: Workload) => `${w.kind}/${w.namespace}/${w.name}`
export const STEPS: readonly string[] = ['lock', 'recover', 'read', 'generate', 'apply', 'verify', 'write', 'sync', 'restart', 'retire']
/** Steps recorded on the Lease after which the consumers had restarted: a roll-forward need not restart them again. */
export const RESTARTED: readonly string[] = ['retire', 'finish']

/** The custom metadata of a rotated secret: what it had, with the rotation time, who did it and which request. */
export function rotatedMetadata(before: Record<string, string>, at: Date, requestKey: string | undefined): Record<string, string> {
  const kept = Object.fromEntries(Object.entries(before).filter(([k]) => k !== REQUEST_KEY))
  return { ...kept, [ROTATED_AT_KEY]: at.toISOString(), [ROTATED_BY_KEY]: 'caretaker/rotate-secret', ...(requestKey ? { [REQUEST_KEY]: requestKey } : {}) }
}
