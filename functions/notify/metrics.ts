import { Counter, Histogram, type Registry } from 'prom-client'

/** Deliveries by channel and outcome: what an alert on "notifications are not getting out" reads. */
export class NotifyMetrics {
  readonly deliveries: Counter<'channel' | 'kind' | 'status'>
  readonly attempts: Counter<'channel' | 'kind' | 'result'>
  readonly duration: Histogram<'channel' | 'kind'>
  readonly deadLetters: Counter<'type' | 'destination'>
  readonly templateErrors: Counter<'template' | 'phase'>

  constructor(registry: Registry) {
    const registers = [registry]
    this.deliveries = new Counter({ name: 'caretaker_notify_deliveries_total', help: 'Messages per channel by status: sent, failed, collapsed, rate-limited, not-configured, dry-run', labelNames: ['channel', 'kind', 'status'], registers })
    this.attempts = new Counter({ name: 'caretaker_notify_delivery_attempts_total', help: 'Delivery attempts per channel (retries included) by result', labelNames: ['channel', 'kind', 'result'], registers })
    this.deadLetters = new Counter({ name: 'caretaker_dead_letters_total', help: 'Events the Broker gave up delivering (received on the dead-letter sink), by event type and the function they were for', labelNames: ['type', 'destination'], registers })
    this.templateErrors = new Counter({ name: 'caretaker_notify_template_errors_total', help: 'Message templates of templatesDir that could not be used: at start (phase parse, not used) or when rendering (phase render, the shipped template was used instead)', labelNames: ['template', 'phase'], registers })
    this.duration = new Histogram({ name: 'caretaker_notify_delivery_duration_seconds', help: 'Time to deliver one message, retries included', labelNames: ['channel', 'kind'], buckets: [0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60], registers })
  }
}
