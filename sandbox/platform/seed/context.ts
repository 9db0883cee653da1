import { createHash, randomBytes } from 'node:crypto'
import type { VaultSimulator } from '../../simulators/vault/index.ts'
import type { MetricsStandIn } from '../../simulators/kubernetes/metrics.ts'
import type { CertificateKeyPair } from '../certs.ts'

/**
 * What every part of the seed shares: the options and summary types, the
 * runbooks' figures, the time and naming helpers, and the seeding context
 * (`put` into the simulator's store, counting what it seeded).
 */

export type Obj = Record<string, unknown>

export interface SeedKubernetes {
  store: { seed(obj: Obj): Obj }
  /** metrics-server's samples and the kubelets' stats summaries (the simulator's); without it none are seeded. */
  metrics?: Pick<MetricsStandIn, 'setNodeMetrics' | 'setPodMetrics' | 'setStatsSummary'>
}
export type SeedVault = Pick<VaultSimulator, 'putSecret'>

export interface SeedOptions {
  kube: SeedKubernetes
  vault: SeedVault
  /** The platform's "now": ages, expiries and schedules are relative to it. */
  now?: Date
}

export type CertificateState = 'ready' | 'expiring' | 'failed' | 'renewing'

export interface SeedSummary {
  now: string
  namespaces: string[]
  /** objects seeded per `apiVersion kind` */
  counts: Record<string, number>
  objects: Array<{ apiVersion: string, kind: string, namespace?: string, name: string }>
  vaultSecrets: Array<{ mount: string, path: string, rotatedAt: string, intervalDays: number, due: boolean }>
  externalSecrets: Array<{ namespace: string, name: string, secret: string, vaultPaths: string[] }>
  certificates: Array<{ namespace: string, name: string, state: CertificateState, notAfter?: string, secretName: string }>
  backupJobs: Array<{ namespace: string, cronJob: string, schedule: string, job: string, scheduledAt: string, outcome: 'Complete' | 'Failed' }>
  snapshots: Array<{ kind: 'VolumeSnapshot' | 'Snapshot' | 'Backup', namespace: string, name: string, createdAt: string, ageDays: number, ready: boolean, beyondRetention: boolean, protected?: boolean, inUse?: boolean }>
}

// The runbooks' figures (functions.md).
export const ROTATION_INTERVAL_DAYS = { postgres: 90, redis: 90, jwt: 180, session: 180, oidc: 365 } as const
export const RETENTION_DAYS = { volumeSnapshots: 30, longhorn: 14 } as const
export const PROTECTED_LABEL = 'caretaker.dev/protected'
export const VAULT_MOUNT = 'secret'

export const MINUTE = 60_000
export const HOUR = 60 * MINUTE
export const DAY = 24 * HOUR
export const iso = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z')
export const b64 = (s: string): string => Buffer.from(s).toString('base64')
export const token = (bytes = 24): string => randomBytes(bytes).toString('base64url')
export const hex = (seed: string, n: number): string => createHash('sha256').update(seed).digest('hex').slice(0, n)
export const uuidFrom = (seed: string): string => { const h = hex(seed, 32); return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}` }
export const GiB = 1024 ** 3

export interface Ctx {
  now: Date
  ago: (ms: number) => Date
  at: (ms: number) => Date
  put: (obj: Obj) => Obj
  uid: (obj: Obj) => string
  ownerRef: (owner: Obj, controller?: boolean) => Obj
  summary: SeedSummary
  vault: SeedVault
  /** values written to Vault, by path, for the Secrets the ExternalSecrets keep in sync */
  vaultData: Map<string, Record<string, string>>
  ca: CertificateKeyPair
}
