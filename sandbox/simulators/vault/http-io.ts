import type http from 'node:http'
import { isObject, VaultHttpError, type JsonObject, type Reply, type RequestContext } from './common.ts'

/** Go's path.Clean as ServeMux applies it (keeps a trailing slash). */
export function cleanPath(p: string): string {
  const out: string[] = []
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') out.pop()
    else out.push(seg)
  }
  const cleaned = `/${out.join('/')}`
  return p.endsWith('/') && cleaned !== '/' ? `${cleaned}/` : cleaned
}

/** Writes a reply as Vault does: JSON (or raw bytes), never cached. */
export function sendReply(res: http.ServerResponse, reply: Reply, extraHeaders: Record<string, string> = {}): void {
  const headers: Record<string, string> = { 'cache-control': 'no-store', ...extraHeaders }
  if (reply.raw) {
    res.writeHead(reply.status, { ...headers, 'content-type': reply.contentType ?? 'application/octet-stream', 'content-length': String(reply.raw.length) })
    res.end(reply.raw)
    return
  }
  if (reply.status === 204 || reply.body === undefined) {
    res.writeHead(reply.status, headers)
    res.end()
    return
  }
  const text = JSON.stringify(reply.body)
  res.writeHead(reply.status, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) })
  res.end(text)
}

/** The request as the handlers see it: the JSON body (unless `parseJson` is false), the token from X-Vault-Token or a Bearer header. */
export function requestContext(req: http.IncomingMessage, method: string, path: string, query: URLSearchParams, rawBody: Buffer, parseJson: boolean): RequestContext {
  let body: JsonObject = {}
  if (parseJson && rawBody.length > 0) {
    let parsed: unknown
    try {
      parsed = JSON.parse(rawBody.toString('utf8'))
    } catch (err) {
      throw new VaultHttpError(400, [`failed to parse JSON input: ${(err as Error).message}`])
    }
    if (parsed !== null && !isObject(parsed)) throw new VaultHttpError(400, ['failed to parse JSON input: body must be an object'])
    body = parsed ?? {}
  }
  if (method === 'PATCH') {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim()
    if (type !== 'application/merge-patch+json') {
      throw new VaultHttpError(415, [`PATCH requires Content-Type application/merge-patch+json, got "${type}"`])
    }
  }
  const auth = req.headers['authorization']
  const bearer = typeof auth === 'string' && /^Bearer /i.test(auth) ? auth.slice(7).trim() : undefined
  const header = req.headers['x-vault-token']
  const tokenId = (typeof header === 'string' && header !== '' ? header : undefined) ?? bearer
  return { method, path, query, headers: req.headers, rawBody, body, tokenId }
}
