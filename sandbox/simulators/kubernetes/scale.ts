// The `scale` subresource of Deployments and StatefulSets: an autoscaling/v1 Scale view of
// spec.replicas, status.replicas and the selector (as a string, the way HPAs read it).
import { ApiError } from './status.ts'

type Obj = Record<string, unknown>

interface LabelSelector { matchLabels?: Record<string, string>, matchExpressions?: Array<{ key: string, operator: string, values?: string[] }> }

/** metav1.FormatLabelSelector: requirements sorted by key, values sorted. */
export function formatLabelSelector(sel: LabelSelector | undefined): string {
  if (!sel) return ''
  const reqs: Array<[string, string]> = []
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) reqs.push([k, `${k}=${v}`])
  for (const e of sel.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',')
    const text = e.operator === 'In' ? `${e.key} in (${values})`
      : e.operator === 'NotIn' ? `${e.key} notin (${values})`
        : e.operator === 'Exists' ? e.key
          : e.operator === 'DoesNotExist' ? `!${e.key}` : ''
    if (text) reqs.push([e.key, text])
  }
  return reqs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, t]) => t).join(',')
}

/** The Scale of a Deployment or StatefulSet. */
export function toScale(obj: Obj): Obj {
  const m = (obj.metadata ?? {}) as Obj
  const spec = (obj.spec ?? {}) as { replicas?: number, selector?: LabelSelector }
  const status = (obj.status ?? {}) as { replicas?: number }
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp,
    },
    spec: { replicas: spec.replicas ?? 1 },
    status: { replicas: status.replicas ?? 0, selector: formatLabelSelector(spec.selector) },
  }
}

/** `cur` with the replicas a Scale asks for; keeps the Scale's resourceVersion for the conflict check. */
export function withScale(cur: Obj, scale: Obj): Obj {
  const m = (cur.metadata ?? {}) as Obj
  const sm = (scale.metadata ?? {}) as Obj
  const name = String(m.name ?? '')
  if (sm.name !== undefined && sm.name !== name) throw new ApiError(400, 'BadRequest', `the name of the object (${String(sm.name)}) does not match the name on the URL (${name})`)
  const replicas = ((scale.spec ?? {}) as { replicas?: unknown }).replicas ?? 0
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    const message = typeof replicas === 'number' ? `Invalid value: ${replicas}: must be greater than or equal to 0` : `Invalid value: ${JSON.stringify(replicas)}: must be an integer`
    throw new ApiError(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: ${message}`, { name, group: 'autoscaling', kind: 'Scale', causes: [{ reason: 'FieldValueInvalid', message, field: 'spec.replicas' }] })
  }
  const next = structuredClone(cur)
  next.spec = { ...((next.spec ?? {}) as Obj), replicas }
  next.metadata = { ...m, resourceVersion: typeof sm.resourceVersion === 'string' && sm.resourceVersion ? sm.resourceVersion : m.resourceVersion }
  return next
}
