import { ApiException, KubeConfig } from '@kubernetes/client-node'
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

/**
 * The one boundary where the client's ApiException becomes Caretaker's
 * error. Its `message` mixes code, body and headers, so it is never passed
 * on; the server's Status reason and message are.
 */
export function kubernetesError(err: unknown, operation: string): CaretakerError {
  if (err instanceof CaretakerError) return err
  if (err instanceof ApiException) return kubernetesStatusError(err.code, err.body, operation)
  return kubernetesTransportError(err, operation)
}

export function kubernetesStatusCode(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined
}
