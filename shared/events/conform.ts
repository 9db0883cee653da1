import type { JsonSchema } from '../schema.ts'

/**
 * Event data as a reader may trust it without validating it whole: what
 * `conform` returns. Every property may be missing (T, deeply optional), but a
 * present one has its schema's type. Messages are written from any event,
 * even one its sender got partly wrong, so they read this, never a cast.
 */
export type Loose<T> = T extends ReadonlyArray<infer I> ? ReadonlyArray<Loose<I>>
  : T extends object ? { readonly [K in keyof T]?: Loose<T[K]> }
    : T

function typeOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : Number.isFinite(v) ? 'number' : 'nan'
  return typeof v
}

function allows(types: readonly string[], actual: string): boolean {
  return types.includes(actual) || (actual === 'integer' && types.includes('number'))
}

/**
 * The part of `value` that has the schema's shape: a value of the wrong type
 * is dropped (undefined), as are empty strings, array items and properties
 * that do not conform; properties the schema does not name are kept as they
 * are. Required fields are not enforced: what is missing stays missing.
 */
export function conform(schema: JsonSchema, value: unknown): unknown {
  if (value === undefined || value === '') return undefined
  if ('const' in schema) return value === schema.const ? value : undefined
  if (Array.isArray(schema.enum)) return schema.enum.includes(value) ? value : undefined
  const branches = (schema.oneOf ?? schema.anyOf) as JsonSchema[] | undefined
  if (branches && !branches.every((b) => Object.keys(b).every((k) => k === 'required'))) {
    for (const b of branches) {
      const v = conform(b, value)
      if (v !== undefined) return v
    }
    return undefined
  }
  const types = Array.isArray(schema.type) ? schema.type as string[] : typeof schema.type === 'string' ? [schema.type] : schema.properties ? ['object'] : undefined
  const actual = typeOf(value)
  if (actual === 'nan') return undefined
  if (types && !allows(types, actual)) return undefined
  if (actual === 'array') {
    const items = schema.items && typeof schema.items === 'object' ? schema.items as JsonSchema : undefined
    return items ? (value as unknown[]).map((i) => conform(items, i)).filter((i) => i !== undefined) : value
  }
  if (actual === 'object') {
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>
    const extra = schema.additionalProperties && typeof schema.additionalProperties === 'object' ? schema.additionalProperties as JsonSchema : undefined
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const s = Object.hasOwn(properties, k) ? properties[k] : extra
      const c = s ? conform(s, v) : v
      if (c !== undefined) out[k] = c
    }
    return out
  }
  return value
}
