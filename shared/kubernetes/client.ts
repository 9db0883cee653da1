import { createHash } from 'node:crypto'
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
  reuseDispatcher(kc)
  return kc
}

/** What client-node's private KubeConfig.createDispatcher returns: an undici Dispatcher, or none (plain HTTP, no TLS options). */
interface Dispatcher { close(): Promise<void> }
type DispatcherFactory = (cluster: unknown, agentOptions: unknown) => Dispatcher | undefined

/**
 * One connection pool per KubeConfig. client-node 2.x builds a new undici
 * Agent for every API call that has TLS options (in a cluster: the CA; on
 * the loopback simulator: rejectUnauthorized), in
 * KubeConfig.applySecurityAuthentication → createDispatcher
 * (kubernetes-client/javascript src/config.ts; the older createAgent
 * cached its agents, this does not), and never closes it: every call opens
 * a connection of its own, and the Agents with their sockets and parsers
 * outlive the call. A sweep that lists per namespace (1,400 calls for 200
 * namespaces) grew its RSS by about 150 MiB that way, outside V8's heap
 * (bench/RESULTS.md, scale). The dispatcher is built once and reused, and
 * built again (the old one closed) only when its options change (a rotated
 * client certificate or CA). `createDispatcher` is private in the typings,
 * hence the cast.
 */
function reuseDispatcher(kc: KubeConfig): void {
  const target = kc as unknown as { createDispatcher: DispatcherFactory; createDispatcherOptions(cluster: unknown, agentOptions: unknown): unknown }
  const build = target.createDispatcher.bind(kc)
  let cached: { key: string; dispatcher: Dispatcher | undefined } | undefined
  target.createDispatcher = (cluster, agentOptions) => {
    const key = createHash('sha256').update(JSON.stringify(target.createDispatcherOptions(cluster, agentOptions)) ?? '').digest('hex')
    if (cached?.key === key) return cached.dispatcher
    const previous = cached?.dispatcher
    cached = { key, dispatcher: build(cluster, agentOptions) }
    // Gracefully: requests in flight on the old one finish first.
    previous?.close().catch(() => undefined)
    return cached.dispatcher
  }
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
