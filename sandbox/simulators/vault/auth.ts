import http from 'node:http'
import https from 'node:https'
import { randomUUID } from 'node:crypto'
import {
  badRequest,
  boolParam,
  isObject,
  listReply,
  noContent,
  noHandler,
  ok,
  parseDuration,
  permissionDenied,
  randomBase62,
  stringList,
  unsupportedOperation,
  VaultHttpError,
  type JsonObject,
  type Reply,
  type RequestContext,
} from './common.ts'
import type { KubernetesConfig, KubernetesRole, TokenEntry, VaultState } from './state.ts'

/** Vault's default token TTL (system max 32 days), what the docs' login sample shows. */
export const DEFAULT_TOKEN_TTL = 2764800
/** Vault's system max lease TTL (also 32 days): no token outlives it, however renewed. */
export const SYSTEM_MAX_TTL = 2764800

export interface NewToken {
  policies: string[]
  meta?: Record<string, string> | null
  ttl?: number
  displayName?: string
  path: string
  orphan?: boolean
  parent?: string | null
  renewable?: boolean
  numUses?: number
  /** The issuing backend's max TTL (a Kubernetes role's token_max_ttl); 0: the system's. */
  maxTtl?: number
}

/** The max TTL that caps a token, as Vault's CalculateTTL takes it: system, backend, explicit, the lowest set. */
function effectiveMaxTtl(entry: Pick<TokenEntry, 'max_ttl' | 'explicit_max_ttl'>): number {
  let max = SYSTEM_MAX_TTL
  if (entry.max_ttl && entry.max_ttl < max) max = entry.max_ttl
  if (entry.explicit_max_ttl && entry.explicit_max_ttl < max) max = entry.explicit_max_ttl
  return max
}

