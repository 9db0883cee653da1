import type { JsonSchema } from '../schema.ts'

/**
 * Every event type Caretaker receives or emits, with the JSON schema of its
 * data. Inbound types are those the real sources send (Knative PingSource and
 * ApiServerSource) and Caretaker's own requests; outbound types describe
 * outcomes. Naming: `dev.caretaker.<subject>.<action>` for outcomes and
 * `dev.caretaker.<subject>.<action>.requested` for requests.
 */
export interface EventTypeDefinition {
  readonly type: string
  readonly direction: 'inbound' | 'outbound'
  readonly description: string
  readonly schema: JsonSchema
}

const kubernetesName = { type: 'string', minLength: 1, maxLength: 253 }

const apiServerResource: JsonSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata'],
  properties: {
    apiVersion: { type: 'string', minLength: 1 },
    kind: { type: 'string', minLength: 1 },
    metadata: {
      type: 'object',
      required: ['name'],
      properties: { name: kubernetesName, namespace: { type: 'string' } },
    },
  },
}

const apiServerReference: JsonSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'name'],
  properties: {
    apiVersion: { type: 'string', minLength: 1 },
    kind: { type: 'string', minLength: 1 },
    name: kubernetesName,
    namespace: { type: 'string' },
  },
}

const checkNames = ['job', 'presence', 'age', 'size', 'integrity', 'checksum', 'restore', 'longhorn']

const backupSetReport: JsonSchema = {
  type: 'object',
  required: ['set', 'format', 'verified', 'checks', 'durationMs', 'verifiedAt'],
  properties: {
    set: { type: 'string', minLength: 1 },
    format: { type: 'string' },
    verified: { type: 'boolean' },
    failedCheck: { enum: checkNames },
    artifact: {
      type: 'object',
      required: ['name', 'path', 'size', 'modified'],
      properties: { name: { type: 'string' }, path: { type: 'string' }, size: { type: 'integer', minimum: 0 }, modified: { type: 'string', format: 'date-time' } },
    },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['check', 'ok', 'message', 'evidence', 'durationMs'],
        properties: {
          check: { enum: checkNames },
          ok: { type: 'boolean' },
          message: { type: 'string' },
          evidence: { type: 'object' },
          durationMs: { type: 'integer', minimum: 0 },
        },
      },
    },
    durationMs: { type: 'integer', minimum: 0 },
    verifiedAt: { type: 'string', format: 'date-time' },
    trigger: { type: 'string' },
    event: { type: 'object' },
  },
}

function knative(type: string, description: string, schema: JsonSchema): EventTypeDefinition {
  return { type, direction: 'inbound', description, schema }
}

const definitions: EventTypeDefinition[] = [
  knative('dev.knative.sources.ping', 'PingSource tick: data is the PingSource spec.data (any content, possibly none)', {}),
  ...(['add', 'update', 'delete'] as const).flatMap((action) => [
    knative(`dev.knative.apiserver.resource.${action}`, `ApiServerSource (Resource mode): an object was ${action === 'add' ? 'added' : action + 'd'}; data is the object`, apiServerResource),
    knative(`dev.knative.apiserver.ref.${action}`, `ApiServerSource (Reference mode): an object was ${action === 'add' ? 'added' : action + 'd'}; data is {kind, namespace, name, apiVersion}`, apiServerReference),
  ]),
  {
    type: 'dev.caretaker.backup.verify.requested',
    direction: 'inbound',
    description: 'Manual request to verify one backup set, or one artifact by path',
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        set: { type: 'string', minLength: 1 },
        path: { type: 'string', minLength: 1 },
      },
      anyOf: [{ required: ['set'] }, { required: ['path'] }],
    },
  },
  {
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
  {
    type: 'dev.caretaker.backup.verified',
    direction: 'outbound',
    description: 'A backup set passed every check; data is the set report (artifact, each check with its evidence, durations)',
    schema: backupSetReport,
  },
  {
    type: 'dev.caretaker.backup.verification.failed',
    direction: 'outbound',
    description: 'A backup set failed a check; data is the set report with failedCheck naming it',
    schema: { ...backupSetReport, required: [...(backupSetReport.required as string[]), 'failedCheck'] },
  },
  {
    type: 'dev.caretaker.backup.sweep.completed',
    direction: 'outbound',
    description: 'The daily sweep verified every configured set; data lists each set\'s result (each set also has its own event)',
    schema: {
      type: 'object',
      required: ['verified', 'failed', 'sets'],
      properties: {
        verified: { type: 'integer', minimum: 0 },
        failed: { type: 'integer', minimum: 0 },
        sets: {
          type: 'array',
          items: {
            type: 'object',
            required: ['set', 'verified'],
            properties: { set: { type: 'string' }, verified: { type: 'boolean' }, failedCheck: { type: 'string' }, artifact: { type: ['string', 'null'] } },
          },
        },
      },
    },
  },
]

export const catalogue: ReadonlyMap<string, EventTypeDefinition> = new Map(definitions.map((d) => [d.type, d]))

export function eventTypeDefinition(type: string): EventTypeDefinition | undefined {
  return catalogue.get(type)
}

/** For tests and the README: registers extra types, e.g. a test function's own. */
export function defineEventTypes(extra: EventTypeDefinition[]): ReadonlyMap<string, EventTypeDefinition> {
  const merged = new Map(catalogue)
  for (const d of extra) merged.set(d.type, d)
  return merged
}
