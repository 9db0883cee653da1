// Tokens: creation, lookup, renewal and revocation, and the auth/token/ endpoints.
import {
  badRequest,
  boolParam,
  isObject,
  noContent,
  noHandler,
  ok,
  parseDuration,
  randomBase62,
  stringList,
  unsupportedOperation,
  VaultHttpError,
  type JsonObject,
  type Reply,
  type RequestContext,
} from './common.ts'
import type { TokenEntry, VaultState } from './state.ts'

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
