import {
  badRequest,
  boolParam,
  formatDuration,
  isObject,
  listReply,
  noContent,
  notFound,
  nowIso,
  ok,
  parseDuration,
  unsupportedOperation,
  VaultHttpError,
  type Json,
  type JsonObject,
  type Reply,
  type RequestContext,
} from './common.ts'
import type { KvMount, KvSecret, KvVersion } from './state.ts'

const MOUNT_TYPE = 'kv'
/** Vault keeps 10 versions when neither the key nor the mount says otherwise. */
const DEFAULT_MAX_VERSIONS = 10

export const CAS_MISMATCH = 'check-and-set parameter did not match the current version'
export const CAS_REQUIRED = 'check-and-set parameter required for this call'

export type KvOperation = 'data' | 'metadata' | 'delete' | 'undelete' | 'destroy' | 'subkeys' | 'config'

/** Splits the path inside a mount into the KV v2 operation and the key. */
export function splitKvPath(sub: string): { op: KvOperation; key: string } | undefined {
  if (sub === 'config') return { op: 'config', key: '' }
  const m = /^(data|metadata|delete|undelete|destroy|subkeys)(?:\/(.*))?$/.exec(sub)
  if (!m) return undefined
  return { op: m[1] as KvOperation, key: m[2] ?? '' }
}

/** Whether a write is a create or an update, for the ACL check. */
export function kvExists(mount: KvMount, key: string): boolean {
  return mount.secrets[key] !== undefined
}

function versionMetadata(secret: KvSecret, version: number, v: KvVersion): JsonObject {
  return {
    created_time: v.created_time,
    custom_metadata: secret.custom_metadata,
    deletion_time: v.deletion_time,
    destroyed: v.destroyed,
    version,
  }
}

function effectiveMaxVersions(mount: KvMount, secret: KvSecret): number {
  return secret.max_versions || mount.config.max_versions || DEFAULT_MAX_VERSIONS
}

/** Drops versions beyond max_versions, oldest first, as Vault's cleanup does. */
function pruneVersions(mount: KvMount, secret: KvSecret): void {
  const max = effectiveMaxVersions(mount, secret)
  const numbers = Object.keys(secret.versions).map(Number).sort((a, b) => a - b)
  while (numbers.length > max) {
    const oldest = numbers.shift()!
    Reflect.deleteProperty(secret.versions, String(oldest))
  }
  if (secret.oldest_version !== 0 || numbers[0] !== 1) secret.oldest_version = numbers[0] ?? 0
}

/** Deleted after delete_version_after elapsed counts as deleted on read. */
function isDeleted(v: KvVersion): boolean {
  return v.deletion_time !== '' && Date.parse(v.deletion_time) <= Date.now()
}

function newSecret(): KvSecret {
  const now = nowIso()
  return {
    versions: {},
    current_version: 0,
    oldest_version: 0,
    created_time: now,
    updated_time: now,
    custom_metadata: null,
    max_versions: 0,
    cas_required: false,
    delete_version_after: 0,
  }
}

function checkCas(mount: KvMount, secret: KvSecret | undefined, options: unknown): void {
  const cas = isObject(options) ? options['cas'] : undefined
  const required = mount.config.cas_required || (secret?.cas_required ?? false)
  if (cas === undefined || cas === null) {
    if (required) throw badRequest(CAS_REQUIRED)
    return
  }
  const n = typeof cas === 'number' ? cas : Number(cas)
  if (!Number.isInteger(n) || n < 0) throw badRequest('invalid cas parameter')
  if (n !== (secret?.current_version ?? 0)) throw badRequest(CAS_MISMATCH)
}

/** Stores a new version; shared by writes, patches and the seeding API. */
export function writeVersion(mount: KvMount, key: string, data: JsonObject): { secret: KvSecret; version: number } {
  let secret = mount.secrets[key]
  if (!secret) {
    secret = newSecret()
    mount.secrets[key] = secret
  }
  const now = new Date()
  const version = secret.current_version + 1
  const after = secret.delete_version_after || mount.config.delete_version_after
  secret.versions[String(version)] = {
    data,
    created_time: now.toISOString(),
    deletion_time: after > 0 ? new Date(now.getTime() + after * 1000).toISOString() : '',
    destroyed: false,
  }
  secret.current_version = version
  secret.updated_time = now.toISOString()
  pruneVersions(mount, secret)
  return { secret, version }
}

function writeResponse(secret: KvSecret, version: number): Reply {
  return ok(versionMetadata(secret, version, secret.versions[String(version)]!), { mountType: MOUNT_TYPE })
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch
  const out: JsonObject = isObject(target) ? { ...target } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k)
    else out[k] = mergePatch(out[k] ?? null, v)
  }
  return out
}

