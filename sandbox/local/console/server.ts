import { randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type HTTPMethods, type RouteHandlerMethod } from 'fastify'
import type { KubeConfig } from '../../../shared/kubernetes/api.ts'
import { CaretakerError, Errors, isCaretakerError, loggableUnexpected, type ErrorDefinition } from '../../../shared/errors.ts'
import type { Logger } from '../../../shared/logger.ts'
import { catalogue } from '../../../shared/events/catalogue.ts'
import { loadConfigFile } from '../../../shared/config.ts'
import { configSchema as verifyBackupSchema, type VerifyBackupConfig } from '../../../functions/verify-backup/config.ts'
import { CliError, EXIT } from '../../../cli/errors.ts'
import type { Printer } from '../../../cli/deliveries.ts'
import { outcomeText } from '../../../cli/outcome.ts'
import { requestTypeOf, runCommand } from '../../../cli/run.ts'
import { eventFromJson, type EventJson, type LocalState } from '../../../cli/state.ts'
import { deadLettersCommand, redeliverCommand, statusCommand } from '../../../cli/status.ts'
import type { Connection, Target } from '../../../cli/target.ts'
import { lazy } from '../../../shared/lazy.ts'
import { discoverFunctions } from '../functions.ts'
import type { ConsoleFeed, FlowItem } from './feed.ts'
import { backupFreshness, certificateStates } from './platform-views.ts'

/**
 * The local console `npm start` serves on loopback: a static page (no build
 * step) and the JSON API it reads. The API is the `caretaker` command's own
 * code (cli/): status, dead-letters, redeliver and run answer here what they
 * print with --json, so the console and the command never disagree.
 *
 * Every API call authenticates with the bearer token made at each start
 * (the banner's URL carries it in its fragment, which no browser sends);
 * without it: 401 and the error catalogue's `{error, message}`. The static
 * files hold no data and no token, so they are served to anyone on loopback.
 */

export interface ConsoleOptions {
  /** 0 picks a free one. */
  readonly port: number
  readonly host?: string
  /** What `npm start` wrote to its state file: how the commands find the Broker, the functions and the deliveries. */
  readonly state: LocalState
  readonly stateDir: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly feed: ConsoleFeed
  /** The Kubernetes API the platform runs against (the sandbox's, or the cluster's), for the certificates and Longhorn backups. */
  readonly kubeConfig: KubeConfig | undefined
  /** verify-backup's config file, if it runs with one: the backup sets and their RPOs. */
  readonly verifyBackupConfig: string | undefined
  readonly logger: Logger
  /** How long run and redeliver wait for the outcome (as `caretaker run --timeout`). */
  readonly waitMs?: number
  /** Given by tests; a fresh random one otherwise. */
  readonly token?: string
}

export interface ConsoleServer {
  /** The page's address, without the token. */
  readonly url: string
  /** The address with the token in its fragment: what the banner prints. */
  readonly openUrl: string
  readonly token: string
  close(): Promise<void>
}

const STATIC: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  '/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
}

const BODY_LIMIT = 64 * 1024
const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}
const API_PATHS = '/api/events, /api/functions, /api/run, /api/dead-letters, /api/backups, /api/certificates'

/** A command's refusal as an HTTP answer: the request's fault is a 400, the rest the platform's. */
function cliErrorDef(err: CliError): ErrorDefinition {
  return err.exitCode === EXIT.usage ? Errors.InvalidRequest : Errors.DependencyUnavailable
}

/**
 * What a request that failed is answered, from the catalogue: the console's
 * own refusals, a command's, and Fastify's (body limit, media type, JSON,
 * a malformed URL). Undefined for what nobody expected: a 500.
 */
