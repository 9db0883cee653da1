import { randomBytes, randomUUID } from 'node:crypto'
import {
  badRequest,
  boolParam,
  isObject,
  listReply,
  noContent,
  notFound,
  ok,
  unsupportedOperation,
  type JsonObject,
  type Reply,
  type RequestContext,
  VaultHttpError,
} from './common.ts'
import { newKvMount, normaliseMount, type VaultState } from './state.ts'
import type { PolicyCache } from './policy.ts'

/** Shamir seal state. Not part of a snapshot, as in Vault (the keyring stays). */
export class SealState {
  initialized: boolean
  sealed: boolean
  readonly threshold: number
  readonly shares: number
  /** unseal key shares, hex; base64 of the same bytes is accepted too */
  readonly keys: string[]
  progress: string[] = []
  nonce = ''
  readonly clusterName: string
  readonly clusterId: string
  readonly version: string
  /** This node's api_addr (set when the server listens). */
  apiAddress = ''
  /**
   * HA, as integrated storage (raft) has it: this node is the active one,
   * a standby of `leaderAddress` (empty: no node holds the HA lock), or HA is
   * disabled (a storage backend without HA). Only sys/health and sys/leader
   * reflect it; a standby still answers other requests itself (real ones
   * forward them to the active node).
   */
  ha: { enabled: boolean; role: 'active' | 'standby'; leaderAddress: string; activeTime: string } = { enabled: true, role: 'active', leaderAddress: '', activeTime: new Date().toISOString() }

  constructor(opts: { shares: number; threshold: number; initialized: boolean; sealed: boolean; version: string; clusterName?: string }) {
    if (opts.threshold < 1 || opts.threshold > opts.shares) throw new Error('unseal threshold must be between 1 and the number of shares')
    this.shares = opts.shares
    this.threshold = opts.threshold
    this.keys = Array.from({ length: opts.shares }, () => randomBytes(33).toString('hex'))
    this.initialized = opts.initialized
    this.sealed = opts.sealed || !opts.initialized
    this.version = opts.version
    this.clusterName = opts.clusterName ?? `vault-cluster-${randomBytes(4).toString('hex')}`
    this.clusterId = randomUUID()
  }

  seal(): void {
    this.sealed = true
    this.progress = []
    this.nonce = ''
  }

  unseal(): void {
    if (!this.initialized) throw new Error('Vault is not initialized')
    this.sealed = false
    this.progress = []
    this.nonce = ''
  }

  /** The body of sys/seal-status and sys/unseal (no envelope, as in Vault). */
  status(): JsonObject {
    const body: JsonObject = {
      type: 'shamir',
      initialized: this.initialized,
      sealed: this.sealed,
      t: this.threshold,
      n: this.shares,
      progress: this.progress.length,
      nonce: this.nonce,
      version: this.version,
      build_date: '2025-01-01T00:00:00Z',
      migration: false,
      recovery_seal: false,
      storage_type: 'raft',
    }
    if (!this.sealed) {
      body['cluster_name'] = this.clusterName
      body['cluster_id'] = this.clusterId
    }
    return body
  }

  /** One unseal step, as PUT sys/unseal does. */
  submit(body: JsonObject): JsonObject {
    if (!this.initialized) throw badRequest('Vault is not initialized')
    if (boolParam(body['reset'], false)) {
      this.progress = []
      this.nonce = ''
      return this.status()
    }
    const key = body['key']
    if (typeof key !== 'string' || key === '') {
      throw badRequest("'key' must be specified in request body as JSON, or 'reset' set to true")
    }
    if (!this.sealed) return this.status()
    let bytes: Buffer
    if (/^[0-9a-fA-F]+$/.test(key) && key.length % 2 === 0) bytes = Buffer.from(key, 'hex')
    else if (/^[A-Za-z0-9+/]+={0,2}$/.test(key)) bytes = Buffer.from(key, 'base64')
    else throw badRequest("'key' must be a valid hex or base64 string")
    const hex = bytes.toString('hex')
    if (!this.keys.includes(hex)) {
      this.progress = []
      this.nonce = ''
      throw badRequest('failed to decrypt keys from storage: cipher: message authentication failed')
    }
    // A share given twice does not advance the progress, as in Vault.
    if (!this.progress.includes(hex)) this.progress.push(hex)
    if (this.nonce === '') this.nonce = randomUUID()
    if (this.progress.length >= this.threshold) this.unseal()
    return this.status()
  }
}

const raw = (status: number, body: JsonObject): Reply => ({ status, body })

function queryCode(query: URLSearchParams, name: string, fallback: number): number {
  const v = query.get(name)
  if (v === null || v === '') return fallback
  const n = Number(v)
  if (!Number.isInteger(n) || n < 100 || n > 599) throw badRequest(`invalid ${name} value: ${v}`)
  return n
}

