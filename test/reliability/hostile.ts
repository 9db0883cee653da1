/**
 * Schema-valid hostile data for the fuzzer: a valid instance of a schema
 * built from the plainest values, then every string field that may hold
 * them filled with Unicode, control characters, percent signs, quotes or a
 * long run, and free-form objects filled with deep nesting. Each variant is
 * kept only if the schema still accepts it, so what reaches a handler is
 * valid data a sender could really send.
 */

type Schema = Record<string, unknown>

export const HOSTILE_STRINGS: readonly string[] = [
  'ünïcödé € 😀 𝄞',
  'line\nbreak\r\ttab\u0000nul\u007fdel\u0085nel',
  '"quoted" 100% %C0%A0 %zz \\back\\slash',
  '\u202eright-to-left\ufeffbom\u200bzero-width',
  '\ud800 lone surrogate',
  `${'long '.repeat(400)}end`,
  '../../../etc/passwd',
  '${jndi:ldap://x}{{7*7}}<script>',
]

function resolveRef(root: Schema, ref: string): Schema {
  let node: unknown = root
  for (const part of ref.replace(/^#\//, '').split('/')) node = (node as Record<string, unknown>)[part]
  return (node ?? {}) as Schema
}

/** The plainest value a schema accepts (best effort: the caller validates). */
export function plainInstance(schema: Schema, root: Schema = schema, depth = 0): unknown {
  if (depth > 20) return null
  if (typeof schema.$ref === 'string') return plainInstance(resolveRef(root, schema.$ref), root, depth + 1)
  if ('const' in schema) return schema.const
  if (Array.isArray(schema.enum)) return schema.enum[0]
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = schema[key] as Schema[] | undefined
    const typed = options?.find((o) => o.type !== undefined || o.enum !== undefined || o.$ref !== undefined)
    if (typed && !schema.type) return plainInstance(typed, root, depth + 1)
  }
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case 'string': {
      if (schema.format === 'date-time') return '2026-12-01T00:00:00Z'
      if (typeof schema.pattern === 'string') {
        const alternative = /^\^\(([^|)]+)/.exec(schema.pattern)?.[1]
        if (alternative) return alternative
      }
      return 'x'.repeat(Math.max(1, Number(schema.minLength ?? 1)))
    }
    case 'integer':
    case 'number':
      return Math.max(Number(schema.minimum ?? 1), Math.min(1, Number(schema.maximum ?? 1)))
    case 'boolean':
      return true
    case 'null':
      return null
    case 'array': {
      const count = Number(schema.minItems ?? 0)
      const items = (schema.items ?? {}) as Schema
      if (Array.isArray(items.enum)) return items.enum.slice(0, Math.max(count, 1))
      return Array.from({ length: count }, () => plainInstance(items, root, depth + 1))
    }
    default: {
      const out: Record<string, unknown> = {}
      const props = (schema.properties ?? {}) as Record<string, Schema>
      const required = new Set((schema.required ?? []) as string[])
      const anyOf = schema.anyOf as Schema[] | undefined
      for (const name of (anyOf?.[0]?.required ?? []) as string[]) required.add(name)
      for (const name of required) out[name] = plainInstance(props[name] ?? {}, root, depth + 1)
      return out
    }
  }
}

/** Every path to a string in a value. */
function stringPaths(value: unknown, path: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof value === 'string') return [path]
  if (Array.isArray(value)) return value.flatMap((v, i) => stringPaths(v, [...path, i]))
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => stringPaths(v, [...path, k]))
  return []
}

function setAt(value: unknown, path: Array<string | number>, replacement: unknown): unknown {
  if (path.length === 0) return replacement
  const copy: Record<string | number, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) }
  const [head, ...rest] = path
  ;(copy as Record<string | number, unknown>)[head!] = setAt((value as Record<string | number, unknown>)[head!], rest, replacement)
  return copy
}

/** The JSON text of a value nested `depth` levels (JSON.stringify itself overflows the stack on deep values). */
export function nestedText(depth: number): string {
  return '{"n":['.repeat(Math.ceil(depth / 2)) + '"bottom"' + ']}'.repeat(Math.ceil(depth / 2))
}

export function nested(depth: number): unknown {
  let v: unknown = 'bottom'
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? { n: v } : [v]
  return v
}

/**
 * Valid variants of the plainest instance: each string field in turn holding
 * each hostile string (or all at once), and, where the schema allows extra
 * properties, a value nested `deep` levels. `valid` decides what is kept.
 */
export function hostileVariants(schema: Schema, valid: (data: unknown) => boolean, pick: <T>(xs: readonly T[]) => T, deep: number): unknown[] {
  const base = plainInstance(schema)
  if (!valid(base)) return []
  const out: unknown[] = [base]
  const paths = stringPaths(base)
  for (const path of paths) {
    for (const s of HOSTILE_STRINGS) {
      const variant = setAt(base, path, s)
      if (valid(variant)) out.push(variant)
    }
  }
  if (paths.length > 1) {
    let all: unknown = base
    for (const path of paths) {
      const attempt = setAt(all, path, pick(HOSTILE_STRINGS))
      if (valid(attempt)) all = attempt
    }
    out.push(all)
  }
  if (base && typeof base === 'object' && !Array.isArray(base)) {
    const deepVariant = { ...(base as Record<string, unknown>), zdeep: nested(deep) }
    if (valid(deepVariant)) out.push(deepVariant)
  }
  return out
}
