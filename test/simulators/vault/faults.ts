import { randomUUID } from 'node:crypto'
import { badRequest, isObject, type JsonObject } from './common.ts'

/**
 * One fault rule. A request matches when its method (LIST counts as LIST,
 * even when sent as GET ?list=true) and its API path (what follows `/v1/`,
 * e.g. `secret/data/app/db`) match. `path` is a glob where `*` matches any
 * characters, or a RegExp.
 */
export interface FaultSpec {
  method?: string | string[]
  path: string | RegExp
  /** how many matching requests it affects; default 1, Infinity for all */
  times?: number
  /** answer with this status instead of handling the request */
  status?: number
  /** the body sent with `status`; default Vault's `{"errors": [...]}` for that status */
  body?: unknown
  headers?: Record<string, string>
  /** wait this long before handling (or failing) the request */
  latencyMs?: number
  /** destroy the connection without an answer */
  drop?: boolean
  /** seal Vault as this request arrives (it then gets Vault's 503) */
  seal?: boolean
}

export interface FaultRule extends FaultSpec {
  id: string
  remaining: number
  hits: number
}

/** What the server does with a request once rules are applied. */
export interface FaultOutcome {
  latencyMs: number
  drop: boolean
  seal: boolean
  respond?: { status: number; body: unknown; headers: Record<string, string> }
}

/** The messages Vault itself gives with these statuses. */
const DEFAULT_MESSAGES: Record<number, string> = {
  400: 'invalid request',
  403: 'permission denied',
  404: '',
  412: 'required index state not present',
  429: 'rate limit quota exceeded',
  500: 'internal error',
  502: 'bad gateway',
  503: 'Vault is sealed',
}

function globRegex(glob: string): RegExp {
  const clean = glob.replace(/^\/?(v1\/)?/, '')
  return new RegExp(`^${clean.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
}

export class Faults {
  readonly #rules: FaultRule[] = []

  add(spec: FaultSpec): string {
    if (spec.path === undefined) throw new Error('a fault needs a path')
    const id = randomUUID()
    this.#rules.push({ ...spec, id, remaining: spec.times ?? 1, hits: 0 })
    return id
  }

  /** Fail the next `times` requests with `status` (and Vault's error body unless given). */
  failNext(times: number, method: string | string[] | undefined, path: string | RegExp, status: number, body?: unknown): string {
    return this.add({ method, path, times, status, body })
  }

  latency(ms: number, method: string | string[] | undefined, path: string | RegExp, times = Infinity): string {
    return this.add({ method, path, times, latencyMs: ms })
  }

  dropNext(times: number, method: string | string[] | undefined, path: string | RegExp): string {
    return this.add({ method, path, times, drop: true })
  }

  sealOn(method: string | string[] | undefined, path: string | RegExp): string {
    return this.add({ method, path, times: 1, seal: true })
  }

  remove(id: string): boolean {
    const i = this.#rules.findIndex((r) => r.id === id)
    if (i < 0) return false
    this.#rules.splice(i, 1)
    return true
  }

  clear(): void {
    this.#rules.length = 0
  }

  list(): FaultRule[] {
    return this.#rules.map((r) => ({ ...r }))
  }

  /** Applies and uses up every rule matching the request, in the order added. */
  apply(method: string, path: string): FaultOutcome {
    const outcome: FaultOutcome = { latencyMs: 0, drop: false, seal: false }
    for (const rule of [...this.#rules]) {
      if (rule.remaining <= 0) continue
      const methods = rule.method === undefined ? undefined : (Array.isArray(rule.method) ? rule.method : [rule.method]).map((m) => m.toUpperCase())
      if (methods && !methods.includes(method)) continue
      const re = rule.path instanceof RegExp ? rule.path : globRegex(rule.path)
      if (!re.test(path)) continue
      rule.remaining--
      rule.hits++
      if (rule.remaining <= 0) this.remove(rule.id)
      outcome.latencyMs += rule.latencyMs ?? 0
      if (rule.seal) outcome.seal = true
      if (outcome.drop || outcome.respond) continue
      if (rule.drop) outcome.drop = true
      else if (rule.status !== undefined) {
        const message = DEFAULT_MESSAGES[rule.status]
        outcome.respond = {
          status: rule.status,
          body: rule.body !== undefined ? rule.body : { errors: message === undefined ? ['fault injected'] : message === '' ? [] : [message] },
          headers: rule.headers ?? {},
        }
      }
    }
    return outcome
  }

  /** A rule from the admin endpoint's JSON: `regex: true` makes `path` a RegExp source; `times: null` means always. */
  addFromJson(body: JsonObject): string {
    const path = body['path']
    if (typeof path !== 'string') throw badRequest('a fault needs a "path"')
    const method = body['method']
    const times = body['times']
    const spec: FaultSpec = {
      path: body['regex'] === true ? new RegExp(path) : path,
      method: typeof method === 'string' ? method : Array.isArray(method) ? method.map(String) : undefined,
      times: times === null || times === -1 ? Infinity : typeof times === 'number' ? times : 1,
    }
    if (typeof body['status'] === 'number') spec.status = body['status']
    if (body['body'] !== undefined) spec.body = body['body']
    if (isObject(body['headers'])) spec.headers = Object.fromEntries(Object.entries(body['headers']).map(([k, v]) => [k, String(v)]))
    if (typeof body['latencyMs'] === 'number') spec.latencyMs = body['latencyMs']
    if (body['drop'] === true) spec.drop = true
    if (body['seal'] === true) spec.seal = true
    return this.add(spec)
  }
}
