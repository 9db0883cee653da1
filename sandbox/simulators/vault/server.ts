import http from 'node:http'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  envelope,
  isObject,
  noHandler,
  permissionDenied,
  randomBase62,
  VaultHttpError,
  type JsonObject,
  type Reply,
  type RequestContext,
} from './common.ts'
import { RewritingSocket } from './connection.ts'
import { Faults } from './faults.ts'
import { createToken, findToken, handleKubernetesAdmin, handleKubernetesLogin, handleTokenAuth, revokeToken } from './auth.ts'
import { handleKv, kvExists, splitKvPath, writeVersion } from './kv2.ts'
import { PolicyCache, type Capability } from './policy.ts'
import { newSealKey, readSnapshot, SnapshotError, writeSnapshot } from './snapshot.ts'
import { initialState, newKvMount, normaliseMount, type KubernetesRole, type TokenEntry, type VaultState } from './state.ts'
import { handleAuthMounts, handleMounts, handlePolicies, handleSeal, health, SealState } from './sys.ts'

export interface VaultSimulatorOptions {
  host?: string
  port?: number
  /** KV v2 mounts; default `['secret']` */
  kvMounts?: string[]
  /** default: a random `hvs.` token */
  rootToken?: string
  unsealShares?: number
  unsealThreshold?: number
  /** start uninitialized (sys/health answers 501, everything else 503) */
  uninitialized?: boolean
  /** start sealed */
  sealed?: boolean
  /** preconfigures auth/kubernetes/config, as `vault write auth/kubernetes/config` would */
  kubernetes?: { host: string; reviewerToken?: string; caCert?: string }
  /** reported by sys/health and sys/seal-status */
  version?: string
  clusterName?: string
  /** key for SHA256SUMS.sealed; simulators sharing it accept each other's snapshots without force */
  snapshotSealKey?: Buffer
}

export interface RequestRecord {
  method: string
  path: string
  status: number
}

/** Paths answered without a token and while sealed, as in Vault. */
const UNAUTHENTICATED_SYS = new Set(['health', 'seal-status', 'unseal', 'init', 'leader'])
/** Paths that need `sudo` on top of the operation's capability. */
const SUDO_PATHS = [/^sys\/seal$/, /^sys\/step-down$/, /^sys\/raw(\/.*)?$/, /^sys\/audit(\/.*)?$/]
const KUBERNETES_MOUNT = 'auth/kubernetes/'

/** Go's path.Clean as ServeMux applies it (keeps a trailing slash). */
function cleanPath(p: string): string {
  const out: string[] = []
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') out.pop()
    else out.push(seg)
  }
  const cleaned = `/${out.join('/')}`
  return p.endsWith('/') && cleaned !== '/' ? `${cleaned}/` : cleaned
}

export class VaultSimulatorServer {
  state: VaultState
  readonly sealState: SealState
  readonly faults = new Faults()
  readonly policyCache = new PolicyCache()
  readonly requests: RequestRecord[] = []
  readonly #options: VaultSimulatorOptions
  readonly #sealKey: Buffer
  readonly #sockets = new Set<net.Socket>()
  readonly #http: http.Server
  readonly #net: net.Server
  #rootToken: string

