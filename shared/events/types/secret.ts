import type { EventTypeDefinition } from '../catalogue.ts'

/** rotate-secret: the manual request, each rotation's outcome, and the daily sweep's summary. Never a secret value. */

export const secretEvents = {
  SecretRotateRequested: {
    type: 'dev.caretaker.secret.rotate.requested',
    direction: 'inbound',
    description: 'Manual request to rotate one configured secret now',
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['secret'],
      properties: {
        secret: { type: 'string', minLength: 1 },
        reason: { type: 'string', maxLength: 1024 },
      },
    },
  },
  SecretRotated: {
    type: 'dev.caretaker.secret.rotated',
    direction: 'outbound',
    description: 'A secret was rotated: the new Vault version and rotation time, the Secrets synced, the consumers restarted, each step, the lockout window; or (dry-run) the plan; or that this request had rotated it already',
    schema: {
      type: 'object',
      required: ['secret', 'trigger'],
      properties: {
        secret: { type: 'string', minLength: 1 },
        trigger: { type: 'string' },
        dryRun: { type: 'boolean' },
        plan: { type: 'object' },
        alreadyRotated: { type: 'boolean' },
        target: { type: 'object' },
        vault: { type: 'object', properties: { mount: { type: 'string' }, path: { type: 'string' }, version: { type: 'integer' }, previousVersion: { type: 'integer' } } },
        rotatedAt: { type: ['string', 'null'] },
        dueAt: { type: 'string', format: 'date-time' },
        externalSecrets: { type: 'array', items: { type: 'object' } },
        consumers: { type: 'array', items: { type: 'object' } },
        lockoutWindowMs: { type: 'integer', minimum: 0 },
        oldCredentialRemoved: { type: 'boolean' },
        warnings: { type: 'array', items: { type: 'string' } },
        steps: { type: 'array', items: { $ref: '#/$defs/step' } },
        recovered: { type: 'object', required: ['action', 'stepFound', 'interrupted', 'message'], properties: { action: { enum: ['rolled-forward', 'rolled-back', 'superseded', 'failed'] }, stepFound: { type: 'string' }, interrupted: { type: 'object' }, message: { type: 'string' } } },
        durationMs: { type: 'integer', minimum: 0 },
      },
      $defs: { step: { type: 'object', required: ['step', 'ok', 'message'], properties: { step: { type: 'string' }, ok: { type: 'boolean' }, durationMs: { type: 'integer' }, message: { type: 'string' } } } },
    },
  },
  SecretRotationFailed: {
    type: 'dev.caretaker.secret.rotation.failed',
    direction: 'outbound',
    description: 'A rotation failed: the step that failed and why, whether the rollback succeeded, and which value Vault holds (it works against the target either way); failedStep "lock" when another rotation held the lock, "recover" when a rotation cut off earlier could not be finished or undone yet (its journal is kept); recovered: what was found of a cut-off rotation and done about it',
    schema: {
      type: 'object',
      required: ['secret', 'trigger', 'failedStep', 'reason', 'rolledBack', 'credentialInVault'],
      properties: {
        secret: { type: 'string', minLength: 1 },
        trigger: { type: 'string' },
        failedStep: { enum: ['lock', 'recover', 'read', 'generate', 'apply', 'verify', 'write', 'sync', 'restart'] },
        reason: { type: 'string' },
        changed: { type: 'boolean' },
        rolledBack: { type: 'boolean' },
        credentialInVault: { enum: ['previous', 'new'] },
        heldBy: { type: 'string' },
        heldAtStep: { type: 'string' },
        journal: { enum: ['none', 'kept', 'closed'] },
        recovered: { type: 'object', required: ['action', 'stepFound', 'interrupted', 'message'], properties: { action: { enum: ['rolled-forward', 'rolled-back', 'superseded', 'failed'] }, stepFound: { type: 'string' }, interrupted: { type: 'object' }, message: { type: 'string' } } },
        rollback: { type: 'array', items: { type: 'object', required: ['step', 'ok', 'message'] } },
        steps: { type: 'array', items: { type: 'object' } },
        target: { type: 'object' },
        vault: { type: 'object' },
        durationMs: { type: 'integer', minimum: 0 },
      },
    },
  },
  SecretSweepCompleted: {
    type: 'dev.caretaker.secret.sweep.completed',
    direction: 'outbound',
    description: 'The daily due-date sweep: each secret, whether it was due and why, and the result of each rotation (one rotated/failed event per rotation is emitted too)',
    schema: {
      type: 'object',
      required: ['checkedAt', 'due', 'secrets'],
      properties: {
        checkedAt: { type: 'string', format: 'date-time' },
        dryRun: { type: 'boolean' },
        due: { type: 'integer', minimum: 0 },
        rotated: { type: 'integer', minimum: 0 },
        failed: { type: 'integer', minimum: 0 },
        /** Due rotations not started because the run's deadline was near: each asked for again as a request. */
        deferred: { type: 'integer', minimum: 0 },
        secrets: { type: 'array', items: { type: 'object', required: ['secret', 'due', 'reason'] } },
      },
    },
  },
} as const satisfies Record<string, EventTypeDefinition>

export const secretTypes: EventTypeDefinition[] = Object.values(secretEvents)
