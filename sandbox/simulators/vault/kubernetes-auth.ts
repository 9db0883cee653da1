// Kubernetes auth: config, roles, and login checked with a TokenReview.
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
  stringList,
  unsupportedOperation,
  VaultHttpError,
  type JsonObject,
  type Reply,
  type RequestContext,
} from './common.ts'
import type { KubernetesConfig, KubernetesRole, VaultState } from './state.ts'
import { authBlock, createToken } from './auth.ts'

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
