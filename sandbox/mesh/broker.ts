import { appendFile } from 'node:fs/promises'
import type { CloudEvent } from 'cloudevents'
import Fastify, { type FastifyInstance } from 'fastify'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { Logger } from '../../shared/logger.ts'
import { deliverWithRetry, eventFromMessage, realSleep, sendOnce, withExtensions, type Sleep } from './delivery.ts'
import { matchesTrigger } from './filters.ts'
import type { BrokerObject, DeliverySpec, Destination, TriggerObject } from './manifests.ts'
import { TokenVerificationError } from './issuer.ts'
import { brokerAudience, deliveryAuthorization, type MeshOidc } from './oidc.ts'

/**
 * The local stand-in for a Knative MT broker: an ingress that accepts
 * CloudEvents, fans each one out to the matching Triggers with their
 * delivery spec, feeds 2xx replies back in and dead-letters what fails.
 */

export interface DeadLetterRecord {
  readonly at: string
  readonly trigger: string
  readonly subscriber: string | undefined
  readonly attempts: number
  readonly lastStatus: number | undefined
  readonly lastError?: string
  readonly event: { readonly id: string; readonly type: string; readonly source: string }
  /** Where the event was sent after the last attempt, and how that went. */
  readonly deadLetterSink?: string
  readonly deadLetterStatus?: number | undefined
}

/** How one Trigger's delivery of an event ended, for whoever watches the mesh (npm start's outcome lines, the CLI). */
export interface DeliveryReport {
  /** `<namespace>/<name>` of the Trigger. */
  readonly trigger: string
  /** The Knative Service the Trigger's subscriber names, when it names one. */
  readonly service: string | undefined
  readonly event: CloudEvent<unknown>
  readonly delivered: boolean
  readonly attempts: number
  readonly status: number | undefined
  readonly error?: string
  /** A refused delivery's answer (its body, at most 1024 bytes as Knative keeps in knativeerrordata). */
  readonly answer?: string
  /** The subscriber's reply, which the Broker takes in as a new event. */
  readonly reply?: CloudEvent<unknown>
}

export interface BrokerOptions {
  readonly triggers: readonly TriggerObject[]
  readonly brokers: readonly BrokerObject[]
  /** Knative Service name -> URL, for `ref: {kind: Service}` destinations. */
  readonly services: Readonly<Record<string, string>>
  readonly logger: Logger
  readonly sleep?: Sleep
  /** JSON lines file each dead letter is appended to. */
  readonly deadLetterFile?: string
  /** How many times a reply may be fed back before it is dropped; stops reply loops. */
  readonly hopLimit?: number
  readonly requestTimeoutMs?: number
  /** Sender identity (config-features `authentication-oidc`); disabled when not given, as Knative ships. */
  readonly oidc?: MeshOidc
  /** Told of each event the Broker takes in (at the ingress, a reply, a source), before it is routed. */
  readonly onAccepted?: (event: CloudEvent<unknown>) => void
  /** Told of each delivery's end: delivered (with the reply) or dead-lettered. */
  readonly onDelivery?: (report: DeliveryReport) => void
}

interface BrokerAddress {
  readonly namespace: string
  readonly name: string
}

export const DEFAULT_HOP_LIMIT = 16
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
const MAX_BODY_BYTES = 10 * 1024 * 1024

export class MeshBroker {
  readonly deadLetters: DeadLetterRecord[] = []
  readonly #options: BrokerOptions
  readonly #sleep: Sleep
  readonly #hopLimit: number
  readonly #app: FastifyInstance
  readonly #inflight = new Set<Promise<void>>()
  #url: string | undefined

