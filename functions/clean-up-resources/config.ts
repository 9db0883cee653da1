import { DURATION_PATTERN } from '../../shared/duration.ts'
import type { FromSchema, JsonSchema } from '../../shared/schema.ts'
import { deletionLimitsSchema } from '../../shared/kubernetes/deleter.ts'

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** The namespaces it looks at (and has RoleBindings in). */
    namespaces: { type: 'array', default: [], items: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 } },
    protectionLabel: { type: 'string', minLength: 1, default: 'caretaker.dev/protected' },
    jobs: {
      type: 'object', additionalProperties: false, default: {},
      properties: { enabled: { type: 'boolean', default: true }, ttl: { type: 'string', pattern: DURATION_PATTERN, default: '7d' } },
    },
    replicaSets: { type: 'object', additionalProperties: false, default: {}, properties: { enabled: { type: 'boolean', default: true } } },
    pvcs: {
      type: 'object', additionalProperties: false, default: {},
      properties: { report: { type: 'boolean', default: true }, delete: { type: 'boolean', default: false }, grace: { type: 'string', pattern: DURATION_PATTERN, default: '7d' } },
    },
    limits: deletionLimitsSchema,
  },
} as const satisfies JsonSchema

export type CleanUpConfig = FromSchema<typeof configSchema>
