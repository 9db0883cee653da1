import { readFile, stat } from 'node:fs/promises'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { setTimeout as sleep } from 'node:timers/promises'
import type { CloudEvent } from 'cloudevents'
import type { Logger } from '../logger.ts'
import { toBinaryMessage } from './cloudevent-http.ts'

/**
 * Where a function sends events beyond its one reply (e.g. a sweep's
 * outcome per backup set): the `K_SINK` URL that a Knative SinkBinding (or
 * `npm start`) provides, normally the Broker's ingress. Sends are retried
 * with backoff; a failure is logged and reported to the caller, never thrown,
 * because the reply still carries the whole outcome.
 */
export interface EventSink {
  readonly url: string | undefined
  send(event: CloudEvent<unknown>): Promise<boolean>
}

export interface HttpSinkOptions {
  /** Applied to each event before it is sent (the runtime signs request events with it). */
  readonly prepare?: (event: CloudEvent<unknown>) => CloudEvent<unknown>
  readonly attempts?: number
  readonly backoffMs?: number
  readonly timeoutMs?: number
  /**
   * A file holding the token to send as `Authorization: Bearer` (a projected
   * serviceAccountToken with the Broker's audience: Knative Eventing's
   * broker ingress refuses events without one when authentication-oidc is
   * enabled). Read again whenever it changed: the kubelet rotates it.
   */
  readonly tokenFile?: string
}

/**
 * A token kept in a file that the kubelet replaces before it expires
 * (pkg/kubelet/token: refreshed at 80% of its lifetime, written by the
 * volume's atomic writer, which swaps a symlink). It is read again when
 * the file's identity, size or time changes, and after the sink refused it.
 */
export class TokenFile {
  readonly path: string
  #cached: { token: string; key: string } | undefined

  constructor(path: string) {
    this.path = path
  }

  async read(): Promise<string> {
    const info = await stat(this.path)
    const key = `${info.ino}:${info.size}:${info.mtimeMs}`
    if (this.#cached?.key === key) return this.#cached.token
    const token = (await readFile(this.path, 'utf8')).trim()
    if (!token) throw Object.assign(new Error('the token file is empty'), { code: 'EMPTY' })
    this.#cached = { token, key }
    return token
  }

  /** Read the file again next time (the sink refused the token). */
  forget(): void {
    this.#cached = undefined
  }
}

/** At most this many connections to the sink at once; later sends wait for one (an alert storm reuses them). */
const SINK_SOCKETS = 32

/** One POST; resolves with the status once the answer is read, rejects on a network error or the timeout. */
function post(url: URL, agent: HttpAgent, headers: Record<string, string>, body: string | Buffer | undefined, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const payload = body ?? ''
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'POST', agent, timeout: timeoutMs,
      headers: { ...headers, 'content-length': String(Buffer.byteLength(payload)) },
    }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('the sink did not answer in time'), { code: 'ETIMEDOUT' })))
    req.on('error', reject)
    req.end(payload)
  })
}

export function createEventSink(url: string | undefined, logger: Logger, options: HttpSinkOptions = {}): EventSink {
  const attempts = options.attempts ?? 3
  const backoffMs = options.backoffMs ?? 250
  const timeoutMs = options.timeoutMs ?? 10_000
  // Keep-alive connections, a bounded number of them: global fetch opened one per concurrent send.
  const target = url ? new URL(url) : undefined
  const tokenFile = options.tokenFile ? new TokenFile(options.tokenFile) : undefined
  const agent = target?.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, maxSockets: SINK_SOCKETS }) : new HttpAgent({ keepAlive: true, maxSockets: SINK_SOCKETS })
  return {
    url,
    async send(event) {
      if (!url || !target) {
        logger.debug({ event: { id: event.id, type: event.type } }, 'no K_SINK: event not sent')
        return false
      }
      const message = toBinaryMessage(options.prepare ? options.prepare(event) : event)
      let last = ''
      for (let attempt = 1; attempt <= attempts; attempt++) {
        let token: string | undefined
        try {
          token = tokenFile ? await tokenFile.read() : undefined
        } catch (err) {
          // Never the token itself: only why the file could not be read.
          last = `the sink token file ${tokenFile!.path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`
          if (attempt < attempts) await sleep(backoffMs * 2 ** (attempt - 1))
          continue
        }
        try {
          const status = await post(target, agent, token ? { ...message.headers, authorization: `Bearer ${token}` } : message.headers, message.body, timeoutMs)
          if (status >= 200 && status < 300) return true
          last = `HTTP ${status}`
          // A refused token may just have been rotated: read the file again and retry.
          if (status === 401 && tokenFile) {
            tokenFile.forget()
            last = 'HTTP 401 (the broker refused the token)'
          } else if (status >= 400 && status < 500 && status !== 429) break
        } catch (err) {
          last = (err as NodeJS.ErrnoException).code ?? 'network error'
        }
        if (attempt < attempts) await sleep(backoffMs * 2 ** (attempt - 1))
      }
      logger.warn({ event: { id: event.id, type: event.type }, sink: url, reason: last }, 'sending an event to the sink failed')
      return false
    },
  }
}
