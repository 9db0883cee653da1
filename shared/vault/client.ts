import { readFile } from 'node:fs/promises'
import nodeVault from 'node-vault'
import { CaretakerError, Errors } from '../errors.ts'
import type { VaultSettings } from './settings.ts'

export { vaultSettingsFromEnv, type VaultSettings } from './settings.ts'

/**
 * Vault for the functions: KV v2 reads with the function's own identity,
 * a token (VAULT_TOKEN, tests and the sandbox) or Kubernetes auth
 * (VAULT_K8S_ROLE with the pod's ServiceAccount token, in the cluster).
 * Errors say what failed and never carry what was read.
 */

export interface KvSecret {
  readonly data: Record<string, string>
  readonly version: number
  readonly customMetadata: Record<string, string>
}

type VaultClient = ReturnType<typeof nodeVault>

function statusOf(err: unknown): number | undefined {
  return (err as { response?: { statusCode?: number } }).response?.statusCode
}

/** The part of a Kubernetes-auth token's lease that may pass before it is renewed (Vault Agent renews at about two thirds). */
const RENEW_AFTER = 2 / 3
/** A renewal granting less than this part of the login's TTL means the max TTL is near: log in again instead. */
const RELOGIN_BELOW = 1 / 3

interface Lease {
  /** When the token was obtained or last renewed (ms). */
  readonly at: number
  /** Its TTL then (ms); 0 never expires. */
  readonly ttlMs: number
  readonly renewable: boolean
  /** The TTL the login granted (ms): the measure for a renewal that comes back short. */
  readonly loginTtlMs: number
}

interface AuthReply {
  auth?: { client_token?: string; lease_duration?: number; renewable?: boolean } | null
}

export class Vault {
  readonly #settings: VaultSettings
  #client: VaultClient | undefined
  /** The Kubernetes-auth token's lease; undefined with a given VAULT_TOKEN (its owner renews it). */
  #lease: Lease | undefined
  /** One login or renewal at a time, shared by the requests that need it. */
  #refreshing: Promise<VaultClient> | undefined

  constructor(settings: VaultSettings) {
    this.#settings = settings
  }

  /**
   * A client with a live token. A Kubernetes-auth token is renewed
   * (auth/token/renew-self) once two thirds of its lease have passed, and
   * obtained again by a fresh login when it cannot be renewed, the renewal
   * comes back short (its max TTL is near) or it has expired: a process
   * that runs for days (notify at min-scale 1) never uses a dead token.
   */
  async #authenticated(): Promise<VaultClient> {
    if (this.#client && !this.#due()) return this.#client
    this.#refreshing ??= this.#refresh().finally(() => { this.#refreshing = undefined })
    return this.#refreshing
  }

