import { ApiException, KubeConfig } from '@kubernetes/client-node'
import { CaretakerError, Errors } from '../errors.ts'

export interface KubernetesConnection {
  /** An explicit API server URL and bearer token (tests, the sandbox). */
  server?: string
  token?: string
  /** A kubeconfig file; otherwise in-cluster, otherwise the default locations. */
  kubeconfigPath?: string
  inCluster?: boolean
}

export function createKubeConfig(connection: KubernetesConnection): KubeConfig {
  const kc = new KubeConfig()
  if (connection.server) {
    // Plain HTTP carries no TLS to verify; it is accepted only for a loopback API
    // (the sandbox simulator), never for a remote server.
    const url = new URL(connection.server)
    const plainLoopback = url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
    if (url.protocol === 'http:' && !plainLoopback) {
      throw new CaretakerError(Errors.InvalidConfig, `kubernetes: ${connection.server} is plain HTTP; use https (plain HTTP is accepted only on loopback)`)
    }
    kc.loadFromOptions({
      clusters: [{ name: 'caretaker', server: connection.server, skipTLSVerify: plainLoopback }],
      users: [{ name: 'caretaker', token: connection.token ?? '' }],
      contexts: [{ name: 'caretaker', cluster: 'caretaker', user: 'caretaker' }],
      currentContext: 'caretaker',
    })
  } else if (connection.kubeconfigPath) {
    kc.loadFromFile(connection.kubeconfigPath)
  } else if (connection.inCluster) {
    kc.loadFromCluster()
  } else {
    kc.loadFromDefault()
  }
  return kc
}

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

/**
 * The one boundary where the client's ApiException becomes Caretaker's
 * error. Its `message` mixes code, body and headers, so it is never passed
 * on; the server's Status reason and message are.
 */
export function kubernetesError(err: unknown, operation: string): CaretakerError {
  if (err instanceof CaretakerError) return err
  if (err instanceof ApiException) {
    const status = parseStatus(err.body)
    const code = err.code
    const reason = status.reason ?? `HTTP ${code}`
    const text = `kubernetes: ${operation}: ${reason}${status.message ? `: ${status.message}` : ''}`
    const def = code === 429 || code >= 500 ? Errors.DependencyUnavailable : Errors.DependencyFailed
    return new CaretakerError(def, text, { details: { system: 'kubernetes', operation, code, reason } })
  }
  // Transport failures: the errno (ECONNREFUSED…) of the error or its cause says what happened.
  const e = err as (NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }) | undefined
  const what = e?.code ?? e?.cause?.code ?? (e instanceof Error ? e.message : undefined) ?? 'request failed'
  return new CaretakerError(Errors.DependencyUnavailable, `kubernetes: ${operation}: ${what}`, {
    details: { system: 'kubernetes', operation },
  })
}

export function kubernetesStatusCode(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined
}