function catalogued(err: unknown): CaretakerError | undefined {
  if (isCaretakerError(err)) return err
  if (err instanceof CliError) return new CaretakerError(cliErrorDef(err), err.message)
  const fastify = err as Partial<FastifyError> | undefined
  switch (fastify?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return new CaretakerError(Errors.BodyTooLarge, `the body is over ${BODY_LIMIT} bytes: send less`)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return new CaretakerError(Errors.UnsupportedMediaType, 'send the body as application/json')
    // Fastify's JSON parser (secure-json-parse) also refuses a __proto__ key, or a constructor one holding prototype.
    case 'FST_ERR_CTP_INVALID_JSON_BODY': return new CaretakerError(Errors.InvalidRequest, 'the body is not valid JSON (or holds a __proto__ or constructor.prototype key)')
    case 'FST_ERR_BAD_URL': return new CaretakerError(Errors.InvalidRequest, 'the URL is not valid: percent-encode its path as encodeURIComponent does')
  }
  // Fastify's other refusals of a request (a body shorter than its Content-Length, say): its own messages name no data.
  const status = fastify?.statusCode ?? 500
  if (fastify?.code?.startsWith('FST_') && status >= 400 && status < 500) return new CaretakerError(Errors.InvalidRequest, `the request is malformed: ${fastify.message ?? ''}`)
  return undefined
}

/** Runs a command in --json mode and returns what it printed, parsed. */
async function captured(run: (print: Printer) => Promise<number>): Promise<{ code: number; json: Record<string, unknown> }> {
  const out: string[] = []
  const print: Printer = { out: (text) => out.push(text), err: () => undefined }
  const code = await run(print)
  return { code, json: JSON.parse(out.join('\n') || 'null') as Record<string, unknown> }
}

