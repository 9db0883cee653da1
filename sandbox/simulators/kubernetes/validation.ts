// Schemas come from the kubernetes-models packages at run time (never from upstream files),
// or, for kinds no package carries, from the project's own definitions (sandbox/crds).
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { ApiError } from './status.ts'
import { PROJECT_SCHEMA } from './resources.ts'
import type { ResourceInfo } from './resources.ts'
import { findProjectCrd } from '../../crds/index.ts'
import { createAjv } from '../../../shared/schema.ts'
import type { JsonSchema } from '../../../shared/schema.ts'

const requireModel = createRequire(import.meta.url)

export type Validator = (obj: Record<string, unknown>) => void
interface AjvError { instancePath?: string, message?: string, keyword?: string, schemaPath?: string, params?: { missingProperty?: string } }

// A project definition compiled with ajv; throws like a model's validate() does (an `errors` array).
// One ajv for every project definition: each instance compiles the JSON Schema meta-schema first.
let ajv: ReturnType<typeof createAjv> | undefined
function projectValidator(schema: JsonSchema): Validator {
  const check = (ajv ??= createAjv()).compile(schema)
  return (obj) => {
    if (check(obj)) return
    // Branch failures inside a oneOf are reported once, by the oneOf itself.
    const errors = (check.errors ?? []).filter((e) => !/\/oneOf\/\d+\//.test(e.schemaPath)).map((e): AjvError => {
      if (e.keyword !== 'oneOf') return e
      const branches = resolvePointer(schema, e.schemaPath) as Array<{ required?: string[] }> | undefined
      const names = (branches ?? []).flatMap((b) => b.required ?? [])
      return { ...e, message: names.length ? `exactly one of ${names.join(' and ')} must be set` : e.message }
    })
    throw Object.assign(new Error('validation failed'), { errors })
  }
}

function resolvePointer(root: unknown, schemaPath: string): unknown {
  let cur = root
  for (const k of schemaPath.replace(/^#\//, '').split('/')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined
  return cur
}

/**
 * A validator per kind, each made at its kind's first write: a sandbox or a
 * test touches a few of the many kinds registered, and loading every model
 * and compiling every definition up front was most of the API server's
 * start. What can be checked without loading is checked now, so a broken
 * registration still fails at start rather than serving unvalidated: the
 * model's module resolves, the project definition exists.
 */
export async function loadValidators(resources: ResourceInfo[]): Promise<Map<string, Validator>> {
  const out = new Map<string, Validator>()
  for (const r of resources) {
    if (r.module === PROJECT_SCHEMA) {
      const crd = findProjectCrd(r.group, r.version, r.kind)
      if (!crd) throw new Error(`no project definition for ${r.group}/${r.version} ${r.kind}`)
      let check: Validator | undefined
      out.set(`${r.group}/${r.version}/${r.kind}`, (obj) => (check ??= projectValidator(crd.schema))(obj))
      continue
    }
    const spec = r.module ?? (r.group ? `kubernetes-models/${r.group}/${r.version}/${r.kind}` : `kubernetes-models/v1/${r.kind}`)
    // Resolved as an import (the packages export for `import` only), then loaded by its file.
    const file = fileURLToPath(import.meta.resolve(spec))
    let Model: ModelClass | undefined
    out.set(`${r.group}/${r.version}/${r.kind}`, (obj) => {
      // The models are ES modules without top-level await: require() loads them synchronously (Node 22.12+).
      Model ??= modelClass(requireModel(file) as Record<string, unknown>, r.kind, spec)
      new Model(obj).validate()
    })
  }
  return out
}

type ModelClass = new (data: Record<string, unknown>) => { validate(): void }

function modelClass(mod: Record<string, unknown>, kind: string, spec: string): ModelClass {
  const Model = mod[kind] as ModelClass | undefined
  if (!Model) throw new Error(`no model class ${kind} in ${spec}`)
  return Model
}

// The []byte fields of the core API (a Secret's data, a ConfigMap's
// binaryData) are decoded with Go's encoding/base64, which ignores \r and \n
// (golang/go src/encoding/base64/base64.go, Decode): kustomize's
// secretGenerator wraps its base64 at 76 columns and the API server takes it,
// storing the bytes and returning them unwrapped. The model's "byte" format
// does not allow a line break, so unwrap as the server does, then validate.
const BYTE_FIELDS: Record<string, string> = { Secret: 'data', ConfigMap: 'binaryData' }

function unwrapBytes(r: ResourceInfo, obj: Record<string, unknown>): void {
  const field = r.group === '' ? BYTE_FIELDS[r.kind] : undefined
  const values = field ? obj[field] : undefined
  if (!values || typeof values !== 'object') return
  for (const [k, v] of Object.entries(values)) if (typeof v === 'string') (values as Record<string, unknown>)[k] = v.replace(/[\r\n]/g, '')
}

export function validate(validators: Map<string, Validator>, r: ResourceInfo, obj: Record<string, unknown>): void {
  unwrapBytes(r, obj)
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
