import { createHash, hash, timingSafeEqual } from 'node:crypto'
import { CloudEvent } from 'cloudevents'
import { Counter } from 'prom-client'
import { refusePlaceholders } from '../../shared/config.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { JsonTooDeepError, parseJsonBounded } from '../../shared/json.ts'
import type { JsonSchema } from '../../shared/schema.ts'
import { MAX_JSON_DEPTH } from '../../shared/runtime/cloudevent-http.ts'
import { defineFunction, type PlainRequest, type PlainResponse } from '../../shared/runtime/function.ts'
import { isLoopback } from '../../shared/runtime/settings.ts'
import { EventTypes } from '../../shared/events/catalogue.ts'

/**
 * alertmanager-bridge: takes Alertmanager's webhook (payload version 4) on
 * POST /alertmanager and sends one CloudEvent per alert into the Broker
 * (K_SINK). It answers 200 only once every good alert's event was accepted,
 * so Alertmanager retries the whole notification otherwise (503); an alert
 * that cannot become an event is left out, logged and counted, never the
 * reason to refuse the others; only a body that is not a version-4
 * notification at all is a 400 (never retried).
 */

export interface BridgeConfig {
  /** Expected `Authorization: Bearer <token>` (Alertmanager http_config.authorization). Read from a mounted file in production. */
  bearerToken?: string
  /** Expected basic auth (http_config.basic_auth). */
  basicAuth?: { username: string; password: string }
  /** `none`: take the webhook without credentials; only for a bridge listening on loopback (a local run). */
  auth?: 'none'
}

const configSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    bearerToken: { type: 'string', minLength: 16 },
    basicAuth: { type: 'object', additionalProperties: false, required: ['username', 'password'], properties: { username: { type: 'string', minLength: 1 }, password: { type: 'string', minLength: 8 } } },
    auth: { enum: ['none'] },
  },
}

/**
 * The bridge starts only with real credentials, or with `auth: none` while it
 * listens on loopback: a webhook open to the network would let anyone inject
 * alerts that respond-to-alert acts on.
 */
export function checkBridgeConfig(config: BridgeConfig, listenHost: string | undefined): void {
  const invalid = (message: string): never => { throw new CaretakerError(Errors.InvalidConfig, message) }
  const credentials = config.bearerToken !== undefined || config.basicAuth !== undefined
  if (config.auth === 'none') {
    if (credentials) invalid('config.auth is "none" but credentials are set too: remove one or the other')
    if (listenHost === undefined || !isLoopback(listenHost)) {
      invalid(`config.auth "none" is allowed only when the bridge listens on loopback (HOST=127.0.0.1), not on ${listenHost ?? 'an address this runtime does not know'}: set bearerToken or basicAuth`)
    }
    return
  }
  if (!credentials) {
    invalid('no credentials for the Alertmanager webhook: set bearerToken (Alertmanager http_config.authorization) and/or basicAuth (http_config.basic_auth); "auth: none" is allowed only on loopback')
  }
  refusePlaceholders({ bearerToken: config.bearerToken, 'basicAuth.username': config.basicAuth?.username, 'basicAuth.password': config.basicAuth?.password }, 'the alertmanager-bridge-config Secret (and the same value in Alertmanager\'s http_config)')
}

interface WebhookAlert {
  status: 'firing' | 'resolved'
  labels: Record<string, string>
  annotations: Record<string, string>
  startsAt: string
  endsAt: string
  generatorURL: string
  fingerprint: string
}

interface Webhook {
  version: string
  receiver: string
  status: string
  externalURL: string
  groupLabels: Record<string, string>
  alerts: WebhookAlert[]
}

/** An alert of the notification that cannot become an event, and why. */
export interface RejectedAlert {
  readonly index: number
  /** A stable reason (the metric's label): status, labels, annotations, fingerprint, startsAt, not-an-object. */
  readonly reason: RejectReason
  /** What is wrong, for the log and the reply. */
  readonly message: string
  readonly fingerprint?: string
}

export type RejectReason = 'not-an-object' | 'status' | 'labels' | 'annotations' | 'fingerprint' | 'startsAt'

/** A notification: the alerts that become events, and those that cannot. */
export interface ParsedWebhook {
  readonly hook: Webhook
  readonly rejected: readonly RejectedAlert[]
}

const bad = (message: string): never => { throw new CaretakerError(Errors.InvalidRequest, message) }
const isLabels = (v: unknown): v is Record<string, string> => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')
const isStatus = (v: unknown): v is WebhookAlert['status'] => v === 'firing' || v === 'resolved'

function labelFingerprint(labels: Record<string, string>): string {
  const h = createHash('sha256')
  for (const k of Object.keys(labels).sort()) h.update(k).update('\0').update(labels[k]!).update('\0')
  return h.digest('hex').slice(0, 16)
}