function requestedVersion(ctx: RequestContext, secret: KvSecret): number {
  const raw = ctx.query.get('version')
  if (raw === null || raw === '' || raw === '0') return secret.current_version
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0) throw badRequest(`invalid version "${raw}"`)
  return n
}

/**
 * A deleted or destroyed version reads as 404 but, like Vault, still carries
 * the envelope with `data: null` and the version's metadata.
 */
function readable(secret: KvSecret, version: number, field: 'data' | 'subkeys', depth = 0): Reply {
  const v = secret.versions[String(version)]
  if (!v) throw notFound()
  const metadata = versionMetadata(secret, version, v)
  if (v.destroyed || isDeleted(v)) {
    return { status: 404, body: ok({ [field]: null, metadata }, { mountType: MOUNT_TYPE }).body }
  }
  const value = field === 'data' ? v.data : subkeys(v.data ?? {}, depth)
  return ok({ [field]: value, metadata }, { mountType: MOUNT_TYPE })
}

function subkeys(value: JsonObject, depth: number, level = 1): JsonObject {
  const out: JsonObject = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = isObject(v) && (depth === 0 || level < depth) ? subkeys(v, depth, level + 1) : null
  }
  return out
}

function versionsParam(body: JsonObject): number[] {
  const raw = body['versions']
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : raw === undefined ? [] : [raw]
  const versions = list.map((v) => Number(v)).filter((v) => Number.isInteger(v) && v > 0)
  if (versions.length === 0) throw badRequest('no version number provided')
  return versions
}

function metadataData(secret: KvSecret): JsonObject {
  const versions: JsonObject = {}
  for (const [n, v] of Object.entries(secret.versions)) {
    versions[n] = { created_time: v.created_time, deletion_time: v.deletion_time, destroyed: v.destroyed }
  }
  return {
    cas_required: secret.cas_required,
    created_time: secret.created_time,
    current_version: secret.current_version,
    custom_metadata: secret.custom_metadata,
    delete_version_after: formatDuration(secret.delete_version_after),
    max_versions: secret.max_versions,
    oldest_version: secret.oldest_version,
    updated_time: secret.updated_time,
    versions,
  }
}

function customMetadata(value: unknown): Record<string, string> {
  if (!isObject(value)) throw badRequest('custom_metadata must be a map of strings')
  const out: Record<string, string> = {}
  const keys = Object.keys(value)
  // Vault's own limits on custom metadata
  if (keys.length > 64) throw badRequest('custom_metadata: 64 keys at most')
  for (const [k, v] of Object.entries(value)) {
    if (k.length > 128) throw badRequest(`custom_metadata: length of key "${k}" is greater than 128 characters`)
    if (typeof v !== 'string') throw badRequest(`custom_metadata: value of key "${k}" must be a string`)
    if (v.length > 512) throw badRequest(`custom_metadata: length of value for key "${k}" is greater than 512 characters`)
    out[k] = v
  }
  return out
}

function applyMetadata(secret: KvSecret, body: JsonObject, patch: boolean): void {
  if (body['max_versions'] !== undefined) {
    const n = Number(body['max_versions'])
    if (!Number.isInteger(n) || n < 0) throw badRequest('max_versions must be a non-negative integer')
    secret.max_versions = n
  }
  if (body['cas_required'] !== undefined) secret.cas_required = boolParam(body['cas_required'], false)
  if (body['delete_version_after'] !== undefined) {
    secret.delete_version_after = parseDuration(body['delete_version_after'], 'delete_version_after')
  }
  if (body['custom_metadata'] !== undefined) {
    if (patch) {
      const merged = mergePatch((secret.custom_metadata ?? {}) as JsonObject, body['custom_metadata'])
      const cm = customMetadata(merged)
      secret.custom_metadata = Object.keys(cm).length > 0 ? cm : null
    } else if (body['custom_metadata'] === null) {
      secret.custom_metadata = null
    } else {
      secret.custom_metadata = customMetadata(body['custom_metadata'])
    }
  }
  secret.updated_time = nowIso()
}

