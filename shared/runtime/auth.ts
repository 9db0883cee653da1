import { createHash, timingSafeEqual } from 'node:crypto'
import type { V1LocalSubjectAccessReview, V1TokenReview } from '@kubernetes/client-node'
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '../kubernetes/api.ts'
import { CaretakerError, Errors } from '../errors.ts'
import { kubernetesPost, type RestTarget } from '../kubernetes/rest.ts'

/** Who sent a request, once authenticated. */
export interface Identity {
  username: string
  /** `data-plane`: a Knative delivery with Eventing's OIDC off, which carries no identity at all. */
  method: 'tokenreview' | 'static' | 'none' | 'data-plane'
  /** The groups and uid TokenReview reported (what a SubjectAccessReview needs). */
  groups?: string[]
  uid?: string
}

export interface Authenticator {
  readonly mode: 'tokenreview' | 'static' | 'none'
  authenticate(authorization: string | undefined): Promise<Identity>
}

/**
 * Knative Eventing's `authentication-oidc` feature (config-features in
 * knative-eventing), alpha and `disabled` by default.
 */
export type EventingOidc = 'disabled' | 'enabled'

/**
 * The audience Knative gives an object: knative/eventing pkg/auth/audience.go
 * GetAudience, `<group>/<kind>/<namespace>/<name>` lower-cased. A Knative
 * Service announces none (Serving sets no status.address.audience), so each
 * Trigger names this one for its function (`subscriber.audience`,
 * `deadLetterSink.audience`), which the resolver takes instead
 * (knative/pkg resolver/addressable_resolver.go).
 */
export function knativeAudience(group: string, kind: string, namespace: string, name: string): string {
  return `${group}/${kind}/${namespace}/${name}`.toLowerCase()
}

export function serviceAudience(namespace: string, name: string): string {
  return knativeAudience('serving.knative.dev', 'Service', namespace, name)
}

/**
 * The name suffix of a Trigger's OIDC ServiceAccount, created in the
 * Trigger's namespace (knative/eventing pkg/auth/serviceaccount.go
 * GetOIDCServiceAccountNameForResource: kmeta.ChildName(trigger,
 * "-oidc-<group>-<kind>") lower-cased). The broker filter sends to the
 * subscriber and the dead-letter sink with that account's token
 * (pkg/broker/filter/filter_handler.go).
 */
export const TRIGGER_OIDC_SUFFIX = '-oidc-eventing.knative.dev-trigger'

