import { setTimeout as sleep } from 'node:timers/promises'
import { loadNodemailer } from '../../shared/drivers.ts'
import { CaretakerError } from '../../shared/errors.ts'
import type { SecretValue } from '../../shared/logger.ts'
import type { Channel } from './config.ts'
import type { Email } from './formats.ts'

/**
 * Getting a message to a channel: the channel's secrets resolved when needed
 * (and only ever held as SecretValue), the HTTP or SMTP exchange, and retries
 * with exponential backoff. A failure is described by what happened (status,
 * error code), never by the URL, the server's reply or the credentials.
 */

export class DeliveryFailure extends Error {
  readonly permanent: boolean
  constructor(message: string, permanent: boolean) {
    super(message)
    this.permanent = permanent
  }
}

export interface RetryPolicy {
  attempts: number
  backoffMs: number
  timeoutMs: number
}

export interface Attempted {
  attempts: number
}

/** Runs `once` until it succeeds, a failure is permanent, or the attempts are used up. */
export async function withRetry(policy: RetryPolicy, signal: AbortSignal, once: (attempt: number) => Promise<unknown>): Promise<Attempted> {
  let delay = policy.backoffMs
  for (let attempt = 1; ; attempt++) {
    try {
      await once(attempt)
      return { attempts: attempt }
    } catch (err) {
      const failure = err instanceof DeliveryFailure ? err : new DeliveryFailure('unexpected error', false)
      if (failure.permanent || attempt >= policy.attempts || signal.aborted) {
        throw Object.assign(failure, { attempts: attempt })
      }
      const retryAfter = (err as { retryAfterMs?: number }).retryAfterMs
      await sleep(Math.max(delay, Math.min(retryAfter ?? 0, 30_000)), undefined, { signal }).catch(() => undefined)
      delay *= 2
    }
  }
}

function networkReason(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string } }
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timed out'
  return `connection failed (${e.cause?.code ?? e.name ?? 'error'})`
}

/** POSTs JSON; 2xx is success, 408/429/5xx and network errors are worth retrying, other 4xx are not. */
export async function postJson(url: SecretValue, body: unknown, options: { token?: SecretValue; timeoutMs: number; signal: AbortSignal }): Promise<void> {
  let response: Response
  try {
    response = await fetch(url.reveal(), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'caretaker-notify',
        ...(options.token ? { authorization: `Bearer ${options.token.reveal()}` } : {}),
      },
      body: JSON.stringify(body),
      redirect: 'error',
      signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs), options.signal]),
    })
  } catch (err) {
    throw new DeliveryFailure(networkReason(err), false)
  }
  // The body may echo the request or name the hook: read it, never report it.
  await response.arrayBuffer().catch(() => undefined)
  if (response.ok) return
  const status = response.status
  const transient = status === 408 || status === 429 || status >= 500
  const failure = new DeliveryFailure(`HTTP ${status}`, !transient)
  const retryAfter = Number(response.headers.get('retry-after'))
  if (Number.isFinite(retryAfter) && retryAfter > 0) Object.assign(failure, { retryAfterMs: retryAfter * 1000 })
  throw failure
}

/** Sends one e-mail; 4xx replies and connection trouble are worth retrying, 5xx and authentication failures are not. */
export async function sendMail(channel: Channel, email: Email, password: SecretValue | undefined, options: { timeoutMs: number }): Promise<void> {
  const smtp = channel.smtp!
  const nodemailer = await loadNodemailer()
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: !smtp.secure && smtp.requireTls,
    ignoreTLS: !smtp.secure && !smtp.requireTls,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
    ...(smtp.user ? { auth: { user: smtp.user, pass: password?.reveal() ?? '' } } : {}),
    logger: false,
    debug: false,
  })
  try {
    await transport.sendMail({ from: smtp.from, to: smtp.to, subject: email.subject, text: email.text, html: email.html })
  } catch (err) {
    const e = err as { code?: string; responseCode?: number }
    if (e.code === 'EAUTH') throw new DeliveryFailure(`SMTP authentication failed${e.responseCode ? ` (${e.responseCode})` : ''}`, true)
    if (typeof e.responseCode === 'number') throw new DeliveryFailure(`SMTP ${e.responseCode}`, e.responseCode >= 500)
    throw new DeliveryFailure(`SMTP ${e.code ?? 'error'}`, false)
  } finally {
    transport.close()
  }
}

export function isCaretakerError(err: unknown): err is CaretakerError {
  return err instanceof CaretakerError
}