/** Alertmanager's "never ends" (a firing alert's endsAt in template data before 0.x, and Go's zero time). */
const ZERO_TIME = Date.parse('0001-01-01T00:00:00Z')

/**
 * The status of an alert that carries none of its own: an `endsAt` that has
 * passed means resolved (prometheus/alertmanager types/types.go
 * Alert.ResolvedAt: EndsAt set and not after now), else the notification's
 * own `status` (template/template.go Data.Status: "resolved" only when every
 * alert of it is resolved, so it is the alert's status too; "firing" means
 * at least one fires, and an alert that has not ended is that one).
 */
function inferredStatus(alert: Record<string, unknown>, notificationStatus: unknown, now: number): WebhookAlert['status'] | undefined {
  const ends = typeof alert.endsAt === 'string' ? Date.parse(alert.endsAt) : Number.NaN
  if (!Number.isNaN(ends) && ends !== ZERO_TIME && ends <= now) return 'resolved'
  return isStatus(notificationStatus) ? notificationStatus : undefined
}

/** One alert of the notification, or why it cannot become an event. */
function parseAlert(raw: unknown, index: number, notificationStatus: unknown, now: number): WebhookAlert | RejectedAlert {
  const reject = (reason: RejectReason, message: string, fingerprint?: unknown): RejectedAlert =>
    ({ index, reason, message: `alerts[${index}]${message}`, ...(typeof fingerprint === 'string' && fingerprint ? { fingerprint } : {}) })
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return reject('not-an-object', ' is not an object')
  const a = raw as Record<string, unknown>
  let status = a.status
  if (status === undefined || status === null || status === '') {
    status = inferredStatus(a, notificationStatus, now)
    if (status === undefined) return reject('status', '.status is missing, its endsAt has not passed and the notification has no status of firing or resolved', a.fingerprint)
  }
  if (!isStatus(status)) return reject('status', '.status must be firing or resolved', a.fingerprint)
  if (!isLabels(a.labels)) return reject('labels', '.labels must map names to strings', a.fingerprint)
  if (a.annotations !== undefined && !isLabels(a.annotations)) return reject('annotations', '.annotations must map names to strings', a.fingerprint)
  // Alertmanager before 0.19 sent no fingerprint: one is derived from the labels, which identify an alert.
  const fingerprint = a.fingerprint === undefined ? labelFingerprint(a.labels) : a.fingerprint
  if (typeof fingerprint !== 'string' || !fingerprint) return reject('fingerprint', '.fingerprint must be a string')
  if (typeof a.startsAt !== 'string' || Number.isNaN(Date.parse(a.startsAt))) return reject('startsAt', '.startsAt is not a time', fingerprint)
  return {
    status, labels: a.labels, annotations: a.annotations ?? {}, startsAt: a.startsAt, fingerprint,
    endsAt: typeof a.endsAt === 'string' ? a.endsAt : '', generatorURL: typeof a.generatorURL === 'string' ? a.generatorURL : '',
  }
}

/**
 * Checks the notification. Only a body that is no webhook notification at
 * all (not JSON, another version, no alerts array) is refused as a whole
 * (400): Alertmanager does not retry a 4xx (notify/webhook/webhook.go uses a
 * notify.Retrier without RetryCodes, and notify/util.go Retrier.Check
 * retries 5xx only), so refusing a notification for one bad alert would lose
 * the good ones with it. A malformed alert is left out and reported instead.
 */
