import type { CloudEvent } from 'cloudevents'
import type { DeliveryReport } from '../../mesh/broker.ts'
import { isDryRunOutcome, outcomeFunction, outcomeLine } from '../../../cli/outcome.ts'

/**
 * The console's live event flow: each event the Broker takes in and each
 * delivery's end (with its reply), as the mesh's onAccepted/onDelivery hooks
 * tell them. Only attributes and the outcome line a person reads (notify's
 * templates, cli/outcome.ts) go out, never an event's data: what the page
 * shows is what `npm start` prints. The last ones are kept, so a page opened
 * later sees what happened before it.
 */

export interface FlowItem {
  /** Its place in the flow: the SSE `id`, so a reconnecting page resumes after it. */
  readonly seq: number
  readonly at: string
  /** `accepted`: the Broker took the event in; `delivery`: a Trigger's delivery of it ended. */
  readonly kind: 'accepted' | 'delivery'
  readonly type: string
  readonly id: string
  readonly source: string
  /** The function that sent it (an outcome), or received it (a delivery). */
  readonly function: string | null
  readonly trigger: string | null
  /** A delivery's last HTTP status (null: no answer). */
  readonly status: number | null
  readonly delivered: boolean | null
  readonly attempts: number | null
  /** The outcome as one line: of the event when a function sent it, of the reply for a delivery. */
  readonly outcome: string | null
  /** Whether the outcome is a dry run's (the `dryrun` extension), null when there is no outcome. */
  readonly dryRun: boolean | null
  readonly reply: { readonly type: string; readonly id: string } | null
}

type Listener = (item: FlowItem) => void

export const FLOW_KEPT = 200

export class ConsoleFeed {
  readonly #kept: FlowItem[] = []
  readonly #listeners = new Set<Listener>()
  #seq = 0

  accepted(event: CloudEvent<unknown>): void {
    const fn = outcomeFunction(event)
    this.#push({
      kind: 'accepted', type: event.type, id: event.id, source: event.source, function: fn ?? null, trigger: null,
      status: null, delivered: null, attempts: null,
      outcome: fn ? outcomeLine(event) : null, dryRun: fn ? isDryRunOutcome(event) : null, reply: null,
    })
  }

  delivered(report: DeliveryReport): void {
    const reply = report.reply
    this.#push({
      kind: 'delivery', type: report.event.type, id: report.event.id, source: report.event.source, function: report.service ?? null, trigger: report.trigger,
      status: report.status ?? null, delivered: report.delivered, attempts: report.attempts,
      outcome: reply && outcomeFunction(reply) ? outcomeLine(reply) : null, dryRun: reply ? isDryRunOutcome(reply) : null,
      reply: reply ? { type: reply.type, id: reply.id } : null,
    })
  }

  /** What was kept after `seq` (all with 0). */
  since(seq: number): FlowItem[] {
    return this.#kept.filter((i) => i.seq > seq)
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  #push(fields: Omit<FlowItem, 'seq' | 'at'>): void {
    const item: FlowItem = { seq: ++this.#seq, at: new Date().toISOString(), ...fields }
    this.#kept.push(item)
    if (this.#kept.length > FLOW_KEPT) this.#kept.shift()
    for (const listener of this.#listeners) listener(item)
  }
}
