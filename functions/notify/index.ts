import picomatch from 'picomatch'
import { parseDuration } from '../../shared/duration.ts'
import { EventTypes, catalogue } from '../../shared/events/catalogue.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { KeyedSerial } from '../../shared/serial.ts'
import type { SecretValue } from '../../shared/logger.ts'
import { defineFunction, type HandlerContext, type PlainResponse } from '../../shared/runtime/function.ts'
import { checkConfig, configSchema, SEVERITIES, type Channel, type NotifyConfig, type Severity } from './config.ts'
import { deadLetterMessage, DEAD_LETTER_TYPE, destinationName, readDeadLetter } from './dead-letter.ts'
import { describeRef, NotConfigured, Secrets } from '../../shared/secret-ref.ts'
import { DeliveryFailure, postJson, sendMail, withRetry, type RetryPolicy } from './delivery.ts'
import { emailMessage, logLine, mattermostPayload, slackPayload, webhookPayload, type Counts } from './formats.ts'
import { Limiter } from './limiter.ts'
import { NotifyMetrics } from './metrics.ts'
import { MessageTemplates, type Message, type TemplateFailure } from './templates.ts'

/**
 * notify: turns Caretaker's outcome events and reports into messages people
 * read in a few seconds, and posts them to Mattermost, Slack, a generic
 * webhook or e-mail, by the event's type and severity. Repeats collapse,
 * each channel is rate limited, deliveries retry with backoff, and a
 * delivery that still fails answers 503 so the Broker retries the event and
 * finally dead-letters it. It changes nothing in the cluster.
 */

export const SENT = EventTypes.NotificationSent

/** Every outcome type in the catalogue, except notify's own (which would loop). */
export const NOTIFIABLE = [...catalogue.values()]
  // A prefix, not a type: notify's own outcomes (notification.*) are never notified.
  // eslint-disable-next-line no-restricted-syntax
  .filter((d) => d.direction === 'outbound' && !d.type.startsWith('dev.caretaker.notification.'))
  .map((d) => d.type)

/** `failed` never reaches a reply: any failure answers 503 instead. */
type Status = 'sent' | 'collapsed' | 'rate-limited' | 'not-configured' | 'dry-run' | 'already-sent' | 'failed'

interface Delivery {
  channel: string
  kind: Channel['kind']
  status: Status
  attempts?: number
  repeats?: number
  plan?: 'send' | 'collapsed' | 'rate-limited'
  rendered?: Record<string, unknown>
}

interface Failed {
  channel: string
  kind: Channel['kind']
  reason: string
  attempts: number
}

/** Redelivered events (the Broker retrying a partly failed one) skip channels that already have them. */
const DELIVERED_MAX = 5000

function atLeast(severity: Severity, min: Severity): boolean {
  return SEVERITIES.indexOf(severity) >= SEVERITIES.indexOf(min)
}

