import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

/** Per-secret rotation metrics: what a dashboard and an alert on overdue or failing rotations read. Never a value. */
export class RotationMetrics {
  readonly #lastRotation: Gauge<'secret'>
  readonly #dueAt: Gauge<'secret'>
  readonly #runs: Counter<'secret' | 'result'>
  readonly #failures: Counter<'secret' | 'step' | 'rolled_back'>
  readonly #duration: Histogram<'secret'>
  readonly #window: Gauge<'secret'>
  readonly #recoveries: Counter<'secret' | 'action' | 'at'>

  constructor(registry: Registry) {
    const registers = [registry]
    this.#lastRotation = new Gauge({ name: 'caretaker_secret_last_rotation_timestamp_seconds', help: 'When each secret was last rotated (from Vault\'s custom metadata, or a rotation just done)', labelNames: ['secret'], registers })
    this.#dueAt = new Gauge({ name: 'caretaker_secret_rotation_due_timestamp_seconds', help: 'When each secret next falls due for rotation', labelNames: ['secret'], registers })
    this.#runs = new Counter({ name: 'caretaker_secret_rotations_total', help: 'Rotations by secret and result (rotated, failed, locked)', labelNames: ['secret', 'result'], registers })
    this.#failures = new Counter({ name: 'caretaker_secret_rotation_failures_total', help: 'Failed rotations by secret, the step that failed, and whether the rollback succeeded', labelNames: ['secret', 'step', 'rolled_back'], registers })
    this.#duration = new Histogram({ name: 'caretaker_secret_rotation_duration_seconds', help: 'Time a rotation took, lock to unlock', labelNames: ['secret'], buckets: [0.5, 1, 5, 15, 60, 300, 900, 1800], registers })
    this.#window = new Gauge({ name: 'caretaker_secret_rotation_lockout_window_seconds', help: 'In the last rotation, how long only the new credential was valid before every consumer had restarted (0 where old and new are valid side by side)', labelNames: ['secret'], registers })
    this.#recoveries = new Counter({ name: 'caretaker_secret_rotation_recoveries_total', help: 'Rotations cut off (a killed holder) that a later holder found, by secret, what it did (rolled-forward, rolled-back, superseded, failed) and what found it (start: the recovery at process start, request, sweep)', labelNames: ['secret', 'action', 'at'], registers })
  }

  known(secret: string, rotatedAt: string | null, dueAt: string | null): void {
    if (rotatedAt && !Number.isNaN(Date.parse(rotatedAt))) this.#lastRotation.set({ secret }, Date.parse(rotatedAt) / 1000)
    if (dueAt) this.#dueAt.set({ secret }, Date.parse(dueAt) / 1000)
  }

  rotated(secret: string, at: Date, dueAt: Date, durationMs: number, windowMs: number): void {
    this.#lastRotation.set({ secret }, at.getTime() / 1000)
    this.#dueAt.set({ secret }, dueAt.getTime() / 1000)
    this.#runs.inc({ secret, result: 'rotated' })
    this.#duration.observe({ secret }, durationMs / 1000)
    this.#window.set({ secret }, windowMs / 1000)
  }

  recovered(secret: string, action: string, at: string): void {
    this.#recoveries.inc({ secret, action, at })
  }

  failed(secret: string, step: string, rolledBack: boolean, durationMs: number): void {
    this.#runs.inc({ secret, result: step === 'lock' ? 'locked' : 'failed' })
    if (step !== 'lock') {
      this.#failures.inc({ secret, step, rolled_back: String(rolledBack) })
      this.#duration.observe({ secret }, durationMs / 1000)
    }
  }
}
