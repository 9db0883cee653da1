import type { CloudEvent } from 'cloudevents'
import type { KubeConfig } from '../kubernetes/api.ts'
import { Registry } from 'prom-client'
import { loadConfigFile, validateConfig } from '../config.ts'
import { catalogue, type EventTypeDefinition } from '../events/catalogue.ts'
import { EventDataValidator } from '../events/validation.ts'
import { functionSource, replyEvent, type Outcome } from '../events/reply.ts'
import { createLogger, type Logger } from '../logger.ts'
import { CaretakerError, Errors, loggableUnexpected } from '../errors.ts'
import type { JsonSchema } from '../schema.ts'
import type { Identity } from './auth.ts'
import type { Vault } from '../vault/client.ts'
import type { EventSink } from './sink.ts'
import { completeDeps, configPathOf } from './standalone.ts'

/**
 * The function contract. A module keeps the handler signature of the
 * Knative Functions Node.js runtime (`handle(context, event)`, `init`,
 * `shutdown`), so it runs under faas-js-runtime too; Caretaker's runtime
 * adds the dry-run flag, trace context, an abort signal and typed config.
 */
export interface HandlerContext {
  log: Logger
  dryRun: boolean
  traceparent: string | undefined
  /** Aborted when a shutdown deadline passes: stop at the next safe point. */
  signal: AbortSignal
  /**
   * When this event's run must end (epoch ms; Infinity for none): past it a
   * long run starts nothing new and replies with what it left for the next
   * run, before the request timeout cuts it off (CARETAKER_RUN_DEADLINE).
   */
  deadline: number
  identity: Identity | undefined
  /** Build the reply for this event. */
  reply<T>(outcome: Outcome<T>, index?: number): CloudEvent<T>
  /**
   * Send one more event caused by this one to K_SINK (the Broker), e.g. one
   * outcome per item of a sweep; `index` keeps its id distinct and stable on
   * redelivery. False when there is no sink or it refused (already logged).
   */
  emit<T>(outcome: Outcome<T>, index: number): Promise<boolean>
}

/** What work a function starts on its own once it serves (not caused by an event) runs with. */
export interface BackgroundContext {
  log: Logger
  /** Aborted when the function shuts down: stop at the next safe point. */
  signal: AbortSignal
  /**
   * Send an outcome to K_SINK (the Broker), as a reply would be (the
   * function's source), its id derived from `key` (the same key, the same
   * id, so consumers deduplicate a repeat).
   */
  emit<T>(outcome: Outcome<T>, key: string): Promise<boolean>
}

export interface FunctionDeps<C> {
  config: C
  log: Logger
  /** Set when a Kubernetes API is configured (cluster, or the sandbox). */
  kubeConfig: KubeConfig | undefined
  dryRunDefault: boolean
  /** The registry served on /metrics: a function's own metrics go here. */
  metrics: Registry
  /** Set when Vault is configured (VAULT_ADDR with a token or a Kubernetes role). */
  vault: Vault | undefined
  /** CARETAKER_RUN_DEADLINE in ms, when set: a step that cannot fit in it is a config error. */
  runDeadlineMs: number | undefined
  /** The address Caretaker's runtime listens on (HOST); undefined when another runtime hosts the function. */
  listenHost: string | undefined
}

/** A plain (non-CloudEvent) HTTP request, for a function that declares `httpPath`. */
export interface PlainRequest {
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  log: Logger
  signal: AbortSignal
  /** The runtime's K_SINK (the Broker), with its retries. */
  sink: EventSink
}

export interface PlainResponse {
  status: number
  body?: unknown
  headers?: Record<string, string>
}

export interface FunctionInstance {
  handle(context: HandlerContext, event: CloudEvent<unknown>): Promise<CloudEvent<unknown> | undefined>
  /** Answers POST `httpPath` (a definition's plain-HTTP route, e.g. a webhook that is not a CloudEvent). */
  handleHttp?(request: PlainRequest): Promise<PlainResponse>
  /**
   * Answers the CloudEvents Knative delivers to `httpPath` when its sender
   * is `knative` (a dead-letter sink): the runtime authenticates the
   * delivery and parses the event, as on POST /.
   */
  handleDeadLetter?(event: CloudEvent<unknown>, request: PlainRequest): Promise<PlainResponse>
  /** Readiness beyond "configured": caches warm, clients connected. */
  ready?(): boolean | Promise<boolean>
  /**
   * Work to do once the function serves (rotate-secret recovering what a
   * killed predecessor left): run in the background, never awaited by
   * readiness; its errors are its own to report (one that escapes is logged).
   */
  start?(context: BackgroundContext): Promise<void>
  close?(): Promise<void>
}