  constructor(options: VaultSimulatorOptions = {}) {
    this.#options = options
    this.#rootToken = options.rootToken ?? `hvs.${randomBase62(24)}`
    this.state = initialState(options.kvMounts ?? ['secret'], this.#rootToken)
    if (options.kubernetes) this.configureKubernetes(options.kubernetes)
    this.sealState = new SealState({
      shares: options.unsealShares ?? 5,
      threshold: options.unsealThreshold ?? 3,
      initialized: !options.uninitialized,
      sealed: options.sealed ?? false,
      version: options.version ?? '1.19.0',
      clusterName: options.clusterName,
    })
    this.#sealKey = options.snapshotSealKey ?? newSealKey()
    this.#http = http.createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.#send(res, { status: 500, body: { errors: [`internal error: ${String(err)}`] } })
        else res.destroy()
      })
    })
    this.#net = net.createServer((raw) => {
      this.#sockets.add(raw)
      raw.on('close', () => this.#sockets.delete(raw))
      this.#http.emit('connection', new RewritingSocket(raw))
    })
  }

  get rootToken(): string {
    return this.#rootToken
  }

  async listen(): Promise<string> {
    const host = this.#options.host ?? '127.0.0.1'
    await new Promise<void>((resolve, reject) => {
      this.#net.once('error', reject)
      this.#net.listen(this.#options.port ?? 0, host, () => resolve())
    })
    const address = this.#net.address() as net.AddressInfo
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`
    // Vault's api_addr: what sys/leader names as the leader when this node is active.
    this.sealState.apiAddress = url
    return url
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => this.#net.close(() => resolve()))
    this.#http.close()
  }

  // -------------------------------------------------------------------------
  // programmatic API used by tests and the sandbox

  configureKubernetes(k: { host: string; reviewerToken?: string; caCert?: string }): void {
    this.state.kubernetes.config = {
      kubernetes_host: k.host,
      kubernetes_ca_cert: k.caCert ?? '',
      token_reviewer_jwt: k.reviewerToken ?? '',
      disable_local_ca_jwt: false,
      issuer: '',
      disable_iss_validation: true,
    }
  }

  addKubernetesRole(name: string, role: Partial<KubernetesRole> & Pick<KubernetesRole, 'bound_service_account_names' | 'bound_service_account_namespaces'>): void {
    this.state.kubernetes.roles[name] = {
      token_policies: [],
      token_ttl: 0,
      token_max_ttl: 0,
      token_no_default_policy: false,
      audience: '',
      alias_name_source: 'serviceaccount_uid',
      ...role,
    }
  }

  putPolicy(name: string, text: string): void {
    this.policyCache.rules(text)
    this.state.policies[name.toLowerCase()] = text
  }

  createToken(policies: string[], ttlSeconds = 0): string {
    const withDefault = policies.includes('default') ? policies : [...policies, 'default']
    return createToken(this.state, { policies: withDefault, ttl: ttlSeconds, path: 'auth/token/create', parent: this.#rootToken }).id
  }

  mountKv(mount: string): void {
    this.state.mounts[normaliseMount(mount)] ??= newKvMount()
  }

  putSecret(mount: string, path: string, data: JsonObject, customMetadata?: Record<string, string>): { version: number } {
    const m = this.state.mounts[normaliseMount(mount)]
    if (!m) throw new Error(`no KV v2 mount at ${mount}`)
    const key = path.replace(/^\/+/, '')
    const { secret, version } = writeVersion(m, key, structuredClone(data))
    if (customMetadata) secret.custom_metadata = { ...customMetadata }
    this.state.raft.index++
    return { version }
  }

  /** The stored data of a version (latest by default), or null when absent, deleted or destroyed. */
  getSecret(mount: string, path: string, version?: number): JsonObject | null {
    const secret = this.state.mounts[normaliseMount(mount)]?.secrets[path.replace(/^\/+/, '')]
    if (!secret) return null
    const v = secret.versions[String(version ?? secret.current_version)]
    if (!v || v.destroyed || (v.deletion_time !== '' && Date.parse(v.deletion_time) <= Date.now())) return null
    return v.data === null ? null : structuredClone(v.data)
  }

  snapshot(): Buffer {
    return writeSnapshot(Buffer.from(JSON.stringify(this.state)), this.state.raft, this.#sealKey)
  }

  /** Restores an archive; throws SnapshotError like Vault's 400 answer. */
  restore(archive: Buffer, force = false): void {
    const { state } = readSnapshot(archive, this.#sealKey, force)
    let parsed: unknown
    try {
      parsed = JSON.parse(state.toString('utf8'))
    } catch (err) {
      throw new SnapshotError(`failed to restore snapshot: ${(err as Error).message}`)
    }
    if (!isObject(parsed) || !isObject(parsed['mounts']) || !isObject(parsed['tokens'])) {
      throw new SnapshotError('failed to restore snapshot: state.bin is not a simulator state')
    }
    this.state = parsed as unknown as VaultState
    this.state.raft.index++
    const root = Object.values(this.state.tokens).find((t) => t.policies.includes('root') && t.path === 'auth/token/root')
    if (root) this.#rootToken = root.id
  }

  // -------------------------------------------------------------------------
  // HTTP

  #send(res: http.ServerResponse, reply: Reply, extraHeaders: Record<string, string> = {}): void {
    const headers: Record<string, string> = { 'cache-control': 'no-store', ...extraHeaders }
    if (reply.raw) {
      res.writeHead(reply.status, { ...headers, 'content-type': reply.contentType ?? 'application/octet-stream', 'content-length': String(reply.raw.length) })
      res.end(reply.raw)
      return
    }
    if (reply.status === 204 || reply.body === undefined) {
      res.writeHead(reply.status, headers)
      res.end()
      return
    }
    const text = JSON.stringify(reply.body)
    res.writeHead(reply.status, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) })
    res.end(text)
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const rawBody = Buffer.concat(chunks)
    const url = new URL(req.url ?? '/', 'http://vault.local')

    if (url.pathname === '/__sim' || url.pathname.startsWith('/__sim/')) {
      this.#send(res, this.#admin(req.method ?? 'GET', url.pathname, rawBody))
      return
    }

    // Go's ServeMux, in front of Vault's handlers, redirects unclean paths.
    const clean = cleanPath(url.pathname)
    if (clean !== url.pathname) {
      res.writeHead(301, { location: `${clean}${url.search}`, 'content-length': '0' })
      res.end()
      return
    }

    const listQuery = url.searchParams.get('list')
    const method = req.method === 'GET' && (listQuery === 'true' || listQuery === '1') ? 'LIST' : (req.method ?? 'GET')
    let path = url.pathname.startsWith('/v1/') ? decodeURIComponent(url.pathname.slice(4)) : ''
    if (method === 'LIST' && path !== '' && !path.endsWith('/')) path += '/'
    const record: RequestRecord = { method, path, status: 0 }
    this.requests.push(record)
    // bounded, so a long-running sandbox does not grow without end
    if (this.requests.length > 10000) this.requests.splice(0, this.requests.length - 10000)

    const fault = this.faults.apply(method, path)
    if (fault.latencyMs > 0) await sleep(fault.latencyMs)
    if (fault.seal) this.sealState.seal()
    if (fault.drop) {
      record.status = -1
      req.socket.destroy()
      return
    }
    if (fault.respond) {
      record.status = fault.respond.status
      this.#send(res, { status: fault.respond.status, body: fault.respond.body }, fault.respond.headers)
      return
    }

    let reply: Reply
    try {
      if (!url.pathname.startsWith('/v1/')) throw new VaultHttpError(404, ['404 page not found'])
      reply = await this.#route(req, method, path, url.searchParams, rawBody)
    } catch (err) {
      if (err instanceof VaultHttpError) reply = { status: err.status, body: { errors: err.errors } }
      else if (err instanceof SnapshotError) reply = { status: 400, body: { errors: [err.message] } }
      else throw err
    }
    record.status = reply.status
    this.#send(res, reply)
  }

  #context(req: http.IncomingMessage, method: string, path: string, query: URLSearchParams, rawBody: Buffer, parseJson: boolean): RequestContext {
    let body: JsonObject = {}
    if (parseJson && rawBody.length > 0) {
      let parsed: unknown
      try {
        parsed = JSON.parse(rawBody.toString('utf8'))
      } catch (err) {
        throw new VaultHttpError(400, [`failed to parse JSON input: ${(err as Error).message}`])
      }
      if (parsed !== null && !isObject(parsed)) throw new VaultHttpError(400, ['failed to parse JSON input: body must be an object'])
      body = parsed ?? {}
    }
    if (method === 'PATCH') {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim()
      if (type !== 'application/merge-patch+json') {
        throw new VaultHttpError(415, [`PATCH requires Content-Type application/merge-patch+json, got "${type}"`])
      }
    }
    const auth = req.headers['authorization']
    const bearer = typeof auth === 'string' && /^Bearer /i.test(auth) ? auth.slice(7).trim() : undefined
    const header = req.headers['x-vault-token']
    const tokenId = (typeof header === 'string' && header !== '' ? header : undefined) ?? bearer
    return { method, path, query, headers: req.headers, rawBody, body, tokenId }
  }

  #authorize(token: TokenEntry, path: string, capability: Capability, sudo = false): void {
    if (token.policies.includes('root')) return
    const texts = token.policies.map((p) => this.state.policies[p]).filter((t): t is string => t !== undefined)
    const caps = this.policyCache.capabilities(texts, path)
    if (caps.has('deny') || !caps.has(capability)) throw permissionDenied()
    if (sudo && !caps.has('sudo')) throw permissionDenied()
  }

  #capability(method: string, exists: () => boolean): Capability {
    switch (method) {
      case 'GET':
      case 'HEAD':
        return 'read'
      case 'LIST':
        return 'list'
      case 'PATCH':
        return 'patch'
      case 'DELETE':
        return 'delete'
      default:
        return exists() ? 'update' : 'create'
    }
  }

  async #route(req: http.IncomingMessage, method: string, path: string, query: URLSearchParams, rawBody: Buffer): Promise<Reply> {
    const isSnapshot = /^sys\/storage\/raft\/snapshot(-force)?$/.test(path) && method === 'POST'
    const ctx = this.#context(req, method, path, query, rawBody, !isSnapshot)
    const sysSub = path.startsWith('sys/') ? path.slice(4).replace(/\/$/, '') : undefined

    if (sysSub !== undefined && UNAUTHENTICATED_SYS.has(sysSub)) {
      if (sysSub === 'health') {
        if (method !== 'GET' && method !== 'HEAD') throw new VaultHttpError(405, ['unsupported operation'])
        return health(ctx, this.sealState)
      }
      if (!this.sealState.initialized && sysSub !== 'init' && sysSub !== 'seal-status') throw new VaultHttpError(400, ['Vault is not initialized'])
      return handleSeal(ctx, this.sealState, sysSub)!
    }
    if (this.sealState.sealed) throw new VaultHttpError(503, ['Vault is sealed'])

    if (path === `${KUBERNETES_MOUNT}login`) {
      const reply = await handleKubernetesLogin(ctx, this.state, KUBERNETES_MOUNT)
      this.state.raft.index++
      return reply
    }

    const token = findToken(this.state, ctx.tokenId)
    if (!token) throw permissionDenied()
    const reply = this.#dispatch(ctx, token)
    // Limited-use tokens: count this use and revoke at the last one.
    if (token.num_uses > 0 && this.state.tokens[token.id]) {
      token.num_uses--
      if (token.num_uses === 0) revokeToken(this.state, token.id)
    }
    if (method !== 'GET' && method !== 'LIST' && method !== 'HEAD') this.state.raft.index++
    return reply
  }

  #dispatch(ctx: RequestContext, token: TokenEntry): Reply {
    const { method, path } = ctx
    const simple = (): Capability => this.#capability(method, () => true)

    if (path.startsWith('sys/')) {
      const sub = path.slice(4).replace(/\/$/, '')
      const sudo = SUDO_PATHS.some((re) => re.test(path.replace(/\/$/, '')))
      this.#authorize(token, path, simple(), sudo)
      if (sub === 'seal') {
        if (method !== 'PUT' && method !== 'POST') throw new VaultHttpError(405, ['unsupported operation'])
        this.sealState.seal()
        return { status: 204 }
      }
      if (sub === 'storage/raft/snapshot' || sub === 'storage/raft/snapshot-force') {
        if (method === 'GET' && sub === 'storage/raft/snapshot') {
          return { status: 200, raw: this.snapshot(), contentType: 'application/octet-stream' }
        }
        if (method === 'POST' || method === 'PUT') {
          this.restore(ctx.rawBody, sub.endsWith('-force'))
          return { status: 204 }
        }
        throw new VaultHttpError(405, ['unsupported operation'])
      }
      if (sub === 'mounts' || sub.startsWith('mounts/')) return handleMounts(ctx, this.state, sub)
      if (sub === 'auth') return handleAuthMounts(ctx)
      if (sub === 'policy' || sub.startsWith('policy/') || sub === 'policies/acl' || sub.startsWith('policies/acl/')) {
        return handlePolicies(ctx, this.state, this.policyCache, sub)
      }
      if (sub === 'capabilities-self') {
        const paths = ctx.body['paths'] ?? ctx.body['path']
        const list = Array.isArray(paths) ? paths.map(String) : typeof paths === 'string' ? [paths] : []
        const data: JsonObject = {}
        for (const p of list) data[p] = this.#capabilitiesOf(token, p)
        data['capabilities'] = list.length === 1 ? data[list[0]!]! : []
        // Vault repeats the answer at the top level for old clients.
        return { status: 200, body: { ...data, ...(envelope(data, { mountType: 'system' })) } }
      }
      throw noHandler(path)
    }

    if (path.startsWith('auth/token/')) {
      this.#authorize(token, path, simple())
      return handleTokenAuth(ctx, this.state, token)
    }
    if (path.startsWith(KUBERNETES_MOUNT)) {
      this.#authorize(token, path, simple())
      return handleKubernetesAdmin(ctx, this.state, KUBERNETES_MOUNT)
    }

    const mountPath = Object.keys(this.state.mounts)
      .filter((m) => path.startsWith(m) || `${path}/` === m)
      .sort((a, b) => b.length - a.length)[0]
    if (mountPath === undefined) throw noHandler(path)
    const mount = this.state.mounts[mountPath]!
    const sub = path.slice(mountPath.length)
    const kv = splitKvPath(sub)
    this.#authorize(token, path, this.#capability(method, () => (kv ? kvExists(mount, kv.key.replace(/\/$/, '')) : true)))
    return handleKv(ctx, mount, sub)
  }

  #capabilitiesOf(token: TokenEntry, path: string): string[] {
    if (token.policies.includes('root')) return ['root']
    const texts = token.policies.map((p) => this.state.policies[p]).filter((t): t is string => t !== undefined)
    const caps = [...this.policyCache.capabilities(texts, path)].sort()
    return caps.length === 0 ? ['deny'] : caps
  }

  // -------------------------------------------------------------------------
  // /__sim admin endpoint: not part of Vault's API

  #admin(method: string, pathname: string, rawBody: Buffer): Reply {
    let body: JsonObject = {}
    if (rawBody.length > 0) {
      try {
        const parsed: unknown = JSON.parse(rawBody.toString('utf8'))
        if (isObject(parsed)) body = parsed
      } catch {
        return { status: 400, body: { errors: ['body must be JSON'] } }
      }
    }
    try {
      if (pathname === '/__sim/faults') {
        if (method === 'POST') return { status: 201, body: { id: this.faults.addFromJson(body) } }
        if (method === 'GET') {
          const rules = this.faults.list().map((r) => ({ ...r, path: r.path instanceof RegExp ? r.path.source : r.path, times: Number.isFinite(r.remaining) ? r.remaining : null, remaining: Number.isFinite(r.remaining) ? r.remaining : null }))
          return { status: 200, body: { faults: rules } }
        }
        if (method === 'DELETE') {
          this.faults.clear()
          return { status: 204 }
        }
      }
      const one = /^\/__sim\/faults\/([^/]+)$/.exec(pathname)
      if (one && method === 'DELETE') return this.faults.remove(one[1]!) ? { status: 204 } : { status: 404, body: { errors: [] } }
      if (pathname === '/__sim/seal' && method === 'POST') {
        this.sealState.seal()
        return { status: 204 }
      }
      if (pathname === '/__sim/unseal' && method === 'POST') {
        this.sealState.unseal()
        return { status: 204 }
      }
    } catch (err) {
      if (err instanceof VaultHttpError) return { status: err.status, body: { errors: err.errors } }
      throw err
    }
    return { status: 404, body: { errors: [`no simulator admin route ${method} ${pathname}`] } }
  }
}
