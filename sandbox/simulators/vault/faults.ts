import { FaultRules, FaultSpecError, faultSpecFromJson } from '../faults.ts'
import type { FaultOutcome as SharedOutcome, FaultRule as SharedRule, FaultSpec as SharedSpec } from '../faults.ts'
import { badRequest, type JsonObject } from './common.ts'

/**
 * One fault rule. A request matches when its method (LIST counts as LIST,
 * even when sent as GET ?list=true) and its API path (what follows `/v1/`,
 * e.g. `secret/data/app/db`) match. `path` is a glob where `*` matches any
 * characters, or a RegExp.
 */
export interface FaultSpec extends SharedSpec {
  /** seal Vault as this request arrives (it then gets Vault's 503) */
  seal?: boolean
}

export type FaultRule = SharedRule<FaultSpec>

/** What the server does with a request once rules are applied. */
export interface FaultOutcome extends SharedOutcome<FaultSpec> {
  seal: boolean
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

export class Faults extends FaultRules<FaultSpec> {
  constructor() {
    super({
      matchPath: (pattern, path) => globRegex(pattern).test(path),
      errorBody: (status) => {
        const message = DEFAULT_MESSAGES[status]
        return { errors: message === undefined ? ['fault injected'] : message === '' ? [] : [message] }
      },
    })
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

  /** Applies and uses up every rule matching the request, in the order added. */
  override apply(method: string, path: string): FaultOutcome {
    const outcome = super.apply(method, path)
    return { ...outcome, seal: outcome.matched.some((r) => r.seal === true) }
  }

  /** A rule from the admin endpoint's JSON: `regex: true` makes `path` a RegExp source; `times: null` means always. */
  addFromJson(body: JsonObject): string {
    let spec: FaultSpec
    try {
      spec = faultSpecFromJson(body)
    } catch (err) {
      if (err instanceof FaultSpecError) throw badRequest(err.message)
      throw err
    }
    if (body['seal'] === true) spec.seal = true
    return this.add(spec)
  }
}
