// Fault injection shared by the simulators: rules that fail, slow down or drop the next
// matching requests. Each simulator decides how a rule's `path` matches its requests and
// what an injected failure looks like (Vault's `{"errors": [...]}`, Kubernetes' Status).
import { randomUUID } from 'node:crypto'

export interface FaultSpec {
  /** HTTP method(s) (case-insensitive); any when absent */
  method?: string | string[]
  /** a string pattern (its meaning is the simulator's: a glob, a prefix) or a RegExp */
  path: string | RegExp
  /** how many matching requests it affects; default 1, Infinity for all */
  times?: number
  /** the same as `times` */
  count?: number
  /** answer with this status instead of handling the request */
  status?: number
  /** the body sent with `status`; default the simulator's own error body for that status */
  body?: unknown
  headers?: Record<string, string>
  /** wait this long before handling (or failing) the request */
  latencyMs?: number
  /** destroy the connection without an answer */
  drop?: boolean
}

export type FaultRule<S extends FaultSpec = FaultSpec> = S & { id: string, remaining: number, hits: number }

export interface FaultResponse { status: number, body: unknown, headers: Record<string, string> }

/** What the server does with a request once rules are applied. */
export interface FaultOutcome<S extends FaultSpec = FaultSpec> {
  latencyMs: number
  drop: boolean
  respond?: FaultResponse
  /** every rule the request matched (and used up one use of) */
  matched: Array<FaultRule<S>>
}

export interface FaultRulesOptions {
  /** whether a string `path` pattern matches the request's path */
  matchPath: (pattern: string, path: string) => boolean
  /** the body of an injected failure whose rule names none */
  errorBody: (status: number) => unknown
  /** headers of an injected failure whose rule names none */
  errorHeaders?: (status: number) => Record<string, string>
}

/** A fault rule from JSON that makes no sense. */
export class FaultSpecError extends Error {}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export class FaultRules<S extends FaultSpec = FaultSpec> {
  readonly #rules: Array<FaultRule<S>> = []
  readonly #options: FaultRulesOptions

  constructor(options: FaultRulesOptions) {
    this.#options = options
  }

  /** Adds a rule; returns its id. */
  add(spec: S): string {
    if (spec.path === undefined) throw new Error('a fault needs a path')
    const id = randomUUID()
    this.#rules.push({ ...spec, id, remaining: spec.times ?? spec.count ?? 1, hits: 0 })
    return id
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

  list(): Array<FaultRule<S>> {
    return this.#rules.map((r) => ({ ...r }))
  }

  /** The rules as JSON: a RegExp path as its source with `regex: true`, `times: null` for always. */
  listJson(): Array<Record<string, unknown>> {
    return this.#rules.map((r) => {
      const remaining = Number.isFinite(r.remaining) ? r.remaining : null
      const { path, ...rest } = r
      return { ...rest, path: path instanceof RegExp ? path.source : path, ...(path instanceof RegExp ? { regex: true } : {}), times: remaining, count: remaining, remaining }
    })
  }

  /** Applies and uses up every rule matching the request, in the order added. */
  apply(method: string, path: string): FaultOutcome<S> {
    const outcome: FaultOutcome<S> = { latencyMs: 0, drop: false, matched: [] }
    for (const rule of [...this.#rules]) {
      if (rule.remaining <= 0) continue
      const methods = rule.method === undefined ? undefined : (Array.isArray(rule.method) ? rule.method : [rule.method]).map((m) => m.toUpperCase())
      if (methods && !methods.includes(method.toUpperCase())) continue
      if (rule.path instanceof RegExp ? !rule.path.test(path) : !this.#options.matchPath(rule.path, path)) continue
      rule.remaining--
      rule.hits++
      if (rule.remaining <= 0) this.remove(rule.id)
      outcome.matched.push({ ...rule })
      outcome.latencyMs += rule.latencyMs ?? 0
      if (outcome.drop || outcome.respond) continue
      if (rule.drop) outcome.drop = true
      else if (rule.status !== undefined) {
        outcome.respond = {
          status: rule.status,
          body: rule.body !== undefined ? rule.body : this.#options.errorBody(rule.status),
          headers: rule.headers ?? this.#options.errorHeaders?.(rule.status) ?? {},
        }
      }
    }
    return outcome
  }
}

/**
 * The common fields of a rule sent as JSON to an admin endpoint: `regex: true` makes `path`
 * a RegExp source; `times` (or `count`) null or -1 means always.
 */
export function faultSpecFromJson(body: Record<string, unknown>): FaultSpec {
  const path = body.path
  if (typeof path !== 'string') throw new FaultSpecError('a fault needs a "path"')
  let re: RegExp | undefined
  if (body.regex === true) {
    try { re = new RegExp(path) } catch (err) { throw new FaultSpecError(`invalid "path" pattern: ${(err as Error).message}`) }
  }
  const method = body.method
  const times = 'times' in body ? body.times : body.count
  const spec: FaultSpec = {
    path: re ?? path,
    times: times === null || times === -1 ? Infinity : typeof times === 'number' ? times : 1,
  }
  if (typeof method === 'string') spec.method = method
  else if (Array.isArray(method)) spec.method = method.map(String)
  if (typeof body.status === 'number') spec.status = body.status
  if (body.body !== undefined) spec.body = body.body
  if (isRecord(body.headers)) spec.headers = Object.fromEntries(Object.entries(body.headers).map(([k, v]) => [k, String(v)]))
  if (typeof body.latencyMs === 'number') spec.latencyMs = body.latencyMs
  if (body.drop === true) spec.drop = true
  return spec
}

export interface AdminReply { status: number, body?: unknown }

/**
 * The `/__sim/faults` admin routes: POST adds a rule (201 `{id}`), GET lists them
 * (`{faults: [...]}`), DELETE clears them, DELETE `/__sim/faults/<id>` removes one.
 * Undefined when the path is none of these. Throws FaultSpecError on a bad rule.
 */
export function faultsAdmin<S extends FaultSpec>(faults: FaultRules<S>, method: string, pathname: string, body: unknown, parse: (body: Record<string, unknown>) => S): AdminReply | undefined {
  if (pathname === '/__sim/faults') {
    if (method === 'POST') {
      if (!isRecord(body)) throw new FaultSpecError('a fault is a JSON object')
      return { status: 201, body: { id: faults.add(parse(body)) } }
    }
    if (method === 'GET') return { status: 200, body: { faults: faults.listJson() } }
    if (method === 'DELETE') { faults.clear(); return { status: 204 } }
    return undefined
  }
  const one = /^\/__sim\/faults\/([^/]+)$/.exec(pathname)
  if (one && method === 'DELETE') return faults.remove(one[1] ?? '') ? { status: 204 } : { status: 404 }
  return undefined
}
