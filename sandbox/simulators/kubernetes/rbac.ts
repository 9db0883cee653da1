// Authorization the way kube-apiserver does it with `--authorization-mode=RBAC`: the
// privileged group system:masters, then the rules of the Roles and ClusterRoles bound to
// the user, plus the bootstrap policy every cluster starts with (discovery, self reviews,
// cluster-admin for system:masters). Forbidden answers are worded like the real server's.
import { ApiError } from './status.ts'
import { recordUse } from './rbac-usage.ts'

type Obj = Record<string, unknown>

export interface Identity { username: string, uid?: string, groups: string[] }

/**
 * What a request asks to do. A resource request names `resource`; a non-resource request
 * (discovery, /version, ...) has `resource: ''` and its `path`.
 */
export interface RequestAttributes {
  verb: string
  group: string
  resource: string
  subresource: string
  namespace: string
  name: string
  path?: string
}

export interface PolicyRule {
  verbs?: string[]
  apiGroups?: string[]
  resources?: string[]
  resourceNames?: string[]
  nonResourceURLs?: string[]
}

export interface Decision { allowed: boolean, reason: string }

export type PolicyKind = 'Role' | 'ClusterRole' | 'RoleBinding' | 'ClusterRoleBinding'
/** The stored RBAC objects of a kind (namespaced kinds: of `namespace`). */
export type PolicyLister = (kind: PolicyKind, namespace?: string) => Obj[]

interface Subject { kind?: string, name?: string, namespace?: string }
interface RoleRef { kind?: string, name?: string }

export const PRIVILEGED_GROUP = 'system:masters'

