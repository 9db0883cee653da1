import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { SetReport } from './verify.ts'

/** Per-set backup metrics: what a dashboard and an alert on stale backups read. */
export class BackupMetrics {
  readonly #age: Gauge<'set'>
  readonly #size: Gauge<'set'>
  readonly #lastRun: Gauge<'set'>
  readonly #lastVerified: Gauge<'set'>
  readonly #success: Gauge<'set'>
  readonly #duration: Histogram<'set'>
  readonly #runs: Counter<'set' | 'result' | 'check'>

  constructor(registry: Registry) {
    const registers = [registry]
    this.#age = new Gauge({ name: 'caretaker_backup_newest_artifact_age_seconds', help: 'Age of the newest artifact of each backup set at its last verification', labelNames: ['set'], registers })
    this.#size = new Gauge({ name: 'caretaker_backup_newest_artifact_size_bytes', help: 'Size of the newest artifact of each backup set', labelNames: ['set'], registers })
    this.#lastRun = new Gauge({ name: 'caretaker_backup_last_verification_timestamp_seconds', help: 'When each backup set was last verified, whatever the result', labelNames: ['set'], registers })
    this.#lastVerified = new Gauge({ name: 'caretaker_backup_last_verified_timestamp_seconds', help: 'When each backup set last passed verification', labelNames: ['set'], registers })
    this.#success = new Gauge({ name: 'caretaker_backup_last_verification_success', help: '1 when the last verification of the set passed, 0 when it failed', labelNames: ['set'], registers })
    this.#duration = new Histogram({ name: 'caretaker_backup_verification_duration_seconds', help: 'Time to verify a backup set', labelNames: ['set'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600], registers })
    this.#runs = new Counter({ name: 'caretaker_backup_verifications_total', help: 'Verifications by set, result and failed check', labelNames: ['set', 'result', 'check'], registers })
  }

  observe(report: SetReport): void {
    const set = report.set
    const at = Date.parse(report.verifiedAt) / 1000
    // A request naming an older artifact says nothing about the newest one.
    if (report.artifact && report.newestArtifact === undefined) {
      this.#age.set({ set }, Math.max(0, at - Date.parse(report.artifact.time) / 1000))
      this.#size.set({ set }, report.artifact.size)
    }
    this.#lastRun.set({ set }, at)
    if (report.verified) this.#lastVerified.set({ set }, at)
    this.#success.set({ set }, report.verified ? 1 : 0)
    this.#duration.observe({ set }, report.durationMs / 1000)
    this.#runs.inc({ set, result: report.verified ? 'verified' : 'failed', check: report.failedCheck ?? '' })
  }
}