export function parseWebhook(body: Buffer, now = Date.now()): ParsedWebhook {
  let data: unknown
  try { data = parseJsonBounded(body.toString('utf8'), MAX_JSON_DEPTH) } catch (err) {
    return bad(err instanceof JsonTooDeepError ? `the body nests deeper than ${MAX_JSON_DEPTH} levels` : 'the body is not JSON')
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return bad('the body is not an Alertmanager notification')
  const w = data as Partial<Record<keyof Webhook, unknown>>
  // Alertmanager has sent version "4" for years; some relays drop the field.
  if (w.version !== undefined && w.version !== '4') bad(`only version "4" notifications are understood (got ${JSON.stringify(w.version)})`)
  if (!Array.isArray(w.alerts)) return bad('"alerts" must be an array')
  if (typeof w.receiver !== 'string') bad('"receiver" must be a string')
  const alerts: WebhookAlert[] = []
  const rejected: RejectedAlert[] = []
  w.alerts.forEach((raw: unknown, i) => {
    const parsed = parseAlert(raw, i, w.status, now)
    if ('reason' in parsed) rejected.push(parsed)
    else alerts.push(parsed)
  })
  const hook: Webhook = {
    version: '4',
    receiver: w.receiver as string,
    status: typeof w.status === 'string' ? w.status : '',
    externalURL: typeof w.externalURL === 'string' ? w.externalURL : '',
    groupLabels: isLabels(w.groupLabels) ? w.groupLabels : {},
    alerts,
  }
  return { hook, rejected }
}

function same(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest()
  const y = createHash('sha256').update(b).digest()
  return timingSafeEqual(x, y)
}

/** The event id: a re-sent notification of the same alert state gets the same id. */
export function alertEventId(alert: WebhookAlert): string {
  return hash('sha256', `${alert.fingerprint}\0${alert.status}\0${alert.startsAt}`, 'hex').slice(0, 32)
}

export default defineFunction<BridgeConfig>({
  name: 'alertmanager-bridge',
  description: 'Alertmanager webhook (v4) to one CloudEvent per alert in the Broker; 2xx only when every good alert\'s event was accepted, malformed alerts reported',
  accepts: [],
  httpPath: '/alertmanager',
  configSchema,
  setup({ config, listenHost, metrics }) {
    checkBridgeConfig(config, listenHost)
    const rejectedAlerts = new Counter({
      name: 'caretaker_alertmanager_alerts_rejected_total',
      help: 'Alerts left out of a notification because they cannot become an event (the rest were forwarded), by reason',
      labelNames: ['reason'],
      registers: [metrics],
    })

    function authorized(headers: PlainRequest['headers']): boolean {
      if (config.auth === 'none') return true
      const auth = typeof headers.authorization === 'string' ? headers.authorization : ''
      if (config.bearerToken && auth.startsWith('Bearer ') && same(auth.slice(7), config.bearerToken)) return true
      if (config.basicAuth && auth.startsWith('Basic ')) {
        const [user, ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':')
        if (same(user ?? '', config.basicAuth.username) && same(rest.join(':'), config.basicAuth.password)) return true
      }
      return false
    }

    return {
      async handle() { return undefined },
      async handleHttp(request): Promise<PlainResponse> {
        if (!authorized(request.headers)) throw new CaretakerError(Errors.Unauthenticated, 'missing or wrong credentials for the Alertmanager webhook')
        const { hook, rejected } = parseWebhook(request.body)
        // The malformed alerts are reported, not retried: the same notification would be just as malformed again.
        for (const r of rejected) {
          rejectedAlerts.inc({ reason: r.reason })
          request.log.warn({ alert: { index: r.index, ...(r.fingerprint ? { fingerprint: r.fingerprint } : {}) }, reason: r.message, receiver: hook.receiver }, 'alert left out: it cannot become an event')
        }
        const sink = request.sink
        if (hook.alerts.length > 0 && !sink.url) throw new CaretakerError(Errors.DependencyUnavailable, 'no K_SINK: the alerts cannot be forwarded; Alertmanager will retry')
        const source = hook.externalURL || '/alertmanager'
        const results = await Promise.all(hook.alerts.map((a) => sink.send(new CloudEvent({
          specversion: '1.0',
          id: alertEventId(a),
          source,
          type: a.status === 'firing' ? EventTypes.AlertFiring : EventTypes.AlertResolved,
          // A subject, if present, must not be empty (Knative's broker refuses the event otherwise).
          subject: a.labels.alertname?.trim() ? a.labels.alertname : a.fingerprint,
          time: new Date().toISOString(),
          datacontenttype: 'application/json',
          data: {
            fingerprint: a.fingerprint, status: a.status, labels: a.labels, annotations: a.annotations,
            startsAt: a.startsAt, endsAt: a.endsAt, generatorURL: a.generatorURL,
            groupLabels: hook.groupLabels, receiver: hook.receiver, externalURL: hook.externalURL,
          },
        }, false))))
        const refused = results.filter((ok) => !ok).length
        if (refused > 0) {
          request.log.warn({ alerts: hook.alerts.length, refused }, 'the broker did not accept every alert; Alertmanager will retry')
          throw new CaretakerError(Errors.DependencyUnavailable, `${refused} of ${hook.alerts.length} alerts were not accepted by the broker; retry`)
        }
        request.log.info({ alerts: hook.alerts.length, rejected: rejected.length, receiver: hook.receiver, status: hook.status }, 'alerts forwarded')
        if (rejected.length > 0) {
          return { status: 200, body: { forwarded: hook.alerts.length, rejected: rejected.map((r) => ({ index: r.index, reason: r.reason, message: r.message, ...(r.fingerprint ? { fingerprint: r.fingerprint } : {}) })) } }
        }
        return { status: 200, body: { forwarded: hook.alerts.length } }
      },
    }
  },
})
