import http from 'node:http'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { isObject, permissionDenied, randomBase62, VaultHttpError, type JsonObject, type Reply } from './common.ts'
import { RewritingSocket } from './connection.ts'
import { Faults } from './faults.ts'
import { createToken, findToken, revokeToken } from './auth.ts'
import { handleKubernetesLogin } from './kubernetes-auth.ts'
import { writeVersion } from './kv2.ts'
import { PolicyCache } from './policy.ts'
import { newSealKey, readSnapshot, SnapshotError, writeSnapshot } from './snapshot.ts'
import { initialState, newKvMount, normaliseMount, type KubernetesRole, type VaultState } from './state.ts'
import { handleSeal, health, SealState } from './sys.ts'
import { cleanPath, requestContext, sendReply } from './http-io.ts'
import { simAdmin } from './admin.ts'
import { dispatch, KUBERNETES_MOUNT } from './dispatch.ts'

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
        if (!res.headersSent) sendReply(res, { status: 500, body: { errors: [`internal error: ${String(err)}`] } })
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

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const rawBody = Buffer.concat(chunks)
    const url = new URL(req.url ?? '/', 'http://vault.local')

    if (url.pathname === '/__sim' || url.pathname.startsWith('/__sim/')) {
      sendReply(res, simAdmin(this.faults, this.sealState, req.method ?? 'GET', url.pathname, rawBody))
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
      sendReply(res, { status: fault.respond.status, body: fault.respond.body }, fault.respond.headers)
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
    sendReply(res, reply)
  }

  async #route(req: http.IncomingMessage, method: string, path: string, query: URLSearchParams, rawBody: Buffer): Promise<Reply> {
    const isSnapshot = /^sys\/storage\/raft\/snapshot(-force)?$/.test(path) && method === 'POST'
    const ctx = requestContext(req, method, path, query, rawBody, !isSnapshot)
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
    const reply = dispatch(this, ctx, token)
    // Limited-use tokens: count this use and revoke at the last one.
    if (token.num_uses > 0 && this.state.tokens[token.id]) {
      token.num_uses--
      if (token.num_uses === 0) revokeToken(this.state, token.id)
    }
    if (method !== 'GET' && method !== 'LIST' && method !== 'HEAD') this.state.raft.index++
    return reply
  }
}
