import http from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A stand-in for the API server's TokenReview endpoint, answering as the real
 * one does: 201 with status.authenticated and the service account's username,
 * 401 when the reviewer's own bearer token is wrong.
 */
export async function tokenReviewServer(reviewerToken: string, accounts: Record<string, { namespace: string; name: string }>) {
  const reviews: unknown[] = []
  const server = http.createServer((req, res) => {
    let raw = ''
    req.on('data', (c: Buffer) => (raw += c.toString()))
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      if (req.method !== 'POST' || req.url !== '/apis/authentication.k8s.io/v1/tokenreviews') {
        send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'the server could not find the requested resource' })
        return
      }
      if (req.headers.authorization !== `Bearer ${reviewerToken}`) {
        send(401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401, message: 'Unauthorized' })
        return
      }
      const body = JSON.parse(raw) as { spec: { token: string } }
      reviews.push(body)
      const sa = accounts[body.spec.token]
      send(201, {
        kind: 'TokenReview',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { creationTimestamp: null },
        spec: body.spec,
        status: sa
          ? {
              authenticated: true,
              user: {
                username: `system:serviceaccount:${sa.namespace}:${sa.name}`,
                uid: `uid-${sa.name}`,
                groups: ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'],
              },
              audiences: ['https://kubernetes.default.svc.cluster.local'],
            }
          : { user: {}, error: '[invalid bearer token, token lookup failed]' },
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, reviews, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}