  constructor(options: BrokerOptions) {
    if (options.oidc?.mode === 'enabled' && !options.oidc.issuer) throw new Error('mesh: authentication-oidc is enabled but no issuer was given to verify the ingress tokens')
    this.#options = options
    this.#sleep = options.sleep ?? realSleep
    this.#hopLimit = options.hopLimit ?? DEFAULT_HOP_LIMIT
    this.#app = Fastify({ logger: false, bodyLimit: MAX_BODY_BYTES })
    this.#app.removeAllContentTypeParsers()
    this.#app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
    this.#app.post('/', async (request, reply) => this.#ingress(request.headers, request.body, undefined, reply))
    this.#app.post<{ Params: { namespace: string; broker: string } }>('/:namespace/:broker', async (request, reply) =>
      this.#ingress(request.headers, request.body, { namespace: request.params.namespace, name: request.params.broker }, reply))
  }

  /** Base URL of the ingress; POST / reaches every Trigger, POST /<namespace>/<broker> only that broker's. */
  get url(): string {
    if (this.#url === undefined) throw new CaretakerError(Errors.NotReady, 'mesh broker: not listening yet')
    return this.#url
  }

  async listen(port: number, host: string): Promise<string> {
    const address = await this.#app.listen({ port, host })
    this.#url = address
    return address
  }

  /** The ingress URL a `ref: {kind: Broker}` sink points at. */
  brokerUrl(namespace: string, name: string): string {
    return `${this.url}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`
  }

  resolve(destination: Destination, defaultNamespace: string): string {
    const ref = destination.ref
    let base: string | undefined
    if (ref) {
      if (ref.kind === 'Service') base = this.#options.services[ref.name]
      else if (ref.kind === 'Broker') base = this.brokerUrl(ref.namespace ?? defaultNamespace, ref.name)
      if (base === undefined) {
        throw new CaretakerError(Errors.InvalidConfig, `mesh: no local address for ${ref.kind} ${ref.namespace ?? defaultNamespace}/${ref.name}`)
      }
      return destination.uri ? new URL(destination.uri, base).toString() : base
    }
    return destination.uri!
  }

  /** Routes an event as if it had arrived at the ingress; deliveries run in the background. */
  publish(event: CloudEvent<unknown>, broker?: BrokerAddress, hops = 0): void {
    const triggers = this.#options.triggers.filter((trigger) =>
      (broker === undefined || (trigger.namespace === broker.namespace && trigger.broker === broker.name)) && matchesTrigger(trigger.filter, event))
    this.#options.logger.debug({ event: { id: event.id, type: event.type }, triggers: triggers.map((t) => t.name), hops }, 'mesh: event accepted')
    this.#observe(() => this.#options.onAccepted?.(event))
    for (const trigger of triggers) this.#track(this.#dispatch(trigger, event, hops))
  }

