import type { ErrorObject } from 'ajv'

/** `/backupSets/2/rpo` → `backupSets[2].rpo`, the way people write paths. */
export function toFieldPath(instancePath: string, prefix = ''): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  let out = prefix
  for (const part of parts) {
    if (/^\d+$/.test(part)) out += `[${part}]`
    else out += out ? `.${part}` : part
  }
  return out || prefix || '(root)'
}

/**
 * Human messages for ajv errors: each names the field and what is wrong.
 * The error objects are the same whether the validator was compiled at
 * start or is ajv standalone code made by the build (shared/validators.ts).
 */
export function describeSchemaErrors(errors: ErrorObject[] | null | undefined, prefix = ''): string[] {
  if (!errors) return []
  const out: string[] = []
  for (const e of errors) {
    let field = toFieldPath(e.instancePath, prefix)
    let message = e.message ?? 'is invalid'
    if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty
      field = toFieldPath(`${e.instancePath}/${missing}`, prefix)
      message = 'is required'
    } else if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty
      field = toFieldPath(`${e.instancePath}/${extra}`, prefix)
      message = 'is not a known field'
    } else if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues
      message = `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`
    }
    const text = `${field}: ${message}`
    if (!out.includes(text)) out.push(text)
  }
  return out
}
