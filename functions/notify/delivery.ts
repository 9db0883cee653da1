import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import nodemailer from 'nodemailer'
import { CaretakerError } from '../../shared/errors.ts'
import { SecretValue } from '../../shared/logger.ts'
import type { Vault } from '../../shared/vault/client.ts'
import type { Channel, SecretRef } from './config.ts'
import type { Email } from './formats.ts'

/**
 * Getting a message to a channel: the channel's secrets resolved when needed
 * (and only ever held as SecretValue), the HTTP or SMTP exchange, and retries
 * with exponential backoff. A failure is described by what happened (status,
 * error code), never by the URL, the server's reply or the credentials.
 */

/** A secret the config points at is not there: the channel is not configured here. */
export class NotConfigured extends Error {
  readonly where: string
  constructor(where: string) {
    super(`not configured: ${where} is not set`)
    this.where = where
  }
}

export class DeliveryFailure extends Error {
  readonly permanent: boolean
  constructor(message: string, permanent: boolean) {
    super(message)
    this.permanent = permanent
  }
}

export function describeRef(ref: SecretRef): string {
  if ('env' in ref) return `environment variable ${ref.env}`
  if ('file' in ref) return `file ${ref.file}`
  return `vault ${ref.vault.mount}/${ref.vault.path}#${ref.vault.key}`
}

export class Secrets {
  readonly #vault: Vault | undefined
  readonly #env: NodeJS.ProcessEnv
  readonly #cache = new Map<string, { value: SecretValue; until: number }>()

  constructor(vault: Vault | undefined, env: NodeJS.ProcessEnv = process.env) {
    this.#vault = vault
    this.#env = env
  }

  /** Whether a reference can be resolved without asking anyone (env and files); Vault is assumed there. */
  async present(ref: SecretRef): Promise<boolean> {
    try {
      if ('vault' in ref) return this.#vault !== undefined
      await this.resolve(ref)
      return true
    } catch {
      return false
    }
  }

  async resolve(ref: SecretRef): Promise<SecretValue> {
    if ('env' in ref) {
      const v = this.#env[ref.env]
      if (!v) throw new NotConfigured(describeRef(ref))
      return new SecretValue(v.trim())
    }
    if ('file' in ref) {
      try {
        const v = (await readFile(ref.file, 'utf8')).trim()
        if (!v) throw new NotConfigured(describeRef(ref))
        return new SecretValue(v)
      } catch (err) {
        if (err instanceof NotConfigured) throw err
        throw new NotConfigured(describeRef(ref))
      }
    }
    if (!this.#vault) throw new NotConfigured(`${describeRef(ref)} (no Vault is configured)`)
    const key = describeRef(ref)
    const cached = this.#cache.get(key)
    if (cached && cached.until > Date.now()) return cached.value
    // A Vault error (CaretakerError) says which path failed, never a value.
    const secret = await this.#vault.readKv(ref.vault.mount, ref.vault.path)
    const v = secret.data[ref.vault.key]
    if (!v) throw new NotConfigured(`key ${ref.vault.key} of ${key}`)
    const value = new SecretValue(v)
    // Short cache: a rotated webhook or password is picked up within a minute.
    this.#cache.set(key, { value, until: Date.now() + 60_000 })
    return value
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
