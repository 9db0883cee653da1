import { randomUUID } from 'node:crypto'
import { RESOURCES, groupVersion } from './resources.ts'
import type { ResourceInfo } from './resources.ts'
import { ApiError } from './status.ts'
import { validate } from './validation.ts'
import type { Validator } from './validation.ts'
import { matchFields, matchLabels } from './selectors.ts'

export type Obj = Record<string, unknown> & { metadata?: Record<string, unknown> }
export interface Meta { name?: string, namespace?: string, generateName?: string, resourceVersion?: string, labels?: Record<string, string>, [k: string]: unknown }
export interface ChangeEvent { type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Obj }
export type HistoryEntry = ChangeEvent & { key: string, rv: number }

export const meta = (o: Obj): Meta => (o.metadata ??= {}) as Meta
export const clone = <T>(v: T): T => structuredClone(v)

export type Store = ReturnType<typeof createStore>

/**
 * The API server's objects: create/get/update/delete/list with resourceVersions, validation,
 * garbage collection through ownerReferences, and the change history a watch resumes from.
 */
export function createStore(validators: Map<string, Validator>) {
  const objects = new Map<string, Obj>()
  let rv = 1
  const history: HistoryEntry[] = []
  const listeners = new Set<(e: ChangeEvent) => void>()

  const keyOf = (r: ResourceInfo, ns: string, name: string) => `${r.group}/${r.plural}/${r.namespaced ? ns : ''}/${name}`
  const emit = (r: ResourceInfo, type: ChangeEvent['type'], object: Obj) => {
    const e = { type, object: clone(object), key: `${r.group}/${r.plural}`, rv: Number(meta(object).resourceVersion) }
    history.push(e)
    if (history.length > 1000) history.shift()
    for (const l of listeners) l({ type, object: e.object })
  }

  function put(r: ResourceInfo, obj: Obj, type: 'ADDED' | 'MODIFIED'): Obj {
    const m = meta(obj)
    m.resourceVersion = String(++rv)
    objects.set(keyOf(r, m.namespace ?? '', m.name ?? ''), obj)
    emit(r, type, obj)
    return obj
  }

  function create(r: ResourceInfo, ns: string, body: Obj): Obj {
    const obj = clone(body)
    const m = meta(obj)
    if (!m.name && m.generateName) m.name = m.generateName + Math.random().toString(36).slice(2, 7)
    if (!m.name) throw new ApiError(422, 'Invalid', `${r.kind} is invalid: metadata.name: Required value: name or generateName is required`, { kind: r.kind, group: r.group, causes: [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }] })
    if (r.namespaced) m.namespace = m.namespace ?? ns
    else delete m.namespace
    if (r.namespaced && ns && m.namespace !== ns) throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request')
    if (objects.has(keyOf(r, m.namespace ?? '', m.name))) throw new ApiError(409, 'AlreadyExists', `${r.plural}${r.group ? '.' + r.group : ''} "${m.name}" already exists`, { name: m.name, group: r.group, kind: r.plural })
    obj.apiVersion = groupVersion(r)
    obj.kind = r.kind
    m.uid = randomUUID()
    m.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
    m.generation = 1
    // SetDefaults_Secret (kubernetes pkg/apis/core/v1/defaults.go): no type is Opaque.
    if (r.kind === 'Secret' && !r.group && !obj.type) obj.type = 'Opaque'
    validate(validators, r, obj)
    return put(r, obj, 'ADDED')
  }

  const notFound = (r: ResourceInfo, name: string) => new ApiError(404, 'NotFound', `${r.plural}${r.group ? '.' + r.group : ''} "${name}" not found`, { name, group: r.group, kind: r.plural })

  function get(r: ResourceInfo, ns: string, name: string): Obj {
    const o = objects.get(keyOf(r, ns, name))
    if (!o) throw notFound(r, name)
    return o
  }

  function update(r: ResourceInfo, ns: string, name: string, body: Obj, subresource = ''): Obj {
    const cur = get(r, ns, name)
    const next = clone(body)
    const m = meta(next)
    const cm = meta(cur)
    if (m.resourceVersion && m.resourceVersion !== cm.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${r.plural}${r.group ? '.' + r.group : ''} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, group: r.group, kind: r.plural })
    }
    const hasStatus = r.subresources.includes('status')
    let out: Obj
    if (subresource === 'status') {
      out = { ...clone(cur), status: next.status }
    } else {
      out = next
      if (hasStatus) { if (cur.status === undefined) delete out.status; else out.status = clone(cur.status) }
      for (const k of ['uid', 'creationTimestamp', 'generation', 'deletionTimestamp', 'namespace', 'name']) if (cm[k] !== undefined) meta(out)[k] = cm[k]
      // An update that leaves managedFields out keeps the object's (apimachinery managedfields: a nil list is "unchanged").
      if (meta(out).managedFields === undefined && cm.managedFields !== undefined) meta(out).managedFields = clone(cm.managedFields)
      out.apiVersion = groupVersion(r)
      out.kind = r.kind
      if (JSON.stringify(cur.spec) !== JSON.stringify(out.spec)) meta(out).generation = Number(cm.generation ?? 1) + 1
    }
    validate(validators, r, out)
    const om = meta(out)
    if (om.deletionTimestamp && !(Array.isArray(om.finalizers) && om.finalizers.length)) {
      finalize(r, out)
      return out
    }
    return put(r, out, 'MODIFIED')
  }

  // Garbage collection through ownerReferences, done at once rather than by a controller.
  type OwnerRef = { uid?: string }
  const refsOf = (o: Obj): OwnerRef[] => (Array.isArray(meta(o).ownerReferences) ? meta(o).ownerReferences as OwnerRef[] : [])
  const dependentsOf = (uid: unknown): Obj[] => [...objects.values()].filter((o) => refsOf(o).some((x) => x.uid === uid))
  const byUid = (uid: unknown): Obj | undefined => [...objects.values()].find((o) => meta(o).uid === uid)
  const resourceOf = (o: Obj) => RESOURCES.find((x) => x.kind === o.kind && groupVersion(x) === o.apiVersion)
  const finalizersOf = (o: Obj): string[] => (Array.isArray(meta(o).finalizers) ? meta(o).finalizers as string[] : [])
  const stripOwner = (d: Obj, uid: unknown) => { const rd = resourceOf(d); meta(d).ownerReferences = refsOf(d).filter((x) => x.uid !== uid); if (rd) put(rd, d, 'MODIFIED') }

  /** Takes an object out of the store, then collects what depended on it. */
  function finalize(r: ResourceInfo, o: Obj): void {
    const m = meta(o)
    objects.delete(keyOf(r, m.namespace ?? '', m.name ?? ''))
    m.resourceVersion = String(++rv)
    emit(r, 'DELETED', o)
    // Background: a dependent whose owners are all gone goes too; one with other owners loses the reference.
    for (const d of dependentsOf(m.uid)) {
      const rd = resourceOf(d)
      if (!rd || !objects.has(keyOf(rd, meta(d).namespace ?? '', meta(d).name ?? ''))) continue
      if (refsOf(d).every((x) => x.uid === m.uid || !byUid(x.uid))) { if (!meta(d).deletionTimestamp) remove(rd, meta(d).namespace ?? '', meta(d).name ?? '', 'Background') } else stripOwner(d, m.uid)
    }
    // Foreground: an owner waiting for its dependents goes with the last of them.
    for (const ref of refsOf(o)) {
      const owner = byUid(ref.uid)
      const ro = owner && resourceOf(owner)
      if (!owner || !ro || !meta(owner).deletionTimestamp || !finalizersOf(owner).includes('foregroundDeletion') || dependentsOf(ref.uid).length) continue
      meta(owner).finalizers = finalizersOf(owner).filter((f) => f !== 'foregroundDeletion')
      if (finalizersOf(owner).length) put(ro, owner, 'MODIFIED'); else finalize(ro, owner)
    }
  }

  function remove(r: ResourceInfo, ns: string, name: string, policy: string): Obj {
    const cur = get(r, ns, name)
    const m = meta(cur)
    const stamp = () => { m.deletionTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z') }
    // Orphan: dependents stay, without their reference to this owner.
    if (policy === 'Orphan') for (const d of dependentsOf(m.uid)) stripOwner(d, m.uid)
    if (policy === 'Foreground' && dependentsOf(m.uid).length) {
      // The owner stays (deletionTimestamp, finalizer foregroundDeletion) until its dependents are gone.
      stamp()
      if (!finalizersOf(cur).includes('foregroundDeletion')) m.finalizers = [...finalizersOf(cur), 'foregroundDeletion']
      put(r, cur, 'MODIFIED')
      for (const d of dependentsOf(m.uid)) {
        const rd = resourceOf(d)
        if (rd && !meta(d).deletionTimestamp) remove(rd, meta(d).namespace ?? '', meta(d).name ?? '', 'Foreground')
      }
      return objects.get(keyOf(r, ns, name)) ?? cur
    }
    if (finalizersOf(cur).length) {
      if (!m.deletionTimestamp) { stamp(); put(r, cur, 'MODIFIED') }
      return cur
    }
    finalize(r, cur)
    return cur
  }

  function list(r: ResourceInfo, ns: string, q: URLSearchParams): Obj {
    let items = [...objects.values()].filter((o) => o.kind === r.kind && o.apiVersion === groupVersion(r) && (!ns || meta(o).namespace === ns))
    const ls = q.get('labelSelector')
    if (ls) items = items.filter((o) => matchLabels(ls, meta(o).labels ?? {}))
    const fs = q.get('fieldSelector')
    if (fs) items = items.filter((o) => matchFields(fs, o))
    items.sort((a, b) => `${meta(a).namespace ?? ''}/${meta(a).name}`.localeCompare(`${meta(b).namespace ?? ''}/${meta(b).name}`))
    const cont = q.get('continue')
    if (cont) {
      const after = Buffer.from(cont, 'base64url').toString()
      items = items.filter((o) => `${meta(o).namespace ?? ''}/${meta(o).name}` > after)
    }
    const limit = Number(q.get('limit') ?? 0)
    const listMeta: Record<string, unknown> = { resourceVersion: String(rv) }
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit)
      const last = items[items.length - 1] as Obj
      listMeta.continue = Buffer.from(`${meta(last).namespace ?? ''}/${meta(last).name}`).toString('base64url')
    }
    return { kind: `${r.kind}List`, apiVersion: groupVersion(r), metadata: listMeta, items: clone(items) }
  }

  return {
    objects,
    history,
    listeners,
    /** The newest resourceVersion handed out. */
    rv: (): number => rv,
    keyOf,
    create,
    get,
    update,
    remove,
    list,
  }
}
