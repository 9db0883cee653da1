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
  readonly attempts?: number
  readonly backoffMs?: number
  readonly timeoutMs?: number
}

export function createEventSink(url: string | undefined, logger: Logger, options: HttpSinkOptions = {}): EventSink {
  const attempts = options.attempts ?? 3
  const backoffMs = options.backoffMs ?? 250
  const timeoutMs = options.timeoutMs ?? 10_000
  return {
    url,
    async send(event) {
      if (!url) {
        logger.debug({ event: { id: event.id, type: event.type } }, 'no K_SINK: event not sent')
        return false
      }
      const message = toBinaryMessage(event)
      let last = ''
      for (let attempt = 1; attempt <= attempts; attempt++) {
        try {
          const res = await fetch(url, {
            method: 'POST',
            headers: message.headers,
            ...(message.body === undefined ? {} : { body: message.body }),
            signal: AbortSignal.timeout(timeoutMs),
          })
          await res.arrayBuffer()
          if (res.ok) return true
          last = `HTTP ${res.status}`
          if (res.status >= 400 && res.status < 500 && res.status !== 429) break
        } catch (err) {
          last = (err as NodeJS.ErrnoException).cause ? String(((err as { cause: NodeJS.ErrnoException }).cause).code ?? 'network error') : (err as Error).name
        }
        if (attempt < attempts) await sleep(backoffMs * 2 ** (attempt - 1))
      }
      logger.warn({ event: { id: event.id, type: event.type }, sink: url, reason: last }, 'sending an event to the sink failed')
      return false
    },
  }
}
