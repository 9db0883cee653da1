import { DURATION_PATTERN, parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { FromSchema, JsonSchema } from '../../shared/schema.ts'

export const TASKS = {
  postgres: ['health', 'sizes', 'connections', 'slow-queries', 'bloat', 'indexes', 'settings', 'analyze', 'vacuum-analyze'],
  redis: ['health', 'memory', 'clients', 'slowlog', 'memory-purge', 'bgsave'],
} as const

/** The runbooks' cadence: which tasks each schedule runs. */
export const SCHEDULES: Record<'daily' | 'weekly' | 'monthly', { postgres: string[]; redis: string[] }> = {
  daily: { postgres: ['health', 'sizes', 'connections', 'slow-queries'], redis: ['health', 'memory', 'clients', 'slowlog'] },
  weekly: { postgres: ['health', 'analyze', 'bloat', 'indexes', 'vacuum-analyze'], redis: ['health', 'memory-purge', 'memory', 'bgsave'] },
  monthly: { postgres: ['health', 'settings', 'slow-queries'], redis: ['health', 'memory'] },
}

/** Where a target's credentials are: a KV v2 secret, read-only (the one rotate-secret writes). */
const credentials = {
  type: 'object',
  additionalProperties: false,
  required: ['mount', 'path'],
  properties: {
    mount: { type: 'string', minLength: 1, default: 'secret' },
    path: { type: 'string', minLength: 1 },
    usernameKey: { type: 'string', minLength: 1, default: 'username' },
    passwordKey: { type: 'string', minLength: 1, default: 'password' },
  },
} as const
const name = { type: 'string', pattern: '^[a-z0-9][-a-z0-9_.]*$', maxLength: 63 } as const
const port = { type: 'integer', minimum: 1, maximum: 65535 } as const

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    targets: {
      type: 'array',
      default: [],
      // The kind picks the schema (if/then, not oneOf: defaults of one kind must never land on the other).
      items: {
        type: 'object',
        required: ['kind'],
        properties: { kind: { enum: ['postgres', 'redis'] } },
        allOf: [
          {
            if: { properties: { kind: { const: 'postgres' } } },
            then: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'kind', 'host', 'credentials'],
            properties: {
              name, kind: { const: 'postgres' }, host: { type: 'string', minLength: 1 }, port: { ...port, default: 5432 },
              /** The database to connect to; the others are reached from it. */
              database: { type: 'string', minLength: 1, default: 'postgres' }, credentials,
              /** The server's memory, for the settings review (`4Gi`-style bytes as a number). */
              memoryBytes: { type: 'integer', minimum: 1 },
              maintenance: {
                type: 'object',
                additionalProperties: false,
                default: {},
                properties: {
                  lockTimeout: { type: 'string', pattern: DURATION_PATTERN, default: '5s' },
                  statementTimeout: { type: 'string', pattern: DURATION_PATTERN, default: '30m' },
                  /** Tables a policy allows VACUUM FULL on, and only inside this window (UTC hours). */
                  vacuumFull: {
                    type: 'array',
                    default: [],
                    items: {
                      type: 'object', additionalProperties: false, required: ['table', 'windowStartHour', 'windowEndHour'],
                      properties: { table: { type: 'string', minLength: 1 }, windowStartHour: { type: 'integer', minimum: 0, maximum: 23 }, windowEndHour: { type: 'integer', minimum: 0, maximum: 24 } },
                    },
                  },
                },
              },
            },
            },
          },
          {
            if: { properties: { kind: { const: 'redis' } } },
            then: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'kind', 'nodes'],
            properties: {
              name, kind: { const: 'redis' },
              /** The primary first, then replicas; all are checked. */
              nodes: { type: 'array', minItems: 1, items: { type: 'object', additionalProperties: false, required: ['host'], properties: { host: { type: 'string', minLength: 1 }, port: { ...port, default: 6379 } } } },
              credentials,
            },
            },
          },
        ],
      },
    },
    thresholds: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        deadTupleRatio: { type: 'number', minimum: 0, maximum: 1, default: 0.2 },
        deadTuplesMin: { type: 'integer', minimum: 0, default: 1000 },
        idleInTransactionSeconds: { type: 'integer', minimum: 0, default: 300 },
        slowMeanMs: { type: 'number', minimum: 0, default: 500 },
        connectionsUsedRatio: { type: 'number', minimum: 0, maximum: 1, default: 0.8 },
        fragmentationRatio: { type: 'number', minimum: 1, default: 1.5 },
        fragmentationBytesMin: { type: 'integer', minimum: 0, default: 104857600 },
        lastSaveAgeSeconds: { type: 'integer', minimum: 0, default: 90000 },
      },
    },
  },
} as const satisfies JsonSchema

export type MaintainDatabasesConfig = FromSchema<typeof configSchema>
export type Target = MaintainDatabasesConfig['targets'][number]
export type PostgresTarget = Extract<Target, { kind: 'postgres' }>
export type RedisTarget = Extract<Target, { kind: 'redis' }>
export type VaultCredentials = FromSchema<typeof credentials>
export type Thresholds = MaintainDatabasesConfig['thresholds']

export function checkConfig(config: MaintainDatabasesConfig): void {
  const seen = new Set<string>()
  config.targets.forEach((target, i) => {
    if (seen.has(target.name)) throw new CaretakerError(Errors.InvalidConfig, `config.targets[${i}].name: "${target.name}" is used by another target; names must be unique`)
    seen.add(target.name)
    if (target.kind === 'postgres') {
      for (const field of ['lockTimeout', 'statementTimeout'] as const) {
        if (!parseDuration(target.maintenance[field])) throw new CaretakerError(Errors.InvalidConfig, `config.targets[${i}].maintenance.${field}: must be longer than zero`)
      }
    }
  })
}
