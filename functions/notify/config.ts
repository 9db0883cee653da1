import { DURATION_PATTERN, parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { JsonSchema } from '../../shared/schema.ts'
import { secretRefSchema, type SecretRef } from '../../shared/secret-ref.ts'

/** The severities notify routes on, least to most urgent. */
export const SEVERITIES = ['info', 'warning', 'critical'] as const
export type Severity = (typeof SEVERITIES)[number]

export const CHANNEL_KINDS = ['mattermost', 'slack', 'webhook', 'email', 'log'] as const
export type ChannelKind = (typeof CHANNEL_KINDS)[number]

/** Where a secret comes from (an environment variable, a mounted file, a Vault KV key): one definition for every function. */
export type { SecretRef }

export interface SmtpSettings {
  host: string
  port: number
  /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it. */
  secure: boolean
  /** Refuse to send without STARTTLS (default true outside `secure`). */
  requireTls: boolean
  user?: string
  password?: SecretRef
  from: string
  to: string[]
}

export interface Channel {
  name: string
  kind: ChannelKind
  /** The incoming-webhook URL (mattermost, slack, webhook): a secret, since it carries the hook's key. */
  url?: SecretRef
  /** webhook: an optional bearer token sent as `Authorization: Bearer …`. */
  token?: SecretRef
  /** mattermost/slack: post as this user name, to this channel (when the hook allows overrides). */
  username?: string
  channel?: string
  smtp?: SmtpSettings
}

export interface Route {
  /** Event-type globs, e.g. `dev.caretaker.backup.*`, `*.failed`. */
  types: string[]
  /** Events below this severity are not sent on this route. */
  minSeverity: Severity
  channels: string[]
}

export interface NotifyConfig {
  channels: Channel[]
  routes: Route[]
  /** Repeats of the same type and subject within this window become one message with a count. */
  collapseWindow: string
  /** At most this many messages per channel per `rateWindow`; the rest are counted and mentioned in the next one. */
  rateLimit: number
  rateWindow: string
  /** Attempts per delivery (1 = no retry) and the first backoff, doubled each time. */
  retry: { attempts: number; backoff: string; timeout: string }
  /** Links added to every message; `{type}`, `{subject}` and `{family}` are filled in (URL-encoded). */
  links: Array<{ label: string; url: string }>
  /** The cluster's name, shown in every message. */
  cluster?: string
  /**
   * A directory of message templates that override the shipped ones
   * (`<event type>.liquid`, `generic.liquid`, `_<partial>.liquid`): a ConfigMap
   * mounted as a volume. Missing or empty: the shipped templates.
   */
  templatesDir?: string
}

const name = { type: 'string', pattern: '^[a-z0-9][-a-z0-9_.]*$', maxLength: 63 }
const duration = { type: 'string', pattern: DURATION_PATTERN }
const secretRef = secretRefSchema

export const configSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    cluster: { type: 'string', minLength: 1 },
    templatesDir: { type: 'string', pattern: '^/' },
    channels: {
      type: 'array',
      default: [{ name: 'log', kind: 'log' }],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'kind'],
        properties: {
          name,
          kind: { enum: [...CHANNEL_KINDS] },
          url: secretRef,
          token: secretRef,
          username: { type: 'string', minLength: 1 },
          channel: { type: 'string', minLength: 1 },
          smtp: {
            type: 'object',
            additionalProperties: false,
            required: ['host', 'from', 'to'],
            properties: {
              host: { type: 'string', minLength: 1 },
              port: { type: 'integer', minimum: 1, maximum: 65535, default: 587 },
              secure: { type: 'boolean', default: false },
              requireTls: { type: 'boolean', default: true },
              user: { type: 'string', minLength: 1 },
              password: secretRef,
              from: { type: 'string', minLength: 3 },
              to: { type: 'array', minItems: 1, items: { type: 'string', minLength: 3 } },
            },
          },
        },
      },
    },
    routes: {
      type: 'array',
      default: [{ types: ['*'], minSeverity: 'info', channels: ['log'] }],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['types', 'channels'],
        properties: {
          types: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          minSeverity: { enum: [...SEVERITIES], default: 'info' },
          channels: { type: 'array', minItems: 1, items: { type: 'string' } },
        },
      },
    },
    collapseWindow: { ...duration, default: '15m' },
    rateLimit: { type: 'integer', minimum: 1, default: 30 },
    rateWindow: { ...duration, default: '10m' },
    retry: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        attempts: { type: 'integer', minimum: 1, maximum: 10, default: 4 },
        backoff: { ...duration, default: '1s' },
        timeout: { ...duration, default: '10s' },
      },
    },
    links: {
      type: 'array',
      default: [],
      items: {
        type: 'object', additionalProperties: false, required: ['label', 'url'],
        properties: { label: { type: 'string', minLength: 1 }, url: { type: 'string', pattern: '^https?://' } },
      },
    },
  },
}

/** What the schema cannot say: names unique and known, each kind with what it needs. */
export function checkConfig(config: NotifyConfig): void {
  const problems: string[] = []
  const names = new Set<string>()
  for (const c of config.channels) {
    if (names.has(c.name)) problems.push(`channel "${c.name}" is defined twice`)
    names.add(c.name)
    if ((c.kind === 'mattermost' || c.kind === 'slack' || c.kind === 'webhook') && !c.url) problems.push(`channel "${c.name}" (${c.kind}) needs url (an env, file or vault reference)`)
    if (c.kind === 'email' && !c.smtp) problems.push(`channel "${c.name}" (email) needs smtp`)
    if (c.kind !== 'email' && c.smtp) problems.push(`channel "${c.name}" (${c.kind}) has smtp, which only an email channel uses`)
    if (c.smtp?.password && !c.smtp.user) problems.push(`channel "${c.name}": smtp.password needs smtp.user`)
  }
  config.routes.forEach((r, i) => {
    for (const ch of r.channels) if (!names.has(ch)) problems.push(`routes[${i}] names channel "${ch}", which is not defined`)
  })
  for (const [field, text] of [['collapseWindow', config.collapseWindow], ['rateWindow', config.rateWindow], ['retry.backoff', config.retry.backoff], ['retry.timeout', config.retry.timeout]] as const) {
    if (parseDuration(text) === undefined) problems.push(`${field} "${text}" is not a duration`)
  }
  if (problems.length > 0) throw new CaretakerError(Errors.InvalidConfig, `invalid notify configuration: ${problems.join('; ')}`, { details: { problems } })
}
