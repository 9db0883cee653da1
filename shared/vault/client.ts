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

export class Vault {
  readonly #settings: VaultSettings
  #client: VaultClient | undefined

  constructor(settings: VaultSettings) {
    this.#settings = settings
  }

  async #authenticated(): Promise<VaultClient> {
    if (this.#client) return this.#client
    const client = nodeVault({ endpoint: this.#settings.address, ...(this.#settings.token ? { token: this.#settings.token } : {}) })
    if (!this.#settings.token) {
      if (!this.#settings.kubernetesRole) throw new CaretakerError(Errors.InvalidConfig, 'vault: set VAULT_TOKEN or VAULT_K8S_ROLE')
      const jwt = (await readFile(this.#settings.serviceAccountTokenPath ?? '/var/run/secrets/kubernetes.io/serviceaccount/token', 'utf8')).trim()
      try {
        // node-vault adopts the token the login returns.
        await client.kubernetesLogin({ role: this.#settings.kubernetesRole, jwt, mount_point: this.#settings.kubernetesMount ?? 'kubernetes' })
      } catch (err) {
        throw new CaretakerError(Errors.DependencyUnavailable, `vault: Kubernetes login as role ${this.#settings.kubernetesRole} failed (HTTP ${statusOf(err) ?? 'error'})`)
      }
    }
    this.#client = client
    return client
  }

  /** The latest version of a KV v2 secret at `<mount>/data/<path>`. */
  async readKv(mount: string, path: string): Promise<KvSecret> {
    const client = await this.#authenticated()
    let res: { data?: { data?: Record<string, unknown>; metadata?: { version?: number; custom_metadata?: Record<string, string> | null } } }
    try {
      res = await client.read(`${mount}/data/${path}`) as typeof res
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
    const client = await this.#authenticated()
    let res: { data?: { version?: number } }
    try {
      res = await client.write(`${mount}/data/${path}`, { options: { cas }, data }) as typeof res
    } catch (err) {
      throw writeError(err, `writing ${mount}/${path}`, cas)
    }
    return res.data?.version ?? cas + 1
  }

  /** Replaces the custom metadata of a KV v2 secret (callers merge what they keep). */
  async writeCustomMetadata(mount: string, path: string, customMetadata: Record<string, string>): Promise<void> {
    const client = await this.#authenticated()
    try {
      await client.write(`${mount}/metadata/${path}`, { custom_metadata: customMetadata })
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
