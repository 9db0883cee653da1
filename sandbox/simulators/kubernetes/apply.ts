// Server-side apply and managedFields, as kube-apiserver does them through
// sigs.k8s.io/structured-merge-diff (merge/update.go) and
// k8s.io/apimachinery pkg/util/managedfields: each manager owns a set of
// fields; an apply by one manager that would change a field another manager
// owns is a 409 Conflict (managedfields/internal/conflict.go NewConflictError,
// message and causes as there) unless forced (?force=true), which moves the
// field to the applier; fields the applier stops declaring are removed when no
// one else owns them. Updates (create, PUT, non-apply PATCH) carrying a
// fieldManager take the fields they change. Without the kinds' OpenAPI
// schemas, lists of objects with a `name` (containers, env, ports by name,
// volumes, ...) are merged by name as their schemas' list-map keys say; other
// lists are atomic.
import { parse as parseYaml } from 'yaml'
import { ApiError } from './status.ts'

type Obj = Record<string, unknown> & { metadata?: Record<string, unknown> }
type Rec = Record<string, unknown>
type Elem = { f: string } | { k: Rec } | { v: unknown }
type Path = Elem[]

interface ManagedFieldsEntry { manager: string, operation: 'Apply' | 'Update', apiVersion: string, time: string, fieldsType: 'FieldsV1', fieldsV1: Rec, subresource?: string }

const isObj = (v: unknown): v is Rec => !!v && typeof v === 'object' && !Array.isArray(v)
const keyed = (list: unknown[]): boolean => list.length > 0 && list.every((x) => isObj(x) && typeof x.name === 'string')
const keyOf = (p: Path) => JSON.stringify(p)
/** Map-typed fields (map[string]string and the like), whose own presence is recorded as "." in fieldsV1. */
const MAPS = new Set(['labels', 'annotations', 'data', 'binaryData', 'stringData', 'matchLabels', 'nodeSelector', 'selector', 'limits', 'requests', 'capacity'])
/** What an apply configuration does not own: identity and server-set metadata, and status (reset on the main resource). */
const IGNORED_TOP = new Set(['apiVersion', 'kind', 'status'])
const IGNORED_META = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink'])

/** The leaf fields (owned values) and the nodes ("." of maps and list items) of an object. */
function fieldsOf(obj: Obj): { leaves: Path[], nodes: Path[] } {
  const leaves: Path[] = [], nodes: Path[] = []
  const walk = (v: unknown, path: Path, field: string) => {
    if (Array.isArray(v)) {
      if (!keyed(v)) { leaves.push(path); return }
      for (const item of v as Rec[]) { const p: Path = [...path, { k: { name: item.name } }]; nodes.push(p); walk(item, p, '') }
      return
    }
    if (isObj(v) && Object.keys(v).length) {
      if (MAPS.has(field)) nodes.push(path)
      for (const [k, x] of Object.entries(v)) walk(x, [...path, { f: k }], k)
      return
    }
    leaves.push(path)
  }
  for (const [k, v] of Object.entries(obj)) {
    if (IGNORED_TOP.has(k)) continue
    if (k === 'metadata' && isObj(v)) { for (const [mk, mv] of Object.entries(v)) if (!IGNORED_META.has(mk)) walk(mv, [{ f: 'metadata' }, { f: mk }], mk); continue }
    walk(v, [{ f: k }], k)
  }
  return { leaves, nodes }
}

function valueAt(obj: unknown, path: Path): unknown {
  let cur = obj
  for (const e of path) {
    if ('f' in e) cur = isObj(cur) ? cur[e.f] : undefined
    else if ('k' in e) cur = Array.isArray(cur) ? (cur as Rec[]).find((x) => isObj(x) && x.name === e.k.name) : undefined
    else return undefined
    if (cur === undefined) return undefined
  }
  return cur
}

function removeAt(obj: Rec, path: Path): void {
  const last = path[path.length - 1]
  const parent = valueAt(obj, path.slice(0, -1))
  if (!last) return
  if ('f' in last && isObj(parent)) Reflect.deleteProperty(parent, last.f)
  else if ('k' in last && Array.isArray(parent)) { const i = (parent as Rec[]).findIndex((x) => x.name === last.k.name); if (i >= 0) parent.splice(i, 1) }
}

