import { DURATION_PATTERN, parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { FromSchema, JsonSchema } from '../../shared/schema.ts'
import { deletionLimitsSchema } from '../../shared/kubernetes/deleter.ts'
import { checkTimeZone } from './retention.ts'

export const SNAPSHOT_KINDS = ['VolumeSnapshot', 'LonghornSnapshot', 'LonghornBackup'] as const
export type SnapshotKind = (typeof SNAPSHOT_KINDS)[number]

const count = { type: 'integer', minimum: 0, maximum: 10000 } as const
const ns = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 } as const

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    protectionLabel: { type: 'string', minLength: 1, default: 'caretaker.dev/protected' },
    limits: deletionLimitsSchema,
    policies: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'kind', 'namespaces'],
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9][-a-z0-9_.]*$', maxLength: 63 },
          kind: { enum: [...SNAPSHOT_KINDS] },
          namespaces: { type: 'array', minItems: 1, items: ns },
          /** A label selector (`app=postgres,tier in (db)`), applied when listing. */
          selector: { type: 'string', minLength: 1 },
          keepLast: count, keepHourly: count, keepDaily: count, keepWeekly: count, keepMonthly: count, keepYearly: count,
          maxAge: { type: 'string', pattern: DURATION_PATTERN },
          grace: { type: 'string', pattern: DURATION_PATTERN, default: '1h' },
          timeZone: { type: 'string', minLength: 1, default: 'Etc/UTC' },
        },
      },
    },
  },
} as const satisfies JsonSchema

export type PruneConfig = FromSchema<typeof configSchema>
export type PrunePolicy = PruneConfig['policies'][number]

export function checkConfig(config: PruneConfig): void {
  const seen = new Set<string>()
  config.policies.forEach((p, i) => {
    const bad = (field: string, problem: string): never => { throw new CaretakerError(Errors.InvalidConfig, `config.policies[${i}].${field}: ${problem}`) }
    if (seen.has(p.name)) bad('name', `"${p.name}" is used by another policy; names must be unique`)
    seen.add(p.name)
    try {
      checkTimeZone(p.timeZone)
    } catch {
      bad('timeZone', `"${p.timeZone}" is not an IANA time zone`)
    }
    if (p.maxAge !== undefined && !parseDuration(p.maxAge)) bad('maxAge', 'must be longer than zero')
    const rules = [p.keepLast, p.keepHourly, p.keepDaily, p.keepWeekly, p.keepMonthly, p.keepYearly].filter((n) => n !== undefined)
    if (rules.length === 0 && p.maxAge === undefined) bad('keepLast', 'a policy needs at least one keep rule or a maxAge (otherwise it would keep only the newest snapshot)')
  })
}