export function bearer(authorization: string | undefined): string {
  const m = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null
  if (!m) throw new CaretakerError(Errors.Unauthenticated, 'missing bearer token: send Authorization: Bearer <token>')
  return m[1]!
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

export class NoAuthenticator implements Authenticator {
  readonly mode = 'none' as const
  async authenticate(): Promise<Identity> {
    return { username: 'anonymous', method: 'none' }
  }
}

export class StaticTokenAuthenticator implements Authenticator {
  readonly mode = 'static' as const
  readonly #expected: Buffer

  constructor(token: string) {
    if (token.length < 16) throw new CaretakerError(Errors.InvalidConfig, 'auth: a static token must be at least 16 characters')
    this.#expected = digest(token)
  }

  async authenticate(authorization: string | undefined): Promise<Identity> {
    const presented = digest(bearer(authorization))
    if (!timingSafeEqual(presented, this.#expected)) {
      throw new CaretakerError(Errors.Unauthenticated, 'the bearer token is not valid')
    }
    return { username: 'static-token', method: 'static' }
  }
}

/**
 * An identity pattern: exact, or with one `*` standing for any characters
 * but `:` (`system:serviceaccount:ns:*` is every ServiceAccount of ns,
 * `system:serviceaccount:ns:*-oidc-eventing.knative.dev-trigger` every
 * Trigger's OIDC identity there).
 */
export function isAllowedIdentity(username: string, allowed: readonly string[]): boolean {
  return allowed.some((pattern) => {
    const star = pattern.indexOf('*')
    if (star < 0) return username === pattern
    const head = pattern.slice(0, star)
    const tail = pattern.slice(star + 1)
    if (tail.includes('*') || username.length < head.length + tail.length) return false
    if (!username.startsWith(head) || !username.endsWith(tail)) return false
    return !username.slice(head.length, username.length - tail.length).includes(':')
  })
}

/**
 * A ServiceAccount token checked by the API server's TokenReview, which is
 * also how Knative Eventing's OIDC sender identity is verified. Results are
 * cached briefly by token hash so a burst costs one review. With `rest` (in
 * the cluster, or an API given by URL and token) the review is one plain
 * HTTPS call with the pod's token and CA (kubernetes/rest.ts); otherwise (a
 * kubeconfig file) the Kubernetes client makes it, loaded at the first one.
 */
export class TokenReviewAuthenticator implements Authenticator {
  readonly mode = 'tokenreview' as const
  readonly #kubeConfig: KubeConfig
  readonly #rest: RestTarget | undefined
  #client: AuthenticationV1Api | undefined
  readonly #allowed: readonly string[] | undefined
  readonly #audience: string | undefined
  readonly #cache = new Map<string, { identity: Identity | CaretakerError; expires: number }>()
  readonly #ttlMs: number

  /** `allowed` undefined: any identity the API server authenticates (RBAC decides next). */
  constructor(kubeConfig: KubeConfig, options: { allowed: readonly string[] | undefined; audience?: string; cacheTtlMs?: number; rest?: RestTarget }) {
    if (options.allowed?.length === 0) {
      throw new CaretakerError(Errors.InvalidConfig, 'auth: tokenreview mode needs at least one allowed identity (AUTH_ALLOWED)')
    }
    this.#kubeConfig = kubeConfig
    this.#rest = options.rest
    this.#allowed = options.allowed
    this.#audience = options.audience
    this.#ttlMs = options.cacheTtlMs ?? 60_000
  }

  async authenticate(authorization: string | undefined): Promise<Identity> {
    const token = bearer(authorization)
    const key = digest(token).toString('hex')
    const now = Date.now()
    const cached = this.#cache.get(key)
    if (cached && cached.expires > now) {
      if (cached.identity instanceof CaretakerError) throw cached.identity
      return cached.identity
    }
    const result = await this.#review(token)
    if (this.#cache.size > 10_000) this.#cache.clear()
    this.#cache.set(key, { identity: result, expires: now + (result instanceof CaretakerError ? Math.min(this.#ttlMs, 10_000) : this.#ttlMs) })
    if (result instanceof CaretakerError) throw result
    return result
  }

  async #review(token: string): Promise<Identity | CaretakerError> {
    let status
    const body: V1TokenReview = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, ...(this.#audience ? { audiences: [this.#audience] } : {}) },
    }
    try {
      if (this.#rest) {
        status = (await kubernetesPost<V1TokenReview>(this.#rest, '/apis/authentication.k8s.io/v1/tokenreviews', body, 'create TokenReview')).status
      } else {
        // The client is loaded at the first call (kubernetes/api.ts): a function pays for it only once a token comes.
        this.#client ??= this.#kubeConfig.makeApiClient(AuthenticationV1Api)
        status = (await this.#client.createTokenReview({ body })).status
      }
    } catch (err) {
      // The reviewer being down is not the caller's fault: 503, retried.
      const { kubernetesError } = await import('../kubernetes/client.ts')
      const e = kubernetesError(err, 'create TokenReview')
      throw new CaretakerError(Errors.DependencyUnavailable, `cannot authenticate the request now: ${e.message}`)
    }
    if (!status?.authenticated || !status.user?.username) {
      return new CaretakerError(Errors.Unauthenticated, 'the bearer token was not accepted by the Kubernetes TokenReview')
    }
    if (this.#audience && !(status.audiences ?? []).includes(this.#audience)) {
      return new CaretakerError(Errors.Unauthenticated, `the bearer token is not meant for audience ${this.#audience}`)
    }
    const username = status.user.username
    if (this.#allowed && !isAllowedIdentity(username, this.#allowed)) {
      return new CaretakerError(Errors.Forbidden, `identity ${username} is not allowed to send events to this function`)
    }
    return { username, method: 'tokenreview', groups: status.user.groups ?? [], ...(status.user.uid ? { uid: status.user.uid } : {}) }
  }
}

/**
 * How a Knative delivery (the Broker's filter sending to a subscriber or a
 * dead-letter sink) is authenticated, by Eventing's `authentication-oidc`:
 * - `enabled`: a bearer token of a Trigger's OIDC ServiceAccount, minted for
 *   this function's audience, checked by TokenReview;
 * - `disabled` (the default): the dispatcher sends no Authorization header
 *   at all (knative/eventing pkg/kncloudevents/event_dispatcher.go adds one
 *   only with an OIDC identity and an audience). Such a delivery is taken as
 *   the data plane's: only the Knative data plane reaches the function
 *   (cluster-local, NetworkPolicy), and requests that act need a proof. A
 *   request that does carry a token is no Knative delivery: refused.
 */
export class KnativeDeliveryAuthenticator implements Authenticator {
  readonly mode = 'tokenreview' as const
  readonly oidc: EventingOidc
  readonly #reviewer: TokenReviewAuthenticator

  constructor(oidc: EventingOidc, reviewer: TokenReviewAuthenticator) {
    this.oidc = oidc
    this.#reviewer = reviewer
  }

  async authenticate(authorization: string | undefined): Promise<Identity> {
    if (this.oidc === 'enabled') return this.#reviewer.authenticate(authorization)
    if (authorization !== undefined) {
      throw new CaretakerError(Errors.Unauthenticated, 'Knative Eventing sends no token with authentication-oidc disabled, so a request with one is not a delivery: send manual requests to POST /manual')
    }
    return { username: 'knative-eventing (authentication-oidc disabled)', method: 'data-plane' }
  }
}

/**
 * Kubernetes RBAC decides who may run what: a SubjectAccessReview for the
 * verb on the Caretaker resource named after the function (group
 * `caretaker.dev`), in Caretaker's namespace (a LocalSubjectAccessReview). "Who may rotate a secret" is
 * a RoleBinding to a Role with `rotate` on `rotate-secret`.
 */
export const CARETAKER_API_GROUP = 'caretaker.dev'

export interface AccessRequest {
  resource: string
  verb: string
  namespace: string
}

export class RbacAuthorizer {
  readonly #kubeConfig: KubeConfig
  readonly #rest: RestTarget | undefined
  #client: AuthorizationV1Api | undefined

  /** `rest`: the review as one plain HTTPS call, as TokenReviewAuthenticator's. */
  constructor(kubeConfig: KubeConfig, options: { rest?: RestTarget } = {}) {
    this.#kubeConfig = kubeConfig
    this.#rest = options.rest
  }

  /** Throws 403 naming the missing permission, or 503 when the API cannot answer. */
  async authorize(identity: Identity, access: AccessRequest): Promise<void> {
    let allowed: boolean
    try {
      // A LocalSubjectAccessReview: the function may ask about its own namespace only (manifests/auth-rbac.yaml).
      const body: V1LocalSubjectAccessReview = {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'LocalSubjectAccessReview',
        metadata: { namespace: access.namespace },
        spec: {
          user: identity.username,
          groups: identity.groups ?? [],
          ...(identity.uid ? { uid: identity.uid } : {}),
          resourceAttributes: { group: CARETAKER_API_GROUP, resource: access.resource, verb: access.verb, namespace: access.namespace },
        },
      }
      let review: V1LocalSubjectAccessReview
      if (this.#rest) {
        review = await kubernetesPost<V1LocalSubjectAccessReview>(this.#rest, `/apis/authorization.k8s.io/v1/namespaces/${encodeURIComponent(access.namespace)}/localsubjectaccessreviews`, body, 'create LocalSubjectAccessReview')
      } else {
        this.#client ??= this.#kubeConfig.makeApiClient(AuthorizationV1Api)
        review = await this.#client.createNamespacedLocalSubjectAccessReview({ namespace: access.namespace, body })
      }
      allowed = review.status?.allowed === true
    } catch (err) {
      const { kubernetesError } = await import('../kubernetes/client.ts')
      const e = kubernetesError(err, 'create LocalSubjectAccessReview')
      throw new CaretakerError(Errors.DependencyUnavailable, `cannot authorize the request now: ${e.message}`)
    }
    if (!allowed) {
      throw new CaretakerError(Errors.Forbidden,
        `${identity.username} may not ${access.verb} ${access.resource}: Kubernetes RBAC grants no verb "${access.verb}" on resource "${access.resource}" in API group "${CARETAKER_API_GROUP}" in namespace "${access.namespace}" (bind a Role that does, e.g. caretaker-operator)`,
        { details: { verb: access.verb, resource: access.resource, apiGroup: CARETAKER_API_GROUP, namespace: access.namespace } })
    }
  }
}
