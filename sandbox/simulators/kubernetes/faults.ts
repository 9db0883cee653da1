// Fault injection for the Kubernetes API simulator: fail, slow down or drop the next requests
// whose method and path match. `path` is a prefix of the request's path and query
// (`/apis/apps/v1/namespaces/production/deployments`) or a RegExp tested against it.
//
//   sim.faults.add({ method: 'PATCH', path: '/apis/apps/v1/', status: 503, count: 2 })
//   sim.faults.add({ path: /\/pods\?watch=/, drop: true })
//   sim.faults.clear()
//
// The same rules can be added over HTTP with the admin token: POST /__sim/faults
// (`{"path": "...", "regex": true?, "status": 429, "count": 2}`), GET lists, DELETE clears.
import type http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { FaultRules, FaultSpecError, faultSpecFromJson, faultsAdmin } from '../faults.ts'
import type { AdminReply, FaultSpec } from '../faults.ts'
import { ApiError } from './status.ts'
import { PRIVILEGED_GROUP } from './rbac.ts'
import type { Identity } from './rbac.ts'

export type { FaultSpec, FaultRule } from '../faults.ts'

/** Seconds a 429 or 503 asks the client to wait (Retry-After and details.retryAfterSeconds). */
export const RETRY_AFTER_SECONDS = 1

/** The Status kube-apiserver answers with for `status` (apimachinery's errors.New* wording). */
export function statusError(status: number): ApiError {
  switch (status) {
    case 400: return new ApiError(400, 'BadRequest', 'the server rejected our request for an unknown reason')
    case 401: return new ApiError(401, 'Unauthorized', 'Unauthorized')
    case 403: return new ApiError(403, 'Forbidden', 'forbidden: fault injected')
    case 404: return new ApiError(404, 'NotFound', 'the server could not find the requested resource')
    case 405: return new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
    case 409: return new ApiError(409, 'Conflict', 'Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again')
    case 410: return new ApiError(410, 'Expired', 'the resource version is too old')
    case 422: return new ApiError(422, 'Invalid', 'the server rejected our request due to an error in our request')
    case 429: return new ApiError(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds: RETRY_AFTER_SECONDS })
    case 500: return new ApiError(500, 'InternalError', 'Internal error occurred: fault injected', { causes: [{ message: 'fault injected' }] })
    case 503: return new ApiError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request', { retryAfterSeconds: RETRY_AFTER_SECONDS })
    case 504: return new ApiError(504, 'Timeout', 'the server was unable to return a response in the time allotted, but may still be processing the request', { retryAfterSeconds: RETRY_AFTER_SECONDS })
    default: return new ApiError(status, status >= 500 ? 'InternalError' : 'BadRequest', `fault injected (${status})`)
  }
}

export class KubernetesFaults extends FaultRules {
  constructor() {
    super({
      matchPath: (prefix, path) => path.startsWith(prefix),
      errorBody: (status) => statusError(status).body(),
      errorHeaders: (status): Record<string, string> => (status === 429 || status === 503 || status === 504 ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {}),
    })
  }

  /** Fail the next `times` matching requests with `status` (and the server's Status body unless given). */
  failNext(times: number, method: string | string[] | undefined, path: string | RegExp, status: number, body?: unknown): string {
    return this.add({ method, path, times, status, ...(body === undefined ? {} : { body }) })
  }

  latency(ms: number, method: string | string[] | undefined, path: string | RegExp, times = Infinity): string {
    return this.add({ method, path, times, latencyMs: ms })
  }

  dropNext(times: number, method: string | string[] | undefined, path: string | RegExp): string {
    return this.add({ method, path, times, drop: true })
  }

  /**
   * Applies the rules to a request before the server handles it. True when a fault answered
   * it (or dropped its connection), so the server must not.
   */
  async intercept(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
    const path = req.url ?? '/'
    if (path === '/__sim' || path.startsWith('/__sim/')) return false
    const fault = this.apply(req.method ?? 'GET', path)
    if (fault.latencyMs > 0) await sleep(fault.latencyMs)
    if (fault.drop) {
      req.socket.destroy()
      return true
    }
    if (fault.respond) {
      res.writeHead(fault.respond.status, { 'content-type': 'application/json', ...fault.respond.headers })
      res.end(JSON.stringify(fault.respond.body))
      return true
    }
    return false
  }

  /** The `/__sim/faults` routes, for system:masters only. */
  admin(method: string, pathname: string, user: Identity, rawBody: string): AdminReply {
    if (!user.groups.includes(PRIVILEGED_GROUP)) throw new ApiError(403, 'Forbidden', `forbidden: User ${JSON.stringify(user.username)} cannot ${method.toLowerCase()} path ${JSON.stringify(pathname)}`)
    let body: unknown = {}
    try {
      if (rawBody) body = JSON.parse(rawBody) as unknown
      const reply = faultsAdmin(this, method, pathname, body, (json) => {
        const spec: FaultSpec = faultSpecFromJson(json)
        if (spec.status === undefined && spec.latencyMs === undefined && spec.drop !== true) throw new FaultSpecError('a fault needs a "status", "latencyMs" or "drop"')
        return spec
      })
      if (reply?.status === 404) throw new ApiError(404, 'NotFound', `fault ${JSON.stringify(pathname.split('/').pop())} not found`)
      if (reply) return reply
    } catch (err) {
      if (err instanceof FaultSpecError || err instanceof SyntaxError) throw new ApiError(400, 'BadRequest', err.message)
      throw err
    }
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
  }
}
