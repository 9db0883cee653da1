import type http from 'node:http'
import { randomUUID } from 'node:crypto'
import { ApiError } from './status.ts'
import type { User } from './server.ts'

const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local'

/** Bearer tokens: the admin's, and ServiceAccount tokens bound to audiences; TokenReview over them. */
export function createAuthenticator() {
  const token = randomUUID()
  const tokenAudiences = new Map<string, string[]>()
  /** When a token stops being good (TokenRequest's expirationSeconds); without one, never. */
  const tokenExpiry = new Map<string, number>()
  const live = (t: string): User | undefined => {
    const expiry = tokenExpiry.get(t)
    return expiry !== undefined && Date.now() >= expiry ? undefined : tokens.get(t)
  }
  const tokens = new Map<string, User>([[token, { username: 'admin', uid: randomUUID(), groups: ['system:masters', 'system:authenticated'] }]])

  function authenticate(req: http.IncomingMessage): User {
    const h = req.headers.authorization ?? ''
    const u = h.startsWith('Bearer ') ? live(h.slice(7)) : undefined
    if (!u) throw new ApiError(401, 'Unauthorized', 'Unauthorized')
    return u
  }

  /** The status of a TokenReview with this spec. */
  function review(spec: { token?: string, audiences?: string[] }): Record<string, unknown> {
    const u = live(spec.token ?? '')
    // Like the real authenticator: a token is good only for the audiences it was minted for;
    // no audiences in the review means the API server's own.
    const wanted = spec.audiences?.length ? spec.audiences : [API_AUDIENCE]
    const granted = u ? (tokenAudiences.get(spec.token ?? '') ?? [API_AUDIENCE]).filter((a) => wanted.includes(a)) : []
    return !u ? { authenticated: false, user: {}, error: 'invalid bearer token' }
      : granted.length === 0 ? { authenticated: false, user: {}, error: `token audiences ${JSON.stringify(tokenAudiences.get(spec.token ?? '') ?? [API_AUDIENCE])} is invalid for the target audiences ${JSON.stringify(wanted)}` }
        : { authenticated: true, user: u, audiences: granted }
  }

  /** A ServiceAccount token, bound to `audiences` (default: the API server's own), good for `expirationSeconds` if given. */
  function mintServiceAccountToken(namespace: string, name: string, options: { audiences?: string[], expirationSeconds?: number } = {}): string {
    const t = randomUUID()
    if (options.audiences) tokenAudiences.set(t, [...options.audiences])
    if (options.expirationSeconds !== undefined) tokenExpiry.set(t, Date.now() + options.expirationSeconds * 1000)
    tokens.set(t, { username: `system:serviceaccount:${namespace}:${name}`, uid: randomUUID(), groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] })
    return t
  }

  return { adminToken: token, authenticate, review, mintServiceAccountToken, apiAudience: API_AUDIENCE }
}
