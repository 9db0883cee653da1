import { randomBytes, randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json }
export type JsonObject = { [key: string]: Json }

/** What a handler answers; `raw` is sent as-is (snapshots), otherwise `body` as JSON. */
export interface Reply {
  status: number
  body?: unknown
  raw?: Buffer
  contentType?: string
}

export interface RequestContext {
  /** GET, LIST (also GET ?list=true), POST, PUT, PATCH, DELETE or HEAD */
  method: string
  /** The API path after /v1/, without a leading slash, e.g. `secret/data/app`. */
  path: string
  query: URLSearchParams
  headers: IncomingHttpHeaders
  rawBody: Buffer
  body: JsonObject
  tokenId: string | undefined
}

/** An error answered as Vault does: `{"errors": [...]}` with the given status. */
export class VaultHttpError extends Error {
  readonly status: number
  readonly errors: string[]
  constructor(status: number, errors: string[]) {
    super(errors[0] ?? `status ${status}`)
    this.status = status
    this.errors = errors
  }
}

export const permissionDenied = (): VaultHttpError => new VaultHttpError(403, ['permission denied'])
export const badRequest = (message: string): VaultHttpError => new VaultHttpError(400, [message])
/** Vault answers a missing entry (and an empty LIST) with 404 and no messages. */
export const notFound = (): VaultHttpError => new VaultHttpError(404, [])
export const unsupportedOperation = (): VaultHttpError => new VaultHttpError(405, ['unsupported operation'])
export const noHandler = (path: string): VaultHttpError =>
  new VaultHttpError(404, [`no handler for route "${path}". route entry not found.`])

export interface EnvelopeOptions {
  mountType: string
  auth?: unknown
  warnings?: string[] | null
  leaseDuration?: number
  renewable?: boolean
}

/** Vault's response envelope around a `data` object. */
export function envelope(data: unknown, options: EnvelopeOptions): Record<string, unknown> {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: options.renewable ?? false,
    lease_duration: options.leaseDuration ?? 0,
    data,
    wrap_info: null,
    warnings: options.warnings ?? null,
    auth: options.auth ?? null,
    mount_type: options.mountType,
  }
}

export const ok = (data: unknown, options: EnvelopeOptions): Reply => ({ status: 200, body: envelope(data, options) })
export const noContent = (): Reply => ({ status: 204 })

/** An answer to LIST: 404 `{"errors":[]}` when empty, as Vault does. */
export function listReply(keys: string[], mountType: string): Reply {
  if (keys.length === 0) throw notFound()
  return ok({ keys }, { mountType })
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
export function randomBase62(length: number): string {
  const bytes = randomBytes(length)
  let out = ''
  for (const b of bytes) out += BASE62[b % 62]
  return out
}

export const nowIso = (): string => new Date().toISOString()

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Go-style durations ("768h", "3h25m19s", "30s") or plain seconds, to seconds. */
export function parseDuration(value: unknown, field: string): number {
  if (value === undefined || value === null || value === '') return 0
  if (typeof value === 'number') return Math.floor(value)
  if (typeof value !== 'string') throw badRequest(`invalid duration for ${field}`)
  if (/^\d+$/.test(value)) return Number(value)
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g
  let total = 0
  let consumed = 0
  for (const m of value.matchAll(re)) {
    const n = Number(m[1])
    const unit = m[2]
    total += unit === 'h' ? n * 3600 : unit === 'm' ? n * 60 : unit === 's' ? n : n / 1000
    consumed += m[0].length
  }
  if (consumed !== value.length) throw badRequest(`time: invalid duration "${value}"`)
  return Math.floor(total)
}

/** Seconds to Go's duration text, as Vault prints `delete_version_after`. */
export function formatDuration(seconds: number): string {
  if (seconds <= 0) return '0s'
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`
}

/** Vault accepts lists either as JSON arrays or comma-separated strings. */
export function stringList(value: unknown): string[] {
  if (value === undefined || value === null) return []
  if (Array.isArray(value)) return value.map(String).map((s) => s.trim()).filter((s) => s.length > 0)
  if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
  return [String(value)]
}

export function boolParam(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback
  if (typeof value === 'boolean') return value
  if (typeof value === 'string') return value === 'true' || value === '1'
  return Boolean(value)
}
