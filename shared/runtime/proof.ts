import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { CloudEvent } from 'cloudevents'
import { CaretakerError, Errors } from '../errors.ts'
import { byCodeUnits } from '../order.ts'

/**
 * A Caretaker proof: what makes a request event (`*.requested`) trustworthy
 * however it reached the function. With Knative Eventing's OIDC off (its
 * default), anything in the cluster that reaches the Broker's ingress can
 * post an event, so a request that causes a side effect is acted on only
 * when it carries a proof issued by Caretaker itself: by the manual entry
 * (`POST /manual`, once the caller's Kubernetes token is authenticated and
 * RBAC allows the action) or by a function emitting a request (respond-to-
 * alert after confirming an alert).
 *
 * The proof is an HMAC-SHA256, keyed with a Secret every function mounts
 * (never logged), over the event's id, source, type, subject, dryrun, a
 * hash of its data, who asked and the expiry. It travels as CloudEvent
 * extension attributes (lower-case alphanumerics, at most 20 characters, so
 * every binding and the Broker keep them): `caretakerproof`,
 * `caretakerexpiry` (Unix seconds) and `caretakerby`.
 */

export const PROOF = 'caretakerproof'
export const PROOF_EXPIRY = 'caretakerexpiry'
export const PROOF_BY = 'caretakerby'

/** Types that ask a function to act: the ones that need a proof. */
export function isRequestType(type: string): boolean {
  return type.endsWith('.requested')
}

/** JSON with object keys sorted: the same data hashes the same however a hop re-encoded it. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => byCodeUnits(a, b))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

function dataDigest(data: unknown): string {
  const hash = createHash('sha256')
  if (data === undefined) hash.update('none')
  else if (data instanceof Uint8Array) hash.update('bytes\0').update(data)
  else if (typeof data === 'string') hash.update('string\0').update(data)
  else hash.update('json\0').update(canonicalJson(data))
  return hash.digest('hex')
}

type Attributes = Record<string, unknown>

function dryRunOf(event: Attributes): string {
  const v = event.dryrun
  return v === undefined ? '' : String(v).toLowerCase()
}

function message(event: CloudEvent<unknown>, expiry: string, by: string): string {
  const a = event as unknown as Attributes
  return ['caretaker-proof-v1', event.id, event.source, event.type, event.subject ?? '', dryRunOf(a), dataDigest(event.data), by, expiry].join('\n')
}

export interface ProofOptions {
  /** How long a proof stays valid: covers the Broker's retries. */
  ttlSeconds: number
  now?: () => number
}

export class ProofKey {
  readonly #key: Buffer
  readonly #ttlSeconds: number
  readonly #now: () => number

  constructor(key: string | Buffer, options: ProofOptions) {
    const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key
    if (bytes.length < 32) throw new CaretakerError(Errors.InvalidConfig, 'proof key: at least 32 bytes are needed (e.g. openssl rand -base64 32)')
    this.#key = Buffer.from(bytes)
    this.#ttlSeconds = options.ttlSeconds
    this.#now = options.now ?? Date.now
  }

  #mac(text: string): Buffer {
    return createHmac('sha256', this.#key).update(text).digest()
  }

  /** The event with a proof that `by` asked for it; other attributes unchanged. */
  sign<T>(event: CloudEvent<T>, by: string): CloudEvent<T> {
    const expiry = String(Math.floor(this.#now() / 1000) + this.#ttlSeconds)
    const clean = by.replace(/[^\x20-\x7e]/g, '?').slice(0, 256)
    const proof = this.#mac(message(event as CloudEvent<unknown>, expiry, clean)).toString('base64url')
    return event.cloneWith({ [PROOF]: proof, [PROOF_EXPIRY]: expiry, [PROOF_BY]: clean } as Partial<CloudEvent<T>>, false)
  }

  /** Who asked for the event; throws 401 when the proof is missing, forged, altered or expired. */
  verify(event: CloudEvent<unknown>): string {
    const a = event as unknown as Attributes
    const proof = a[PROOF]
    const expiry = a[PROOF_EXPIRY]
    const by = a[PROOF_BY]
    if (typeof proof !== 'string' || typeof expiry !== 'string' || typeof by !== 'string') {
      throw new CaretakerError(Errors.Unauthenticated, `${event.type} is a request: it must carry a Caretaker proof (send it through a function's POST /manual with your Kubernetes token)`, { details: { reason: 'proof_missing' } })
    }
    const presented = Buffer.from(proof, 'base64url')
    const expected = this.#mac(message(event, expiry, by))
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      throw new CaretakerError(Errors.Unauthenticated, 'the request\'s Caretaker proof does not match the event: it was forged or the event was changed after it was issued', { details: { reason: 'proof_invalid' } })
    }
    const seconds = Number(expiry)
    const now = this.#now() / 1000
    if (!Number.isInteger(seconds) || seconds < now) {
      throw new CaretakerError(Errors.Unauthenticated, 'the request\'s Caretaker proof has expired: ask again through POST /manual', { details: { reason: 'proof_expired' } })
    }
    if (seconds > now + this.#ttlSeconds + 300) {
      throw new CaretakerError(Errors.Unauthenticated, 'the request\'s Caretaker proof is valid for longer than this function allows (CARETAKER_PROOF_TTL)', { details: { reason: 'proof_invalid' } })
    }
    return by
  }
}
