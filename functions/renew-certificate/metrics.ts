import { Counter, Gauge, type Registry } from 'prom-client'
import type { CertificateRow } from './certificates.ts'

/** Per-certificate expiry and readiness, and what renew-certificate did: what a dashboard and an expiry alert read. */
export class CertificateMetrics {
  readonly #expiry: Gauge<'namespace' | 'name'>
  readonly #ready: Gauge<'namespace' | 'name'>
  readonly #renewals: Counter<'namespace' | 'reason'>
  readonly #restarts: Counter<'namespace' | 'kind'>

  constructor(registry: Registry) {
    const registers = [registry]
    this.#expiry = new Gauge({ name: 'caretaker_certificate_expiry_timestamp_seconds', help: 'When each Certificate expires (status.notAfter), as of the last look at it', labelNames: ['namespace', 'name'], registers })
    this.#ready = new Gauge({ name: 'caretaker_certificate_ready', help: '1 when the Certificate was Ready at the last look at it, 0 when not', labelNames: ['namespace', 'name'], registers })
    this.#renewals = new Counter({ name: 'caretaker_certificate_renewals_requested_total', help: 'Renewals requested, by namespace and reason (not-ready, renewal-due, failed-request: a stuck issuance\'s failed CertificateRequest deleted for cert-manager to try again)', labelNames: ['namespace', 'reason'], registers })
    this.#restarts = new Counter({ name: 'caretaker_certificate_workload_restarts_total', help: 'Workloads restarted after their certificate Secret was re-issued', labelNames: ['namespace', 'kind'], registers })
  }

  observe(row: CertificateRow): void {
    const labels = { namespace: row.namespace, name: row.name }
    if (row.notAfter) this.#expiry.set(labels, Date.parse(row.notAfter) / 1000)
    this.#ready.set(labels, row.ready ? 1 : 0)
  }

  renewalRequested(namespace: string, reason: string): void {
    this.#renewals.inc({ namespace, reason })
  }

  restarted(namespace: string, kind: string): void {
    this.#restarts.inc({ namespace, kind })
  }
}
