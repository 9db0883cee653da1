// Schemas come from the kubernetes-models packages at run time (never from upstream files).
import { ApiError } from './status.ts'
import type { ResourceInfo } from './resources.ts'

type Validator = (obj: Record<string, unknown>) => void
interface AjvError { instancePath?: string, message?: string, keyword?: string, params?: { missingProperty?: string } }

export async function loadValidators(resources: ResourceInfo[]): Promise<Map<string, Validator>> {
  const out = new Map<string, Validator>()
  for (const r of resources) {
    const spec = r.group ? `kubernetes-models/${r.group}/${r.version}/${r.kind}` : `kubernetes-models/v1/${r.kind}`
    // A missing model is a broken registration, so fail at start rather than serve unvalidated.
    const mod = await import(r.module ?? spec) as Record<string, unknown>
    const Model = mod[r.kind] as (new (data: Record<string, unknown>) => { validate(): void }) | undefined
    if (!Model) throw new Error(`no model class ${r.kind} in ${r.module ?? spec}`)
    out.set(`${r.group}/${r.version}/${r.kind}`, (obj) => { new Model(obj).validate() })
  }
  return out
}

export function validate(validators: Map<string, Validator>, r: ResourceInfo, obj: Record<string, unknown>): void {
  const v = validators.get(`${r.group}/${r.version}/${r.kind}`)
  if (!v) return
  try { v(obj) } catch (err) {
    const errors = ((err as { errors?: AjvError[] }).errors ?? [])
    const causes = errors.map((e) => {
      const base = (e.instancePath ?? '').split('/').filter(Boolean).join('.')
      if (e.keyword === 'required') {
        const field = [base, e.params?.missingProperty].filter(Boolean).join('.')
        return { reason: 'FieldValueRequired', message: 'Required value', field }
      }
      return { reason: 'FieldValueInvalid', message: `Invalid value: ${e.message ?? 'invalid'}`, field: base }
    })
    const name = String((obj.metadata as Record<string, unknown> | undefined)?.name ?? '')
    const summary = causes.map((c) => `${c.field}: ${c.message}`).join(', ')
    throw new ApiError(422, 'Invalid', `${r.kind}${r.group ? '.' + r.group : ''} "${name}" is invalid: ${summary}`, { name, group: r.group, kind: r.kind, causes })
  }
}
