import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { KubeConfig } from '@kubernetes/client-node'
import { RESOURCES, findResource, groupVersion } from './resources.ts'
import type { ResourceInfo } from './resources.ts'
import { ApiError } from './status.ts'
import { loadValidators } from './validation.ts'
import { startControllers } from './controllers.ts'
import type { ControllerOptions, ObjectStore } from './controllers.ts'
import { selfSignedCert } from './tls.ts'
import { openApiV3 } from './openapi.ts'
import { decodeKubernetesProtobuf, encodeKubernetesProtobuf, isProtobuf, prefersProtobuf, readRaw } from './protobuf.ts'
import { createAuthorizer, impersonate, serveAuthorizationApi } from './rbac.ts'
import type { PolicyLister } from './rbac.ts'
import { KubernetesFaults } from './faults.ts'
import { METRICS_GROUP_VERSION, MetricsStandIn, metricsResourceList } from './metrics.ts'
import { clone, createStore, meta } from './store.ts'
import type { ChangeEvent, Obj } from './store.ts'
import { createAuthenticator } from './authn.ts'
import { tokenRequest } from './token-request.ts'
import { APIEXTENSIONS_RESOURCES, AUTHENTICATION_RESOURCES, apiGroupList, readCrds, resourceList, servedGroups } from './discovery.ts'
import { readBody, serveResource } from './verbs.ts'

export { matchLabels, matchFields } from './selectors.ts'
export type { ChangeEvent } from './store.ts'


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

export async function startKubernetesSimulator(options: SimulatorOptions = {}) {
  const gitVersion = options.gitVersion ?? 'v1.32.0-caretaker-sim'
  const [, major = '1', minor = '32'] = /^v(\d+)\.(\d+)/.exec(gitVersion) ?? []
  // /version is public in a real cluster (the system:public-info-viewer ClusterRole), so it is served before RBAC.
  const versionInfo = { major, minor, gitVersion, gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2026-11-01T00:00:00Z', goVersion: 'go1.23.6', compiler: 'gc', platform: 'linux/amd64' }
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const store = createStore(await loadValidators(RESOURCES))
  const { objects, listeners, keyOf, list, create, update } = store
  const authn = createAuthenticator()
  const token = authn.adminToken
  const policy: PolicyLister = (kind, ns) => [...objects.values()].filter((o) => o.kind === kind && o.apiVersion === 'rbac.authorization.k8s.io/v1' && (ns === undefined || meta(o).namespace === ns))
  const authz = createAuthorizer(policy, { rbac: options.rbac ?? true, ...(options.authorize ? { override: options.authorize } : {}) })
  const faults = new KubernetesFaults()
  const { served, metricsServed, discovery } = servedGroups(options.omitGroups)
  const groups = { served, metricsServed, discovery }

  // metrics-server and the kubelets' stats summaries (metrics.ts), over the store's Nodes and Pods.
  const core = (kind: 'Node' | 'Pod') => findResource('', 'v1', kind === 'Node' ? 'nodes' : 'pods') as ResourceInfo
  const metrics = new MetricsStandIn({
    list: (kind, ns, labelSelector) => list(core(kind), ns, new URLSearchParams(labelSelector ? { labelSelector } : {})).items as Obj[],
    get: (kind, ns, name) => { const o = objects.get(keyOf(core(kind), ns, name)); return o && clone(o) },
  })

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
    const user = impersonate(authn.authenticate(req), req.headersDistinct, authz)
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
    if (path === '/apis') return json(200, apiGroupList(groups))
    if (path === '/api/v1') return json(200, resourceList('v1', discovery().get('v1') ?? []))
    if (path === '/apis/authentication.k8s.io/v1') return json(200, AUTHENTICATION_RESOURCES)
    if (path === '/apis/authentication.k8s.io/v1/tokenreviews' && req.method === 'POST') {
      authz.check(user, { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews', subresource: '', namespace: '', name: '' })
      const body = JSON.parse(await readBody(req)) as Obj
      const spec = (body.spec ?? {}) as { token?: string, audiences?: string[] }
      const status = authn.review(spec)
      return json(201, { ...body, apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status })
    }
    // The CRDs of the served custom resources, read-only (crds.ts).
    if (path === '/apis/apiextensions.k8s.io/v1') return json(200, APIEXTENSIONS_RESOURCES)
    const crdPath = /^\/apis\/apiextensions\.k8s\.io\/v1\/customresourcedefinitions(?:\/([^/]+))?$/.exec(path)
    if (crdPath) {
      const crdName = crdPath[1] ?? ''
      const method = req.method ?? 'GET'
      const crdVerb = method !== 'GET' ? method.toLowerCase() : crdName ? 'get' : 'list'
      authz.check(user, { verb: crdVerb, group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', subresource: '', namespace: '', name: crdName })
      if (method !== 'GET' || q.get('watch') === 'true' || q.get('watch') === '1') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
      return json(200, readCrds(served, crdName, { startedAt, resourceVersion: store.rv(), accept: req.headers.accept, includeObject: q.get('includeObject') }))
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
    if (sub === 'token') {
      if (verb !== 'create') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
      return json(201, tokenRequest(store.get(r, ns, name), await bodyObject(), { apiAudience: authn.apiAudience, mint: authn.mintServiceAccountToken }))
    }
    return serveResource(store, { req, res, q, r, ns, name, sub, verb, protoBody, bodyObject, json })
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
    mintServiceAccountToken: authn.mintServiceAccountToken,
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