/** The fields of a function's manual request type, for the page's form. */
async function manualRequests(functionsDir: string): Promise<Record<string, { type: string; fields: Array<{ name: string; type: string; required: boolean; values?: unknown[] }> }>> {
  const out: Record<string, { type: string; fields: Array<{ name: string; type: string; required: boolean; values?: unknown[] }> }> = {}
  for (const spec of await discoverFunctions(functionsDir)) {
    const type = await requestTypeOf(spec.module)
    const schema = type ? catalogue.get(type)?.schema as { properties?: Record<string, { type?: unknown; enum?: unknown[] }>; required?: string[] } | undefined : undefined
    if (!type || !schema) continue
    const required = new Set(schema.required ?? [])
    out[spec.name] = {
      type,
      fields: Object.entries(schema.properties ?? {}).map(([name, p]) => ({
        name, required: required.has(name),
        type: Array.isArray(p.type) ? p.type.join('|') : String(p.type ?? 'any'),
        ...(Array.isArray(p.enum) ? { values: p.enum } : {}),
      })),
    }
  }
  return out
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer ([A-Za-z0-9_-]+)$/.exec(header ?? '')
  if (!m) return false
  const given = Buffer.from(m[1]!)
  const expected = Buffer.from(token)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

function pathOf(request: FastifyRequest): string {
  return request.url.split('?')[0]!
}

/**
 * A route that answers its methods, and every other method Fastify knows
 * with a 405 naming them (RFC 9110 15.5.6: with an Allow header), where
 * Fastify alone would say 404.
 */
function route(app: FastifyInstance, methods: HTTPMethods[], url: string, handler: RouteHandlerMethod): void {
  app.route({ method: methods, url, handler })
  const others = app.supportedMethods.filter((m) => !(methods as string[]).includes(m)) as HTTPMethods[]
  app.route({
    method: others, url, handler: (request, reply) => {
      reply.header('allow', methods.join(', '))
      throw new CaretakerError(Errors.MethodNotAllowed, `${pathOf(request)} takes ${methods.join(', ')}`)
    },
  })
}

export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const token = options.token ?? randomBytes(24).toString('base64url')
  const log = options.logger.child({ component: 'console' })
  const target: Target = { kind: 'local', state: options.state }
  const connection: Connection = { stateDir: options.stateDir, server: undefined, tokenFile: undefined, kubeconfig: undefined, env: options.env }
  const waitMs = options.waitMs ?? 120_000
  const host = options.host ?? '127.0.0.1'
  const streams = new Set<ServerResponse>()
  // Read once (it imports each function's module, as `caretaker run` does); a failure is tried again next time.
  const requests = lazy(() => manualRequests(options.state.functionsDir))
  // The page's three files, read once: they change only with the code.
  const staticDir = new URL('./static/', import.meta.url)
  const files = new Map(await Promise.all(Object.entries(STATIC).map(async ([path, { file, type }]) => [path, { type, body: await readFile(new URL(file, staticDir)) }] as const)))

  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    // Only the page's files answer HEAD; an API call is a GET or a POST.
    exposeHeadRoutes: false,
    // close() ends the live flows, then drops every connection, so the process can exit.
    forceCloseConnections: true,
    // Fastify's own 503 while closing is not the catalogue's; close() drops the connections anyway.
    return503OnClosing: false,
    // A dead letter's id is an event's, which has no length limit (find-my-way's default is 100).
    routerOptions: { maxParamLength: 16 * 1024 },
    // A URL find-my-way cannot decode, refused before any route (so before the API's token check): the catalogue's 400.
    frameworkErrors: (err, request, reply) => {
      const refused = pathOf(request).startsWith('/api/') ? unauthenticated(request, reply) : undefined
      // No hook runs for it (onSend neither): the headers are set here.
      sendCatalogued(reply.headers(SECURITY_HEADERS), refused ?? catalogued(err) ?? new CaretakerError(Errors.InvalidRequest, err.message))
    },
  })

  function sendCatalogued(reply: FastifyReply, err: CaretakerError): FastifyReply {
    return reply.code(err.status).send({ error: err.code, message: err.message })
  }

  /** Every API call carries this start's token; the refusal when it does not. */
  function unauthenticated(request: FastifyRequest, reply: FastifyReply): CaretakerError | undefined {
    if (tokenMatches(request.headers.authorization, token)) return undefined
    reply.header('www-authenticate', 'Bearer realm="caretaker-console"')
    return new CaretakerError(Errors.Unauthenticated, 'the console\'s API takes the token of this start as "Authorization: Bearer <token>": open the URL `npm start` printed (its #token=...)')
  }

  app.setErrorHandler((err, request, reply) => {
    const known = catalogued(err)
    if (!known) log.error({ path: pathOf(request), err: loggableUnexpected(err) }, 'console: request failed')
    return sendCatalogued(reply, known ?? new CaretakerError(Errors.Internal, 'the console could not answer: see npm start\'s log'))
  })
  app.addHook('onSend', async (_request, reply) => { reply.headers(SECURITY_HEADERS) })
  app.addHook('preClose', (done) => {
    for (const res of streams) res.end()
    done()
  })

  // An empty body is no body, whatever its type (redeliver's POST carries none); any other must be JSON.
  app.removeAllContentTypeParsers()
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body: string, done) => {
    if (body.length === 0) done(null, undefined)
    else parseJson(request, body, done)
  })
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    if (body.length === 0) done(null, undefined)
    else done(new CaretakerError(Errors.UnsupportedMediaType, 'send the body as application/json'), undefined)
  })

  // The page's files hold no data and no token: served to anyone on loopback.
  for (const [path, file] of files) route(app, ['GET', 'HEAD'], path, async (_request, reply) => reply.type(file.type).send(file.body))
  app.setNotFoundHandler((request) => {
    throw new CaretakerError(Errors.NotFound, `no ${pathOf(request)} here: open / with the URL \`npm start\` printed`)
  })

  app.register(async (api) => {
    // Before the body is read: a call without the token is refused whatever it sends.
    api.addHook('onRequest', async (request, reply) => {
      const refused = unauthenticated(request, reply)
      if (refused) throw refused
    })
    api.setNotFoundHandler((request) => {
      throw new CaretakerError(Errors.NotFound, `no ${pathOf(request)} here: the console's API is ${API_PATHS}`)
    })

    route(api, ['GET'], '/events', (request, reply) => {
      const query = request.query as { after?: unknown }
      const after = Number(query.after ?? request.headers['last-event-id'] ?? 0)
      // The stream is written here, not by Fastify: it stays open until the page goes or close() ends it.
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' })
      const write = (item: FlowItem): void => { res.write(`id: ${item.seq}\nevent: flow\ndata: ${JSON.stringify(item)}\n\n`) }
      for (const item of options.feed.since(Number.isFinite(after) ? after : 0)) write(item)
      res.write(': live\n\n')
      const unsubscribe = options.feed.subscribe(write)
      streams.add(res)
      res.on('close', () => { unsubscribe(); streams.delete(res) })
    })

    route(api, ['GET'], '/functions', async () => {
      const [{ json }, manual] = await Promise.all([captured((print) => statusCommand(target, true, print)), requests()])
      const functions = (json.functions as Array<Record<string, unknown>>).map((f) => ({ ...f, request: manual[String(f.name)] ?? null }))
      return { ...json, functions }
    })

    route(api, ['GET'], '/dead-letters', async () => {
      const { json } = await captured((print) => deadLettersCommand(options.stateDir, target, true, print))
      return { deadLetters: json }
    })

    route(api, ['POST'], '/dead-letters/:id/redeliver', async (request) => {
      const { id } = request.params as { id: string }
      const { json } = await captured((print) => redeliverCommand(target, id, { json: true, timeoutMs: waitMs }, print))
      return withText(json)
    })

    route(api, ['POST'], '/run', async (request) => {
      const body = (request.body ?? {}) as { function?: unknown; fields?: unknown; apply?: unknown }
      if (typeof body.function !== 'string' || !body.function) throw new CaretakerError(Errors.InvalidRequest, 'name the function: {"function": "<name>", "fields": {"field": "value"}, "apply": false}')
      const fields = body.fields ?? {}
      if (typeof fields !== 'object' || fields === null || Array.isArray(fields) || Object.values(fields).some((v) => typeof v !== 'string')) {
        throw new CaretakerError(Errors.InvalidRequest, 'fields must be an object of strings, each read as `caretaker run` reads field=value')
      }
      if (body.apply !== undefined && typeof body.apply !== 'boolean') throw new CaretakerError(Errors.InvalidRequest, 'apply must be true or false')
      const pairs = Object.entries(fields as Record<string, string>).filter(([, v]) => v !== '').map(([k, v]) => `${k}=${v}`)
      const { json } = await captured((print) => runCommand(target, connection, { name: body.function as string, fields: pairs, apply: body.apply === true, json: true, timeoutMs: waitMs }, print))
      return withText(json)
    })

    route(api, ['GET'], '/backups', async () => {
      if (!options.verifyBackupConfig) return { at: new Date().toISOString(), sets: [], note: 'verify-backup runs without a config here: no backup sets to show' }
      const config = await loadConfigFile<VerifyBackupConfig>(options.verifyBackupConfig, verifyBackupSchema)
      const now = new Date()
      return { at: now.toISOString(), sets: await backupFreshness(config, options.kubeConfig, now) }
    })

    route(api, ['GET'], '/certificates', async () => {
      if (!options.kubeConfig) return { at: new Date().toISOString(), certificates: [], note: 'no Kubernetes API configured' }
      return { at: new Date().toISOString(), ...await certificateStates(options.kubeConfig) }
    })
  }, { prefix: '/api' })

  try {
    await app.listen({ port: options.port, host })
  } catch (err) {
    // Its port taken, say: nothing is left open behind the refusal.
    await app.close()
    throw err
  }
  const { port } = app.server.address() as AddressInfo
  const url = `http://${host}:${port}/`
  return {
    url,
    openUrl: `${url}#token=${token}`,
    token,
    close: () => app.close(),
  }
}

/** A command's JSON with the outcome's full text (what `caretaker run` prints without --json), for the page. */
function withText(json: Record<string, unknown>): Record<string, unknown> {
  const outcome = json.outcome as EventJson | null | undefined
  return outcome ? { ...json, text: outcomeText(eventFromJson(outcome)) } : json
}
