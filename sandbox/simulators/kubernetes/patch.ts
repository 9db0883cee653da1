import { ApiError } from './status.ts'
import type { Obj } from './store.ts'

// JSON patch, JSON merge patch and strategic merge patch of an object read from the store.
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k)
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

export function applyPatch(cur: Obj, patch: unknown, type: string): Obj {
  if (type.startsWith('application/json-patch+json')) {
    const doc = cur as Record<string, unknown>
    for (const op of patch as Array<{ op: string, path: string, value?: unknown }>) {
      const keys = op.path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'))
      const last = keys.pop() ?? ''
      let parent: Record<string, unknown> | unknown[] = doc
      for (const k of keys) parent = (parent as Record<string, unknown>)[k] as Record<string, unknown>
      if (parent === undefined) throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: path ${op.path} not found`)
      const p = parent as Record<string, unknown>
      if (op.op === 'test' && JSON.stringify(p[last]) !== JSON.stringify(op.value)) throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: testing value ${op.path} failed`)
      if (op.op === 'add' && Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, op.value)
      else if (op.op === 'add' || op.op === 'replace') p[last] = op.value
      else if (op.op === 'remove') { if (Array.isArray(parent)) parent.splice(Number(last), 1); else Reflect.deleteProperty(p, last) }
    }
    return doc
  }
  if (type.startsWith('application/strategic-merge-patch+json')) return strategicMerge(cur, patch) as Obj
  return mergePatch(cur, patch) as Obj
}

// Lists of named things (containers, env, volumes, ports, ...) merge by name; other lists are replaced.
function strategicMerge(target: unknown, patch: unknown): unknown {
  if (Array.isArray(patch)) {
    if (!Array.isArray(target) || !patch.every((p) => p && typeof p === 'object' && 'name' in p)) return patch
    const out = [...target] as Array<Record<string, unknown>>
    for (const p of patch as Array<Record<string, unknown>>) {
      const i = out.findIndex((t) => t.name === p.name)
      if (p.$patch === 'delete') { if (i >= 0) out.splice(i, 1); continue }
      if (i >= 0) out[i] = strategicMerge(out[i], p) as Record<string, unknown>
      else out.push(p)
    }
    return out
  }
  if (!patch || typeof patch !== 'object') return patch
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch') continue
    if (v === null) Reflect.deleteProperty(out, k)
    else out[k] = strategicMerge(out[k], v)
  }
  return out
}
