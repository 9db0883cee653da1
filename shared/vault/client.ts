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
      throw new CaretakerError(Errors.DependencyUnavailable, `vault: reading ${mount}/${path} failed (${status ? `HTTP ${status}` : 'unreachable'})`)
    }
    const data: Record<string, string> = {}
    for (const [k, v] of Object.entries(res.data?.data ?? {})) data[k] = String(v)
    return { data, version: res.data?.metadata?.version ?? 0, customMetadata: res.data?.metadata?.custom_metadata ?? {} }
  }
}
