import http from 'node:http'
import https from 'node:https'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { KubeConfig } from '@kubernetes/client-node'
import { RESOURCES, categoriesOf, findResource, groupVersion } from './resources.ts'
import type { ResourceInfo } from './resources.ts'
import { ApiError } from './status.ts'
import { loadValidators, validate } from './validation.ts'
import { startControllers } from './controllers.ts'
import type { ControllerOptions, ObjectStore } from './controllers.ts'
import { selfSignedCert } from './tls.ts'
import { openApiV3 } from './openapi.ts'
import { toTable, wantsTable } from './table.ts'
import { decodeKubernetesProtobuf, encodeKubernetesProtobuf, isProtobuf, prefersProtobuf, readRaw } from './protobuf.ts'
import { createAuthorizer, impersonate, serveAuthorizationApi } from './rbac.ts'
import type { PolicyLister } from './rbac.ts'
import { KubernetesFaults } from './faults.ts'
import { toScale, withScale } from './scale.ts'
import { parseApplyPatch, serverSideApply, trackUpdate } from './apply.ts'
import { CRD_RESOURCE, crdObject, isCustomResource } from './crds.ts'
import { METRICS_GROUP_VERSION, MetricsStandIn, metricsResourceList } from './metrics.ts'

type Obj = Record<string, unknown> & { metadata?: Record<string, unknown> }
interface Meta { name?: string, namespace?: string, generateName?: string, resourceVersion?: string, labels?: Record<string, string>, [k: string]: unknown }

export interface User { username: string, uid: string, groups: string[] }
/** `resource: ''` and `path` for a non-resource request (discovery, /version). */
export interface Attributes { verb: string, group: string, resource: string, subresource: string, namespace: string, name: string, path?: string }
export interface SimulatorOptions {
  port?: number
  /** Decides instead of RBAC when given (system:masters always passes). */
  authorize?: (user: User, attrs: Attributes) => boolean
  /** RBAC from the stored Roles/ClusterRoles and their bindings; default true, false allows every authenticated request. */
  rbac?: boolean
  /** Rollout, Job/CronJob and ExternalSecret controllers; `{ enabled: false }` leaves status alone. */
  controllers?: ControllerOptions
  /**
   * Also serve HTTPS (self-signed certificate, made with openssl) on a second port: `tlsUrl`,
   * `caCert`, `kubeConfig({ tls: true })`. kubectl sends bearer tokens only over TLS.
   */
  tls?: boolean | { port?: number }
  /**
   * API groups this cluster does not serve, as one whose CRDs are not installed
   * (e.g. `monitoring.coreos.com` without the Prometheus Operator): absent from
   * discovery, and a request for one of their resources is a 404.
   */
  omitGroups?: string[]
  /**
   * The cluster's version on GET /version, e.g. `v1.30.4+k3s1` (a K3s
   * server's); major and minor are read from it, as kube-apiserver fills
   * version.Info (k8s.io/apimachinery pkg/version/types.go).
   */
  gitVersion?: string
}
export interface ChangeEvent { type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Obj }

const meta = (o: Obj): Meta => (o.metadata ??= {}) as Meta
const clone = <T>(v: T): T => structuredClone(v)

const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local'

