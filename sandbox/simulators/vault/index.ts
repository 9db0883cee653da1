/**
 * An in-process Vault stand-in for tests and the local sandbox (no Vault
 * binary runs on these machines). It speaks Vault's HTTP API on 127.0.0.1:
 * KV v2, token and Kubernetes auth, ACL policies, seal/health, raft
 * snapshots, plus fault injection (object API `faults`, or `/__sim/faults`).
 *
 *   const vault = await startVaultSimulator({ kubernetes: { host: k8sUrl, reviewerToken } })
 *   vault.putSecret('secret', 'app/db', { password: 'x' }, { owner: 'sre' })
 *   const client = nodeVault({ endpoint: vault.url, token: vault.rootToken })
 *   vault.faults.failNext(2, 'GET', 'secret/data/app/*', 503)
 *   await vault.close()
 */
import { VaultSimulatorServer, type RequestRecord, type VaultSimulatorOptions } from './server.ts'
import type { Faults } from './faults.ts'
import type { JsonObject } from './common.ts'
import type { KubernetesRole, VaultState } from './state.ts'

export type { VaultSimulatorOptions, RequestRecord } from './server.ts'
export type { FaultSpec, FaultRule } from './faults.ts'
export type { JsonObject } from './common.ts'
export type { KubernetesRole, VaultState } from './state.ts'
export { CAS_MISMATCH, CAS_REQUIRED } from './kv2.ts'
export { SnapshotError, readSnapshot, readTar, writeTar } from './snapshot.ts'

/** A running simulator: its URL, its root token, and levers for tests and the sandbox. */
export interface VaultSimulator {
  /** e.g. http://127.0.0.1:41234 (no /v1) */
  readonly url: string
  readonly rootToken: string
  /** hex unseal key shares; `unsealThreshold` of them unseal it over sys/unseal */
  readonly unsealKeys: string[]
  readonly faults: Faults
  /** the live state (mounts, tokens, policies, Kubernetes auth); a snapshot's state.bin is this as JSON */
  readonly state: VaultState
  /** every request seen, in order, with the status answered (-1 for a dropped connection) */
  readonly requests: RequestRecord[]
  seal(): void
  unseal(): void
  /** HA as sys/health and sys/leader report it: the active node (the default), a standby of `leaderAddress` ('' = no leader), or HA disabled. */
  setHa(ha: { enabled?: boolean; role?: 'active' | 'standby'; leaderAddress?: string }): void
  readonly sealed: boolean
  putSecret(mount: string, path: string, data: JsonObject, customMetadata?: Record<string, string>): { version: number }
  getSecret(mount: string, path: string, version?: number): JsonObject | null
  putPolicy(name: string, hclOrJson: string): void
  createToken(policies: string[], ttlSeconds?: number): string
  mountKv(mount: string): void
  configureKubernetes(config: { host: string; reviewerToken?: string; caCert?: string }): void
  addKubernetesRole(name: string, role: Partial<KubernetesRole> & Pick<KubernetesRole, 'bound_service_account_names' | 'bound_service_account_namespaces'>): void
  /** the same archive GET sys/storage/raft/snapshot returns */
  snapshot(): Buffer
  restore(archive: Buffer, force?: boolean): void
  close(): Promise<void>
}

export async function startVaultSimulator(options: VaultSimulatorOptions = {}): Promise<VaultSimulator> {
  const server = new VaultSimulatorServer(options)
  const url = await server.listen()
  return {
    url,
    get rootToken() {
      return server.rootToken
    },
    unsealKeys: [...server.sealState.keys],
    faults: server.faults,
    get state() {
      return server.state
    },
    requests: server.requests,
    seal: () => server.sealState.seal(),
    unseal: () => server.sealState.unseal(),
    setHa: (ha) => { Object.assign(server.sealState.ha, ha) },
    get sealed() {
      return server.sealState.sealed
    },
    putSecret: (mount, path, data, customMetadata) => server.putSecret(mount, path, data, customMetadata),
    getSecret: (mount, path, version) => server.getSecret(mount, path, version),
    putPolicy: (name, text) => server.putPolicy(name, text),
    createToken: (policies, ttl) => server.createToken(policies, ttl),
    mountKv: (mount) => server.mountKv(mount),
    configureKubernetes: (config) => server.configureKubernetes(config),
    addKubernetesRole: (name, role) => server.addKubernetesRole(name, role),
    snapshot: () => server.snapshot(),
    restore: (archive, force) => server.restore(archive, force),
    close: () => server.close(),
  }
}
