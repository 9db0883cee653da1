// Server-side printing (Accept: application/json;as=Table;v=v1;g=meta.k8s.io), which
// kubectl asks for on `get`: the columns kube-apiserver prints for the common kinds,
// NAME/AGE (the CRD default) for the rest.
import type { ResourceInfo } from './resources.ts'

type Obj = Record<string, unknown> & { metadata?: Record<string, unknown> }
type Rec = Record<string, unknown>
interface Column { name: string, type: string, format?: string, priority?: number, cell: (o: Obj) => unknown }

/** Like apimachinery's duration.HumanDuration, which the API server uses for AGE cells. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 120) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`
  if (m < 180) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`
  if (h < 48) return `${h}h`
  const d = Math.floor(h / 24)
  if (h < 24 * 8) return h % 24 ? `${d}d${h % 24}h` : `${d}d`
  if (d < 365 * 2) return `${d}d`
  return `${Math.floor(d / 365)}y`
}

const get = (o: unknown, path: string): unknown => path.split('.').reduce<unknown>((c, k) => (c && typeof c === 'object' ? (c as Rec)[k] : undefined), o)
const num = (v: unknown): number => (typeof v === 'number' ? v : 0)
const age = (o: Obj): string => { const t = Date.parse(String(get(o, 'metadata.creationTimestamp') ?? '')); return Number.isNaN(t) ? '<unknown>' : humanDuration(Date.now() - t) }
const name: Column = { name: 'Name', type: 'string', format: 'name', cell: (o) => get(o, 'metadata.name') }
const ageCol: Column = { name: 'Age', type: 'string', cell: age }
const conds = (o: Obj): Rec[] => (get(o, 'status.conditions') as Rec[] | undefined) ?? []

const COLUMNS: Record<string, Column[]> = {
  'v1/Pod': [name,
    { name: 'Ready', type: 'string', cell: (o) => `${((get(o, 'status.containerStatuses') as Rec[] | undefined) ?? []).filter((c) => c.ready).length}/${((get(o, 'spec.containers') as unknown[] | undefined) ?? []).length}` },
    { name: 'Status', type: 'string', cell: (o) => get(o, 'status.phase') ?? 'Pending' },
    { name: 'Restarts', type: 'string', cell: (o) => String(((get(o, 'status.containerStatuses') as Rec[] | undefined) ?? []).reduce((a, c) => a + num(c.restartCount), 0)) },
    ageCol],
  'v1/ConfigMap': [name, { name: 'Data', type: 'integer', cell: (o) => Object.keys((o.data as Rec | undefined) ?? {}).length + Object.keys((o.binaryData as Rec | undefined) ?? {}).length }, ageCol],
  'v1/Secret': [name, { name: 'Type', type: 'string', cell: (o) => o.type ?? 'Opaque' }, { name: 'Data', type: 'integer', cell: (o) => Object.keys((o.data as Rec | undefined) ?? {}).length }, ageCol],
  'v1/Namespace': [name, { name: 'Status', type: 'string', cell: (o) => get(o, 'status.phase') ?? 'Active' }, ageCol],
  'v1/Event': [
    { name: 'Last Seen', type: 'string', cell: (o) => { const t = Date.parse(String(o.lastTimestamp ?? o.eventTime ?? '')); return Number.isNaN(t) ? '<unknown>' : humanDuration(Date.now() - t) } },
    { name: 'Type', type: 'string', cell: (o) => o.type },
    { name: 'Reason', type: 'string', cell: (o) => o.reason },
    { name: 'Object', type: 'string', cell: (o) => `${String(get(o, 'involvedObject.kind') ?? '').toLowerCase()}/${String(get(o, 'involvedObject.name') ?? '')}` },
    { name: 'Message', type: 'string', cell: (o) => o.message }],
  'apps/v1/Deployment': [name,
    { name: 'Ready', type: 'string', cell: (o) => `${num(get(o, 'status.readyReplicas'))}/${num(get(o, 'spec.replicas') ?? 1)}` },
    { name: 'Up-to-date', type: 'integer', cell: (o) => num(get(o, 'status.updatedReplicas')) },
    { name: 'Available', type: 'integer', cell: (o) => num(get(o, 'status.availableReplicas')) },
    ageCol],
  'apps/v1/StatefulSet': [name, { name: 'Ready', type: 'string', cell: (o) => `${num(get(o, 'status.readyReplicas'))}/${num(get(o, 'spec.replicas') ?? 1)}` }, ageCol],
  'batch/v1/Job': [name,
    { name: 'Status', type: 'string', cell: (o) => (conds(o).some((c) => c.type === 'Complete' && c.status === 'True') ? 'Complete' : conds(o).some((c) => c.type === 'Failed' && c.status === 'True') ? 'Failed' : 'Running') },
    { name: 'Completions', type: 'string', cell: (o) => `${num(get(o, 'status.succeeded'))}/${num(get(o, 'spec.completions') ?? 1)}` },
    { name: 'Duration', type: 'string', cell: (o) => { const s = Date.parse(String(get(o, 'status.startTime') ?? '')); const e = Date.parse(String(get(o, 'status.completionTime') ?? '')) || Date.now(); return Number.isNaN(s) ? '' : humanDuration(e - s) } },
    ageCol],
  'batch/v1/CronJob': [name,
    { name: 'Schedule', type: 'string', cell: (o) => get(o, 'spec.schedule') },
    { name: 'Timezone', type: 'string', cell: (o) => get(o, 'spec.timeZone') ?? '<none>' },
    { name: 'Suspend', type: 'boolean', cell: (o) => get(o, 'spec.suspend') === true ? 'True' : 'False' },
    { name: 'Active', type: 'integer', cell: (o) => ((get(o, 'status.active') as unknown[] | undefined) ?? []).length },
    { name: 'Last Schedule', type: 'string', cell: (o) => { const t = Date.parse(String(get(o, 'status.lastScheduleTime') ?? '')); return Number.isNaN(t) ? '<none>' : humanDuration(Date.now() - t) } },
    ageCol],
}

export function wantsTable(accept: string | undefined): boolean {
  return /;\s*as=Table/.test(accept ?? '')
}

/** One object or a list as a meta.k8s.io/v1 Table; `includeObject` as the query says (default PartialObjectMetadata). */
export function toTable(r: ResourceInfo, result: Obj, includeObject: string | null): Obj {
  const items = Array.isArray(result.items) ? result.items as Obj[] : [result]
  const cols = COLUMNS[`${r.group ? `${r.group}/` : ''}${r.version}/${r.kind}`] ?? [name, ageCol]
  const listMeta = Array.isArray(result.items) ? (result.metadata ?? {}) : { resourceVersion: (result.metadata ?? {}).resourceVersion }
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: listMeta,
    columnDefinitions: cols.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: '', priority: c.priority ?? 0 })),
    rows: items.map((o) => ({
      cells: cols.map((c) => c.cell(o) ?? ''),
      ...(includeObject === 'None' ? {} : { object: includeObject === 'Object' ? o : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata } }),
    })),
  }
}
