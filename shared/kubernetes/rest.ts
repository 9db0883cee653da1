/**
 * One plain HTTPS call to the API server, for the runtime's own reviews
 * (TokenReview, LocalSubjectAccessReview): no Kubernetes client, so a
 * function does not load it to authenticate a request. In the cluster it is
 * what the client does with `loadFromCluster` (kubernetes-client/javascript
 * src/config.ts): the API at KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT,
 * the pod's ServiceAccount token and CA. The token file is read at each call:
 * the kubelet rotates a projected token (client-go and the client's
 * tokenFile provider re-read it too).
 */
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { isIPv6 } from 'node:net'
import type { KubernetesConnection } from './client.ts'
import { kubernetesStatusError, kubernetesTransportError } from './status.ts'

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** Where plain calls go, and with what credentials. */
export interface RestTarget {
  url: URL
  token(): Promise<string>
  /** The CA to verify the server with (PEM); undefined: plain HTTP on loopback. */
  ca(): Promise<string | undefined>
}

const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]']

/**
 * A plain target for the connection, or undefined when only the client can
 * reach it (a kubeconfig file: client certificates, exec plugins, auth
 * providers are the client's to handle).
 */
export function restTarget(connection: KubernetesConnection, env: NodeJS.ProcessEnv = process.env, serviceAccountDir = SERVICE_ACCOUNT_DIR): RestTarget | undefined {
  if (connection.server) {
    const url = new URL(connection.server)
    // As createKubeConfig: plain HTTP only on loopback (the sandbox's simulator), where it skips TLS.
    if (url.protocol !== 'http:' || !LOOPBACK.includes(url.hostname)) return undefined
    const token = connection.token ?? ''
    return { url, token: async () => token, ca: async () => undefined }
  }
  if (connection.inCluster && !connection.kubeconfigPath) {
    const host = env.KUBERNETES_SERVICE_HOST
    const port = env.KUBERNETES_SERVICE_PORT
    if (!host || !port) return undefined
    // loadFromCluster takes these ports as plain HTTP (a local proxy); anything else is HTTPS with the pod's CA.
    if (['80', '8080', '8001'].includes(port)) return undefined
    const url = new URL(`https://${isIPv6(host) ? `[${host}]` : host}:${port}`)
    return {
      url,
      token: async () => (await readFile(`${serviceAccountDir}/token`, 'utf8')).trim(),
      ca: async () => readFile(`${serviceAccountDir}/ca.crt`, 'utf8'),
    }
  }
  return undefined
}

/** Replies are small objects (a review's status): anything larger is not one. */
const MAX_REPLY_BYTES = 1024 * 1024
const TIMEOUT_MS = 30_000

/** POST a JSON object; its JSON reply, or a CaretakerError as the client's errors read (status.ts). */
export async function kubernetesPost<T>(target: RestTarget, path: string, body: unknown, operation: string): Promise<T> {
  let token: string
  let ca: string | undefined
  try {
    [token, ca] = await Promise.all([target.token(), target.ca()])
  } catch (err) {
    throw kubernetesTransportError(err, operation)
  }
  const payload = Buffer.from(JSON.stringify(body))
  const url = new URL(path, target.url)
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const options: https.RequestOptions = {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': payload.length, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      timeout: TIMEOUT_MS,
      ...(ca !== undefined ? { ca } : {}),
    }
    const req = (url.protocol === 'https:' ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_REPLY_BYTES) req.destroy(new Error('reply too large'))
        else chunks.push(c)
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })))
    req.on('error', reject)
    req.end(payload)
  }).catch((err: unknown) => {
    throw kubernetesTransportError(err, operation)
  })
  if (status < 200 || status > 299) throw kubernetesStatusError(status, text, operation)
  try {
    return JSON.parse(text) as T
  } catch {
    throw kubernetesStatusError(status, undefined, `${operation} (the reply is not JSON)`)
  }
}
