import { CaretakerError, Errors } from '../errors.ts'

/**
 * An API server's error reply (a `Status`, apimachinery
 * pkg/apis/meta/v1/types.go) as Caretaker's error: the one rule, used for
 * the Kubernetes client's ApiException (client.ts) and for plain HTTPS calls
 * (rest.ts), so both read alike. The reply's headers and raw body are never
 * passed on; the server's reason and message are.
 */
interface KubernetesStatus {
  reason?: string
  message?: string
  code?: number
}

function parseStatus(body: unknown): KubernetesStatus {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as KubernetesStatus
    } catch {
      return {}
    }
  }
  return typeof body === 'object' && body !== null ? (body as KubernetesStatus) : {}
}

export function kubernetesStatusError(code: number, body: unknown, operation: string): CaretakerError {
  const status = parseStatus(body)
  const reason = status.reason ?? `HTTP ${code}`
  const text = `kubernetes: ${operation}: ${reason}${status.message ? `: ${status.message}` : ''}`
  const def = code === 429 || code >= 500 ? Errors.DependencyUnavailable : Errors.DependencyFailed
  return new CaretakerError(def, text, { details: { system: 'kubernetes', operation, code, reason } })
}

/** A transport failure (ECONNREFUSED…): the errno of the error or its cause says what happened. */
export function kubernetesTransportError(err: unknown, operation: string): CaretakerError {
  const e = err as (NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }) | undefined
  const what = e?.code ?? e?.cause?.code ?? (e instanceof Error ? e.message : undefined) ?? 'request failed'
  return new CaretakerError(Errors.DependencyUnavailable, `kubernetes: ${operation}: ${what}`, {
    details: { system: 'kubernetes', operation },
  })
}