/** sys/health: the status code is chosen by state and the *code query overrides. */
export function health(ctx: RequestContext, seal: SealState): Reply {
  const q = ctx.query
  const body: JsonObject = {
    clock_skew_ms: 0,
    echo_duration_ms: 0,
    enterprise: false,
    initialized: seal.initialized,
    performance_standby: false,
    replication_dr_mode: 'disabled',
    replication_performance_mode: 'disabled',
    sealed: seal.sealed,
    server_time_utc: Math.floor(Date.now() / 1000),
    standby: seal.sealed || (seal.ha.enabled && seal.ha.role === 'standby'),
    version: seal.version,
  }
  if (!seal.sealed) {
    body['cluster_id'] = seal.clusterId
    body['cluster_name'] = seal.clusterName
  }
  let status: number
  if (!seal.initialized) status = queryCode(q, 'uninitcode', 501)
  else if (seal.sealed) status = queryCode(q, 'sealedcode', 503)
  // A standby answers standbycode (429), or activecode with standbyok=true (api-docs/system/health.mdx).
  else if (seal.ha.enabled && seal.ha.role === 'standby') status = boolParam(q.get('standbyok') ?? undefined, false) ? queryCode(q, 'activecode', 200) : queryCode(q, 'standbycode', 429)
  else status = queryCode(q, 'activecode', 200)
  return raw(status, body)
}

export function handleSeal(ctx: RequestContext, seal: SealState, sub: string): Reply | undefined {
  if (sub === 'seal-status') {
    if (ctx.method !== 'GET') throw unsupportedOperation()
    return raw(200, seal.status())
  }
  if (sub === 'unseal') {
    if (ctx.method !== 'PUT' && ctx.method !== 'POST') throw unsupportedOperation()
    return raw(200, seal.submit(ctx.body))
  }
  if (sub === 'init') {
    if (ctx.method !== 'GET') throw badRequest('Vault is already initialized')
    return raw(200, { initialized: seal.initialized })
  }
  if (sub === 'leader') {
    if (ctx.method !== 'GET') throw unsupportedOperation()
    // hashicorp/vault http/sys_leader.go + vault/ha.go Core.Leader: without HA the answer says so (no error);
    // a sealed node fails with 500 "Vault is sealed"; an active node names itself, a standby the lock holder.
    const zero = '0001-01-01T00:00:00Z'
    if (!seal.ha.enabled) return raw(200, { ha_enabled: false, is_self: false, active_time: zero, leader_address: '', leader_cluster_address: '', performance_standby: false, performance_standby_last_remote_wal: 0 })
    if (seal.sealed) throw new VaultHttpError(500, ['Vault is sealed'])
    const active = seal.ha.role === 'active'
    const leader = active ? seal.apiAddress : seal.ha.leaderAddress
    return raw(200, {
      ha_enabled: true,
      is_self: active,
      active_time: active ? seal.ha.activeTime : zero,
      leader_address: leader,
      leader_cluster_address: leader ? leader.replace(/:(\d+)$/, (_m, port: string) => `:${Number(port) + 1}`) : '',
      performance_standby: false,
      performance_standby_last_remote_wal: 0,
    })
  }
  return undefined
}

function mountEntry(type: string, description: string, accessor: string, uuid: string, options: JsonObject | null): JsonObject {
  return {
    accessor,
    config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0 },
    deprecation_status: type === 'kv' ? 'supported' : undefined,
    description,
    external_entropy_access: false,
    local: false,
    options,
    plugin_version: '',
    running_plugin_version: type === 'kv' ? 'v0.20.0+builtin' : '',
    running_sha256: '',
    seal_wrap: false,
    type,
    uuid,
  } as JsonObject
}

export function mountsData(state: VaultState): JsonObject {
  const out: JsonObject = {}
  for (const [path, m] of Object.entries(state.mounts)) {
    out[path] = mountEntry('kv', m.description, m.accessor, m.uuid, { version: '2' })
  }
  out['cubbyhole/'] = mountEntry('cubbyhole', 'per-token private secret storage', 'cubbyhole_0', '00000000-0000-0000-0000-000000000001', null)
  out['identity/'] = mountEntry('identity', 'identity store', 'identity_0', '00000000-0000-0000-0000-000000000002', null)
  out['sys/'] = mountEntry('system', 'system endpoints used for control, policy and debugging', 'system_0', '00000000-0000-0000-0000-000000000003', null)
  for (const v of Object.values(out)) {
    if (isObject(v) && v['deprecation_status'] === undefined) Reflect.deleteProperty(v, 'deprecation_status')
  }
  return out
}

