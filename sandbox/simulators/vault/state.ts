import { randomUUID } from 'node:crypto'
import { randomBase62, type JsonObject } from './common.ts'

export interface KvVersion {
  data: JsonObject | null
  created_time: string
  deletion_time: string
  destroyed: boolean
}

export interface KvSecret {
  versions: Record<string, KvVersion>
  current_version: number
  oldest_version: number
  created_time: string
  updated_time: string
  custom_metadata: Record<string, string> | null
  max_versions: number
  cas_required: boolean
  /** seconds; shown as a Go duration */
  delete_version_after: number
}

export interface KvMount {
  description: string
  accessor: string
  uuid: string
  config: { max_versions: number; cas_required: boolean; delete_version_after: number }
  secrets: Record<string, KvSecret>
}

export interface TokenEntry {
  id: string
  accessor: string
  policies: string[]
  meta: Record<string, string> | null
  display_name: string
  path: string
  /** unix seconds */
  creation_time: number
  /** seconds; 0 means it never expires (root) */
  creation_ttl: number
  /** unix ms when it expires; 0 never */
  expires_at: number
  explicit_max_ttl: number
  /** seconds; the max TTL of the auth backend that issued it (a Kubernetes role's token_max_ttl); 0 or absent: the system's */
  max_ttl?: number
  renewable: boolean
  orphan: boolean
  num_uses: number
  parent: string | null
}

export interface KubernetesConfig {
  kubernetes_host: string
  kubernetes_ca_cert: string
  token_reviewer_jwt: string
  disable_local_ca_jwt: boolean
  issuer: string
  disable_iss_validation: boolean
}

export interface KubernetesRole {
  bound_service_account_names: string[]
  bound_service_account_namespaces: string[]
  token_policies: string[]
  token_ttl: number
  token_max_ttl: number
  token_no_default_policy: boolean
  audience: string
  alias_name_source: string
}

/** Everything a raft snapshot carries; kept JSON-serialisable for state.bin. */
export interface VaultState {
  mounts: Record<string, KvMount>
  tokens: Record<string, TokenEntry>
  policies: Record<string, string>
  kubernetes: { config: KubernetesConfig | null; roles: Record<string, KubernetesRole> }
  raft: { index: number; term: number }
}

/** A trimmed copy of the `default` policy every Vault starts with. */
export const DEFAULT_POLICY = `# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}
`

export function newKvMount(description = 'key/value secret storage'): KvMount {
  return {
    description,
    accessor: `kv_${randomBase62(8).toLowerCase()}`,
    uuid: randomUUID(),
    config: { max_versions: 0, cas_required: false, delete_version_after: 0 },
    secrets: {},
  }
}

/** Mount paths are kept in Vault's form: no leading slash, one trailing slash. */
export function normaliseMount(mount: string): string {
  const trimmed = mount.replace(/^\/+/, '').replace(/\/+$/, '')
  return `${trimmed}/`
}

export function initialState(kvMounts: string[], rootToken: string): VaultState {
  const mounts: Record<string, KvMount> = {}
  for (const m of kvMounts) mounts[normaliseMount(m)] = newKvMount()
  return {
    mounts,
    tokens: {
      [rootToken]: {
        id: rootToken,
        accessor: randomBase62(24),
        policies: ['root'],
        meta: null,
        display_name: 'root',
        path: 'auth/token/root',
        creation_time: Math.floor(Date.now() / 1000),
        creation_ttl: 0,
        expires_at: 0,
        explicit_max_ttl: 0,
        renewable: false,
        orphan: true,
        num_uses: 0,
        parent: null,
      },
    },
    policies: { default: DEFAULT_POLICY },
    kubernetes: { config: null, roles: {} },
    raft: { index: 1, term: 1 },
  }
}