/** Immediate children of a folder, folders with a trailing slash, sorted. */
export function listKeys(mount: KvMount, prefix: string): string[] {
  const folder = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`
  const keys = new Set<string>()
  for (const key of Object.keys(mount.secrets)) {
    if (!key.startsWith(folder)) continue
    const rest = key.slice(folder.length)
    if (rest === '') continue
    const slash = rest.indexOf('/')
    keys.add(slash < 0 ? rest : rest.slice(0, slash + 1))
  }
  return [...keys].sort()
}

export function handleKv(ctx: RequestContext, mount: KvMount, sub: string): Reply {
  const parsed = splitKvPath(sub)
  if (!parsed) {
    // KV v2's catch-all path: a v1-style path (no data/ or metadata/) finds nothing.
    if (ctx.method === 'GET' || ctx.method === 'LIST') throw notFound()
    throw new VaultHttpError(405, [
      `Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv ${ctx.method === 'DELETE' ? 'delete' : 'put'}' for this operation.`,
    ])
  }
  const { op, key } = parsed
  const method = ctx.method
  const secret = mount.secrets[key]

  if (op === 'config') {
    if (method === 'GET') {
      return ok(
        {
          cas_required: mount.config.cas_required,
          delete_version_after: formatDuration(mount.config.delete_version_after),
          max_versions: mount.config.max_versions,
        },
        { mountType: MOUNT_TYPE },
      )
    }
    if (method === 'POST' || method === 'PUT') {
      const b = ctx.body
      if (b['max_versions'] !== undefined) mount.config.max_versions = Number(b['max_versions']) || 0
      if (b['cas_required'] !== undefined) mount.config.cas_required = boolParam(b['cas_required'], false)
      if (b['delete_version_after'] !== undefined) {
        mount.config.delete_version_after = parseDuration(b['delete_version_after'], 'delete_version_after')
      }
      return noContent()
    }
    throw unsupportedOperation()
  }

  if (key === '' && op !== 'metadata') throw badRequest('missing path')

  switch (op) {
    case 'data': {
      if (method === 'GET') {
        if (!secret) throw notFound()
        return readable(secret, requestedVersion(ctx, secret), 'data')
      }
      if (method === 'POST' || method === 'PUT') {
        const data = ctx.body['data']
        if (!isObject(data)) throw badRequest('no data provided')
        checkCas(mount, secret, ctx.body['options'])
        const { secret: s, version } = writeVersion(mount, key, data)
        return writeResponse(s, version)
      }
      if (method === 'PATCH') {
        const current = secret?.versions[String(secret.current_version)]
        if (!secret || !current || current.destroyed || isDeleted(current) || !current.data) throw notFound()
        const data = ctx.body['data']
        if (!isObject(data)) throw badRequest('no data provided')
        checkCas(mount, secret, ctx.body['options'])
        const merged = mergePatch(current.data, data) as JsonObject
        const { secret: s, version } = writeVersion(mount, key, merged)
        return writeResponse(s, version)
      }
      if (method === 'DELETE') {
        const current = secret?.versions[String(secret.current_version)]
        if (current && !current.destroyed && !isDeleted(current)) current.deletion_time = nowIso()
        return noContent()
      }
      throw unsupportedOperation()
    }
    case 'metadata': {
      if (method === 'LIST') return listReply(listKeys(mount, key), MOUNT_TYPE)
      if (key === '') throw badRequest('missing path')
      if (method === 'GET') {
        if (!secret) throw notFound()
        return ok(metadataData(secret), { mountType: MOUNT_TYPE })
      }
      if (method === 'POST' || method === 'PUT') {
        const s = secret ?? newSecret()
        applyMetadata(s, ctx.body, false)
        mount.secrets[key] = s
        pruneVersions(mount, s)
        return noContent()
      }
      if (method === 'PATCH') {
        if (!secret) throw notFound()
        applyMetadata(secret, ctx.body, true)
        pruneVersions(mount, secret)
        return noContent()
      }
      if (method === 'DELETE') {
        Reflect.deleteProperty(mount.secrets, key)
        return noContent()
      }
      throw unsupportedOperation()
    }
    case 'delete':
    case 'undelete':
    case 'destroy': {
      if (method !== 'POST' && method !== 'PUT') throw unsupportedOperation()
      const versions = versionsParam(ctx.body)
      if (!secret) return noContent()
      for (const n of versions) {
        const v = secret.versions[String(n)]
        if (!v || v.destroyed) continue
        if (op === 'delete' && !isDeleted(v)) v.deletion_time = nowIso()
        if (op === 'undelete') v.deletion_time = ''
        if (op === 'destroy') {
          v.destroyed = true
          v.data = null
        }
      }
      return noContent()
    }
    case 'subkeys': {
      if (method !== 'GET') throw unsupportedOperation()
      if (!secret) throw notFound()
      const depthRaw = ctx.query.get('depth')
      const depth = depthRaw === null ? 0 : Number(depthRaw)
      if (!Number.isInteger(depth) || depth < 0) throw badRequest(`invalid depth "${depthRaw}"`)
      return readable(secret, requestedVersion(ctx, secret), 'subkeys', depth)
    }
  }
  throw unsupportedOperation()
}