export async function startKubernetesSimulator(options: SimulatorOptions = {}) {
  const objects = new Map<string, Obj>()
  const gitVersion = options.gitVersion ?? 'v1.32.0-caretaker-sim'
  const [, major = '1', minor = '32'] = /^v(\d+)\.(\d+)/.exec(gitVersion) ?? []
  // /version is public in a real cluster (the system:public-info-viewer ClusterRole), so it is served before RBAC.
  const versionInfo = { major, minor, gitVersion, gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2026-11-01T00:00:00Z', goVersion: 'go1.23.6', compiler: 'gc', platform: 'linux/amd64' }
  let rv = 1
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const history: Array<ChangeEvent & { key: string, rv: number }> = []
  const listeners = new Set<(e: ChangeEvent) => void>()
  const token = randomUUID()
  const tokenAudiences = new Map<string, string[]>()
  const tokens = new Map<string, User>([[token, { username: 'admin', uid: randomUUID(), groups: ['system:masters', 'system:authenticated'] }]])
  const policy: PolicyLister = (kind, ns) => [...objects.values()].filter((o) => o.kind === kind && o.apiVersion === 'rbac.authorization.k8s.io/v1' && (ns === undefined || meta(o).namespace === ns))
  const authz = createAuthorizer(policy, { rbac: options.rbac ?? true, ...(options.authorize ? { override: options.authorize } : {}) })
  const faults = new KubernetesFaults()
  const validators = await loadValidators(RESOURCES)

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

  // metrics-server and the kubelets' stats summaries (metrics.ts), over the store's Nodes and Pods.
  const core = (kind: 'Node' | 'Pod') => findResource('', 'v1', kind === 'Node' ? 'nodes' : 'pods') as ResourceInfo
  const metrics = new MetricsStandIn({
    list: (kind, ns, labelSelector) => list(core(kind), ns, new URLSearchParams(labelSelector ? { labelSelector } : {})).items as Obj[],
    get: (kind, ns, name) => { const o = objects.get(keyOf(core(kind), ns, name)); return o && clone(o) },
  })
  const metricsServed = () => !(options.omitGroups ?? []).includes('metrics.k8s.io')

  function authenticate(req: http.IncomingMessage): User {
    const h = req.headers.authorization ?? ''
    const u = h.startsWith('Bearer ') ? tokens.get(h.slice(7)) : undefined
    if (!u) throw new ApiError(401, 'Unauthorized', 'Unauthorized')
    return u
  }

  const served = (r: ResourceInfo) => !(options.omitGroups ?? []).includes(r.group)
  const discovery = () => {
    const groups = new Map<string, ResourceInfo[]>()
    for (const r of RESOURCES.filter(served)) groups.set(groupVersion(r), [...(groups.get(groupVersion(r)) ?? []), r])
    return groups
  }
  const resourceList = (gv: string, rs: ResourceInfo[]) => ({
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv,
    resources: rs.flatMap((r) => [
      { name: r.plural, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'], ...(r.shortNames.length ? { shortNames: r.shortNames } : {}), ...(categoriesOf(r).length ? { categories: categoriesOf(r) } : {}) },
      ...r.subresources.map((s) => ({ name: `${r.plural}/${s}`, singularName: '', namespaced: r.namespaced, kind: s === 'scale' ? 'Scale' : r.kind, verbs: ['get', 'patch', 'update'] })),
    ]),
  })

  async function readBody(req: http.IncomingMessage): Promise<string> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    return Buffer.concat(chunks).toString()
  }

  function watch(r: ResourceInfo, ns: string, q: URLSearchParams, res: http.ServerResponse) {
    const ls = q.get('labelSelector')
    const fs = q.get('fieldSelector')
    const key = `${r.group}/${r.plural}`
    const send = (e: ChangeEvent) => {
      const m = meta(e.object)
      if (e.object.kind !== r.kind || e.object.apiVersion !== groupVersion(r)) return
      if (ns && m.namespace !== ns) return
      if (ls && !matchLabels(ls, m.labels ?? {})) return
      if (fs && !matchFields(fs, e.object)) return
      res.write(JSON.stringify({ type: e.type, object: e.object }) + '\n')
    }
    const from = Number(q.get('resourceVersion') ?? 0)
    const oldest = history[0]?.rv ?? rv + 1
    if (from && from < oldest - 1 && from < rv) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ type: 'ERROR', object: new ApiError(410, 'Expired', `too old resource version: ${from} (${oldest - 1})`).body() }) + '\n')
      return
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
    // Send the headers now: clients wait for them before reading events, and there may be none for a while.
    res.flushHeaders()
    if (from) { for (const e of history) if (e.key === key && e.rv > from) send(e) } else {
      for (const o of (list(r, ns, new URLSearchParams()).items as Obj[])) send({ type: 'ADDED', object: o })
    }
    listeners.add(send)
    const timeout = Number(q.get('timeoutSeconds') ?? 0)
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined
    const bookmark = q.get('allowWatchBookmarks') === 'true' ? setInterval(() => res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: r.kind, apiVersion: groupVersion(r), metadata: { resourceVersion: String(rv) } } }) + '\n'), 1000) : undefined
    res.on('close', () => { listeners.delete(send); clearTimeout(timer); clearInterval(bookmark) })
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const path = url.pathname.replace(/\/$/, '')
    const q = url.searchParams
    const json = (code: number, body: unknown) => {
      // A typed client asks for protobuf first (Accept: application/vnd.kubernetes.protobuf,application/json).
      const proto = prefersProtobuf(req.headers.accept) && body && typeof body === 'object' ? encodeKubernetesProtobuf(body as Obj) : undefined
      if (proto) { res.writeHead(code, { 'content-type': 'application/vnd.kubernetes.protobuf' }); res.end(proto); return }
      res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(body))
    }
    if (await faults.intercept(req, res)) return
    if (path === '/version' || path === '/healthz' || path === '/readyz') return json(200, path === '/version' ? versionInfo : 'ok')
    const user = impersonate(authenticate(req), req.headersDistinct, authz)
    // kubectl's typed clients post built-in kinds as protobuf (protobuf.ts decodes them with the
    // upstream messages); a custom resource has no protobuf form, so that is refused as the real
    // server refuses it. Replies are protobuf when the Accept list puts it first and
    // the kind has a message (json() below), JSON otherwise.
    const protoBody = isProtobuf(req) ? decodeKubernetesProtobuf(await readRaw(req)) : undefined
    if (isProtobuf(req) && !protoBody) throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/apply-patch+yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`)
    /** The request's object: the decoded protobuf, or the JSON body. */
    const bodyObject = async (): Promise<Obj> => protoBody ?? JSON.parse(await readBody(req)) as Obj
    if (path.startsWith('/__sim/')) { const reply = faults.admin(req.method ?? 'GET', path, user, await readBody(req)); return json(reply.status, reply.body) }
    if (/^\/api(\/v1)?$|^\/apis(\/[^/]+){0,2}$|^\/openapi/.test(path)) authz.check(user, { verb: (req.method ?? 'GET').toLowerCase(), group: '', resource: '', subresource: '', namespace: '', name: '', path })
    if (path === '/openapi/v3') return json(200, openApiV3(RESOURCES).root)
    if (path.startsWith('/openapi/v3/')) {
      const doc = openApiV3(RESOURCES).docs.get(path)
      if (!doc) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
      res.writeHead(200, { 'content-type': 'application/json' }); res.end(doc); return
    }
    if (path === '/api') return json(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] })
    if (path === '/apis') {
      const gs = [...new Set(RESOURCES.filter((r) => r.group && served(r)).map((r) => r.group))]
      return json(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [...gs, 'apiextensions.k8s.io', 'authentication.k8s.io', 'authorization.k8s.io', ...(metricsServed() ? ['metrics.k8s.io'] : [])].map((g) => { const v = RESOURCES.find((r) => r.group === g)?.version ?? (g === 'metrics.k8s.io' ? 'v1beta1' : 'v1'); return { name: g, versions: [{ groupVersion: `${g}/${v}`, version: v }], preferredVersion: { groupVersion: `${g}/${v}`, version: v } } }) })
    }
    if (path === '/api/v1') return json(200, resourceList('v1', discovery().get('v1') ?? []))
    if (path === '/apis/authentication.k8s.io/v1') return json(200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'authentication.k8s.io/v1', resources: [{ name: 'tokenreviews', singularName: 'tokenreview', namespaced: false, kind: 'TokenReview', verbs: ['create'] }] })
    if (path === '/apis/authentication.k8s.io/v1/tokenreviews' && req.method === 'POST') {
      authz.check(user, { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews', subresource: '', namespace: '', name: '' })
      const body = JSON.parse(await readBody(req)) as Obj
      const spec = (body.spec ?? {}) as { token?: string, audiences?: string[] }
      const u = tokens.get(spec.token ?? '')
      // Like the real authenticator: a token is good only for the audiences it was minted for;
      // no audiences in the review means the API server's own.
      const wanted = spec.audiences?.length ? spec.audiences : [API_AUDIENCE]
      const granted = u ? (tokenAudiences.get(spec.token ?? '') ?? [API_AUDIENCE]).filter((a) => wanted.includes(a)) : []
      const status = !u ? { authenticated: false, user: {}, error: 'invalid bearer token' }
        : granted.length === 0 ? { authenticated: false, user: {}, error: `token audiences ${JSON.stringify(tokenAudiences.get(spec.token ?? '') ?? [API_AUDIENCE])} is invalid for the target audiences ${JSON.stringify(wanted)}` }
          : { authenticated: true, user: u, audiences: granted }
      return json(201, { ...body, apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status })
    }
    // The CRDs of the served custom resources, read-only (crds.ts).
    if (path === '/apis/apiextensions.k8s.io/v1') return json(200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'apiextensions.k8s.io/v1', resources: [{ name: 'customresourcedefinitions', singularName: 'customresourcedefinition', namespaced: false, kind: 'CustomResourceDefinition', verbs: ['get', 'list'], shortNames: CRD_RESOURCE.shortNames, categories: ['api-extensions'] }] })
    const crdPath = /^\/apis\/apiextensions\.k8s\.io\/v1\/customresourcedefinitions(?:\/([^/]+))?$/.exec(path)
    if (crdPath) {
      const crdName = crdPath[1] ?? ''
      const method = req.method ?? 'GET'
      const crdVerb = method !== 'GET' ? method.toLowerCase() : crdName ? 'get' : 'list'
      authz.check(user, { verb: crdVerb, group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', subresource: '', namespace: '', name: crdName })
      if (method !== 'GET' || q.get('watch') === 'true' || q.get('watch') === '1') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
      const crds = RESOURCES.filter((x) => served(x) && isCustomResource(x)).map((x) => crdObject(x, startedAt)).sort((a, b) => String(meta(a).name).localeCompare(String(meta(b).name)))
      const wanted = crdName ? crds.find((c) => meta(c).name === crdName) : undefined
      if (crdName && !wanted) throw new ApiError(404, 'NotFound', `customresourcedefinitions.apiextensions.k8s.io "${crdName}" not found`, { name: crdName, group: 'apiextensions.k8s.io', kind: 'customresourcedefinitions' })
      const result = wanted ?? { kind: 'CustomResourceDefinitionList', apiVersion: 'apiextensions.k8s.io/v1', metadata: { resourceVersion: String(rv) }, items: crds }
      return json(200, wantsTable(req.headers.accept) ? toTable(CRD_RESOURCE, result, q.get('includeObject')) : result)
    }
    const review = await serveAuthorizationApi(path, req.method ?? 'GET', user, () => (protoBody ? Promise.resolve(JSON.stringify(protoBody)) : readBody(req)), authz, policy)
    if (review) return json(review.code, review.body)
    if (metricsServed() && path === `/apis/${METRICS_GROUP_VERSION}`) return json(200, metricsResourceList())
    const check = (attrs: Omit<Attributes, 'path'>) => authz.check(user, attrs)
    const fromMetrics = (metricsServed() ? metrics.serveMetrics(path, req.method ?? 'GET', q, check) : undefined) ?? metrics.serveNodeProxy(path, req.method ?? 'GET', check)
    if (fromMetrics) {
      if (fromMetrics.text) { res.writeHead(fromMetrics.status, { 'content-type': 'text/plain; charset=utf-8' }); res.end(String(fromMetrics.body)); return }
      return json(fromMetrics.status, fromMetrics.body)
    }
    const gm = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path)
    if (gm) { const rs = discovery().get(`${gm[1]}/${gm[2]}`); if (rs) return json(200, resourceList(`${gm[1]}/${gm[2]}`, rs)) }
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+)(?=\/))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(path)
    if (!m) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
    const [, coreV, group = '', gv, ns = '', plural = '', name = '', sub = ''] = m
    const r = findResource(group, coreV ?? gv ?? '', plural)
    if (!r || !served(r)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
    if (sub && !r.subresources.includes(sub)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
    const method = req.method ?? 'GET'
    const verb = method === 'GET' ? (name ? 'get' : q.get('watch') === '1' || q.get('watch') === 'true' ? 'watch' : 'list') : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? (name ? 'delete' : 'deletecollection') : ''
    // As kube-apiserver's RequestInfo: a namespace is its own namespace; list/watch of one name (fieldSelector) names it.
    const selectedName = verb === 'list' || verb === 'watch' ? /(?:^|,)metadata\.name==?([^,]+)/.exec(q.get('fieldSelector') ?? '')?.[1] ?? '' : ''
    const attrs: Attributes = { verb, group, resource: plural, subresource: sub, namespace: ns || (plural === 'namespaces' && !group ? name : ''), name: name || selectedName }
    authz.check(user, attrs)
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
      case 'watch': return watch(r, ns, q, res)
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
          const live = objects.get(keyOf(r, ns, name))
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
          if (objects.has(keyOf(r, ons, oname))) deleted.push(clone(remove(r, ons, oname, q.get('propagationPolicy') ?? opts.propagationPolicy ?? 'Background')))
        }
        return json(200, { kind: `${r.kind}List`, apiVersion: groupVersion(r), metadata: { resourceVersion: String(rv) }, items: deleted })
      }
      default: throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
    }
  }

  const servingCert = options.tls ? selfSignedCert() : undefined
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      const e = err instanceof ApiError ? err : new ApiError(err instanceof SyntaxError ? 400 : 500, err instanceof SyntaxError ? 'BadRequest' : 'InternalError', String((err as Error).message))
      if (res.headersSent) { res.end(); return }
      const proto = prefersProtobuf(req.headers.accept) ? encodeKubernetesProtobuf(e.body()) : undefined
      if (proto) { res.writeHead(e.code, { 'content-type': 'application/vnd.kubernetes.protobuf' }); res.end(proto); return }
      res.writeHead(e.code, { 'content-type': 'application/json' }); res.end(JSON.stringify(e.body()))
    })
  }
  const server = http.createServer(onRequest)
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const tlsServer = servingCert ? https.createServer({ cert: servingCert.cert, key: servingCert.key }, onRequest) : undefined
  if (tlsServer) await new Promise<void>((resolve) => tlsServer.listen(typeof options.tls === 'object' ? options.tls.port ?? 0 : 0, '127.0.0.1', resolve))
  const tlsUrl = tlsServer ? `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}` : undefined

  const resourceFor = (apiVersion: string, kind: string): ResourceInfo => {
    const r = RESOURCES.find((x) => groupVersion(x) === apiVersion && x.kind === kind)
    if (!r) throw new Error(`kind not served: ${apiVersion} ${kind}`)
    return r
  }
  const controllerStore: ObjectStore = {
    get: (apiVersion, kind, ns, name) => { const o = objects.get(keyOf(resourceFor(apiVersion, kind), ns, name)); return o && clone(o) },
    list: (apiVersion, kind, ns = '') => list(resourceFor(apiVersion, kind), ns, new URLSearchParams()).items as Obj[],
    create: (obj) => clone(create(resourceFor(String(obj.apiVersion), String(obj.kind)), String(meta(obj).namespace ?? ''), obj)),
    update: (obj) => clone(update(resourceFor(String(obj.apiVersion), String(obj.kind)), String(meta(obj).namespace ?? ''), String(meta(obj).name), obj)),
    updateStatus: (obj) => clone(update(resourceFor(String(obj.apiVersion), String(obj.kind)), String(meta(obj).namespace ?? ''), String(meta(obj).name), obj, 'status')),
    onChange: (listener) => { listeners.add(listener); return () => { listeners.delete(listener) } },
  }
  const controllers = startControllers(controllerStore, options.controllers)

  return {
    url,
    token,
    /** https URL of the TLS listener (started with `tls`). */
    tlsUrl,
    /** Admin client config; `{ tls: true }` points at the TLS listener with its CA (`exportConfig()` then suits kubectl). */
    kubeConfig(opts: { tls?: boolean } = {}): KubeConfig {
      if (opts.tls && !(servingCert && tlsUrl)) throw new Error('the simulator was started without tls')
      const kc = new KubeConfig()
      kc.loadFromOptions({
        clusters: [opts.tls && servingCert && tlsUrl ? { name: 'sim', server: tlsUrl, caData: Buffer.from(servingCert.cert).toString('base64'), skipTLSVerify: false } : { name: 'sim', server: url, skipTLSVerify: true }],
        users: [{ name: 'admin', token }],
        contexts: [{ name: 'sim', cluster: 'sim', user: 'admin', namespace: 'default' }],
        currentContext: 'sim',
      })
      return kc
    },
    store: {
      // A seeded object may stand for one that has existed for a while: a given creationTimestamp is kept.
      seed(obj: Obj): Obj {
        const r = resourceFor(String(obj.apiVersion), String(obj.kind))
        const created = create(r, String(meta(obj).namespace ?? ''), obj)
        const ts = meta(obj).creationTimestamp
        if (typeof ts === 'string') meta(created).creationTimestamp = ts
        return clone(created)
      },
      get(apiVersion: string, kind: string, namespace: string, name: string): Obj | undefined { const o = objects.get(keyOf(resourceFor(apiVersion, kind), namespace, name)); return o && clone(o) },
    },
    /** A ServiceAccount token, bound to `audiences` (default: the API server's own). */
    mintServiceAccountToken(namespace: string, name: string, options: { audiences?: string[] } = {}): string {
      const t = randomUUID()
      if (options.audiences) tokenAudiences.set(t, [...options.audiences])
      tokens.set(t, { username: `system:serviceaccount:${namespace}:${name}`, uid: randomUUID(), groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] })
      return t
    },
    /** Fault injection: `faults.add({ method?, path: prefix | RegExp, status?, count?, latencyMs?, drop?, body? })`, `faults.clear()`. */
    faults,
    onChange(listener: (e: ChangeEvent) => void): () => void { listeners.add(listener); return () => listeners.delete(listener) },
    controllers,
    /** metrics-server's samples and the kubelets' stats summaries: `setNodeMetrics`, `setPodMetrics`, `setStatsSummary` (metrics.ts). */
    metrics,
    /** PEM of the serving certificate (also its CA) when started with `tls: true`. */
    caCert: servingCert?.cert,
    async close(): Promise<void> {
      controllers.close()
      for (const s of [server, tlsServer]) {
        if (!s) continue
        s.closeAllConnections()
        await new Promise<void>((resolve) => s.close(() => resolve()))
      }
    },
  }
}

export function matchLabels(selector: string, labels: Record<string, string>): boolean {
  // Split on commas outside parentheses (set-based values contain commas).
  const parts = selector.match(/[^,(]+(\([^)]*\))?/g) ?? []
  return parts.every((raw) => {
    const p = raw.trim()
    let m
    if ((m = /^(\S+)\s+(in|notin)\s+\((.*)\)$/.exec(p))) {
      const vals = (m[3] ?? '').split(',').map((s) => s.trim())
      const v = labels[m[1] ?? '']
      return m[2] === 'in' ? v !== undefined && vals.includes(v) : v === undefined || !vals.includes(v)
    }
    if ((m = /^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/.exec(p))) {
      const v = labels[m[1] ?? '']
      return m[2] === '!=' ? v !== m[3] : v === m[3]
    }
    if (p.startsWith('!')) return !(p.slice(1) in labels)
    return p in labels
  })
}

function fieldValue(o: Record<string, unknown>, path: string): string {
  // core/v1 Events select `source` by its component, as the real field label conversion does.
  if (path === 'source' && o.kind === 'Event' && o.apiVersion === 'v1') path = 'source.component'
  let cur: unknown = o
  for (const k of path.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined
  return cur === undefined || cur === null ? '' : String(cur)
}

export function matchFields(selector: string, o: Record<string, unknown>): boolean {
  return selector.split(',').every((p) => {
    const m = /^([^!=]+)(==|=|!=)(.*)$/.exec(p.trim())
    if (!m) return true
    const v = fieldValue(o, m[1] ?? '')
    return m[2] === '!=' ? v !== m[3] : v === m[3]
  })
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k)
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

function applyPatch(cur: Obj, patch: unknown, type: string): Obj {
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
