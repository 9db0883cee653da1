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
  return kc
}