  #due(): boolean {
    const lease = this.#lease
    if (!lease || lease.ttlMs === 0) return false
    return Date.now() >= lease.at + lease.ttlMs * RENEW_AFTER
  }

  async #refresh(): Promise<VaultClient> {
    if (this.#settings.token) {
      this.#client ??= nodeVault({ endpoint: this.#settings.address, token: this.#settings.token })
      return this.#client
    }
    const lease = this.#lease
    if (this.#client && lease?.renewable && Date.now() < lease.at + lease.ttlMs) {
      const renewed = await this.#renew(this.#client)
      if (renewed) return this.#client
    }
    return this.#login()
  }

  /** True when renewed for long enough; false when a fresh login is due instead. */
  async #renew(client: VaultClient): Promise<boolean> {
    const at = Date.now()
    let reply: AuthReply
    try {
      reply = await client.tokenRenewSelf({}) as AuthReply
    } catch {
      // Revoked, past its max TTL, the role changed, or renew-self not in its policies: a fresh login settles every case.
      return false
    }
    const ttlMs = (reply.auth?.lease_duration ?? 0) * 1000
    const loginTtlMs = this.#lease?.loginTtlMs ?? ttlMs
    if (ttlMs < loginTtlMs * RELOGIN_BELOW) return false
    this.#lease = { at, ttlMs, renewable: reply.auth?.renewable === true, loginTtlMs }
    return true
  }

  async #login(): Promise<VaultClient> {
    if (!this.#settings.kubernetesRole) throw new CaretakerError(Errors.InvalidConfig, 'vault: set VAULT_TOKEN or VAULT_K8S_ROLE')
    // Read each time: the kubelet rotates the projected ServiceAccount token.
    const jwt = (await readFile(this.#settings.serviceAccountTokenPath ?? '/var/run/secrets/kubernetes.io/serviceaccount/token', 'utf8')).trim()
    const client = nodeVault({ endpoint: this.#settings.address })
    const at = Date.now()
    let reply: AuthReply
    try {
      // node-vault adopts the token the login returns.
      reply = await client.kubernetesLogin({ role: this.#settings.kubernetesRole, jwt, mount_point: this.#settings.kubernetesMount ?? 'kubernetes' }) as AuthReply
    } catch (err) {
      throw new CaretakerError(Errors.DependencyUnavailable, `vault: Kubernetes login as role ${this.#settings.kubernetesRole} failed (HTTP ${statusOf(err) ?? 'error'})`)
    }
    const ttlMs = (reply.auth?.lease_duration ?? 0) * 1000
    this.#lease = { at, ttlMs, renewable: reply.auth?.renewable === true, loginTtlMs: ttlMs }
    this.#client = client
    return client
  }

  /**
   * Runs `call` with a live token. With Kubernetes auth a 403 (the token
   * revoked or expired under us) is answered by one fresh login and one
   * retry; a 403 that persists is a real permission problem.
   */
  async #withToken<T>(call: (client: VaultClient) => Promise<T>): Promise<T> {
    const client = await this.#authenticated()
    try {
      return await call(client)
    } catch (err) {
      if (statusOf(err) !== 403 || this.#settings.token || !this.#settings.kubernetesRole) throw err
      this.#lease = undefined
      this.#client = undefined
      return call(await this.#authenticated())
    }
  }

  /** The latest version of a KV v2 secret at `<mount>/data/<path>`. */
  async readKv(mount: string, path: string): Promise<KvSecret> {
    let res: { data?: { data?: Record<string, unknown>; metadata?: { version?: number; custom_metadata?: Record<string, string> | null } } }
    try {
      res = await this.#withToken((client) => client.read(`${mount}/data/${path}`)) as typeof res
    } catch (err) {
      const status = statusOf(err)
      if (status === 404) throw new CaretakerError(Errors.DependencyFailed, `vault: no secret at ${mount}/${path}`)
      if (status === 403) throw new CaretakerError(Errors.DependencyFailed, `vault: reading ${mount}/${path} is not allowed for this identity`)
      throw new CaretakerError(Errors.DependencyUnavailable, `vault: reading ${mount}/${path} failed (${status === 503 ? 'HTTP 503: sealed or in standby' : status ? `HTTP ${status}` : 'unreachable'})`)
    }
    const data: Record<string, string> = {}
    for (const [k, v] of Object.entries(res.data?.data ?? {})) data[k] = String(v)
    return { data, version: res.data?.metadata?.version ?? 0, customMetadata: res.data?.metadata?.custom_metadata ?? {} }
  }

  /** Like readKv, but a secret that does not exist (or whose latest version is deleted) is undefined instead of an error. */
  async readKvIfPresent(mount: string, path: string): Promise<KvSecret | undefined> {
    try {
      return await this.readKv(mount, path)
    } catch (err) {
      if (err instanceof CaretakerError && err.message.startsWith('vault: no secret at ')) return undefined
      throw err
    }
  }

  /** Deletes a KV v2 secret with every version and its metadata (`DELETE <mount>/metadata/<path>`); one already gone is fine. */
  async deleteKvAll(mount: string, path: string): Promise<void> {
    const client = await this.#authenticated()
    try {
      await client.delete(`${mount}/metadata/${path}`)
    } catch (err) {
      if (statusOf(err) === 404) return
      throw writeError(err, `deleting ${mount}/${path}`)
    }
  }

  /**
   * Writes a new version of a KV v2 secret, with check-and-set on `cas` (the
   * version read before; 0 for a secret that must not exist yet). Returns
   * the new version. A secret changed by someone else since is refused.
   */
  async writeKv(mount: string, path: string, data: Record<string, string>, cas: number): Promise<number> {
    let res: { data?: { version?: number } }
    try {
      res = await this.#withToken((client) => client.write(`${mount}/data/${path}`, { options: { cas }, data })) as typeof res
    } catch (err) {
      throw writeError(err, `writing ${mount}/${path}`, cas)
    }
    return res.data?.version ?? cas + 1
  }

  /** Replaces the custom metadata of a KV v2 secret (callers merge what they keep). */
  async writeCustomMetadata(mount: string, path: string, customMetadata: Record<string, string>): Promise<void> {
    try {
      await this.#withToken((client) => client.write(`${mount}/metadata/${path}`, { custom_metadata: customMetadata }))
    } catch (err) {
      throw writeError(err, `writing the metadata of ${mount}/${path}`)
    }
  }
}

function writeError(err: unknown, operation: string, cas?: number): CaretakerError {
  const status = statusOf(err)
  const errors = (err as { response?: { body?: { errors?: unknown } } }).response?.body?.errors
  const casMismatch = status === 400 && Array.isArray(errors) && errors.some((e) => typeof e === 'string' && e.includes('check-and-set'))
  if (casMismatch) return new CaretakerError(Errors.DependencyFailed, `vault: ${operation}: the secret changed since version ${cas ?? '?'} was read (check-and-set refused)`, { details: { system: 'vault', status, casMismatch: true } })
  if (status === 403) return new CaretakerError(Errors.DependencyFailed, `vault: ${operation} is not allowed for this identity`, { details: { system: 'vault', status } })
  if (status === 503) return new CaretakerError(Errors.DependencyUnavailable, `vault: ${operation} failed (HTTP 503: sealed or in standby)`, { details: { system: 'vault', status, sealed: true } })
  return new CaretakerError(status && status < 500 ? Errors.DependencyFailed : Errors.DependencyUnavailable, `vault: ${operation} failed (${status ? `HTTP ${status}` : 'unreachable'})`, { details: { system: 'vault', ...(status ? { status } : {}) } })
}
