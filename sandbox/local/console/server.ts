import { randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { KubeConfig } from '../../../shared/kubernetes/api.ts'
import { Errors, isCaretakerError, type ErrorDefinition } from '../../../shared/errors.ts'
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

class ApiError extends Error {
  readonly def: ErrorDefinition
  constructor(def: ErrorDefinition, message: string) {
    super(message)
    this.def = def
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function sendError(res: ServerResponse, def: ErrorDefinition, message: string): void {
  sendJson(res, def.status, { error: def.code, message })
}

/** A command's refusal as an HTTP answer: the request's fault is a 400, the rest the platform's. */
function cliErrorDef(err: CliError): ErrorDefinition {
  return err.exitCode === EXIT.usage ? Errors.InvalidRequest : Errors.DependencyUnavailable
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > BODY_LIMIT) throw new ApiError(Errors.BodyTooLarge, `the body is over ${BODY_LIMIT} bytes`)
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (!text) return {}
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new ApiError(Errors.UnsupportedMediaType, 'send the body as application/json')
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new ApiError(Errors.InvalidRequest, 'the body is not valid JSON')
  }
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

export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const token = options.token ?? randomBytes(24).toString('base64url')
  const log = options.logger.child({ component: 'console' })
  const target: Target = { kind: 'local', state: options.state }
  const connection: Connection = { stateDir: options.stateDir, server: undefined, tokenFile: undefined, kubeconfig: undefined, env: options.env }
  const waitMs = options.waitMs ?? 120_000
  const staticDir = new URL('./static/', import.meta.url)
  const streams = new Set<ServerResponse>()
  let requests: ReturnType<typeof manualRequests> | undefined

  const api = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const method = req.method ?? 'GET'
    const allow = (...methods: string[]): void => {
      if (!methods.includes(method)) throw new ApiError(Errors.MethodNotAllowed, `${path} takes ${methods.join(', ')}`)
    }
    if (path === '/api/events') {
      allow('GET')
      const after = Number(new URL(req.url ?? '/', 'http://console').searchParams.get('after') ?? req.headers['last-event-id'] ?? 0)
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' })
      const write = (item: FlowItem): void => { res.write(`id: ${item.seq}\nevent: flow\ndata: ${JSON.stringify(item)}\n\n`) }
      for (const item of options.feed.since(Number.isFinite(after) ? after : 0)) write(item)
      res.write(': live\n\n')
      const unsubscribe = options.feed.subscribe(write)
      streams.add(res)
      req.on('close', () => { unsubscribe(); streams.delete(res) })
      return
    }
    if (path === '/api/functions') {
      allow('GET')
      // Read once (it imports each function's module, as `caretaker run` does); a failure is tried again next time.
      requests ??= manualRequests(options.state.functionsDir).catch((err: unknown) => { requests = undefined; throw err })
      const [{ json }, manual] = await Promise.all([captured((print) => statusCommand(target, true, print)), requests])
      const functions = (json.functions as Array<Record<string, unknown>>).map((f) => ({ ...f, request: manual[String(f.name)] ?? null }))
      sendJson(res, 200, { ...json, functions })
      return
    }
    if (path === '/api/dead-letters') {
      allow('GET')
      const { json } = await captured((print) => deadLettersCommand(options.stateDir, target, true, print))
      sendJson(res, 200, { deadLetters: json })
      return
    }
    const redeliver = /^\/api\/dead-letters\/([^/]+)\/redeliver$/.exec(path)
    if (redeliver) {
      allow('POST')
      const id = decodeURIComponent(redeliver[1]!)
      const { json } = await captured((print) => redeliverCommand(target, id, { json: true, timeoutMs: waitMs }, print))
      sendJson(res, 200, withText(json))
      return
    }
    if (path === '/api/run') {
      allow('POST')
      const body = await readBody(req) as { function?: unknown; fields?: unknown; apply?: unknown }
      if (typeof body.function !== 'string' || !body.function) throw new ApiError(Errors.InvalidRequest, 'name the function: {"function": "<name>", "fields": {"field": "value"}, "apply": false}')
      const fields = body.fields ?? {}
      if (typeof fields !== 'object' || fields === null || Array.isArray(fields) || Object.values(fields).some((v) => typeof v !== 'string')) {
        throw new ApiError(Errors.InvalidRequest, 'fields must be an object of strings, each read as `caretaker run` reads field=value')
      }
      if (body.apply !== undefined && typeof body.apply !== 'boolean') throw new ApiError(Errors.InvalidRequest, 'apply must be true or false')
      const pairs = Object.entries(fields as Record<string, string>).filter(([, v]) => v !== '').map(([k, v]) => `${k}=${v}`)
      const { json } = await captured((print) => runCommand(target, connection, { name: body.function as string, fields: pairs, apply: body.apply === true, json: true, timeoutMs: waitMs }, print))
      sendJson(res, 200, withText(json))
      return
    }
    if (path === '/api/backups') {
      allow('GET')
      if (!options.verifyBackupConfig) {
        sendJson(res, 200, { at: new Date().toISOString(), sets: [], note: 'verify-backup runs without a config here: no backup sets to show' })
        return
      }
      const config = await loadConfigFile<VerifyBackupConfig>(options.verifyBackupConfig, verifyBackupSchema)
      const now = new Date()
      sendJson(res, 200, { at: now.toISOString(), sets: await backupFreshness(config, options.kubeConfig, now) })
      return
    }
    if (path === '/api/certificates') {
      allow('GET')
      if (!options.kubeConfig) {
        sendJson(res, 200, { at: new Date().toISOString(), certificates: [], note: 'no Kubernetes API configured' })
        return
      }
      sendJson(res, 200, { at: new Date().toISOString(), ...await certificateStates(options.kubeConfig) })
      return
    }
    throw new ApiError(Errors.NotFound, `no ${path} here: the console's API is /api/events, /api/functions, /api/run, /api/dead-letters, /api/backups, /api/certificates`)
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://console').pathname
    const handle = async (): Promise<void> => {
      if (path.startsWith('/api/')) {
        if (!tokenMatches(req.headers.authorization, token)) {
          res.setHeader('www-authenticate', 'Bearer realm="caretaker-console"')
          sendError(res, Errors.Unauthenticated, 'the console\'s API takes the token of this start as "Authorization: Bearer <token>": open the URL `npm start` printed (its #token=...)')
          return
        }
        await api(req, res, path)
        return
      }
      const file = STATIC[path]
      if (!file) return sendError(res, Errors.NotFound, `no ${path} here: open / with the URL \`npm start\` printed`)
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, Errors.MethodNotAllowed, `${path} takes GET`)
      const body = await readFile(new URL(file.file, staticDir))
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': file.type, 'content-length': body.length })
      res.end(req.method === 'HEAD' ? undefined : body)
    }
    handle().catch((err: unknown) => {
      if (res.headersSent) { res.destroy(); return }
      if (err instanceof ApiError) return sendError(res, err.def, err.message)
      if (err instanceof CliError) return sendError(res, cliErrorDef(err), err.message)
      if (isCaretakerError(err)) return sendJson(res, err.status, { error: err.code, message: err.message })
      log.error({ path, err: { type: (err as Error | undefined)?.name } }, 'console: request failed')
      sendError(res, Errors.Internal, 'the console could not answer: see npm start\'s log')
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host ?? '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const { port } = server.address() as AddressInfo
  const url = `http://${options.host ?? '127.0.0.1'}:${port}/`
  return {
    url,
    openUrl: `${url}#token=${token}`,
    token,
    close: () => new Promise<void>((resolve) => {
      for (const res of streams) res.end()
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

/** A command's JSON with the outcome's full text (what `caretaker run` prints without --json), for the page. */
function withText(json: Record<string, unknown>): Record<string, unknown> {
  const outcome = json.outcome as EventJson | null | undefined
  return outcome ? { ...json, text: outcomeText(eventFromJson(outcome)) } : json
}
