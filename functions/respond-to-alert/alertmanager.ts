import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { Alert } from './plan.ts'

/**
 * Alertmanager's v2 API, as respond-to-alert uses it: confirm an alert is
 * firing, silence it while a rule acts, expire that silence when it
 * resolves. Every call is bounded by 10 s; a 5xx or no answer is
 * DependencyUnavailable (the Broker retries), a refusal DependencyFailed.
 */
export class Alertmanager {
  readonly #baseUrl: string | undefined

  /** `baseUrl` is config.alertmanagerUrl; checkConfig requires it wherever a call is made. */
  constructor(baseUrl: string | undefined) {
    this.#baseUrl = baseUrl
  }

  async #request(path: string, init: RequestInit): Promise<Response> {
    try {
      const res = await fetch(new URL(path, this.#baseUrl!.replace(/\/?$/, '/')), { ...init, signal: AbortSignal.timeout(10_000) })
      if (res.status >= 500) throw new CaretakerError(Errors.DependencyUnavailable, `Alertmanager answered ${res.status} to ${init.method} ${path}`)
      return res
    } catch (err) {
      if (err instanceof CaretakerError) throw err
      throw new CaretakerError(Errors.DependencyUnavailable, `Alertmanager is unreachable (${init.method} ${path})`)
    }
  }

  /** Silences exactly this alert's labels for `forMs`; the silence's id. */
  async silence(alert: Alert, ruleName: string, forMs: number): Promise<string | undefined> {
    const now = Date.now()
    const res = await this.#request('api/v2/silences', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        matchers: Object.entries(alert.labels).map(([name, value]) => ({ name, value, isRegex: false, isEqual: true })),
        startsAt: new Date(now).toISOString(),
        endsAt: new Date(now + forMs).toISOString(),
        createdBy: 'caretaker/respond-to-alert',
        comment: `respond-to-alert rule ${ruleName} is remediating ${alert.labels.alertname ?? 'this alert'}`,
      }),
    })
    if (!res.ok) throw new CaretakerError(Errors.DependencyFailed, `Alertmanager refused the silence (${res.status})`)
    return ((await res.json()) as { silenceID?: string }).silenceID
  }

  async expireSilence(id: string): Promise<void> {
    // Already over (it ran out, or someone expired it): nothing to do.
    const current = await this.#request(`api/v2/silence/${encodeURIComponent(id)}`, { method: 'GET' })
    if (current.status === 404) return
    if (current.ok && ((await current.json()) as { status?: { state?: string } }).status?.state === 'expired') return
    const res = await this.#request(`api/v2/silence/${encodeURIComponent(id)}`, { method: 'DELETE' })
    if (!res.ok && res.status !== 404) throw new CaretakerError(Errors.DependencyFailed, `Alertmanager refused to expire silence ${id} (${res.status})`)
  }

  /**
   * Whether Alertmanager has this very alert firing: an alert with the same
   * fingerprint, labels and startsAt among GET /api/v2/alerts filtered by
   * its labels (active, silenced, inhibited and unprocessed alike). The API
   * leaves out resolved alerts (prometheus/alertmanager api/v2/api.go,
   * alertFilter: EndsAt before now). Its startsAt has millisecond precision
   * (strfmt.DateTime), the webhook's nanoseconds: compared to the millisecond.
   */
  async isFiring(alert: Alert): Promise<boolean> {
    const query = new URLSearchParams()
    // OpenMetrics escapes in the quoted value, as pkg/labels/parse.go reads them.
    for (const [name, value] of Object.entries(alert.labels)) query.append('filter', `${name}="${value.replace(/[\\"\n]/g, (c) => c === '\n' ? '\\n' : `\\${c}`)}"`)
    for (const flag of ['active', 'silenced', 'inhibited', 'unprocessed']) query.set(flag, 'true')
    const res = await this.#request(`api/v2/alerts?${query}`, { method: 'GET' })
    if (!res.ok) throw new CaretakerError(Errors.DependencyFailed, `Alertmanager refused the query for alert ${alert.fingerprint} (${res.status})`)
    const found = (await res.json()) as Array<{ fingerprint?: string; labels?: Record<string, string>; startsAt?: string }>
    const ms = (t: string | undefined) => Math.floor(Date.parse(t ?? ''))
    const names = Object.keys(alert.labels)
    return found.some((a) => a.fingerprint === alert.fingerprint
      && Object.keys(a.labels ?? {}).length === names.length && names.every((n) => a.labels?.[n] === alert.labels[n])
      && (alert.status === 'resolved' || ms(a.startsAt) === ms(alert.startsAt)))
  }
}
