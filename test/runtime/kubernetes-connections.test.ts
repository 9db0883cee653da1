import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { CoreV1Api } from '@kubernetes/client-node'
import { createKubeConfig } from '../../shared/kubernetes/kubeconfig.ts'

// The Kubernetes client reuses its connections: client-node builds a new
// undici Agent (so a new connection) for every call that has TLS options,
// which a sweep listing per namespace paid for in memory (see
// shared/kubernetes/client.ts, reuseDispatcher). An API stand-in that
// counts the connections it accepts.

t.test('sequential API calls share one connection', async (t) => {
  let connections = 0
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] }))
  })
  server.on('connection', () => { connections++ })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  // Plain HTTP on loopback: TLS verification off, so the client sets TLS options (rejectUnauthorized) as it does with a CA in a cluster.
  const kc = createKubeConfig({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 'test' })
  const core = kc.makeApiClient(CoreV1Api)
  for (let i = 0; i < 20; i++) await core.listNamespacedPod({ namespace: `team-${i}` })
  t.ok(connections <= 2, `20 calls over ${connections} connection(s)`)
})
