import { Gauge, type Registry } from 'prom-client'
import type { Finding } from './findings.ts'

/** Per-target database metrics, taken from the evidence of a report's findings. */
export class DatabaseMetrics {
  readonly #size: Gauge<'target' | 'database'>
  readonly #connections: Gauge<'target' | 'state'>
  readonly #deadRatio: Gauge<'target' | 'table'>
  readonly #slow: Gauge<'target'>
  readonly #fragmentation: Gauge<'target' | 'node'>
  readonly #lastSaveAge: Gauge<'target' | 'node'>
  readonly #findings: Gauge<'target' | 'severity'>
  readonly #lastRun: Gauge<'target'>

  constructor(registry: Registry) {
    const registers = [registry]
    this.#size = new Gauge({ name: 'caretaker_database_size_bytes', help: 'Size of each database', labelNames: ['target', 'database'], registers })
    this.#connections = new Gauge({ name: 'caretaker_database_connections', help: 'Connections by state', labelNames: ['target', 'state'], registers })
    this.#deadRatio = new Gauge({ name: 'caretaker_database_dead_tuple_ratio', help: 'Dead-tuple ratio of tables over the threshold', labelNames: ['target', 'table'], registers })
    this.#slow = new Gauge({ name: 'caretaker_database_slow_statements', help: 'Statements slower on average than the threshold', labelNames: ['target'], registers })
    this.#fragmentation = new Gauge({ name: 'caretaker_redis_fragmentation_ratio', help: 'Redis memory fragmentation ratio per node', labelNames: ['target', 'node'], registers })
    this.#lastSaveAge = new Gauge({ name: 'caretaker_redis_last_save_age_seconds', help: 'Seconds since the last successful RDB save per node', labelNames: ['target', 'node'], registers })
    this.#findings = new Gauge({ name: 'caretaker_database_findings', help: 'Findings of the last report by severity', labelNames: ['target', 'severity'], registers })
    this.#lastRun = new Gauge({ name: 'caretaker_database_last_report_timestamp_seconds', help: 'When the target was last reported on', labelNames: ['target'], registers })
  }

  observe(target: string, findings: readonly Finding[], now: Date): void {
    this.#lastRun.set({ target }, now.getTime() / 1000)
    for (const severity of ['ok', 'info', 'warning', 'critical']) this.#findings.set({ target, severity }, findings.filter((f) => f.severity === severity).length)
    for (const f of findings) {
      const e = f.evidence as Record<string, unknown>
      if (f.check === 'databases') for (const [database, bytes] of Object.entries(e.databases as Record<string, number>)) this.#size.set({ target, database }, bytes)
      if (f.check === 'by-state') {
        this.#connections.reset()
        for (const s of e.byState as Array<{ state: string; count: number }>) this.#connections.inc({ target, state: s.state }, s.count)
      }
      if (f.check === 'dead-tuples') this.#deadRatio.set({ target, table: `${String(e.database)}.${String(e.table)}` }, Number(e.deadRatio))
      if (f.check === 'slowest-statements') this.#slow.set({ target }, Number(e.slowCount ?? 0))
      if (f.check === 'fragmentation') this.#fragmentation.set({ target, node: f.message.split(':')[0]! }, Number(e.fragmentationRatio))
      if ((f.check === 'saved' || f.check === 'last-save') && typeof e.lastSave === 'string') this.#lastSaveAge.set({ target, node: f.message.split(':')[0]! }, Math.max(0, (now.getTime() - Date.parse(e.lastSave)) / 1000))
    }
  }
}
