import type { EventTypeDefinition } from '../catalogue.ts'
import { DURATION_PATTERN } from '../../duration.ts'

/**
 * respond-to-alert's manual restart of a workload (`kubectl rollout restart`,
 * then wait for the rollout and the service's health endpoint, as the
 * runbooks' service-restart script does) and its outcomes.
 */

const kind = { enum: ['Deployment', 'StatefulSet', 'DaemonSet'] } as const
const kubeName = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' } as const
const namespace = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' } as const
const duration = { type: 'string', pattern: DURATION_PATTERN } as const

/** What was done (or would be), as respond-to-alert's restart action reports it. */
const result = {
  kind,
  namespace,
  name: kubeName,
  /** `<namespace>/<name>`. */
  target: { type: 'string' },
  reason: { type: 'string' },
  /** Who asked (the manual entry's caller, from the request's proof). */
  requestedBy: { type: 'string' },
  dryRun: { type: 'boolean' },
  /** The restart was written by an earlier attempt at this request: it was not written again. */
  alreadyRestarted: { type: 'boolean' },
  /** Whether the rollout finished (as `kubectl rollout status`), and its last status; absent when not waited for. */
  rolled: { type: 'boolean' },
  rollout: { type: 'string' },
  /** With a health check: whether it answered 2xx, and its last answer. */
  healthy: { type: 'boolean' },
  healthStatus: { type: 'string' },
  message: { type: 'string' },
} as const

export const workloadEvents = {
  WorkloadRestartRequested: {
    type: 'dev.caretaker.workload.restart.requested',
    direction: 'inbound',
    description: 'Manual request to restart a Deployment, StatefulSet or DaemonSet (a rollout restart) in a namespace respond-to-alert\'s manualRestart allows, then wait for its rollout and, optionally, a health URL',
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'namespace', 'name', 'reason'],
      properties: {
        kind,
        namespace,
        name: kubeName,
        /** Wait for the rollout (and the health check) before answering; default true. */
        wait: { type: 'boolean', default: true },
        /** After the rollout: GET `url` until it answers 2xx (a Service of the workload's namespace, or a prefix manualRestart.healthUrls allows). */
        health: {
          type: 'object',
          additionalProperties: false,
          required: ['url'],
          properties: { url: { type: 'string', pattern: '^https?://', maxLength: 2048 }, timeout: duration, attempts: { type: 'integer', minimum: 1, maximum: 100 }, interval: duration },
        },
        reason: { type: 'string', minLength: 1, maxLength: 1024 },
      },
    },
  },
  WorkloadRestarted: {
    type: 'dev.caretaker.workload.restarted',
    direction: 'outbound',
    description: 'respond-to-alert restarted a workload on request and (unless the request said wait: false) its rollout finished and its health URL answered 2xx; or (dry-run) what it would restart and wait for',
    schema: { type: 'object', required: ['kind', 'namespace', 'name', 'reason', 'message'], properties: result },
  },
  WorkloadRestartFailed: {
    type: 'dev.caretaker.workload.restart.failed',
    direction: 'outbound',
    description: 'A requested restart failed on the Trigger\'s last delivery attempt (the request is dead-lettered too): the API refused the restart, or its rollout or health check did not finish; data says how far it got',
    schema: {
      type: 'object',
      required: ['kind', 'namespace', 'name', 'reason', 'message', 'error', 'attempts'],
      properties: { ...result, error: { type: 'string' }, attempts: { type: 'integer', minimum: 1 } },
    },
  },
} as const satisfies Record<string, EventTypeDefinition>

export const workloadTypes: EventTypeDefinition[] = Object.values(workloadEvents)