/** Structured merge of an apply configuration into the live object. */
function merge(live: unknown, config: unknown): unknown {
  if (Array.isArray(config)) {
    if (!keyed(config) || !Array.isArray(live)) return structuredClone(config)
    const out = [...live] as Rec[]
    for (const item of config as Rec[]) {
      const i = out.findIndex((x) => isObj(x) && x.name === item.name)
      if (i >= 0) out[i] = merge(out[i], item) as Rec; else out.push(structuredClone(item))
    }
    return out
  }
  if (isObj(config)) {
    const out: Rec = isObj(live) ? { ...live } : {}
    for (const [k, v] of Object.entries(config)) out[k] = merge(out[k], v)
    return out
  }
  return config
}

/** fieldpath.Path's String(): `.data.a`, `.spec.containers[name="web"].image`. */
function pathString(p: Path): string {
  return p.map((e) => ('f' in e ? `.${e.f}` : 'k' in e ? `[${Object.entries(e.k).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]` : `[=${JSON.stringify(e.v)}]`)).join('')
}

function toFieldsV1(paths: Path[], nodes: Set<string>): Rec {
  const root: Rec = {}
  for (const p of paths) {
    let cur = root
    p.forEach((e, i) => {
      const k = 'f' in e ? `f:${e.f}` : 'k' in e ? `k:${JSON.stringify(e.k)}` : `v:${JSON.stringify(e.v)}`
      cur = (cur[k] ??= {}) as Rec
      if (i < p.length - 1 && nodes.has(keyOf(p.slice(0, i + 1)))) cur['.'] = {}
    })
  }
  return root
}

function fromFieldsV1(f: Rec, prefix: Path = []): Path[] {
  const out: Path[] = []
  for (const [k, v] of Object.entries(f)) {
    if (k === '.') continue
    const e: Elem = k.startsWith('f:') ? { f: k.slice(2) } : k.startsWith('k:') ? { k: JSON.parse(k.slice(2)) as Rec } : { v: JSON.parse(k.slice(2)) as unknown }
    const children = isObj(v) ? Object.keys(v).filter((x) => x !== '.') : []
    if (children.length) out.push(...fromFieldsV1(v as Rec, [...prefix, e]))
    else out.push([...prefix, e])
  }
  return out
}

const entriesOf = (o: Obj): ManagedFieldsEntry[] => (Array.isArray(o.metadata?.managedFields) ? o.metadata.managedFields as ManagedFieldsEntry[] : [])
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z')
const entryName = (e: ManagedFieldsEntry) => (e.operation === 'Apply' ? JSON.stringify(e.manager) : `${JSON.stringify(e.manager)} using ${e.apiVersion} at ${e.time}`)

function setEntries(o: Obj, entries: ManagedFieldsEntry[]): void {
  const kept = entries.filter((e) => Object.keys(e.fieldsV1).length)
  o.metadata ??= {}
  if (kept.length) o.metadata.managedFields = kept; else Reflect.deleteProperty(o.metadata, 'managedFields')
}

function entryFor(o: Obj, leaves: Path[], nodes: Path[]): Rec {
  const nodeKeys = new Set(nodes.map(keyOf))
  // Keep only the nodes that have no owned children (an empty map or a list item owned as a whole) as leaves.
  return toFieldsV1([...leaves, ...nodes.filter((n) => !leaves.some((l) => keyOf(l.slice(0, n.length)) === keyOf(n)))], nodeKeys)
}

/** The apply configuration in a PATCH body (application/apply-patch+yaml: YAML, which JSON also is). */
export function parseApplyPatch(body: string): Obj {
  const doc = parseYaml(body) as unknown
  if (!isObj(doc)) throw new ApiError(400, 'BadRequest', 'error decoding YAML: the apply configuration must be an object')
  return doc as Obj
}

/**
 * The object after `manager` applies `config` to `live` (undefined: it does not exist yet),
 * with managedFields updated; a 409 Conflict when another manager owns a field the
 * configuration would change and `force` is not set.
 */
