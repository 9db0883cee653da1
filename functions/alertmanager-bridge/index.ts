import { createHash, timingSafeEqual } from 'node:crypto'
import { CloudEvent } from 'cloudevents'
import { refusePlaceholders } from '../../shared/config.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { JsonTooDeepError, parseJsonBounded } from '../../shared/json.ts'
import type { JsonSchema } from '../../shared/schema.ts'
import { MAX_JSON_DEPTH } from '../../shared/runtime/cloudevent-http.ts'
import { defineFunction, type PlainRequest, type PlainResponse } from '../../shared/runtime/function.ts'
import { isLoopback } from '../../shared/runtime/settings.ts'

/**
 * alertmanager-bridge: takes Alertmanager's webhook (payload version 4) on
 * POST /alertmanager and sends one CloudEvent per alert into the Broker
 * (K_SINK). It answers 200 only once every event was accepted, so
 * Alertmanager retries the whole notification otherwise (503); a payload
 * that is not a version-4 notification is a 400 (never retried).
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

const bad = (message: string): never => { throw new CaretakerError(Errors.InvalidRequest, message) }
const isLabels = (v: unknown): v is Record<string, string> => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')

function labelFingerprint(labels: Record<string, string>): string {
  const h = createHash('sha256')
  for (const k of Object.keys(labels).sort()) h.update(k).update('\0').update(labels[k]!).update('\0')
  return h.digest('hex').slice(0, 16)
}

/** Checks the notification's shape; the message says what is wrong. */
export function parseWebhook(body: Buffer): Webhook {
  let data: unknown
  try { data = parseJsonBounded(body.toString('utf8'), MAX_JSON_DEPTH) } catch (err) {
    return bad(err instanceof JsonTooDeepError ? `the body nests deeper than ${MAX_JSON_DEPTH} levels` : 'the body is not JSON')
  }
  const w = data as Partial<Webhook>
  if (typeof w !== 'object' || w === null) return bad('the body is not an Alertmanager notification')
  // Alertmanager has sent version "4" for years; some relays drop the field.
  if (w.version !== undefined && w.version !== '4') bad(`only version "4" notifications are understood (got ${JSON.stringify(w.version)})`)
  if (!Array.isArray(w.alerts)) bad('"alerts" must be an array')
  if (typeof w.receiver !== 'string') bad('"receiver" must be a string')
  w.alerts!.forEach((a, i) => {
    if (a?.status !== 'firing' && a?.status !== 'resolved') bad(`alerts[${i}].status must be firing or resolved`)
    if (!isLabels(a.labels)) bad(`alerts[${i}].labels must map names to strings`)
    if (a.annotations !== undefined && !isLabels(a.annotations)) bad(`alerts[${i}].annotations must map names to strings`)
    // Alertmanager before 0.19 sent no fingerprint: one is derived from the labels, which identify an alert.
    if (a.fingerprint === undefined) a.fingerprint = labelFingerprint(a.labels)
    if (typeof a.fingerprint !== 'string' || !a.fingerprint) bad(`alerts[${i}].fingerprint must be a string`)
    if (typeof a.startsAt !== 'string' || Number.isNaN(Date.parse(a.startsAt))) bad(`alerts[${i}].startsAt is not a time`)
  })
  return { groupLabels: {}, externalURL: '', status: '', ...w } as Webhook
}

function same(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest()
  const y = createHash('sha256').update(b).digest()
  return timingSafeEqual(x, y)
}

/** The event id: a re-sent notification of the same alert state gets the same id. */
export function alertEventId(alert: WebhookAlert): string {
  return createHash('sha256').update(alert.fingerprint).update('\0').update(alert.status).update('\0').update(alert.startsAt).digest('hex').slice(0, 32)
}

export default defineFunction<BridgeConfig>({
  name: 'alertmanager-bridge',
  description: 'Alertmanager webhook (v4) to one CloudEvent per alert in the Broker; 2xx only when every event was accepted',
  accepts: [],
  httpPath: '/alertmanager',
  configSchema,
  setup({ config, listenHost }) {
    checkBridgeConfig(config, listenHost)

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
        const hook = parseWebhook(request.body)
        const sink = request.sink
        if (!sink.url) throw new CaretakerError(Errors.DependencyUnavailable, 'no K_SINK: the alerts cannot be forwarded; Alertmanager will retry')
        const source = hook.externalURL || '/alertmanager'
        const results = await Promise.all(hook.alerts.map((a) => sink.send(new CloudEvent({
          specversion: '1.0',
          id: alertEventId(a),
          source,
          type: a.status === 'firing' ? 'dev.caretaker.alert.firing' : 'dev.caretaker.alert.resolved',
          // A subject, if present, must not be empty (Knative's broker refuses the event otherwise).
          subject: a.labels.alertname?.trim() ? a.labels.alertname : a.fingerprint,
          time: new Date().toISOString(),
          datacontenttype: 'application/json',
          data: {
            fingerprint: a.fingerprint, status: a.status, labels: a.labels, annotations: a.annotations ?? {},
            startsAt: a.startsAt, endsAt: a.endsAt ?? '', generatorURL: a.generatorURL ?? '',
            groupLabels: hook.groupLabels ?? {}, receiver: hook.receiver, externalURL: hook.externalURL ?? '',
          },
        }, false))))
        const refused = results.filter((ok) => !ok).length
        if (refused > 0) {
          request.log.warn({ alerts: hook.alerts.length, refused }, 'the broker did not accept every alert; Alertmanager will retry')
          throw new CaretakerError(Errors.DependencyUnavailable, `${refused} of ${hook.alerts.length} alerts were not accepted by the broker; retry`)
        }
        request.log.info({ alerts: hook.alerts.length, receiver: hook.receiver, status: hook.status }, 'alerts forwarded')
        return { status: 200, body: { forwarded: hook.alerts.length } }
      },
    }
  },
})
