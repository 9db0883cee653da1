import type http from 'node:http'
import { groupVersion } from './resources.ts'
import type { ResourceInfo } from './resources.ts'
import { ApiError } from './status.ts'
import { toTable, wantsTable } from './table.ts'
import { toScale, withScale } from './scale.ts'
import { parseApplyPatch, serverSideApply, trackUpdate } from './apply.ts'
import { applyPatch } from './patch.ts'
import { clone, meta } from './store.ts'
import type { Obj, Store } from './store.ts'
import { watch } from './watch.ts'

export async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString()
}

/** One authorized request for a served resource, as the router parsed it. */
export interface ResourceRequest {
  req: http.IncomingMessage
  res: http.ServerResponse
  q: URLSearchParams
  r: ResourceInfo
  ns: string
  name: string
  sub: string
  verb: string
  /** The decoded protobuf body, when the request sent one. */
  protoBody: Obj | undefined
  /** The request's object: the decoded protobuf, or the JSON body. */
  bodyObject: () => Promise<Obj>
  /** Replies with `body`, as protobuf when the client prefers it. */
  json: (code: number, body: unknown) => void
}

/** The verbs on a resource: get, list, watch, create, update, patch (apply), delete, deletecollection, and the scale subresource. */
export async function serveResource(store: Store, { req, res, q, r, ns, name, sub, verb, protoBody, bodyObject, json }: ResourceRequest): Promise<void> {
  const { get, list, create, update, remove } = store
  if (sub === 'scale') {
    if (verb === 'get') return json(200, toScale(get(r, ns, name)))
    if (verb !== 'update' && verb !== 'patch') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
    const body = await bodyObject()
    const wanted = verb === 'patch' ? applyPatch(toScale(get(r, ns, name)), body, String(req.headers['content-type'] ?? '')) : body
    return json(200, toScale(update(r, ns, name, withScale(get(r, ns, name), wanted))))
  }
  /** The manager an update or apply names (managedFields: apply.ts). */
  const fieldManager = q.get('fieldManager') ?? ''
  // kubectl get asks for server-side printing (as=Table).
  const printed = (o: Obj): Obj => (wantsTable(req.headers.accept) ? toTable(r, o, q.get('includeObject')) : o)
  switch (verb) {
    case 'get': return json(200, printed(get(r, ns, name)))
    case 'list': return json(200, printed(list(r, ns, q)))
    case 'watch': return watch(store, r, ns, q, res)
    case 'create': {
      const body = await bodyObject()
      if (fieldManager) trackUpdate(undefined, body, fieldManager, groupVersion(r))
      return json(201, create(r, ns, body))
    }
    case 'update': {
      const body = await bodyObject()
      if (fieldManager && !sub) trackUpdate(get(r, ns, name), body, fieldManager, groupVersion(r))
      return json(200, update(r, ns, name, body, sub))
    }
    case 'patch': {
      const type = String(req.headers['content-type'] ?? '')
      if (type.startsWith('application/apply-patch')) {
        // Server-side apply (apply.ts): creates the object when it does not exist yet.
        if (!fieldManager) throw new ApiError(400, 'BadRequest', 'PATCH request with apply patch type must have fieldManager set')
        const config = parseApplyPatch(await readBody(req))
        const cm = meta(config)
        if (cm.name !== undefined && cm.name !== name) throw new ApiError(400, 'BadRequest', `the name of the object (${String(cm.name)}) does not match the name on the URL (${name})`)
        cm.name = name
        const live = store.objects.get(store.keyOf(r, ns, name))
        const applied = serverSideApply(live && clone(live), config, fieldManager, q.get('force') === 'true', groupVersion(r))
        if (!live) return json(201, create(r, ns, applied))
        if (!meta(applied).resourceVersion) meta(applied).resourceVersion = meta(live).resourceVersion
        return json(200, update(r, ns, name, applied, sub))
      }
      const cur = clone(get(r, ns, name))
      const patched = applyPatch(clone(cur), JSON.parse(await readBody(req)) as unknown, type)
      if (!(meta(patched).resourceVersion)) meta(patched).resourceVersion = meta(cur).resourceVersion
      if (fieldManager && !sub) trackUpdate(cur, patched, fieldManager, groupVersion(r))
      return json(200, update(r, ns, name, patched, sub))
    }
    case 'delete': {
      const raw = protoBody ? '' : await readBody(req)
      const opts = (protoBody ?? (raw ? JSON.parse(raw) : {})) as { propagationPolicy?: string, preconditions?: { uid?: string, resourceVersion?: string } }
      // DeleteOptions.preconditions: delete only the object as it was read.
      const pre = opts.preconditions
      if (pre?.uid || pre?.resourceVersion) {
        const cur = meta(get(r, ns, name))
        const failed = pre.uid && pre.uid !== cur.uid
          ? `UID in precondition: ${pre.uid}, UID in object meta: ${String(cur.uid)}`
          : pre.resourceVersion && pre.resourceVersion !== cur.resourceVersion ? `ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(cur.resourceVersion)}` : undefined
        if (failed) throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${r.plural}${r.group ? '.' + r.group : ''} "${name}": Precondition failed: ${failed}`, { name, group: r.group, kind: r.plural })
      }
      return json(200, remove(r, ns, name, q.get('propagationPolicy') ?? opts.propagationPolicy ?? 'Background'))
    }
    case 'deletecollection': {
      const raw = protoBody ? '' : await readBody(req)
      const opts = (protoBody ?? (raw ? JSON.parse(raw) : {})) as { propagationPolicy?: string }
      const deleted: Obj[] = []
      for (const o of list(r, ns, q).items as Obj[]) {
        const [ons, oname] = [String(meta(o).namespace ?? ''), String(meta(o).name)]
        if (store.objects.has(store.keyOf(r, ons, oname))) deleted.push(clone(remove(r, ons, oname, q.get('propagationPolicy') ?? opts.propagationPolicy ?? 'Background')))
      }
      return json(200, { kind: `${r.kind}List`, apiVersion: groupVersion(r), metadata: { resourceVersion: String(store.rv()) }, items: deleted })
    }
    default: throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
  }
}