export default defineFunction<NotifyConfig>({
  name: 'notify',
  description: 'posts outcome events and reports to Mattermost, Slack, webhooks and e-mail: routed, templated, collapsed, rate limited',
  accepts: NOTIFIABLE,
  configSchema,
  // The dead-letter sink of the Broker and every Trigger (see dead-letter.ts).
  httpPath: '/dead-letter',
  // Knative sends dead letters as it sends events: authenticated as POST / is.
  httpPathSender: 'knative',
  setup({ config, log, metrics: registry, vault, dryRunDefault }) {
    checkConfig(config)
    const metrics = new NotifyMetrics(registry)
    const secrets = new Secrets(vault)
    const channels = new Map(config.channels.map((c) => [c.name, c]))
    const routes = config.routes.map((r) => ({ ...r, match: picomatch(r.types) }))
    const limiter = new Limiter({ collapseMs: parseDuration(config.collapseWindow)!, rateLimit: config.rateLimit, rateWindowMs: parseDuration(config.rateWindow)! })
    const retry: RetryPolicy = { attempts: config.retry.attempts, backoffMs: parseDuration(config.retry.backoff)!, timeoutMs: parseDuration(config.retry.timeout)! }
    const delivered = new Map<string, Set<string>>()
    const perChannel = new KeyedSerial()

    // The message templates: the shipped ones, and the overrides of templatesDir (a ConfigMap).
    // A broken override is reported and not used, never fatal: the shipped template writes that message.
    const report = (f: TemplateFailure, phase: 'parse' | 'render') => {
      metrics.templateErrors.inc({ template: f.template, phase })
      log.error({ error: f.error.code, template: f.template, file: f.file, line: f.line }, phase === 'parse' ? `${f.error.message}; the shipped template is used instead` : `${f.error.message}; the message was written with the shipped template instead`)
    }
    const templates = new MessageTemplates({ dir: config.templatesDir, onFallback: (f) => report(f, 'render') })
    for (const p of templates.problems) report(p, 'parse')
    if (config.templatesDir) log.info({ templatesDir: config.templatesDir, overridden: templates.overridden }, templates.overridden.length > 0 ? 'message templates overridden' : 'no message template overridden')

    // Say at start which channels cannot deliver here (by where their secret should be, never its value).
    void (async () => {
      for (const c of config.channels) {
        for (const ref of [c.url, c.token, c.smtp?.password]) {
          if (ref && !(await secrets.present(ref))) log.warn({ channel: c.name, kind: c.kind, missing: describeRef(ref) }, 'channel is not configured here: its messages are reported as not-configured')
        }
      }
    })()

    /** One delivery at a time per channel, so collapsing and the rate limit see every message in order. */
    const queued = <T>(channel: string, work: () => Promise<T>): Promise<T> => perChannel.run(channel, work)

    function channelsFor(type: string, severity: Severity): Channel[] {
      const names = new Set<string>()
      for (const r of routes) if (r.match(type) && atLeast(severity, r.minSeverity)) for (const n of r.channels) names.add(n)
      return [...names].map((n) => channels.get(n)!)
    }

    type EventFacts = { id: string; source: string; type: string; subject: string | undefined; data: unknown }

    function rendered(channel: Channel, m: Message, counts: Counts, event: EventFacts): Record<string, unknown> {
      switch (channel.kind) {
        case 'mattermost': return { body: mattermostPayload(m, counts, channel, config.cluster) }
        case 'slack': return { body: slackPayload(m, counts, channel, config.cluster) }
        case 'webhook': return { body: webhookPayload(m, counts, config.cluster, event) }
        case 'email': return { to: channel.smtp!.to, ...emailMessage(m, counts, config.cluster) }
        case 'log': return { text: logLine(m, counts, config.cluster) }
      }
    }

    /** What a delivery needs of the event's context (a dead letter has no HandlerContext). */
    type DeliveryContext = Pick<HandlerContext, 'log' | 'signal' | 'dryRun'>

    async function send(channel: Channel, m: Message, counts: Counts, event: EventFacts, context: DeliveryContext): Promise<number> {
      const payload = rendered(channel, m, counts, event)
      if (channel.kind === 'log') {
        context.log.info({ channel: channel.name, severity: m.severity, notification: payload.text }, 'notification')
        return 1
      }
      // Resolved per delivery: a rotated secret is used at once. A missing one is NotConfigured.
      const url: SecretValue | undefined = channel.url ? await secrets.resolve(channel.url) : undefined
      const token: SecretValue | undefined = channel.token ? await secrets.resolve(channel.token) : undefined
      const password: SecretValue | undefined = channel.smtp?.password ? await secrets.resolve(channel.smtp.password) : undefined
      const { attempts } = await withRetry(retry, context.signal, async (attempt) => {
        try {
          if (channel.kind === 'email') await sendMail(channel, payload as never, password, { timeoutMs: retry.timeoutMs })
          else await postJson(url!, payload.body, { ...(token ? { token } : {}), timeoutMs: retry.timeoutMs, signal: context.signal })
          metrics.attempts.inc({ channel: channel.name, kind: channel.kind, result: 'ok' })
        } catch (err) {
          metrics.attempts.inc({ channel: channel.name, kind: channel.kind, result: 'failed' })
          context.log.warn({ channel: channel.name, kind: channel.kind, attempt, reason: err instanceof DeliveryFailure ? err.message : 'unexpected error' }, 'delivery attempt failed')
          throw err
        }
      })
      return attempts
    }

    async function deliver(channel: Channel, m: Message, event: EventFacts, context: DeliveryContext, failures: Failed[]): Promise<Delivery> {
      const base = { channel: channel.name, kind: channel.kind }
      const eventKey = `${event.source}\0${event.id}`
      if (delivered.get(eventKey)?.has(channel.name)) return { ...base, status: 'already-sent' }
      const now = Date.now()
      const decision = limiter.decide(channel.name, event.type, event.subject, now)
      if (context.dryRun) {
        const counts: Counts = decision.send ? decision.counts : { repeats: 0, heldBack: 0 }
        return { ...base, status: 'dry-run', plan: decision.send ? 'send' : decision.reason, rendered: rendered(channel, m, counts, event) }
      }
      if (!decision.send) {
        const n = limiter.suppressed(channel.name, event.type, event.subject, decision.reason, now)
        metrics.deliveries.inc({ ...base, status: decision.reason })
        context.log.info({ ...base, type: event.type, subject: event.subject, held: n }, decision.reason === 'collapsed' ? 'a repeat within the collapse window: counted, not sent' : 'over the rate limit: counted, not sent')
        return { ...base, status: decision.reason, ...(decision.reason === 'collapsed' ? { repeats: n } : {}) }
      }
      const end = metrics.duration.startTimer(base)
      try {
        const attempts = await send(channel, m, decision.counts, event, context)
        end()
        limiter.sent(channel.name, event.type, event.subject, Date.now())
        let set = delivered.get(eventKey)
        if (!set) {
          set = new Set()
          delivered.set(eventKey, set)
          if (delivered.size > DELIVERED_MAX) delivered.delete(delivered.keys().next().value!)
        }
        set.add(channel.name)
        metrics.deliveries.inc({ ...base, status: 'sent' })
        context.log.info({ ...base, type: event.type, subject: event.subject, attempts, repeats: decision.counts.repeats }, 'notification delivered')
        return { ...base, status: 'sent', attempts, ...(decision.counts.repeats > 0 ? { repeats: decision.counts.repeats } : {}) }
      } catch (err) {
        if (err instanceof NotConfigured) {
          metrics.deliveries.inc({ ...base, status: 'not-configured' })
          context.log.warn({ ...base, missing: err.where }, 'channel is not configured here: message not sent')
          return { ...base, status: 'not-configured' }
        }
        metrics.deliveries.inc({ ...base, status: 'failed' })
        if (err instanceof CaretakerError) {
          // Vault could not give the secret: its message names the path only.
          failures.push({ ...base, reason: err.message, attempts: 0 })
        } else {
          const attempts = (err as { attempts?: number }).attempts ?? 1
          failures.push({ ...base, reason: err instanceof DeliveryFailure ? err.message : 'unexpected error', attempts })
        }
        return { ...base, status: 'failed' }
      }
    }

    return {
      async handleDeadLetter(event, request): Promise<PlainResponse> {
        // A CloudEvent Knative gave up on, parsed by the runtime.
        const d = readDeadLetter(event)
        const target = destinationName(d.destination)
        // Labels from the catalogue and the Knative host name only: a stray sender cannot grow the series.
        metrics.deadLetters.inc({ type: catalogue.has(d.type) ? d.type : 'other', destination: /^[a-z0-9-]{1,63}\/[a-z0-9-]{1,63}$/.test(target) ? target : 'other' })
        request.log.warn({ deadLetter: { id: d.id, type: d.type, source: d.source, subject: d.subject, destination: d.destination, code: d.code, error: d.error?.code } }, 'an event was dead-lettered: the Broker gave up delivering it')
        const message = deadLetterMessage(d, config.links, new Date().toISOString())
        // Repeats (one broken function losing event after event) collapse by event type and destination.
        const facts: EventFacts = { id: d.id, source: d.source, type: DEAD_LETTER_TYPE, subject: `${d.type} ${target}`, data: d }
        const context: DeliveryContext = { log: request.log, signal: request.signal, dryRun: dryRunDefault }
        const failures: Failed[] = []
        const deliveries = await Promise.all(channelsFor(DEAD_LETTER_TYPE, message.severity).map((c) => queued(c.name, () => deliver(c, message, facts, context, failures))))
        // Knative sends a dead letter once: it is recorded above (log and metric) whatever the channels do, so the answer is 200.
        return { status: 200, body: { deadLetter: { id: d.id, type: d.type, destination: target, code: d.code ?? null }, deliveries, failed: failures } }
      },

      async handle(context, event) {
        const facts: EventFacts = { id: event.id, source: event.source, type: event.type, subject: event.subject, data: event.data }
        const message = templates.render({ type: event.type, subject: event.subject, data: event.data, time: event.time ?? new Date().toISOString() }, config.links)
        const targets = channelsFor(event.type, message.severity)
        if (targets.length === 0) {
          context.log.debug({ type: event.type, severity: message.severity }, 'no route matches: nothing to send')
          return undefined
        }
        const failures: Failed[] = []
        const deliveries = await Promise.all(targets.map((c) => queued(c.name, () => deliver(c, message, facts, context, failures))))
        if (failures.length > 0) {
          const ok = deliveries.filter((d) => !failures.some((f) => f.channel === d.channel)).map((d) => `${d.channel}: ${d.status}`)
          throw new CaretakerError(Errors.DependencyUnavailable,
            `could not deliver the ${event.type} message to ${failures.map((f) => `${f.channel} (${f.kind}: ${f.reason} after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'})`).join(', ')}; the event will be redelivered${ok.length > 0 ? ` and skip channels that have it (${ok.join(', ')})` : ''}`,
            { details: { failed: failures, delivered: ok } })
        }
        return context.reply({
          type: SENT,
          ...(event.subject ? { subject: event.subject } : {}),
          data: {
            event: { id: event.id, type: event.type, source: event.source, ...(event.subject ? { subject: event.subject } : {}) },
            severity: message.severity,
            title: message.title,
            deliveries,
          },
        })
      },
    }
  },
})
