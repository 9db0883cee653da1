import { createHash } from 'node:crypto'
import { KubeConfig } from '@kubernetes/client-node'
import { checkConnection, type KubernetesConnection } from './client.ts'

/**
 * A real KubeConfig for a connection: this loads the Kubernetes client. The
 * runtime does it at a function's first API call (DeferredKubeConfig in
 * api.ts); tests and scripts that hold a client anyway call it directly.
 */
export function createKubeConfig(connection: KubernetesConnection): KubeConfig {
  const kc = new KubeConfig()
  if (connection.server) {
    const { plainLoopback } = checkConnection(connection)
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
 * The client's ApiException, recognised without loading the client (this
 * module is on every function's start path). The client throws it for every
 * HTTP answer that is not a success, with the status as a number `code`,
 * the parsed `body` and the `headers`, and a message that starts with
 * "HTTP-Code: " (kubernetes-client/javascript src/gen/apis/exception.ts).
 */
export function isApiException(err: unknown): err is Error & { code: number; body: unknown; headers: Record<string, string> } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'body' in err && 'headers' in err && err.message.startsWith('HTTP-Code: ')
}