export function serverSideApply(live: Obj | undefined, config: Obj, manager: string, force: boolean, apiVersion: string): Obj {
  const { leaves, nodes } = fieldsOf(config)
  const entries = live ? structuredClone(entriesOf(live)) : []
  const mine = entries.find((e) => e.manager === manager && e.operation === 'Apply' && !e.subresource)
  const conflicts: Array<{ entry: ManagedFieldsEntry, path: Path }> = []
  for (const e of entries) {
    if (e === mine || e.subresource) continue
    const owned = new Set(fromFieldsV1(e.fieldsV1).map(keyOf))
    for (const p of leaves) {
      if (!owned.has(keyOf(p))) continue
      if (JSON.stringify(valueAt(live, p)) !== JSON.stringify(valueAt(config, p))) conflicts.push({ entry: e, path: p })
    }
  }
  if (conflicts.length && !force) {
    const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${entryName(c.entry)}`, field: pathString(c.path) }))
    const byManager = new Map<string, string[]>()
    for (const c of conflicts) byManager.set(entryName(c.entry), [...(byManager.get(entryName(c.entry)) ?? []), pathString(c.path)])
    const message = conflicts.length === 1
      ? `Apply failed with 1 conflict: conflict with ${entryName(conflicts[0]!.entry)}: ${pathString(conflicts[0]!.path)}`
      : `Apply failed with ${conflicts.length} conflicts: ${[...byManager.keys()].sort().flatMap((m) => [`conflicts with ${m}:`, ...(byManager.get(m) ?? []).map((p) => `- ${p}`)]).join('\n')}`
    throw new ApiError(409, 'Conflict', message, { causes })
  }
  // Forced: the applier takes the conflicting fields from their owners.
  for (const c of conflicts) {
    const rest = fromFieldsV1(c.entry.fieldsV1).filter((p) => keyOf(p) !== keyOf(c.path))
    c.entry.fieldsV1 = toFieldsV1(rest, new Set())
  }
  const out = structuredClone(live ?? {}) as Obj
  // Fields this manager applied before and no longer declares go, unless someone else owns them too.
  if (mine) {
    const declared = new Set([...leaves, ...nodes].map(keyOf))
    const others = new Set(entries.filter((e) => e !== mine).flatMap((e) => fromFieldsV1(e.fieldsV1)).map(keyOf))
    for (const p of fromFieldsV1(mine.fieldsV1)) if (!declared.has(keyOf(p)) && !others.has(keyOf(p))) removeAt(out, p)
  }
  const merged = merge(out, config) as Obj
  const entry: ManagedFieldsEntry = { manager, operation: 'Apply', apiVersion, time: now(), fieldsType: 'FieldsV1', fieldsV1: entryFor(config, leaves, nodes) }
  setEntries(merged, [...entries.filter((e) => e !== mine), entry])
  return merged
}

/**
 * Records an update by `manager` (create when `old` is undefined): it takes the
 * fields whose values it set or changed; fields the update removed leave every owner.
 */
export function trackUpdate(old: Obj | undefined, next: Obj, manager: string, apiVersion: string): void {
  const { leaves, nodes } = fieldsOf(next)
  const entries = structuredClone(old ? entriesOf(old) : [])
  const changed = leaves.filter((p) => !old || JSON.stringify(valueAt(old, p)) !== JSON.stringify(valueAt(next, p)))
  const present = new Set([...leaves, ...nodes].map(keyOf))
  const changedKeys = new Set(changed.map(keyOf))
  for (const e of entries) e.fieldsV1 = toFieldsV1(fromFieldsV1(e.fieldsV1).filter((p) => !changedKeys.has(keyOf(p)) && (present.has(keyOf(p)) || valueAt(next, p) !== undefined)), new Set())
  let mine = entries.find((e) => e.manager === manager && e.operation === 'Update' && !e.subresource)
  if (changed.length) {
    const owned = [...(mine ? fromFieldsV1(mine.fieldsV1) : []), ...changed]
    const nodeKeys = new Set(nodes.map(keyOf))
    if (!mine) { mine = { manager, operation: 'Update', apiVersion, time: now(), fieldsType: 'FieldsV1', fieldsV1: {} }; entries.push(mine) }
    mine.fieldsV1 = toFieldsV1(owned.filter((p, i) => owned.findIndex((q) => keyOf(q) === keyOf(p)) === i), nodeKeys)
    mine.time = now()
  }
  setEntries(next, entries)
}
