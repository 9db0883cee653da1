import { ApiError } from './status.ts'
import type { Obj } from './store.ts'

/**
 * `POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`: a TokenRequest
 * (authentication.k8s.io/v1), as `kubectl create token` sends it, answered as
 * kube-apiserver's token REST does (kubernetes pkg/registry/core/serviceaccount/
 * storage/token.go): the ServiceAccount must exist (the caller's 404 comes
 * from reading it); no audiences means the API server's own; no
 * expirationSeconds means an hour (SetDefaults_TokenRequestSpec); and
 * ValidateTokenRequest (pkg/apis/authentication/validation) refuses under ten
 * minutes and over 2^32 seconds with a 422 naming the TokenRequest "".
 * The token is the simulator's own (an opaque string, not a JWT), good for
 * the audiences and the time asked.
 */

const DEFAULT_EXPIRATION_SECONDS = 3600
const MIN_EXPIRATION_SECONDS = 600
const MAX_EXPIRATION_SECONDS = 2 ** 32

export interface TokenMinter {
  readonly apiAudience: string
  mint(namespace: string, name: string, options: { audiences: string[], expirationSeconds: number }): string
}

export function tokenRequest(serviceAccount: Obj, body: Obj, minter: TokenMinter): Obj {
  const meta = serviceAccount.metadata as { name: string, namespace: string }
  const spec = (body.spec ?? {}) as { audiences?: string[] | null, expirationSeconds?: number | null, boundObjectRef?: unknown }
  const expirationSeconds = Number(spec.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS)
  const invalid = (message: string): ApiError => new ApiError(422, 'Invalid', `TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: ${expirationSeconds}: ${message}`, {
    name: '', group: 'authentication.k8s.io', kind: 'TokenRequest',
    causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: ${expirationSeconds}: ${message}`, field: 'spec.expirationSeconds' }],
  })
  if (!Number.isInteger(expirationSeconds) || expirationSeconds < MIN_EXPIRATION_SECONDS) throw invalid('may not specify a duration less than 10 minutes')
  if (expirationSeconds > MAX_EXPIRATION_SECONDS) throw invalid('may not specify a duration larger than 2^32 seconds')
  const audiences = spec.audiences?.length ? [...spec.audiences] : [minter.apiAudience]
  const token = minter.mint(meta.namespace, meta.name, { audiences, expirationSeconds })
  const now = new Date()
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name: meta.name, namespace: meta.namespace, creationTimestamp: now.toISOString().replace(/\.\d+Z$/, 'Z') },
    spec: { audiences, expirationSeconds, boundObjectRef: spec.boundObjectRef ?? null },
    status: { token, expirationTimestamp: new Date(now.getTime() + expirationSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z') },
  }
}