function humanSeconds(seconds: number): string {
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`
}

/**
 * The TTL a renewal grants, as Vault's sdk/framework/lease.go CalculateTTL
 * computes it: the increment asked for (or the token's own TTL), never
 * beyond issue time + max TTL; capped with Vault's warning, refused once the
 * max TTL has passed.
 */
export function renewalTtl(entry: TokenEntry, increment: number, now = Date.now(), backend?: { backendTtl: number; maxTtl: number }): { ttl: number; warnings: string[] } {
  const maxTtl = effectiveMaxTtl(backend ? { max_ttl: backend.maxTtl, explicit_max_ttl: entry.explicit_max_ttl } : entry)
  const asked = increment > 0 ? increment : backend ? (backend.backendTtl > 0 ? backend.backendTtl : DEFAULT_TOKEN_TTL) : entry.creation_ttl
  const maxValidMs = entry.creation_time * 1000 + maxTtl * 1000
  const leftSeconds = Math.floor((maxValidMs - now) / 1000)
  if (leftSeconds <= 0) throw badRequest('past the max TTL, cannot renew')
  if (asked > leftSeconds) {
    return { ttl: leftSeconds, warnings: [`TTL of "${humanSeconds(asked)}" exceeded the effective max_ttl of "${humanSeconds(leftSeconds)}"; TTL value is capped accordingly`] }
  }
  return { ttl: asked, warnings: [] }
}

/** Service tokens look like Vault 1.10+'s: `hvs.` and random base62. */
export function createToken(state: VaultState, spec: NewToken): TokenEntry {
  const id = `hvs.${randomBase62(24)}`
  const ttl = Math.min(spec.ttl && spec.ttl > 0 ? spec.ttl : DEFAULT_TOKEN_TTL, effectiveMaxTtl({ max_ttl: spec.maxTtl ?? 0, explicit_max_ttl: 0 }))
  const entry: TokenEntry = {
    id,
    accessor: randomBase62(24),
    policies: [...new Set(spec.policies)].sort(),
    meta: spec.meta ?? null,
    display_name: spec.displayName ?? 'token',
    path: spec.path,
    creation_time: Math.floor(Date.now() / 1000),
    creation_ttl: ttl,
    expires_at: Date.now() + ttl * 1000,
    explicit_max_ttl: 0,
    ...(spec.maxTtl ? { max_ttl: spec.maxTtl } : {}),
    renewable: spec.renewable ?? true,
    orphan: spec.orphan ?? false,
    num_uses: spec.numUses ?? 0,
    parent: spec.parent ?? null,
  }
  state.tokens[id] = entry
  return entry
}

/** A live token, or undefined; expired tokens are dropped as Vault's expiration manager would. */
export function findToken(state: VaultState, id: string | undefined): TokenEntry | undefined {
  if (!id) return undefined
  const entry = state.tokens[id]
  if (!entry) return undefined
  if (entry.expires_at !== 0 && entry.expires_at <= Date.now()) {
    revokeToken(state, id)
    return undefined
  }
  return entry
}

/** Revokes a token and, like Vault, every non-orphan child it created. */
export function revokeToken(state: VaultState, id: string): void {
  Reflect.deleteProperty(state.tokens, id)
  for (const child of Object.values(state.tokens)) {
    if (child.parent === id && !child.orphan) revokeToken(state, child.id)
  }
}

export function authBlock(entry: TokenEntry, metadata: Record<string, string> | null = entry.meta): JsonObject {
  return {
    client_token: entry.id,
    accessor: entry.accessor,
    policies: entry.policies,
    token_policies: entry.policies,
    metadata,
    lease_duration: ttlOf(entry),
    renewable: entry.renewable,
    entity_id: '',
    token_type: 'service',
    orphan: entry.orphan,
    mfa_requirement: null,
    num_uses: entry.num_uses,
  }
}

function ttlOf(entry: TokenEntry): number {
  return entry.expires_at === 0 ? 0 : Math.max(0, Math.round((entry.expires_at - Date.now()) / 1000))
}

export function lookupData(entry: TokenEntry): JsonObject {
  const issued = new Date(entry.creation_time * 1000).toISOString()
  return {
    accessor: entry.accessor,
    creation_time: entry.creation_time,
    creation_ttl: entry.creation_ttl,
    display_name: entry.display_name,
    entity_id: '',
    expire_time: entry.expires_at === 0 ? null : new Date(entry.expires_at).toISOString(),
    explicit_max_ttl: entry.explicit_max_ttl,
    id: entry.id,
    issue_time: issued,
    meta: entry.meta,
    num_uses: entry.num_uses,
    orphan: entry.orphan,
    path: entry.path,
    policies: entry.policies,
    renewable: entry.renewable,
    ttl: ttlOf(entry),
    type: 'service',
  }
}

function metaParam(value: unknown): Record<string, string> | null {
  if (!isObject(value)) return null
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]))
}

/**
 * A token from a Kubernetes login is renewed through its role, as the
 * plugin's pathLoginRenew does (hashicorp/vault-plugin-auth-kubernetes
 * path_login.go): refused when the role is gone or its policies changed;
 * the role's current token_ttl and token_max_ttl apply.
 */
function kubernetesRenewal(state: VaultState, entry: TokenEntry): { backendTtl: number; maxTtl: number } | undefined {
  const roleName = entry.meta?.['role']
  if (!/^auth\/.+\/login$/.test(entry.path) || !roleName || entry.meta?.['service_account_name'] === undefined) return undefined
  const role = state.kubernetes.roles[roleName]
  if (!role) throw badRequest(`role ${roleName} does not exist during renewal`)
  const policies = [...role.token_policies, ...(role.token_no_default_policy ? [] : ['default'])]
  if ([...new Set(policies)].sort().join(',') !== entry.policies.join(',')) throw badRequest('policies have changed, not renewing')
  return { backendTtl: role.token_ttl, maxTtl: role.token_max_ttl }
}

export function handleTokenAuth(ctx: RequestContext, state: VaultState, caller: TokenEntry): Reply {
  const sub = ctx.path.slice('auth/token/'.length)
  const mountType = 'token'
  const isWrite = ctx.method === 'POST' || ctx.method === 'PUT'
  const other = (): TokenEntry => {
    const id = ctx.body['token']
    const entry = typeof id === 'string' ? findToken(state, id) : undefined
    if (!entry) throw new VaultHttpError(403, ['bad token'])
    return entry
  }
  switch (sub) {
    case 'create':
    case 'create-orphan': {
      if (!isWrite) throw unsupportedOperation()
      const callerIsRoot = caller.policies.includes('root')
      const requested = ctx.body['policies'] === undefined ? caller.policies : stringList(ctx.body['policies'])
      const noDefault = boolParam(ctx.body['no_default_policy'], false)
      const policies = requested.filter((p) => p !== 'default' || !noDefault)
      if (!noDefault && !policies.includes('default') && !policies.includes('root')) policies.push('default')
      if (!callerIsRoot) {
        const allowed = new Set([...caller.policies, 'default'])
        if (policies.some((p) => !allowed.has(p))) throw badRequest('child policies must be subset of parent')
      }
      const orphan = sub === 'create-orphan' || boolParam(ctx.body['no_parent'], false)
      const displayName = typeof ctx.body['display_name'] === 'string' ? `token-${ctx.body['display_name']}` : 'token'
      const entry = createToken(state, {
        policies,
        meta: metaParam(ctx.body['meta']),
        ttl: parseDuration(ctx.body['ttl'], 'ttl'),
        displayName,
        path: `auth/token/${sub}`,
        orphan,
        parent: orphan ? null : caller.id,
        renewable: boolParam(ctx.body['renewable'], true),
        numUses: Number(ctx.body['num_uses'] ?? 0) || 0,
      })
      return ok(null, { mountType, auth: authBlock(entry) })
    }
    case 'lookup-self':
      return ok(lookupData(caller), { mountType })
    case 'lookup':
      if (!isWrite) throw unsupportedOperation()
      return ok(lookupData(other()), { mountType })
    case 'renew-self':
    case 'renew': {
      if (!isWrite) throw unsupportedOperation()
      const entry = sub === 'renew' ? other() : caller
      if (!entry.renewable || entry.expires_at === 0) throw badRequest('lease is not renewable')
      const now = Date.now()
      const { ttl, warnings } = renewalTtl(entry, parseDuration(ctx.body['increment'], 'increment'), now, kubernetesRenewal(state, entry))
      entry.expires_at = now + ttl * 1000
      return ok(null, { mountType, auth: authBlock(entry), ...(warnings.length > 0 ? { warnings } : {}) })
    }
    case 'revoke-self':
      if (!isWrite) throw unsupportedOperation()
      revokeToken(state, caller.id)
      return noContent()
    case 'revoke':
      if (!isWrite) throw unsupportedOperation()
      revokeToken(state, other().id)
      return noContent()
  }
  throw noHandler(ctx.path)
}

// ---------------------------------------------------------------------------
// Kubernetes auth: config, roles, and login checked with a TokenReview.

export interface ReviewResult {
  authenticated: boolean
  username: string
  uid: string
  error: string
}

/** POST a TokenReview to the configured API server, as Vault's plugin does. */
export async function tokenReview(config: KubernetesConfig, jwt: string, audiences: string[]): Promise<ReviewResult> {
  const url = new URL('/apis/authentication.k8s.io/v1/tokenreviews', config.kubernetes_host)
  const body = JSON.stringify({
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    spec: { token: jwt, ...(audiences.length > 0 ? { audiences } : {}) },
  })
  // Without a reviewer JWT Vault presents the client's own JWT.
  const bearer = config.token_reviewer_jwt || jwt
  const requester = url.protocol === 'https:' ? https.request : http.request
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = requester(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: `Bearer ${bearer}`,
          'content-length': Buffer.byteLength(body),
        },
        ...(config.kubernetes_ca_cert ? { ca: config.kubernetes_ca_cert } : {}),
        timeout: 10000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error('TokenReview timed out')))
    req.on('error', reject)
    req.end(body)
  })
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = {}
  }
  const statusObj = isObject(parsed) && isObject(parsed['status']) ? parsed['status'] : {}
  if (status < 200 || status >= 300) {
    const message = isObject(parsed) && typeof parsed['message'] === 'string' ? parsed['message'] : `status ${status}`
    return { authenticated: false, username: '', uid: '', error: message }
  }
  const user = isObject(statusObj['user']) ? statusObj['user'] : {}
  return {
    authenticated: statusObj['authenticated'] === true,
    username: typeof user['username'] === 'string' ? user['username'] : '',
    uid: typeof user['uid'] === 'string' ? user['uid'] : '',
    error: typeof statusObj['error'] === 'string' ? statusObj['error'] : '',
  }
}

/** Vault's StrListContainsGlob: `*` alone, or a leading/trailing `*`. */
function globMatch(patterns: string[], value: string): boolean {
  return patterns.some((p) => {
    if (p === '*') return true
    const re = new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
    return re.test(value)
  })
}

function roleData(role: KubernetesRole): JsonObject {
  return {
    alias_name_source: role.alias_name_source,
    audience: role.audience,
    bound_service_account_names: role.bound_service_account_names,
    bound_service_account_namespaces: role.bound_service_account_namespaces,
    policies: role.token_policies,
    token_policies: role.token_policies,
    ttl: role.token_ttl,
    token_ttl: role.token_ttl,
    max_ttl: role.token_max_ttl,
    token_max_ttl: role.token_max_ttl,
    token_no_default_policy: role.token_no_default_policy,
    token_bound_cidrs: [],
    token_explicit_max_ttl: 0,
    token_num_uses: 0,
    token_period: 0,
    token_type: 'default',
  }
}

export function handleKubernetesAdmin(ctx: RequestContext, state: VaultState, mountPath: string): Reply {
  const sub = ctx.path.slice(mountPath.length)
  const mountType = 'kubernetes'
  const isWrite = ctx.method === 'POST' || ctx.method === 'PUT'
  if (sub === 'config') {
    if (isWrite) {
      const host = ctx.body['kubernetes_host']
      if (typeof host !== 'string' || host === '') throw badRequest('no host provided')
      state.kubernetes.config = {
        kubernetes_host: host,
        kubernetes_ca_cert: typeof ctx.body['kubernetes_ca_cert'] === 'string' ? ctx.body['kubernetes_ca_cert'] : '',
        token_reviewer_jwt: typeof ctx.body['token_reviewer_jwt'] === 'string' ? ctx.body['token_reviewer_jwt'] : '',
        disable_local_ca_jwt: boolParam(ctx.body['disable_local_ca_jwt'], false),
        issuer: typeof ctx.body['issuer'] === 'string' ? ctx.body['issuer'] : '',
        disable_iss_validation: boolParam(ctx.body['disable_iss_validation'], true),
      }
      return noContent()
    }
    if (ctx.method === 'GET') {
      const c = state.kubernetes.config
      if (!c) throw notConfigured()
      // Like Vault, the reviewer JWT itself is never read back.
      return ok(
        {
          kubernetes_host: c.kubernetes_host,
          kubernetes_ca_cert: c.kubernetes_ca_cert,
          pem_keys: [],
          issuer: c.issuer,
          disable_iss_validation: c.disable_iss_validation,
          disable_local_ca_jwt: c.disable_local_ca_jwt,
          token_reviewer_jwt_set: c.token_reviewer_jwt !== '',
          use_annotations_as_alias_metadata: false,
        },
        { mountType },
      )
    }
    throw unsupportedOperation()
  }
  if (sub === 'role' || sub === 'role/') {
    if (ctx.method !== 'LIST') throw unsupportedOperation()
    return listReply(Object.keys(state.kubernetes.roles).sort(), mountType)
  }
  const roleMatch = /^role\/([^/]+)$/.exec(sub)
  if (!roleMatch) throw noHandler(ctx.path)
  const name = roleMatch[1]!
  if (isWrite) {
    const b = ctx.body
    const existing = state.kubernetes.roles[name]
    const names = b['bound_service_account_names'] !== undefined ? stringList(b['bound_service_account_names']) : existing?.bound_service_account_names ?? []
    const namespaces = b['bound_service_account_namespaces'] !== undefined ? stringList(b['bound_service_account_namespaces']) : existing?.bound_service_account_namespaces ?? []
    if (names.length === 0) throw badRequest('"bound_service_account_names" can not be empty')
    if (namespaces.length === 0) throw badRequest('"bound_service_account_namespaces" can not be empty')
    const policies = b['token_policies'] ?? b['policies']
    const ttl = b['token_ttl'] ?? b['ttl']
    const maxTtl = b['token_max_ttl'] ?? b['max_ttl']
    state.kubernetes.roles[name] = {
      bound_service_account_names: names,
      bound_service_account_namespaces: namespaces,
      token_policies: policies !== undefined ? stringList(policies) : existing?.token_policies ?? [],
      token_ttl: ttl !== undefined ? parseDuration(ttl, 'token_ttl') : existing?.token_ttl ?? 0,
      token_max_ttl: maxTtl !== undefined ? parseDuration(maxTtl, 'token_max_ttl') : existing?.token_max_ttl ?? 0,
      token_no_default_policy: boolParam(b['token_no_default_policy'], existing?.token_no_default_policy ?? false),
      audience: typeof b['audience'] === 'string' ? b['audience'] : existing?.audience ?? '',
      alias_name_source: typeof b['alias_name_source'] === 'string' ? b['alias_name_source'] : 'serviceaccount_uid',
    }
    return noContent()
  }
  if (ctx.method === 'GET') {
    const role = state.kubernetes.roles[name]
    if (!role) throw new VaultHttpError(404, [])
    return ok(roleData(role), { mountType })
  }
  if (ctx.method === 'DELETE') {
    Reflect.deleteProperty(state.kubernetes.roles, name)
    return noContent()
  }
  throw unsupportedOperation()
}

const notConfigured = (): VaultHttpError => badRequest('could not load backend configuration')

export async function handleKubernetesLogin(ctx: RequestContext, state: VaultState, mountPath: string): Promise<Reply> {
  if (ctx.method !== 'POST' && ctx.method !== 'PUT') throw unsupportedOperation()
  const roleName = ctx.body['role']
  const jwt = ctx.body['jwt']
  if (typeof roleName !== 'string' || roleName === '') throw badRequest('missing role')
  if (typeof jwt !== 'string' || jwt === '') throw badRequest('missing jwt')
  const role = state.kubernetes.roles[roleName]
  if (!role) throw badRequest(`invalid role name "${roleName}"`)
  const config = state.kubernetes.config
  if (!config) throw notConfigured()

  let review: ReviewResult
  try {
    review = await tokenReview(config, jwt, role.audience ? [role.audience] : [])
  } catch {
    // Vault hides why the lookup failed from the client.
    throw permissionDenied()
  }
  if (!review.authenticated) throw permissionDenied()
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(review.username)
  if (!m) throw permissionDenied()
  const namespace = m[1]!
  const saName = m[2]!
  if (!globMatch(role.bound_service_account_names, saName)) {
    throw new VaultHttpError(403, ['service account name not authorized'])
  }
  if (!globMatch(role.bound_service_account_namespaces, namespace)) {
    throw new VaultHttpError(403, ['namespace not authorized'])
  }
  const policies = [...role.token_policies]
  if (!role.token_no_default_policy) policies.push('default')
  const metadata = {
    role: roleName,
    service_account_name: saName,
    service_account_namespace: namespace,
    service_account_secret_name: '',
    service_account_uid: review.uid,
  }
  const entry = createToken(state, {
    policies,
    meta: metadata,
    ttl: role.token_ttl,
    displayName: `${mountPath.slice('auth/'.length, -1)}-${namespace}-${saName}`,
    path: `${mountPath}login`,
    orphan: true,
    renewable: true,
    maxTtl: role.token_max_ttl,
  })
  const auth = { ...authBlock(entry, metadata), entity_id: randomUUID() }
  return ok(null, { mountType: 'kubernetes', auth })
}
