import type { EventTypeDefinition } from '../catalogue.ts'

/** Alertmanager alerts (one event per alert, from alertmanager-bridge) and respond-to-alert's outcomes. */

const labels = { type: 'object', additionalProperties: { type: 'string' } } as const

const alert = {
  type: 'object',
  required: ['fingerprint', 'status', 'labels', 'startsAt'],
  properties: {
    fingerprint: { type: 'string', minLength: 1 },
    status: { enum: ['firing', 'resolved'] },
    labels,
    annotations: labels,
    startsAt: { type: 'string' },
    endsAt: { type: 'string' },
    generatorURL: { type: 'string' },
    groupLabels: labels,
    receiver: { type: 'string' },
    externalURL: { type: 'string' },
  },
} as const

const action = {
  type: 'object',
  required: ['action', 'done'],
  properties: {
    action: { type: 'string' },
    target: { type: 'string' },
    done: { type: 'boolean' },
    dryRun: { type: 'boolean' },
    message: { type: 'string' },
    /** Done by an earlier attempt at the same alert: not run again. */
    alreadyDone: { type: 'boolean' },
    /** A restart: whether its rollout finished (as `kubectl rollout status`) and its last status. */
    rolled: { type: 'boolean' },
    rollout: { type: 'string' },
    /** A restart with a health check: whether it answered 2xx, and its last answer. */
    healthy: { type: 'boolean' },
    healthStatus: { type: 'string' },
  },
} as const

const outcome = {
  type: 'object',
  required: ['alertname', 'fingerprint', 'reason'],
  properties: {
    alertname: { type: 'string' },
    fingerprint: { type: 'string' },
    rule: { type: 'string' },
    target: { type: 'string' },
    reason: { type: 'string' },
    actions: { type: 'array', items: action },
    /** The actions an earlier attempt at the same alert had done, skipped by this one. */
    skippedAsDone: { type: 'array', items: { type: 'string' } },
    silenceId: { type: 'string' },
    dryRun: { type: 'boolean' },
    /** A failure's error code (shared/errors.ts) and how many deliveries tried. */
    error: { type: 'string' },
    attempts: { type: 'integer', minimum: 1 },
  },
} as const

export const alertEvents = {
  AlertFiring: { type: 'dev.caretaker.alert.firing', direction: 'inbound', description: 'An Alertmanager alert is firing (one event per alert, from alertmanager-bridge)', schema: alert },
  AlertResolved: { type: 'dev.caretaker.alert.resolved', direction: 'inbound', description: 'An Alertmanager alert resolved (from alertmanager-bridge)', schema: alert },
  AlertRemediated: { type: 'dev.caretaker.alert.remediated', direction: 'outbound', description: 'respond-to-alert ran a rule\'s actions for an alert (or closed the loop of a resolved one); data names the rule, target and each action', schema: outcome },
  AlertFailed: { type: 'dev.caretaker.alert.failed', direction: 'outbound', description: 'respond-to-alert\'s actions for an alert failed on the Trigger\'s last delivery attempt (the alert event is dead-lettered too); data names the rule, target, error and the actions done before it', schema: outcome },
  AlertSkipped: { type: 'dev.caretaker.alert.skipped', direction: 'outbound', description: 'respond-to-alert did not act on an alert; data says why (no rule, cooldown, cap, namespace guard, duplicate)', schema: outcome },
  AlertNotification: {
    type: 'dev.caretaker.alert.notification',
    direction: 'outbound',
    description: 'A rule asks for a human to be told about an alert (for notify)',
    schema: { type: 'object', required: ['alertname', 'message'], properties: { alertname: { type: 'string' }, severity: { type: 'string' }, message: { type: 'string' }, rule: { type: 'string' }, labels } },
  },
} as const satisfies Record<string, EventTypeDefinition>

export const alertTypes: EventTypeDefinition[] = Object.values(alertEvents)
