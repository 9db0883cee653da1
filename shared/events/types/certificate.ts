import type { EventTypeDefinition } from '../catalogue.ts'

/** renew-certificate: renewals requested, re-issues followed by restarts, and the daily expiry report. */

const nullableTime = { anyOf: [{ type: 'string', format: 'date-time' }, { type: 'null' }] } as const
const renewalReasons = ['not-ready', 'renewal-due'] as const

const certificateRef = {
  namespace: { type: 'string', minLength: 1 },
  name: { type: 'string', minLength: 1 },
  secretName: { type: 'string' },
} as const

const workload = {
  type: 'object',
  required: ['kind', 'namespace', 'name', 'restarted'],
  properties: {
    kind: { enum: ['Deployment', 'StatefulSet', 'DaemonSet'] },
    namespace: { type: 'string' },
    name: { type: 'string' },
    restarted: { type: 'boolean' },
  },
} as const

const certificateRow = {
  type: 'object',
  required: ['namespace', 'name', 'secretName', 'ready', 'issuing', 'notAfter', 'renewalTime', 'expiresInSeconds', 'action'],
  properties: {
    ...certificateRef,
    ready: { type: 'boolean' },
    readyReason: { type: 'string' },
    readyMessage: { type: 'string' },
    readySince: nullableTime,
    issuing: { type: 'boolean' },
    revision: { type: 'integer', minimum: 0 },
    notAfter: nullableTime,
    renewalTime: nullableTime,
    expiresInSeconds: { anyOf: [{ type: 'integer' }, { type: 'null' }] },
    expiring: { type: 'boolean' },
    action: { enum: ['none', 'renewal-requested', 'would-request-renewal', 'cooldown', 'issuing', 'stuck', 'request-deleted', 'would-delete-request', 'restarted', 'would-restart'] },
    reason: { type: 'string' },
  },
} as const

export const certificateEvents = {
  CertificateRenewalTriggered: {
    type: 'dev.caretaker.certificate.renewal.triggered',
    direction: 'outbound',
    description: 'A renewal was requested for a Certificate (the Issuing condition, as `cmctl renew` sets it), or would be in dry-run; data names the Certificate, why (not-ready or renewal-due) and its state',
    schema: {
      type: 'object',
      required: ['namespace', 'name', 'reason', 'message', 'requested'],
      properties: {
        ...certificateRef,
        reason: { enum: renewalReasons },
        message: { type: 'string' },
        requested: { type: 'boolean' },
        dryRun: { type: 'boolean' },
        notAfter: nullableTime,
        renewalTime: nullableTime,
        readyReason: { type: 'string' },
        trigger: { type: 'string' },
      },
    },
  },
  CertificateStuck: {
    type: 'dev.caretaker.certificate.stuck',
    direction: 'outbound',
    description: 'A Certificate has been issuing for longer than the policy allows: why, from its conditions and its current CertificateRequest, and what was done (reported; or, opted in, its failed CertificateRequest deleted so cert-manager tries again)',
    schema: {
      type: 'object',
      required: ['namespace', 'name', 'issuingSince', 'message', 'action'],
      properties: {
        ...certificateRef,
        issuingSince: { type: 'string', format: 'date-time' },
        stuckForSeconds: { type: 'integer', minimum: 0 },
        message: { type: 'string' },
        readyReason: { type: 'string' },
        readyMessage: { type: 'string' },
        request: {
          type: ['object', 'null'],
          required: ['name', 'reason', 'message', 'failed'],
          properties: { name: { type: 'string' }, reason: { type: 'string' }, message: { type: 'string' }, failed: { type: 'boolean' } },
        },
        action: { enum: ['reported', 'request-deleted', 'would-delete-request', 'cooldown'] },
        dryRun: { type: 'boolean' },
        trigger: { type: 'string' },
      },
    },
  },
  CertificateReissued: {
    type: 'dev.caretaker.certificate.reissued',
    direction: 'outbound',
    description: 'A Certificate\'s Secret was re-issued (its revision changed) and the workloads that mount it and opted in were restarted (or would be, in dry-run); data lists each workload',
    schema: {
      type: 'object',
      required: ['namespace', 'name', 'secretName', 'revision', 'previousRevision', 'workloads'],
      properties: {
        ...certificateRef,
        revision: { type: 'integer', minimum: 1 },
        previousRevision: { type: 'integer', minimum: 0 },
        dryRun: { type: 'boolean' },
        workloads: { type: 'array', items: workload },
        trigger: { type: 'string' },
      },
    },
  },
  CertificateExpiring: {
    type: 'dev.caretaker.certificate.expiring',
    direction: 'outbound',
    description: 'A Certificate expires within the configured threshold (or has expired); data is its row of the report with severity',
    schema: { ...certificateRow, required: [...certificateRow.required, 'severity', 'thresholdSeconds'], properties: { ...certificateRow.properties, severity: { enum: ['warning', 'critical'] }, thresholdSeconds: { type: 'integer', minimum: 0 } } },
  },
  CertificatesReported: {
    type: 'dev.caretaker.certificates.reported',
    direction: 'outbound',
    description: 'The daily certificate sweep: every Certificate\'s expiry, readiness and renewal time, and what was done about it; counts of expiring, not ready and renewals requested',
    schema: {
      type: 'object',
      required: ['total', 'notReady', 'expiring', 'renewalsRequested', 'certificates', 'dryRun'],
      properties: {
        total: { type: 'integer', minimum: 0 },
        notReady: { type: 'integer', minimum: 0 },
        expiring: { type: 'integer', minimum: 0 },
        stuck: { type: 'integer', minimum: 0 },
        renewalsRequested: { type: 'integer', minimum: 0 },
        thresholdSeconds: { type: 'integer', minimum: 0 },
        dryRun: { type: 'boolean' },
        certificates: { type: 'array', items: certificateRow },
      },
    },
  },
} as const satisfies Record<string, EventTypeDefinition>

export const certificateTypes: EventTypeDefinition[] = Object.values(certificateEvents)
