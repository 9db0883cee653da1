import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * The runtime's metrics, in a registry of its own so that several functions
 * hosted in one test process do not collide. Label values are bounded: an
 * event type the function does not accept is counted as "unknown".
 */
export class RuntimeMetrics {
  readonly registry = new Registry()
  readonly received: Counter<'function' | 'type'>
  readonly handled: Counter<'function' | 'type' | 'outcome'>
  readonly duration: Histogram<'function' | 'type' | 'outcome'>
  readonly functionName: string

  constructor(functionName: string, options: { defaultMetrics?: boolean } = {}) {
    this.functionName = functionName
    const registers = [this.registry]
    this.received = new Counter({
      name: 'caretaker_events_received_total',
      help: 'CloudEvents received, by type',
      labelNames: ['function', 'type'],
      registers,
    })
    this.handled = new Counter({
      name: 'caretaker_events_handled_total',
      help: 'CloudEvents finished, by type and outcome (success, duplicate, rejected, failed, unavailable)',
      labelNames: ['function', 'type', 'outcome'],
      registers,
    })
    this.duration = new Histogram({
      name: 'caretaker_handler_duration_seconds',
      help: 'Time spent in the function handler',
      labelNames: ['function', 'type', 'outcome'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers,
    })
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'caretaker_' })
  }
}