/** sys/mounts[/<path>]: list, enable (KV v2 only) and disable mounts. */
export function handleMounts(ctx: RequestContext, state: VaultState, sub: string): Reply {
  if (sub === 'mounts') {
    if (ctx.method !== 'GET') throw unsupportedOperation()
    const data = mountsData(state)
    // Vault still repeats the mounts at the top level for old clients.
    return { status: 200, body: { ...data, ...ok(data, { mountType: 'system' }).body as object } }
  }
  const path = normaliseMount(sub.slice('mounts/'.length))
  if (ctx.method === 'POST' || ctx.method === 'PUT') {
    const type = ctx.body['type']
    const options = isObject(ctx.body['options']) ? ctx.body['options'] : {}
    const isV2 = type === 'kv-v2' || (type === 'kv' && String(options['version'] ?? '') === '2')
    if (!isV2) throw badRequest(`the simulator mounts only KV version 2 (got type ${JSON.stringify(type)})`)
    if (state.mounts[path] || ['sys/', 'auth/', 'cubbyhole/', 'identity/'].includes(path)) {
      throw badRequest(`path is already in use at ${path}`)
    }
    state.mounts[path] = newKvMount(typeof ctx.body['description'] === 'string' ? ctx.body['description'] : '')
    return noContent()
  }
  if (ctx.method === 'DELETE') {
    Reflect.deleteProperty(state.mounts, path)
    return noContent()
  }
  if (ctx.method === 'GET') {
    const m = state.mounts[path]
    if (!m) throw badRequest(`No secret engine mount at ${path}`)
    return ok(mountEntry('kv', m.description, m.accessor, m.uuid, { version: '2' }), { mountType: 'system' })
  }
  throw unsupportedOperation()
}

export function handleAuthMounts(ctx: RequestContext): Reply {
  if (ctx.method !== 'GET') throw unsupportedOperation()
  const data: JsonObject = {
    'kubernetes/': mountEntry('kubernetes', '', 'auth_kubernetes_0', '00000000-0000-0000-0000-000000000010', null),
    'token/': mountEntry('token', 'token based credentials', 'auth_token_0', '00000000-0000-0000-0000-000000000011', null),
  }
  return { status: 200, body: { ...data, ...ok(data, { mountType: 'system' }).body as object } }
}

/**
 * ACL policies at sys/policies/acl/<name> and the older sys/policy/<name>
 * (which node-vault's addPolicy/getPolicy use, with `rules` as the text).
 */
export function handlePolicies(ctx: RequestContext, state: VaultState, cache: PolicyCache, sub: string): Reply {
  const legacy = sub === 'policy' || sub.startsWith('policy/')
  const base = legacy ? 'policy' : 'policies/acl'
  const name = sub.length > base.length ? sub.slice(base.length + 1).replace(/\/$/, '').toLowerCase() : ''
  const mountType = 'system'
  if (name === '') {
    if (ctx.method !== 'LIST' && ctx.method !== 'GET') throw unsupportedOperation()
    if (!legacy && ctx.method === 'GET') throw unsupportedOperation()
    const keys = [...Object.keys(state.policies), 'root'].sort()
    if (legacy) {
      const data = { keys, policies: keys }
      return { status: 200, body: { ...data, ...ok(data, { mountType }).body as object } }
    }
    return listReply(keys, mountType)
  }
  if (ctx.method === 'GET') {
    if (name === 'root') {
      const data = legacy ? { name, rules: '' } : { name, policy: '' }
      return ok(data, { mountType })
    }
    const text = state.policies[name]
    if (text === undefined) throw notFound()
    if (legacy) {
      const data = { name, rules: text }
      return { status: 200, body: { ...data, ...ok(data, { mountType }).body as object } }
    }
    return ok({ name, policy: text }, { mountType })
  }
  if (ctx.method === 'PUT' || ctx.method === 'POST') {
    if (name === 'root') throw badRequest('cannot update "root" policy')
    const text = ctx.body['policy'] ?? ctx.body['rules']
    if (typeof text !== 'string' || text.trim() === '') throw badRequest("'policy' parameter not supplied or empty")
    // A policy that does not parse is refused, as Vault does.
    const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(text.trim()) && !text.includes('"') ? Buffer.from(text.trim(), 'base64').toString('utf8') : text
    cache.rules(decoded)
    state.policies[name] = decoded
    return noContent()
  }
  if (ctx.method === 'DELETE') {
    if (name === 'root' || name === 'default') throw badRequest(`cannot delete "${name}" policy`)
    Reflect.deleteProperty(state.policies, name)
    return noContent()
  }
  throw unsupportedOperation()
}
