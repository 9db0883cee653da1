import { createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Logger } from '../../shared/logger.ts'
import type { ServiceAccountRef } from './oidc.ts'

/**
 * The mesh's ServiceAccount token issuer: what the API server's
 * service-account issuer is to Knative's broker ingress. It signs RS256 JWTs
 * with the claims of a projected ServiceAccount token (iss, sub
 * `system:serviceaccount:<ns>:<name>`, aud, iat, nbf, exp, kubernetes.io)
 * and verifies them as the ingress does: knative/eventing
 * pkg/auth/verifier.go verifyJWT runs go-oidc's IDTokenVerifier
 * (coreos/go-oidc v3 oidc/verify.go) with the audience as ClientID, which
 * checks the issuer, that `aud` contains the audience, that the token has
 * not expired, that `nbf` is not more than 5 minutes ahead, and the
 * signature against the issuer's keys (RS256 unless the provider says
 * otherwise; `none` never).
 */

export interface VerifiedToken {
  readonly subject: string
  readonly audience: readonly string[]
  readonly expiry: number
}

export class TokenVerificationError extends Error {}

/** go-oidc's allowed clock skew for `nbf`. */
const ALLOWED_CLOCK_SKEW_S = 5 * 60

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url')

export class MeshIssuer {
  readonly issuer: string
  readonly #privateKey: KeyObject
  readonly #publicKey: KeyObject
  readonly #now: () => number

  constructor(options: { issuer?: string; now?: () => number } = {}) {
    this.issuer = options.issuer ?? 'https://kubernetes.default.svc.cluster.local'
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    this.#privateKey = privateKey
    this.#publicKey = createPublicKey(privateKey)
    this.#now = options.now ?? Date.now
  }

  /** A ServiceAccount token for `audience`, valid `ttlSeconds` (TokenRequest / a projected serviceAccountToken volume). */
  mint(account: ServiceAccountRef, audience: string, ttlSeconds = 3600): string {
    const now = Math.floor(this.#now() / 1000)
    const header = { alg: 'RS256', typ: 'JWT', kid: 'mesh' }
    const claims = {
      iss: this.issuer,
      sub: `system:serviceaccount:${account.namespace}:${account.name}`,
      aud: [audience],
      iat: now, nbf: now, exp: now + ttlSeconds,
      jti: randomUUID(),
      'kubernetes.io': { namespace: account.namespace, serviceaccount: { name: account.name, uid: randomUUID() } },
    }
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
    return `${input}.${b64url(sign('sha256', Buffer.from(input), this.#privateKey))}`
  }

  /** Verifies `token` for `audience` as the broker ingress does; throws TokenVerificationError saying why (never echoing the token). */
  verify(token: string, audience: string): VerifiedToken {
    const fail = (why: string): never => { throw new TokenVerificationError(why) }
    const parts = token.split('.')
    if (parts.length !== 3) fail('malformed jwt: expected 3 parts')
    const [h, p, s] = parts as [string, string, string]
    let header: { alg?: unknown }
    let claims: { iss?: unknown; sub?: unknown; aud?: unknown; exp?: unknown; nbf?: unknown }
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as typeof header
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as typeof claims
    } catch {
      return fail('malformed jwt: header or payload is not JSON')
    }
    if (typeof claims !== 'object' || claims === null) return fail('malformed jwt: payload is not an object')
    if (claims.iss !== this.issuer) fail(`id token issued by a different provider, expected ${JSON.stringify(this.issuer)}`)
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.filter((a): a is string => typeof a === 'string') : []
    if (!audiences.includes(audience)) fail(`expected audience ${JSON.stringify(audience)} got ${JSON.stringify(audiences)}`)
    const now = this.#now() / 1000
    if (typeof claims.exp !== 'number') fail('token has no expiry')
    if ((claims.exp as number) < now) fail('token is expired')
    if (typeof claims.nbf === 'number' && claims.nbf > now + ALLOWED_CLOCK_SKEW_S) fail('current time before the nbf (not before) time')
    if (header.alg !== 'RS256') fail(`id token signed with unsupported algorithm, expected ["RS256"] got ${JSON.stringify(header.alg)}`)
    if (!verify('sha256', Buffer.from(`${h}.${p}`), this.#publicKey, Buffer.from(s, 'base64url'))) fail('failed to verify signature')
    if (typeof claims.sub !== 'string') fail('token has no subject')
    return { subject: claims.sub as string, audience: audiences, expiry: claims.exp as number }
  }

  /**
   * A projected serviceAccountToken volume, as the kubelet keeps it: the
   * token written to `file` (atomically: a new file renamed over the old),
   * and rewritten when 80% of its lifetime has passed (kubelet
   * pkg/kubelet/token/token_manager.go requiresRefresh). Returns a stop.
   */
  async project(file: string, account: ServiceAccountRef, audience: string, options: { ttlSeconds?: number; logger?: Logger } = {}): Promise<() => void> {
    const ttl = options.ttlSeconds ?? 3600
    await mkdir(dirname(file), { recursive: true, mode: 0o700 })
    const write = async () => {
      const next = join(dirname(file), `..token-${randomUUID()}`)
      await writeFile(next, this.mint(account, audience, ttl), { mode: 0o600 })
      await rename(next, file)
    }
    await write()
    const timer = setInterval(() => {
      write().catch((err: unknown) => options.logger?.error({ file, reason: err instanceof Error ? err.message : String(err) }, 'mesh: cannot refresh a projected token'))
    }, Math.max(1000, Math.floor(ttl * 800)))
    timer.unref()
    return () => clearInterval(timer)
  }
}