export interface FunctionDefinition<C> {
  name: string
  description: string
  accepts: readonly string[]
  configSchema: JsonSchema
  /**
   * A path (not `/`) where the function takes plain HTTP POSTs besides
   * CloudEvents on `/`, answered by the instance's `handleHttp`; it does its
   * own authentication (a webhook's sender has no Knative identity).
   */
  httpPath?: string
  /**
   * Who posts to `httpPath`: `knative` (a dead-letter sink) is
   * authenticated by the runtime exactly as `POST /`, and what it posts is
   * parsed as a CloudEvent for the instance's `handleDeadLetter`; `external`
   * (the default: a webhook whose sender has no Kubernetes identity) is left
   * to the function, through `handleHttp`.
   */
  httpPathSender?: 'knative' | 'external'
  /** Types not in the shared catalogue (a test's own function). */
  eventTypes?: readonly EventTypeDefinition[]
  setup(deps: FunctionDeps<C>): FunctionInstance | Promise<FunctionInstance>
}

/** The loose context faas-js-runtime passes; only what is read here. */
interface ForeignContext {
  log?: unknown
  dryRun?: unknown
  headers?: Record<string, unknown>
}

/** How an error is answered under another runtime: its status, our body. */
export interface ErrorReply {
  statusCode: number
  body: { error: string; message: string }
}

export interface FunctionModule {
  readonly definition: FunctionDefinition<unknown>
  readonly validator: EventDataValidator
  init(deps?: Partial<FunctionDeps<unknown>> & { configPath?: string; sink?: EventSink }): Promise<void>
  /** Validate then handle: the entry point other runtimes call. */
  handle(context: ForeignContext | HandlerContext, event?: CloudEvent<unknown>): Promise<CloudEvent<unknown> | ErrorReply | undefined>
  /** Handle an event the caller has validated already. */
  invoke(context: HandlerContext, event: CloudEvent<unknown>): Promise<CloudEvent<unknown> | undefined>
  isReady(): Promise<boolean>
  /** Starts the instance's background work (its `start`), once the function serves; returns at once. */
  start(): void
  /** The plain-HTTP route of a definition with `httpPath`. */
  handleHttp(request: PlainRequest): Promise<PlainResponse>
  /** A dead letter Knative delivered to `httpPath` (httpPathSender `knative`), parsed by the runtime. */
  handleDeadLetter(event: CloudEvent<unknown>, request: PlainRequest): Promise<PlainResponse>
  shutdown(): Promise<void>
}

export function eventDryRun(event: CloudEvent<unknown>, dryRunDefault: boolean, locked = false): boolean {
  if (locked) return true
  const v = (event as unknown as Record<string, unknown>).dryrun
  if (v === undefined) return dryRunDefault
  return String(v).toLowerCase() !== 'false'
}

function isHandlerContext(c: ForeignContext | HandlerContext): c is HandlerContext {
  return typeof (c as HandlerContext).reply === 'function' && typeof (c as HandlerContext).dryRun === 'boolean'
}

