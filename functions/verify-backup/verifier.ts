import { BatchV1Api, CoreV1Api, type KubeConfig } from '../../shared/kubernetes/api.ts'
import type { Registry } from 'prom-client'
import { EventRecorder } from '../../shared/kubernetes/events.ts'
import type { Logger } from '../../shared/logger.ts'
import { podNamespace } from '../../shared/runtime/settings.ts'
import { KeyedSerial } from '../../shared/serial.ts'
import { DEFAULT_RESTORE_JOB, type VerifyBackupConfig } from './config.ts'
import { BackupMetrics } from './metrics.ts'
import { restoreRunner } from './restore.ts'
import type { RestoreRunner } from './verify.ts'

/** Job uids already verified, so later updates of a finished Job do not verify again. */
const SEEN_JOBS_MAX = 1000

/** The finished Jobs judged already in this instance (the newest SEEN_JOBS_MAX). */
export class SeenJobs {
  readonly #seen = new Map<string, string>()

  /** Marks the Job judged for `set`; false when it was already. */
  claim(uid: string, set: string): boolean {
    if (this.#seen.has(uid)) return false
    this.#seen.set(uid, set)
    if (this.#seen.size > SEEN_JOBS_MAX) this.#seen.delete(this.#seen.keys().next().value!)
    return true
  }

  /** Not judged after all (the API or the file failed us): the redelivery judges it. */
  forget(uid: string): void {
    this.#seen.delete(uid)
  }
}

/** What verify-backup's steps share, built once per instance from its config. */
export interface Verifier {
  config: VerifyBackupConfig
  kubeConfig: KubeConfig | undefined
  metrics: BackupMetrics
  recorder: EventRecorder | undefined
  batch: BatchV1Api | undefined
  core: CoreV1Api | undefined
  /** Where restore Jobs run and how they are made. */
  restoreJob: NonNullable<VerifyBackupConfig['restoreJob']>
  restoreNamespace: string
  /** Runs a restore test in process. */
  restore: RestoreRunner
  seenJobs: SeenJobs
  /**
   * One verification per set at a time: a Job completion and the sweep
   * arriving together verify the set once each, in turn, never at once.
   */
  perSet: KeyedSerial
}

export function createVerifier(config: VerifyBackupConfig, kubeConfig: KubeConfig | undefined, log: Logger, registry: Registry): Verifier {
  const restoreJob = config.restoreJob ?? DEFAULT_RESTORE_JOB
  return {
    config,
    kubeConfig,
    metrics: new BackupMetrics(registry),
    recorder: kubeConfig ? new EventRecorder(kubeConfig, 'verify-backup', log) : undefined,
    batch: kubeConfig?.makeApiClient(BatchV1Api),
    core: kubeConfig?.makeApiClient(CoreV1Api),
    restoreJob,
    // The Jobs run in the function's own namespace unless the config names another.
    restoreNamespace: restoreJob.namespace ?? podNamespace(process.env) ?? 'caretaker',
    restore: restoreRunner(config.postgresBinDir === undefined ? {} : { postgresBinDir: config.postgresBinDir }),
    seenJobs: new SeenJobs(),
    perSet: new KeyedSerial(),
  }
}
