import { AuthorizationV1Api } from './api.ts'
import type { KubeConfig } from './api.ts'
import { CaretakerError, Errors } from '../errors.ts'
import { kubernetesError } from './client.ts'

/**
 * Listing at the size of a real platform: page by page (`limit` and
 * `continue`), one object at a time, and across many namespaces with one
 * cluster-wide list where the function's RBAC allows it.
 */

export interface Paging { limit: number; _continue?: string }
export interface Page<T> { items?: T[]; metadata?: { _continue?: string; continue?: string } }

/** Every object of a paginated list, handed out one at a time: memory stays with one page whatever the size. */
export async function* pages<T>(what: string, pageSize: number, list: (opts: Paging) => Promise<Page<T>>): AsyncGenerator<T> {
  let token: string | undefined
  do {
    let page: Page<T>
    try {
      page = await list({ limit: pageSize, ...(token ? { _continue: token } : {}) })
    } catch (err) {
      throw kubernetesError(err, `list ${what}`)
    }
    for (const item of page.items ?? []) yield item
    token = page.metadata?._continue ?? page.metadata?.continue
  } while (token)
}

/** A resource as RBAC names it: API group ('' for the core group) and plural. */
export interface ListedResource { group: string; resource: string }

/** How long a cluster-wide answer is kept: a new ClusterRoleBinding (or its removal) counts within a minute. */
const DECISION_TTL_MS = 60_000
const decisions = new WeakMap<KubeConfig, Map<string, { allowed: boolean; until: number }>>()

/**
 * Whether this identity may list the resource in every namespace: a
 * SelfSubjectAccessReview (verb list, no namespace), which every
 * authenticated user may create (the default `system:basic-user`
 * ClusterRole; kubernetes/kubernetes plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go).
 * A per-namespace RoleBinding answers no; a ClusterRoleBinding yes. An
 * unanswered review counts as no: the per-namespace lists still work.
 * Kept per process for a minute.
 */
export async function mayListClusterWide(kubeConfig: KubeConfig, target: ListedResource): Promise<boolean> {
  let cache = decisions.get(kubeConfig)
  if (!cache) decisions.set(kubeConfig, cache = new Map())
  const key = `${target.group}/${target.resource}`
  const known = cache.get(key)
  if (known && known.until > Date.now()) return known.allowed
  try {
    const review = await kubeConfig.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'list', group: target.group, resource: target.resource } } },
    })
    const allowed = review.status?.allowed === true
    cache.set(key, { allowed, until: Date.now() + DECISION_TTL_MS })
    return allowed
  } catch {
    return false
  }
}

export interface NamespacedListing<T> {
  kubeConfig: KubeConfig
  /** For error messages: `Pods`, `VolumeSnapshots`, ... */
  what: string
  resource: ListedResource
  /** The namespaces to read; undefined for the whole cluster. */
  namespaces: readonly string[] | undefined
  pageSize: number
  namespaced: (namespace: string, paging: Paging) => Promise<Page<T>>
  clusterWide: (paging: Paging) => Promise<Page<T>>
}

/**
 * Every object of the given namespaces, one at a time. With more than one
 * namespace and a cluster-wide list allowed, one paged cluster-wide list
 * kept to those namespaces (objects/page calls instead of one list per
 * namespace at least); otherwise one paged list per namespace, in the
 * order given.
 */
export async function* listInNamespaces<T extends { metadata?: { namespace?: string } }>(l: NamespacedListing<T>): AsyncGenerator<T> {
  if (l.namespaces === undefined) { yield* pages(l.what, l.pageSize, l.clusterWide); return }
  if (l.namespaces.length > 1 && await mayListClusterWide(l.kubeConfig, l.resource)) {
    const wanted = new Set(l.namespaces)
    for await (const o of pages(l.what, l.pageSize, l.clusterWide)) if (wanted.has(o.metadata?.namespace ?? '')) yield o
    return
  }
  for (const namespace of l.namespaces) yield* pages(`${l.what} in ${namespace}`, l.pageSize, (p) => l.namespaced(namespace, p))
}

/**
 * The order in which a cluster-wide list hands out namespaces: the API
 * server lists by storage key, `/registry/<resource>/<namespace>/<name>`,
 * in byte order (kubernetes/kubernetes
 * staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go GetList reads a
 * key range; the watch cache keeps the same order), so `a-b` comes before
 * `a` (`-` sorts before `/`).
 */
export function listOrder(namespaces: readonly string[]): string[] {
  return [...namespaces].sort((a, b) => { const x = `${a}/`, y = `${b}/`; return x < y ? -1 : x > y ? 1 : 0 })
}

/** One kind's objects a namespace at a time; `clusterWide` readers must be read in `listOrder`. */
export interface NamespaceReader<T> {
  readonly clusterWide: boolean
  read(namespace: string): Promise<T[]>
}

/**
 * A reader of one kind, namespace by namespace: with more than one
 * namespace and a cluster-wide list allowed, one paged cluster-wide list
 * walked along (never more than a page and one namespace's objects held);
 * otherwise one paged list per namespace read.
 */
export async function namespaceReader<T extends { metadata?: { namespace?: string } }>(l: NamespacedListing<T> & { namespaces: readonly string[] }): Promise<NamespaceReader<T>> {
  if (!(l.namespaces.length > 1 && await mayListClusterWide(l.kubeConfig, l.resource))) {
    return {
      clusterWide: false,
      read: async (namespace) => { const out: T[] = []; for await (const o of pages(`${l.what} in ${namespace}`, l.pageSize, (p) => l.namespaced(namespace, p))) out.push(o); return out },
    }
  }
  const stream = pages(l.what, l.pageSize, l.clusterWide)
  let head: T | undefined
  let done = false
  const key = (o: T) => `${o.metadata?.namespace ?? ''}/`
  // A namespace seen again after another one: the list is not in the order walked, and objects would be missed.
  const passed = new Set<string>()
  let current: string | undefined
  const next = async () => {
    const r = await stream.next()
    done = r.done === true
    head = r.done ? undefined : r.value
    if (head === undefined || key(head) === current) return
    if (passed.has(key(head))) throw new CaretakerError(Errors.Internal, `the cluster-wide list of ${l.what} did not come in namespace order (${head.metadata?.namespace ?? ''} again after others); the run stopped there`)
    if (current !== undefined) passed.add(current)
    current = key(head)
  }
  return {
    clusterWide: true,
    async read(namespace) {
      if (head === undefined && !done) await next()
      const want = `${namespace}/`
      while (head !== undefined && key(head) < want) await next() // namespaces not asked for
      const out: T[] = []
      while (head !== undefined && key(head) === want) { out.push(head); await next() }
      return out
    },
  }
}