export function defineFunction<C>(definition: FunctionDefinition<C>): FunctionModule {
  const types = new Map(catalogue)
  for (const t of definition.eventTypes ?? []) types.set(t.type, t)
  const validator = new EventDataValidator(definition.accepts, types)
  let instance: FunctionInstance | undefined
  let deps: FunctionDeps<C> | undefined
  let sink: EventSink | undefined
  let background = new AbortController()

  const module: FunctionModule = {
    definition: definition as FunctionDefinition<unknown>,
    validator,

    async init(given = {}) {
      const log = given.log ?? createLogger({ name: definition.name })
      let config: C
      if (given.config !== undefined) config = validateConfig<C>(given.config, definition.configSchema, 'the given config')
      else {
        const path = configPathOf(given)
        config = path ? await loadConfigFile<C>(path, definition.configSchema) : validateConfig<C>({}, definition.configSchema, 'the default config')
      }
      // What the host did not give (another runtime gives nothing) comes from settings.ts, through standalone.ts.
      const completed = await completeDeps(given, log)
      deps = {
        config,
        log,
        kubeConfig: given.kubeConfig,
        dryRunDefault: completed.dryRunDefault,
        metrics: given.metrics ?? new Registry(),
        vault: completed.vault,
        runDeadlineMs: completed.runDeadlineMs,
        listenHost: given.listenHost,
      }
      sink = completed.sink
      background = new AbortController()
      instance = await definition.setup(deps)
    },

    async handle(context, event) {
      if (isHandlerContext(context)) {
        if (!event) throw new CaretakerError(Errors.NotACloudEvent, `${definition.name} handles CloudEvents only`)
        validator.check(event.type, event.data)
        return module.invoke(context, event)
      }
      // Hosted by another runtime (faas-js-runtime): build our context from
      // its, and answer errors with the same status and JSON body as ours
      // (that runtime reads a returned statusCode/body; a thrown error's
      // string code would become a 500).
      try {
        if (!event) throw new CaretakerError(Errors.NotACloudEvent, `${definition.name} handles CloudEvents only`)
        validator.check(event.type, event.data)
        if (!instance || !deps) await module.init()
        const log = (deps!.log).child({ event: { id: event.id, type: event.type, source: event.source } })
        const dryRun = eventDryRun(event, deps!.dryRunDefault)
        const traceparent = typeof context.headers?.traceparent === 'string' ? context.headers.traceparent : undefined
        return await module.invoke({
          log, dryRun, traceparent, identity: undefined, signal: new AbortController().signal,
          deadline: deps!.runDeadlineMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + deps!.runDeadlineMs,
          reply: (outcome, index) => replyEvent(definition.name, event, outcome, { dryRun, index }),
          emit: (outcome, index) => sink!.send(replyEvent(definition.name, event, outcome, { dryRun, index })),
        }, event)
      } catch (err) {
        const e = err instanceof CaretakerError ? err : new CaretakerError(Errors.Internal, `${definition.name} failed; see its log`)
        if (!(err instanceof CaretakerError)) deps?.log.error({ err: loggableUnexpected(err) }, 'handler threw an unexpected error')
        return { statusCode: e.status, body: { error: e.code, message: e.message } }
      }
    },

    async invoke(context, event) {
      if (!instance) throw new Error(`${definition.name} was not initialised`)
      return instance.handle(context, event)
    },

    async handleHttp(request) {
      if (!instance) throw new CaretakerError(Errors.NotReady, `${definition.name} is not initialised yet`)
      if (!instance.handleHttp) throw new CaretakerError(Errors.NotFound, `${definition.name} takes no plain HTTP requests`)
      return instance.handleHttp(request)
    },

    async handleDeadLetter(event, request) {
      if (!instance) throw new CaretakerError(Errors.NotReady, `${definition.name} is not initialised yet`)
      if (!instance.handleDeadLetter) throw new CaretakerError(Errors.NotFound, `${definition.name} takes no dead letters`)
      return instance.handleDeadLetter(event, request)
    },

    async isReady() {
      if (!instance) return false
      return instance.ready ? await instance.ready() : true
    },

    start() {
      const i = instance
      if (!i?.start || !deps) return
      const log = deps.log.child({ background: 'start' })
      const source = `${functionSource(definition.name)}/background`
      i.start({
        log,
        signal: background.signal,
        emit: (outcome, key) => sink ? sink.send(replyEvent(definition.name, { source, id: key }, outcome)) : Promise.resolve(false),
      }).catch((err: unknown) => log.error({ err: loggableUnexpected(err) }, 'background work failed'))
    },

    async shutdown() {
      background.abort(new CaretakerError(Errors.ShuttingDown, 'the function is shutting down'))
      const i = instance
      instance = undefined
      await i?.close?.()
    },
  }
  return module
}
