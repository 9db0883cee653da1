// The /__sim admin endpoint: fault rules, seal and unseal. Not part of Vault's API.
import { isObject, VaultHttpError, type JsonObject, type Reply } from './common.ts'
import type { Faults } from './faults.ts'
import type { SealState } from './sys.ts'

export function simAdmin(faults: Faults, sealState: SealState, method: string, pathname: string, rawBody: Buffer): Reply {
  let body: JsonObject = {}
  if (rawBody.length > 0) {
    try {
      const parsed: unknown = JSON.parse(rawBody.toString('utf8'))
      if (isObject(parsed)) body = parsed
    } catch {
      return { status: 400, body: { errors: ['body must be JSON'] } }
    }
  }
  try {
    if (pathname === '/__sim/faults') {
      if (method === 'POST') return { status: 201, body: { id: faults.addFromJson(body) } }
      if (method === 'GET') {
        const rules = faults.list().map((r) => ({ ...r, path: r.path instanceof RegExp ? r.path.source : r.path, times: Number.isFinite(r.remaining) ? r.remaining : null, remaining: Number.isFinite(r.remaining) ? r.remaining : null }))
        return { status: 200, body: { faults: rules } }
      }
      if (method === 'DELETE') {
        faults.clear()
        return { status: 204 }
      }
    }
    const one = /^\/__sim\/faults\/([^/]+)$/.exec(pathname)
    if (one && method === 'DELETE') return faults.remove(one[1]!) ? { status: 204 } : { status: 404, body: { errors: [] } }
    if (pathname === '/__sim/seal' && method === 'POST') {
      sealState.seal()
      return { status: 204 }
    }
    if (pathname === '/__sim/unseal' && method === 'POST') {
      sealState.unseal()
      return { status: 204 }
    }
  } catch (err) {
    if (err instanceof VaultHttpError) return { status: err.status, body: { errors: err.errors } }
    throw err
  }
  return { status: 404, body: { errors: [`no simulator admin route ${method} ${pathname}`] } }
}
