import type { JsonSchema } from '../../../shared/schema.ts'

/**
 * Example data for an event type: realistic hand-written data for the types
 * notify has templates for, and for every other type an instance built from
 * its catalogue schema, so a type added later has an example too.
 */

export const EXAMPLE_TIME = '2026-11-22T06:00:00.000Z'

const checks = [
  { check: 'presence', ok: true, message: 'newest artifact all_databases_20261122_020000.sql.gz', evidence: {}, durationMs: 3 },
  { check: 'age', ok: true, message: '4h old, RPO 24h', evidence: {}, durationMs: 1 },
  { check: 'size', ok: true, message: '46.0 MiB, 2% larger than the one before', evidence: {}, durationMs: 1 },
  { check: 'integrity', ok: true, message: 'gzip stream complete, SQL ends with the dump trailer', evidence: {}, durationMs: 840 },
]
const artifact = { name: 'all_databases_20261122_020000.sql.gz', path: '/backups/postgresql/all_databases_20261122_020000.sql.gz', size: 48_213_004, modified: '2026-11-22T02:04:00.000Z' }

export const HANDWRITTEN: Record<string, { subject?: string; data: unknown }> = {
  'dev.caretaker.backup.verified': {
    subject: 'postgresql',
    data: { set: 'postgresql', format: 'pg-dumpall-gzip', verified: true, artifact, checks: [...checks, { check: 'restore', ok: true, message: 'restored; app.orders has 1204 rows', evidence: {}, durationMs: 9120 }], durationMs: 9965, verifiedAt: EXAMPLE_TIME, trigger: 'job:postgres-backup-29400120' },
  },
  'dev.caretaker.backup.verification.failed': {
    subject: 'postgresql',
    data: { set: 'postgresql', format: 'pg-dumpall-gzip', verified: false, failedCheck: 'restore', artifact, checks: [...checks, { check: 'restore', ok: false, message: 'database app is missing after the restore', evidence: {}, durationMs: 9120 }], durationMs: 9965, verifiedAt: EXAMPLE_TIME, trigger: 'sweep' },
  },
  'dev.caretaker.backup.sweep.completed': {
    data: { verified: 4, failed: 2, sets: [
      { set: 'postgresql', verified: false, failedCheck: 'restore', artifact: 'all_databases_20261122_020000.sql.gz' },
      { set: 'etcd', verified: true, artifact: 'etcd_20261122_010000.db' },
      { set: 'redis', verified: false, failedCheck: 'age', artifact: 'dump_20261120_030000.rdb' },
      { set: 'vault', verified: true, artifact: 'vault_20261122_020000.snap' },
      { set: 'gitea', verified: true, artifact: 'gitea_20261120.bundle' },
      { set: 'longhorn', verified: true, artifact: null },
    ] },
  },
  'dev.caretaker.alert.notification': {
    subject: 'production/api-7d9c5',
    data: { alertname: 'KubePodCrashLooping', severity: 'warning', message: 'deleted crash-looping pod production/api-7d9c5', rule: 'crash-looping-pod', labels: { namespace: 'production', pod: 'api-7d9c5' } },
  },
}

function merge(a: JsonSchema, b: JsonSchema): JsonSchema {
  const out: Record<string, unknown> = { ...a, ...b }
  if (a.properties || b.properties) out.properties = { ...(a.properties as object), ...(b.properties as object) }
  if (a.required || b.required) out.required = [...new Set([...(a.required as string[] ?? []), ...(b.required as string[] ?? [])])]
  return out as JsonSchema
}

/** One instance of a schema: every declared property, the first enum value, booleans false, minimums respected. */
export function exampleOf(schema: JsonSchema, name = 'value'): unknown {
  const s = schema as Record<string, unknown>
  if ('const' in s) return s.const
  if (Array.isArray(s.enum)) return s.enum[0]
  for (const k of ['oneOf', 'anyOf', 'allOf'] as const) {
    if (Array.isArray(s[k])) {
      const rest = Object.fromEntries(Object.entries(s).filter(([key]) => key !== k))
      const parts = s[k] as JsonSchema[]
      return exampleOf(k === 'allOf' ? parts.reduce(merge, rest as JsonSchema) : merge(rest as JsonSchema, parts[0]!), name)
    }
  }
  const type = Array.isArray(s.type) ? (s.type as string[]).find((x) => x !== 'null') : s.type as string | undefined
  switch (type ?? (s.properties ? 'object' : 'string')) {
    case 'object': {
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, JsonSchema>)) out[k] = exampleOf(v, k)
      if (Object.keys(out).length === 0 && s.additionalProperties && typeof s.additionalProperties === 'object') out.example = exampleOf(s.additionalProperties as JsonSchema, 'example')
      return out
    }
    case 'array': {
      const n = Math.max(1, Number(s.minItems ?? 1))
      return Array.from({ length: n }, () => exampleOf((s.items ?? {}) as JsonSchema, name))
    }
    case 'integer':
    case 'number':
      return Math.max(Number(s.minimum ?? 1), 1)
    case 'boolean':
      return false
    case 'null':
      return null
    default:
      if (s.format === 'date-time') return EXAMPLE_TIME
      if (s.format === 'uri' || /url$/i.test(name)) return `https://example.org/${name}`
      return `example-${name}`
  }
}

export function exampleData(type: string, schema: JsonSchema): { subject?: string; data: unknown } {
  return HANDWRITTEN[type] ?? { subject: 'example-subject', data: exampleOf(schema) }
}
