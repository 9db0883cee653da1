import { createHash, timingSafeEqual } from 'node:crypto'
import type { AuthenticationV1Api, KubeConfig } from '@kubernetes/client-node'
import { CaretakerError, Errors } from '../errors.ts'

/** Who sent a request, once authenticated. */
export interface Identity {
  username: string
  method: 'tokenreview' | 'static' | 'none'
}

export interface Authenticator {
  readonly mode: Identity['method']
  authenticate(authorization: string | undefined): Promise<Identity>
}

function bearer(authorization: string | undefined): string {
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

/** `system:serviceaccount:ns:*` allows every ServiceAccount of a namespace. */
export function isAllowedIdentity(username: string, allowed: readonly string[]): boolean {
  return allowed.some((pattern) => (pattern.endsWith(':*') ? username.startsWith(pattern.slice(0, -1)) : username === pattern))
}

/**
 * A ServiceAccount token checked by the API server's TokenReview, which is
 * also how Knative Eventing's OIDC sender identity is verified. Results are
 * cached briefly by token hash so a burst costs one review.
 */
export class TokenReviewAuthenticator implements Authenticator {
  readonly mode = 'tokenreview' as const
  readonly #api: Promise<AuthenticationV1Api>
  readonly #allowed: readonly string[]
  readonly #audience: string | undefined
  readonly #cache = new Map<string, { identity: Identity | CaretakerError; expires: number }>()
  readonly #ttlMs: number

  constructor(kubeConfig: KubeConfig, options: { allowed: readonly string[]; audience?: string; cacheTtlMs?: number }) {
    if (options.allowed.length === 0) {
      throw new CaretakerError(Errors.InvalidConfig, 'auth: tokenreview mode needs at least one allowed identity (AUTH_ALLOWED)')
    }
    // Loaded on first use: only functions authenticating this way pay for the client.
    this.#api = import('@kubernetes/client-node').then((k) => kubeConfig.makeApiClient(k.AuthenticationV1Api))
    this.#api.catch(() => undefined)
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
    try {
      const review = await (await this.#api).createTokenReview({
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, ...(this.#audience ? { audiences: [this.#audience] } : {}) },
        },
      })
      status = review.status
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
    if (!isAllowedIdentity(username, this.#allowed)) {
      return new CaretakerError(Errors.Forbidden, `identity ${username} is not allowed to send events to this function`)
    }
    return { username, method: 'tokenreview' }
  }
}