// The part of kube-apiserver's bootstrap policy that decides what any caller may do.
const BOOTSTRAP_ROLES: Obj[] = [
  { metadata: { name: 'cluster-admin' }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, { nonResourceURLs: ['*'], verbs: ['*'] }] },
  { metadata: { name: 'system:discovery' }, rules: [{ nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'], verbs: ['get'] }] },
  { metadata: { name: 'system:basic-user' }, rules: [{ apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] }, { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] }] },
  { metadata: { name: 'system:public-info-viewer' }, rules: [{ nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get'] }] },
]
const BOOTSTRAP_BINDINGS: Obj[] = [
  { metadata: { name: 'cluster-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: PRIVILEGED_GROUP }] },
  { metadata: { name: 'system:discovery' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:discovery' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }] },
  { metadata: { name: 'system:basic-user' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:basic-user' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }] },
  { metadata: { name: 'system:public-info-viewer' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:public-info-viewer' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }] },
]

const nameOf = (o: Obj): string => String((o.metadata as Obj | undefined)?.name ?? '')
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])

// The matching helpers of k8s.io/kubernetes/pkg/apis/rbac/v1/evaluation_helpers.go.
const verbMatches = (r: PolicyRule, verb: string) => strings(r.verbs).some((v) => v === '*' || v === verb)
const apiGroupMatches = (r: PolicyRule, group: string) => strings(r.apiGroups).some((g) => g === '*' || g === group)
function resourceMatches(r: PolicyRule, combined: string, subresource: string): boolean {
  return strings(r.resources).some((res) => res === '*' || res === combined ||
    (subresource !== '' && res.length === subresource.length + 2 && res.startsWith('*/') && res.endsWith(subresource)))
}
const resourceNameMatches = (r: PolicyRule, name: string) => { const names = strings(r.resourceNames); return names.length === 0 || names.includes(name) }
function nonResourceURLMatches(r: PolicyRule, path: string): boolean {
  return strings(r.nonResourceURLs).some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))))
}

export function ruleAllows(a: RequestAttributes, r: PolicyRule): boolean {
  if (a.resource === '') return verbMatches(r, a.verb) && nonResourceURLMatches(r, a.path ?? '')
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource
  return verbMatches(r, a.verb) && apiGroupMatches(r, a.group) && resourceMatches(r, combined, a.subresource) && resourceNameMatches(r, a.name)
}

function appliesTo(user: Identity, s: Subject, bindingNamespace: string): boolean {
  switch (s.kind) {
    case 'User': return user.username === s.name
    case 'Group': return user.groups.includes(s.name ?? '')
    case 'ServiceAccount': {
      const ns = s.namespace || bindingNamespace
      return ns !== '' && user.username === `system:serviceaccount:${ns}:${s.name ?? ''}`
    }
    default: return false
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} ${JSON.stringify(`${s.name ?? ''}/${s.namespace || bindingNamespace}`)}`
  return `${s.kind ?? ''} ${JSON.stringify(s.name ?? '')}`
}

interface Source { rules: PolicyRule[], describe: () => string, /** `ClusterRole/<name>` or `Role/<namespace>/<name>` */ role: string }

/** Rules granted to `user` in `namespace` ('' = cluster-wide only), with where each set comes from. */
function visitRules(list: PolicyLister, user: Identity, namespace: string, visit: (s: Source) => boolean, errors: string[]): void {
  const clusterRoles = [...BOOTSTRAP_ROLES, ...list('ClusterRole')]
  const clusterRole = (name: string): PolicyRule[] | undefined => {
    const role = clusterRoles.find((r) => nameOf(r) === name)
    if (!role) return undefined
    // An aggregated ClusterRole holds the rules of every ClusterRole its selectors pick.
    const agg = role.aggregationRule as { clusterRoleSelectors?: Array<{ matchLabels?: Record<string, string> }> } | undefined
    const own = (role.rules ?? []) as PolicyRule[]
    if (!agg?.clusterRoleSelectors?.length) return own
    const picked = clusterRoles.filter((r) => r !== role && agg.clusterRoleSelectors?.some((sel) => {
      const labels = ((r.metadata as Obj | undefined)?.labels ?? {}) as Record<string, string>
      const wanted = Object.entries(sel.matchLabels ?? {})
      return wanted.length > 0 && wanted.every(([k, v]) => labels[k] === v)
    }))
    return [...own, ...picked.flatMap((r) => (r.rules ?? []) as PolicyRule[])]
  }
  const rolesOf = (ref: RoleRef, ns: string): PolicyRule[] | undefined => {
    if (ref.kind === 'ClusterRole') return clusterRole(ref.name ?? '')
    const role = list('Role', ns).find((r) => nameOf(r) === ref.name)
    return role ? (role.rules ?? []) as PolicyRule[] : undefined
  }
  const missing = (ref: RoleRef) => `${ref.kind === 'ClusterRole' ? 'clusterrole' : 'role'}.rbac.authorization.k8s.io ${JSON.stringify(ref.name ?? '')} not found`

  for (const b of [...BOOTSTRAP_BINDINGS, ...list('ClusterRoleBinding')]) {
    const subject = ((b.subjects ?? []) as Subject[]).find((s) => appliesTo(user, s, ''))
    if (!subject) continue
    const ref = (b.roleRef ?? {}) as RoleRef
    // A ClusterRoleBinding can only reference a ClusterRole.
    const rules = ref.kind === 'ClusterRole' ? clusterRole(ref.name ?? '') : undefined
    if (!rules) { errors.push(missing(ref)); continue }
    if (visit({ rules, role: `ClusterRole/${ref.name ?? ''}`, describe: () => `ClusterRoleBinding ${JSON.stringify(nameOf(b))} of ${ref.kind ?? ''} ${JSON.stringify(ref.name ?? '')} to ${describeSubject(subject, '')}` })) return
  }
  if (namespace === '') return
  for (const b of list('RoleBinding', namespace)) {
    const subject = ((b.subjects ?? []) as Subject[]).find((s) => appliesTo(user, s, namespace))
    if (!subject) continue
    const ref = (b.roleRef ?? {}) as RoleRef
    const rules = rolesOf(ref, namespace)
    if (!rules) { errors.push(missing(ref)); continue }
    if (visit({ rules, role: ref.kind === 'ClusterRole' ? `ClusterRole/${ref.name ?? ''}` : `Role/${namespace}/${ref.name ?? ''}`, describe: () => `RoleBinding ${JSON.stringify(`${nameOf(b)}/${namespace}`)} of ${ref.kind ?? ''} ${JSON.stringify(ref.name ?? '')} to ${describeSubject(subject, namespace)}` })) return
  }
}

/** The RBAC authorizer's decision and reason (`RBAC: allowed by ...`, or the lookup errors on a denial). */
export function rbacAuthorize(list: PolicyLister, user: Identity, a: RequestAttributes): Decision {
  const errors: string[] = []
  let reason = ''
  visitRules(list, user, a.namespace, (s) => {
    if (!s.rules.some((r) => ruleAllows(a, r))) return false
    reason = `RBAC: allowed by ${s.describe()}`
    recordUse(s.role, a)
    return true
  }, errors)
  if (reason) return { allowed: true, reason }
  return { allowed: false, reason: errors.length === 0 ? '' : `RBAC: ${errors.length === 1 ? errors[0] ?? '' : `[${errors.join(', ')}]`}` }
}

/** Every rule `user` holds in `namespace`, as SelfSubjectRulesReview reports them. */
export function rulesFor(list: PolicyLister, user: Identity, namespace: string): { resourceRules: PolicyRule[], nonResourceRules: PolicyRule[], incomplete: boolean, evaluationError?: string } {
  const errors: string[] = []
  const rules: PolicyRule[] = []
  visitRules(list, user, namespace, (s) => { rules.push(...s.rules); return false }, errors)
  const resourceRules = rules.filter((r) => strings(r.resources).length > 0).map((r) => ({ verbs: strings(r.verbs), apiGroups: strings(r.apiGroups), resources: strings(r.resources), ...(strings(r.resourceNames).length ? { resourceNames: strings(r.resourceNames) } : {}) }))
  const nonResourceRules = rules.filter((r) => strings(r.nonResourceURLs).length > 0).map((r) => ({ verbs: strings(r.verbs), nonResourceURLs: strings(r.nonResourceURLs) }))
  return { resourceRules, nonResourceRules, incomplete: errors.length > 0, ...(errors.length ? { evaluationError: errors.join(', ') } : {}) }
}

export interface AuthorizerOptions {
  /** RBAC decides; when false every authenticated request is allowed */
  rbac: boolean
  /** when given, decides instead of RBAC (system:masters still passes) */
  override?: (user: Identity & { uid: string }, attrs: RequestAttributes) => boolean
}

export interface Authorizer {
  authorize(user: Identity, attrs: RequestAttributes): Decision
  /** throws the real server's 403 when `user` may not */
  check(user: Identity, attrs: RequestAttributes): void
}

export function createAuthorizer(list: PolicyLister, options: AuthorizerOptions): Authorizer {
  const authorize = (user: Identity, attrs: RequestAttributes): Decision => {
    if (user.groups.includes(PRIVILEGED_GROUP)) return { allowed: true, reason: '' }
    if (options.override) return { allowed: options.override({ ...user, uid: user.uid ?? '' }, attrs), reason: '' }
    if (!options.rbac) return { allowed: true, reason: '' }
    return rbacAuthorize(list, user, attrs)
  }
  return {
    authorize,
    check(user, attrs) {
      const d = authorize(user, attrs)
      if (!d.allowed) throw forbidden(user, attrs, d.reason)
    },
  }
}

/** kube-apiserver's 403 (responsewriters.Forbidden + apierrors.NewForbidden). */
export function forbidden(user: Identity, a: RequestAttributes, reason = ''): ApiError {
  let msg: string
  if (a.resource === '') msg = `User ${JSON.stringify(user.username)} cannot ${a.verb} path ${JSON.stringify(a.path ?? '')}`
  else {
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource
    msg = a.namespace
      ? `User ${JSON.stringify(user.username)} cannot ${a.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(a.group)} in the namespace ${JSON.stringify(a.namespace)}`
      : `User ${JSON.stringify(user.username)} cannot ${a.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(a.group)} at the cluster scope`
  }
  if (reason) msg = `${msg}: ${reason}`
  if (a.resource === '') return new ApiError(403, 'Forbidden', `forbidden: ${msg}`, {})
  const qualified = a.group ? `${a.resource}.${a.group}` : a.resource
  const message = a.name ? `${qualified} ${JSON.stringify(a.name)} is forbidden: ${msg}` : `${qualified} is forbidden: ${msg}`
  return new ApiError(403, 'Forbidden', message, { ...(a.name ? { name: a.name } : {}), ...(a.group ? { group: a.group } : {}), kind: a.resource })
}

/** The non-resource verb of an HTTP method, as kube-apiserver names it. */
export const nonResourceVerb = (method: string): string => method.toLowerCase()

// ---------------------------------------------------------------------------
// authorization.k8s.io/v1: the access reviews (create-only, nothing is stored)

const AUTHZ_GV = 'authorization.k8s.io/v1'

export const AUTHORIZATION_DISCOVERY = {
  kind: 'APIResourceList', apiVersion: 'v1', groupVersion: AUTHZ_GV,
  resources: [
    { name: 'localsubjectaccessreviews', singularName: 'localsubjectaccessreview', namespaced: true, kind: 'LocalSubjectAccessReview', verbs: ['create'] },
    { name: 'selfsubjectaccessreviews', singularName: 'selfsubjectaccessreview', namespaced: false, kind: 'SelfSubjectAccessReview', verbs: ['create'] },
    { name: 'selfsubjectrulesreviews', singularName: 'selfsubjectrulesreview', namespaced: false, kind: 'SelfSubjectRulesReview', verbs: ['create'] },
    { name: 'subjectaccessreviews', singularName: 'subjectaccessreview', namespaced: false, kind: 'SubjectAccessReview', verbs: ['create'] },
  ],
}

const REVIEW_KINDS: Record<string, string> = {
  localsubjectaccessreviews: 'LocalSubjectAccessReview',
  selfsubjectaccessreviews: 'SelfSubjectAccessReview',
  selfsubjectrulesreviews: 'SelfSubjectRulesReview',
  subjectaccessreviews: 'SubjectAccessReview',
}

const invalid = (kind: string, field: string, value: string, detail: string): ApiError =>
  new ApiError(422, 'Invalid', `${kind}.authorization.k8s.io "" is invalid: ${field}: Invalid value: ${value}: ${detail}`, { group: 'authorization.k8s.io', kind, causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: ${value}: ${detail}`, field }] })

function reviewAttributes(kind: string, spec: Obj): RequestAttributes {
  const ra = spec.resourceAttributes as Record<string, unknown> | undefined
  const nra = spec.nonResourceAttributes as Record<string, unknown> | undefined
  if ((ra === undefined) === (nra === undefined)) throw invalid(kind, 'spec.resourceAttributes', '"null"', 'exactly one of nonResourceAttributes or resourceAttributes must be specified')
  const s = (v: unknown) => (typeof v === 'string' ? v : '')
  if (nra) return { verb: s(nra.verb), group: '', resource: '', subresource: '', namespace: '', name: '', path: s(nra.path) }
  const r = ra ?? {}
  return { verb: s(r.verb), group: s(r.group), resource: s(r.resource), subresource: s(r.subresource), namespace: s(r.namespace), name: s(r.name) }
}

/**
 * Answers a POST to an authorization.k8s.io/v1 review (after checking the caller may create
 * it); undefined when the path is not one.
 */
export async function serveAuthorizationApi(path: string, method: string, user: Identity, readBody: () => Promise<string>, authz: Authorizer, list: PolicyLister): Promise<{ code: number, body: unknown } | undefined> {
  if (path === `/apis/${AUTHZ_GV}`) return { code: 200, body: AUTHORIZATION_DISCOVERY }
  const m = /^\/apis\/authorization\.k8s\.io\/v1\/(?:namespaces\/([^/]+)\/)?([^/]+)$/.exec(path)
  const plural = m?.[2] ?? ''
  const kind = REVIEW_KINDS[plural]
  if (!m || !kind || (plural === 'localsubjectaccessreviews') !== (m[1] !== undefined)) return undefined
  const namespace = m[1] ?? ''
  if (method !== 'POST') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
  authz.check(user, { verb: 'create', group: 'authorization.k8s.io', resource: plural, subresource: '', namespace, name: '' })
  const body = JSON.parse(await readBody()) as Obj
  const spec = (body.spec ?? {}) as Obj
  const out = (status: Obj) => ({ code: 201, body: { ...body, kind, apiVersion: AUTHZ_GV, metadata: { ...((body.metadata ?? {}) as Obj), creationTimestamp: null }, spec, status } })
  if (kind === 'SelfSubjectRulesReview') {
    const ns = typeof spec.namespace === 'string' ? spec.namespace : ''
    return out(rulesFor(list, user, ns))
  }
  let subject: Identity = user
  if (kind === 'SubjectAccessReview' || kind === 'LocalSubjectAccessReview') {
    const username = typeof spec.user === 'string' ? spec.user : ''
    const groups = strings(spec.groups)
    if (!username && groups.length === 0) throw invalid(kind, 'spec.user', '""', 'at least one of user or group must be specified')
    subject = { username, groups, ...(typeof spec.uid === 'string' ? { uid: spec.uid } : {}) }
  }
  const attrs = reviewAttributes(kind, spec)
  if (kind === 'LocalSubjectAccessReview' && attrs.namespace !== namespace) {
    throw new ApiError(400, 'BadRequest', `spec.resourceAttributes.namespace must match namespace: ${namespace}`)
  }
  const d = authz.authorize(subject, attrs)
  return out({ allowed: d.allowed, ...(d.reason ? { reason: d.reason } : {}) })
}

/**
 * kube-apiserver's impersonation filter: `Impersonate-User` and `Impersonate-Group` headers
 * (kubectl --as / --as-group), each allowed by the `impersonate` verb on users,
 * serviceaccounts or groups. Returns whom the request then acts as.
 */
export function impersonate<U extends Identity & { uid: string }>(user: U, headers: Record<string, string[] | undefined>, authz: Authorizer): U | (Identity & { uid: string }) {
  const as = headers['impersonate-user']?.[0]
  const groups = headers['impersonate-group'] ?? []
  const uid = headers['impersonate-uid']?.[0]
  if (as === undefined) {
    if (groups.length || uid !== undefined) throw new ApiError(500, 'InternalError', 'Internal error occurred: requested [' + [...groups.map((g) => `{Group ${g}}`), ...(uid ? [`{UID ${uid}}`] : [])].join(' ') + '] without impersonating a user')
    return user
  }
  const base = { verb: 'impersonate', group: '', subresource: '', namespace: '', name: '' }
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(as)
  authz.check(user, sa ? { ...base, resource: 'serviceaccounts', namespace: sa[1] ?? '', name: sa[2] ?? '' } : { ...base, resource: 'users', name: as })
  for (const g of groups) authz.check(user, { ...base, resource: 'groups', name: g })
  if (uid !== undefined) authz.check(user, { ...base, group: 'authentication.k8s.io', resource: 'uids', name: uid })
  const implied = sa ? ['system:serviceaccounts', `system:serviceaccounts:${sa[1] ?? ''}`] : []
  const all = [...new Set([...groups, ...implied])]
  if (as !== 'system:anonymous' && !all.includes('system:authenticated')) all.push('system:authenticated')
  return { username: as, uid: uid ?? '', groups: all }
}