  /** Resolves once every delivery started so far (and the replies they caused) has finished. */
  async idle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight])
  }

  async close(): Promise<void> {
    await this.#app.close()
    await this.idle()
  }

  #track(work: Promise<void>): void {
    this.#inflight.add(work)
    void work.finally(() => this.#inflight.delete(work))
  }

  async #ingress(headers: Record<string, string | string[] | undefined>, body: unknown, broker: BrokerAddress | undefined, reply: { code(status: number): unknown }): Promise<unknown> {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.alloc(0)
    let event: CloudEvent<unknown> | undefined
    // knative/eventing pkg/broker/ingress/ingress_handler.go: binding.ToEvent or event.Validate failing is a 400.
    try {
      event = eventFromMessage(headers, bytes)
    } catch (err) {
      reply.code(400)
      return { error: Errors.InvalidCloudEvent.code, message: `not a valid CloudEvent: ${err instanceof Error ? err.message : String(err)}` }
    }
    if (!event) {
      reply.code(400)
      return { error: Errors.NotACloudEvent.code, message: 'expected a CloudEvent in binary (ce-* headers) or structured (application/cloudevents+json) mode' }
    }
    const refused = this.#authenticate(headers, broker)
    if (refused) {
      reply.code(refused.status)
      return { error: refused.status === 401 ? Errors.Unauthenticated.code : Errors.Forbidden.code, message: refused.message }
    }
    this.publish(event, broker)
    reply.code(202)
    return ''
  }

  /**
   * With authentication-oidc enabled the ingress takes an event only with a
   * token for the Broker's audience, after the event itself was read
   * (knative/eventing pkg/broker/ingress/ingress_handler.go: ToEvent and
   * Validate, then tokenVerifier.VerifyRequest with
   * broker.status.address.audience). pkg/auth/verifier.go: no token or one
   * that does not verify is a 401; then, with no EventPolicy applying, the
   * default-authorization-mode `allow-same-namespace` (config-features'
   * default) admits only ServiceAccounts of the Broker's namespace, else 403.
   * The token is never logged. POST / (the mesh's any-broker address) takes
   * a token for any of the mesh's Brokers.
   */
  #authenticate(headers: Record<string, string | string[] | undefined>, broker: BrokerAddress | undefined): { status: 401 | 403; message: string } | undefined {
    const oidc = this.#options.oidc
    if (!oidc || oidc.mode !== 'enabled' || !oidc.issuer) return undefined
    const header = typeof headers.authorization === 'string' ? headers.authorization : ''
    // pkg/auth/utils.go GetJWTFromHeader: the header with a "Bearer " prefix trimmed.
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : header
    if (!token) return this.#refuse(401, 'no JWT token found in request: authentication-oidc is enabled, send the sender\'s ServiceAccount token for the Broker\'s audience', broker)
    const candidates = broker ? [broker] : this.#options.brokers.map((b) => ({ namespace: b.namespace, name: b.name }))
    let reason = 'no Broker to verify the token for'
    for (const candidate of candidates) {
      const audience = brokerAudience(candidate.namespace, candidate.name)
      let subject: string
      try {
        subject = oidc.issuer.verify(token, audience).subject
      } catch (err) {
        if (!(err instanceof TokenVerificationError)) throw err
        reason = err.message
        continue
      }
      if (!subject.startsWith(`system:serviceaccount:${candidate.namespace}:`)) {
        return this.#refuse(403, `token is from subject ${JSON.stringify(subject)}, which is not part of the ${JSON.stringify(candidate.namespace)} namespace (default-authorization-mode allow-same-namespace)`, candidate)
      }
      return undefined
    }
    return this.#refuse(401, `failed to verify JWT: ${reason}`, broker)
  }

  #refuse(status: 401 | 403, message: string, broker: BrokerAddress | undefined): { status: 401 | 403; message: string } {
    this.#options.logger.warn({ broker: broker ? `${broker.namespace}/${broker.name}` : undefined, status, reason: message }, 'mesh: ingress refused the event (authentication-oidc)')
    return { status, message }
  }

  /** A watcher's failure is logged, never the delivery's. */
  #observe(call: () => void): void {
    try {
      call()
    } catch (err) {
      this.#options.logger.error({ reason: err instanceof Error ? err.message : String(err) }, 'mesh: a watcher of the Broker failed')
    }
  }

  #deliveryFor(trigger: TriggerObject): DeliverySpec | undefined {
    if (trigger.delivery) return trigger.delivery
    return this.#options.brokers.find((b) => b.name === trigger.broker && b.namespace === trigger.namespace)?.delivery
  }

  async #dispatch(trigger: TriggerObject, event: CloudEvent<unknown>, hops: number): Promise<void> {
    const logger = this.#options.logger.child({ trigger: `${trigger.namespace}/${trigger.name}`, event: { id: event.id, type: event.type } })
    const delivery = this.#deliveryFor(trigger)
    let subscriber: string
    try {
      subscriber = this.resolve(trigger.subscriber, trigger.namespace)
    } catch (err) {
      await this.#deadLetter(trigger, event, delivery, { subscriber: undefined, attempts: 0, lastStatus: undefined, lastError: err instanceof Error ? err.message : String(err) })
      return
    }
    const outcome = await deliverWithRetry(subscriber, event, delivery, {
      sleep: this.#sleep,
      timeoutMs: this.#options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      authorization: () => deliveryAuthorization(this.#options.oidc, trigger, trigger.subscriber),
    })
    if (!outcome.delivered) {
      await this.#deadLetter(trigger, event, delivery, {
        subscriber, attempts: outcome.attempts, lastStatus: outcome.lastStatus, ...(outcome.lastError ? { lastError: outcome.lastError } : {}), ...(outcome.lastBody ? { lastBody: outcome.lastBody } : {}),
      })
      return
    }
    logger.info({ subscriber, attempts: outcome.attempts, status: outcome.lastStatus }, 'mesh: event delivered')
    if (outcome.lastError) logger.warn({ subscriber, reason: outcome.lastError }, 'mesh: reply ignored')
    this.#observe(() => this.#options.onDelivery?.({
      trigger: `${trigger.namespace}/${trigger.name}`, service: serviceOf(trigger), event, delivered: true, attempts: outcome.attempts, status: outcome.lastStatus,
      ...(outcome.reply ? { reply: outcome.reply } : {}),
    }))
    if (!outcome.reply) return
    if (hops + 1 > this.#hopLimit) {
      logger.warn({ hops, hopLimit: this.#hopLimit, reply: { id: outcome.reply.id, type: outcome.reply.type } }, 'mesh: reply dropped, hop limit reached')
      return
    }
    this.publish(outcome.reply, { namespace: trigger.namespace, name: trigger.broker }, hops + 1)
  }

  async #deadLetter(
    trigger: TriggerObject,
    event: CloudEvent<unknown>,
    delivery: DeliverySpec | undefined,
    { lastBody, ...failure }: { subscriber: string | undefined; attempts: number; lastStatus: number | undefined; lastError?: string; lastBody?: Buffer },
  ): Promise<void> {
    let sink: string | undefined
    let sinkStatus: number | undefined
    let sinkError: string | undefined
    if (delivery?.deadLetterSink) {
      try {
        sink = this.resolve(delivery.deadLetterSink, trigger.namespace)
        // As Knative's dispatcher does: where it was going, the last status, and the refusal's body (base64, at most 1024 bytes).
        const errorExtensions = {
          ...(failure.subscriber ? { knativeerrordest: failure.subscriber } : {}),
          ...(failure.lastStatus !== undefined ? { knativeerrorcode: String(failure.lastStatus) } : {}),
          ...(lastBody ? { knativeerrordata: lastBody.toString('base64') } : {}),
        }
        // With OIDC on, the broker filter sends the dead letter with the Trigger's identity, for the sink's audience.
        const authorization = await deliveryAuthorization(this.#options.oidc, trigger, delivery.deadLetterSink)
        const sent = await sendOnce(sink, withExtensions(event, errorExtensions), this.#options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, authorization)
        sinkStatus = sent.status
        if (sent.status === undefined) sinkError = sent.error
      } catch (err) {
        sinkError = err instanceof Error ? err.message : String(err)
      }
    }
    const record: DeadLetterRecord = {
      at: new Date().toISOString(),
      trigger: `${trigger.namespace}/${trigger.name}`,
      ...failure,
      event: { id: event.id, type: event.type, source: event.source },
      ...(sink === undefined ? {} : { deadLetterSink: sink, deadLetterStatus: sinkStatus }),
    }
    this.deadLetters.push(record)
    this.#observe(() => this.#options.onDelivery?.({
      trigger: record.trigger, service: serviceOf(trigger), event, delivered: false, attempts: failure.attempts, status: failure.lastStatus,
      ...(failure.lastError ? { error: failure.lastError } : {}),
      ...(lastBody ? { answer: lastBody.subarray(0, 1024).toString('utf8') } : {}),
    }))
    this.#options.logger.warn({ deadLetter: record, ...(sinkError ? { deadLetterError: sinkError } : {}) }, 'mesh: event dead-lettered')
    if (this.#options.deadLetterFile) {
      try {
        await appendFile(this.#options.deadLetterFile, `${JSON.stringify(record)}\n`)
      } catch (err) {
        this.#options.logger.error({ file: this.#options.deadLetterFile, reason: err instanceof Error ? err.message : String(err) }, 'mesh: cannot write the dead-letter file')
      }
    }
  }
}

function serviceOf(trigger: TriggerObject): string | undefined {
  return trigger.subscriber.ref?.kind === 'Service' ? trigger.subscriber.ref.name : undefined
}
