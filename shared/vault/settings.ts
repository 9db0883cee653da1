/** Where a function's Vault is and how it authenticates, from its environment. */

export interface VaultSettings {
  readonly address: string
  readonly token?: string
  /** Kubernetes auth: the Vault role, and where its mount is (default `kubernetes`). */
  readonly kubernetesRole?: string
  readonly kubernetesMount?: string
  readonly serviceAccountTokenPath?: string
}

export function vaultSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): VaultSettings | undefined {
  if (!env.VAULT_ADDR) return undefined
  return {
    address: env.VAULT_ADDR,
    ...(env.VAULT_TOKEN ? { token: env.VAULT_TOKEN } : {}),
    ...(env.VAULT_K8S_ROLE ? { kubernetesRole: env.VAULT_K8S_ROLE } : {}),
    ...(env.VAULT_K8S_MOUNT ? { kubernetesMount: env.VAULT_K8S_MOUNT } : {}),
  }
}
