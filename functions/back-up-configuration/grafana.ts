import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { SecretValue } from '../../shared/logger.ts'

/**
 * The Grafana HTTP API, read-only, with a service account token
 * (`Authorization: Bearer`). The endpoints, as Grafana documents them
 * (grafana.com/docs, HTTP API reference):
 *   - Folder/Dashboard Search: GET /api/search?type=dash-db&limit=&page=
 *     (`limit` is the page size, at most 5000, grafana/grafana
 *     pkg/api/search.go; `page` counts from 1); a page shorter than the limit is the last.
 *   - Dashboard: GET /api/dashboards/uid/<uid> → { dashboard, meta }.
 *   - Alerting Provisioning: GET /api/v1/provisioning/alert-rules,
 *     /api/v1/provisioning/contact-points, /api/v1/provisioning/policies.
 * A failure is described by the endpoint and status, never by the token or
 * the reply's body.
 */

export interface SearchHit { uid: string; title?: string; folderUid?: string; type?: string }

export class GrafanaClient {
  readonly #base: string
  readonly #token: SecretValue
  readonly #timeoutMs: number
  readonly #signal: AbortSignal

  constructor(base: string, token: SecretValue, timeoutMs: number, signal: AbortSignal) {
    this.#base = base.replace(/\/+$/, '')
    this.#token = token
    this.#timeoutMs = timeoutMs
    this.#signal = signal
  }

  /** The body of a GET as bytes (stored as Grafana sent it) and parsed. */
  async get(path: string, what: string): Promise<{ bytes: Buffer; json: unknown }> {
    let res: Response
    try {
      res = await fetch(`${this.#base}${path}`, {
        headers: { authorization: `Bearer ${this.#token.reveal()}`, accept: 'application/json' },
        signal: AbortSignal.any([this.#signal, AbortSignal.timeout(this.#timeoutMs)]),
      })
    } catch (err) {
      const e = err as Error & { cause?: NodeJS.ErrnoException }
      const how = e.name === 'TimeoutError' ? `no answer within ${this.#timeoutMs / 1000}s` : e.cause?.code ?? e.name
      throw new CaretakerError(Errors.DependencyUnavailable, `grafana: ${what}: ${how}`, { details: { system: 'grafana', operation: what } })
    }
    const bytes = Buffer.from(await res.arrayBuffer())
    if (!res.ok) {
      const hint = res.status === 401 ? ': the service account token is missing, wrong or expired'
        : res.status === 403 ? ': the service account lacks the permission (Viewer, and alerting read for the provisioning API)' : ''
      const def = res.status >= 500 || res.status === 429 ? Errors.DependencyUnavailable : Errors.DependencyFailed
      throw new CaretakerError(def, `grafana: ${what}: HTTP ${res.status}${hint}`, { details: { system: 'grafana', operation: what, code: res.status } })
    }
    try {
      return { bytes, json: JSON.parse(bytes.toString('utf8')) as unknown }
    } catch {
      throw new CaretakerError(Errors.DependencyFailed, `grafana: ${what}: the reply is not JSON`, { details: { system: 'grafana', operation: what } })
    }
  }

  /** Every dashboard's search hit, page by page. */
  async *dashboards(pageSize: number): AsyncGenerator<SearchHit> {
    for (let page = 1; ; page++) {
      const { json } = await this.get(`/api/search?type=dash-db&limit=${pageSize}&page=${page}`, `search dashboards (page ${page})`)
      if (!Array.isArray(json)) throw new CaretakerError(Errors.DependencyFailed, `grafana: search dashboards (page ${page}): the reply is not a list`)
      for (const hit of json as SearchHit[]) if (hit.type === undefined || hit.type === 'dash-db') yield hit
      if (json.length < pageSize) return
    }
  }
}
