import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { pipeline } from 'node:stream'
import { Errors, type ErrorDefinition } from '../../shared/errors.ts'
import type { Logger } from '../../shared/logger.ts'

/**
 * Knative Serving's activator, for the local platform. A Knative Service
 * scaled to zero is reached through the activator, which holds ("buffers")
 * each request until a pod of the revision is ready and then forwards it;
 * the request is what makes the revision scale up
 * (https://knative.dev/docs/serving/request-flow/, "Scale From Zero").
 *
 * Here every function's address is an activator route from the start, so the
 * platform is ready to take events before its function processes are: a
 * request for a function still starting waits for it (and starts it at once
 * if it has not begun: `onDemand`), then goes through. A function that could not start
 * is answered 503 with what happened, as a revision that never becomes ready
 * is by Knative.
 *
 * The health paths are not held: a readiness probe of a function still
 * starting is answered 503 `{"status":"starting"}` at once (`caretaker status`
 * shows it), as kubelet's probe of a pod that is not ready fails at once.
 */

export type RouteState = 'starting' | 'ready' | 'failed'

export interface ActivatorOptions {
  readonly logger: Logger
  /** Told when a request arrives for a function still starting: the platform starts that one at once. */
  readonly onDemand?: (name: string) => void
  /** How long a request waits for its function to be ready before a 503 (the functions' own start timeout). */
  readonly holdTimeoutMs: number
}

interface Route {
  readonly name: string
  readonly server: Server
  readonly url: string
  state: RouteState
  upstream: URL | undefined
  reason: string | undefined
  readonly waiters: Set<() => void>
}

const PROBE_PATHS = new Set(['/health/readiness', '/health/liveness'])

// Hop-by-hop headers (RFC 9110 section 7.6.1): a proxy does not forward them.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'])

function withoutHopByHop(headers: IncomingMessage['headers']): IncomingMessage['headers'] {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)))
}

function replyJson(res: ServerResponse, status: number, body: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** An answer in the shape of every Caretaker error reply: the catalogue's code and what to do. */
function replyError(res: ServerResponse, def: ErrorDefinition, message: string): void {
  replyJson(res, def.status, { error: def.code, message })
}

export class Activator {
  readonly #options: ActivatorOptions
  readonly #routes = new Map<string, Route>()
  readonly #sockets = new Set<Socket>()
  // Connections to the functions are kept open between requests, as the activator's are to pods.
  readonly #agent = new Agent({ keepAlive: true })
  #closing = false

  constructor(options: ActivatorOptions) {
    this.#options = options
  }

  /** A loopback address for the function, held until `ready()` (or answered 503 after `failed()`). */
  async route(name: string): Promise<string> {
    if (this.#routes.has(name)) throw new Error(`${name} has a route already`)
    const server = createServer((req, res) => this.#serve(route, req, res))
    server.on('connection', (socket) => {
      this.#sockets.add(socket)
      socket.once('close', () => this.#sockets.delete(socket))
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
    const port = (server.address() as AddressInfo).port
    const route: Route = { name, server, url: `http://127.0.0.1:${port}`, state: 'starting', upstream: undefined, reason: undefined, waiters: new Set() }
    this.#routes.set(name, route)
    return route.url
  }

  state(name: string): RouteState | undefined {
    return this.#routes.get(name)?.state
  }

  /** The function listens at `upstream` and is ready: held requests go through now. */
  ready(name: string, upstream: string): void {
    const route = this.#get(name)
    route.state = 'ready'
    route.upstream = new URL(upstream)
    this.#release(route)
  }

  /** The function will not be ready: held and later requests are answered 503 with this reason. */
  failed(name: string, reason: string): void {
    const route = this.#get(name)
    route.state = 'failed'
    route.reason = reason
    this.#release(route)
  }

  async close(): Promise<void> {
    this.#closing = true
    for (const route of this.#routes.values()) this.#release(route)
    const closed = Promise.all([...this.#routes.values()].map((route) => new Promise<void>((resolve) => route.server.close(() => resolve()))))
    // What was answered is sent: the connections left (kept alive, or a client's own) are ended, not waited for.
    for (const socket of this.#sockets) socket.end()
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())])
    for (const socket of this.#sockets) socket.destroy()
    await closed
    this.#agent.destroy()
  }

  #get(name: string): Route {
    const route = this.#routes.get(name)
    if (!route) throw new Error(`${name} has no route`)
    return route
  }

  #release(route: Route): void {
    const waiters = [...route.waiters]
    route.waiters.clear()
    for (const wake of waiters) wake()
  }

  #serve(route: Route, req: IncomingMessage, res: ServerResponse, held = false): void {
    if (route.state === 'starting' && !this.#closing && !held) {
      if (PROBE_PATHS.has((req.url ?? '').split('?')[0]!)) {
        replyJson(res, 503, { status: 'starting' })
        return
      }
      this.#options.onDemand?.(route.name)
      const timer = setTimeout(() => wake(), this.#options.holdTimeoutMs)
      const wake = (): void => {
        clearTimeout(timer)
        route.waiters.delete(wake)
        res.off('close', gone)
        this.#serve(route, req, res, true)
      }
      // A client that gives up while held is forgotten.
      const gone = (): void => {
        clearTimeout(timer)
        route.waiters.delete(wake)
      }
      route.waiters.add(wake)
      // (The response's close: the request's own comes only once its body is read, which a held one is not.)
      res.once('close', gone)
      return
    }
    if (this.#closing) {
      replyError(res, Errors.ShuttingDown, `${route.name} is not taking requests: the local platform is stopping`)
      return
    }
    if (route.state === 'failed') {
      replyError(res, Errors.NotReady, `${route.name} did not start (${route.reason ?? 'no reason given'}); its log says why: fix it and restart \`npm start\``)
      return
    }
    if (route.state === 'starting') {
      replyError(res, Errors.NotReady, `${route.name} was not ready within ${this.#options.holdTimeoutMs / 1000} s; try again, or see its log`)
      return
    }
    this.#forward(route, route.upstream!, req, res)
  }

  #forward(route: Route, upstream: URL, req: IncomingMessage, res: ServerResponse): void {
    const out = httpRequest({
      agent: this.#agent,
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: withoutHopByHop(req.headers),
    })
    let done = false
    const fail = (err: Error): void => {
      if (done) return
      done = true
      // The function's process is gone, or closed the connection: as a gateway would, 502.
      this.#options.logger.warn({ function: route.name, reason: err.message }, 'activator: the function did not answer')
      replyError(res, Errors.DependencyFailed, `${route.name} did not answer (${err.message}); see its log`)
    }
    out.on('error', fail)
    out.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers))
      pipeline(answer, res, () => undefined)
    })
    // A client gone before its answer: the request to the function is dropped too.
    res.once('close', () => {
      if (res.writableFinished) return
      done = true
      out.destroy()
    })
    req.pipe(out)
  }
}
