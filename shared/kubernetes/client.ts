import { CaretakerError, Errors } from '../errors.ts'
import { kubernetesStatusError, kubernetesTransportError } from './status.ts'

export interface KubernetesConnection {
  /** An explicit API server URL and bearer token (tests, the sandbox). */
  server?: string
  token?: string
  /** A kubeconfig file; otherwise in-cluster, otherwise the default locations. */
  kubeconfigPath?: string
  inCluster?: boolean
}

/**
 * Refuses what no KubeConfig may be made from, before anything is loaded:
 * plain HTTP carries no TLS to verify, so it is accepted only for a
 * loopback API (the sandbox simulator), never for a remote server.
 */
export function checkConnection(connection: KubernetesConnection): { plainLoopback: boolean } {
  if (!connection.server) return { plainLoopback: false }
  const url = new URL(connection.server)
  const plainLoopback = url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
  if (url.protocol === 'http:' && !plainLoopback) {
    throw new CaretakerError(Errors.InvalidConfig, `kubernetes: ${connection.server} is plain HTTP; use https (plain HTTP is accepted only on loopback)`)
  }
  return { plainLoopback }
}

/**
 * The client's ApiException, recognised without loading the client (this
 * module is on every function's start path). The client throws it for every
 * HTTP answer that is not a success, with the status as a number `code`,
 * the parsed `body` and the `headers`, and a message that starts with
 * "HTTP-Code: " (kubernetes-client/javascript src/gen/apis/exception.ts).
 */
export function isApiException(err: unknown): err is Error & { code: number; body: unknown; headers: Record<string, string> } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'body' in err && 'headers' in err && err.message.startsWith('HTTP-Code: ')
}

/**
 * The one boundary where the client's ApiException (isApiException) becomes Caretaker's
 * error. Its `message` mixes code, body and headers, so it is never passed
 * on; the server's Status reason and message are.
 */
export function kubernetesError(err: unknown, operation: string): CaretakerError {
  if (err instanceof CaretakerError) return err
  if (isApiException(err)) return kubernetesStatusError(err.code, err.body, operation)
  return kubernetesTransportError(err, operation)
}

export function kubernetesStatusCode(err: unknown): number | undefined {
  return isApiException(err) ? err.code : undefined
}
