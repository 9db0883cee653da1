import { EXIT, type ExitCode } from './errors.ts'
import { outcomeMessage, outcomeText } from './outcome.ts'
import { eventFromJson, readJsonLines, type DeliveryLine } from './state.ts'

/** How the commands read what the mesh delivered (the deliveries file `npm start` keeps), and tell it. */

export interface Printer {
  out(text: string): void
  err(text: string): void
}

/** Waits for the delivery of the event to `fn` (any trigger when undefined) that ended after `since`. */
export async function waitForDelivery(state: { deliveries: string }, event: { id: string; source: string }, fn: string | undefined, since: string, timeoutMs: number): Promise<DeliveryLine | undefined> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const lines = await readJsonLines<DeliveryLine>(state.deliveries)
    const found = lines.find((l) => l.event.id === event.id && l.event.source === event.source && (fn === undefined || l.function === fn) && l.at >= since)
    if (found) return found
    if (Date.now() >= deadline) return undefined
    await new Promise((r) => setTimeout(r, 200))
  }
}

export interface DeliveryResult {
  readonly code: ExitCode
  readonly text: string
  readonly json: Record<string, unknown>
}

/** What a delivery came to: the reply read as a person reads it, or the refusal. */
export function describeDelivery(fn: string, line: DeliveryLine): DeliveryResult {
  const delivery = { trigger: line.trigger, delivered: line.delivered, attempts: line.attempts, status: line.status, ...(line.error ? { error: line.error } : {}) }
  if (!line.delivered) {
    let refusal: { error?: string; message?: string } = {}
    try {
      refusal = line.answer ? JSON.parse(line.answer) as typeof refusal : {}
    } catch {
      refusal = { message: line.answer }
    }
    const why = line.status === null ? `it never answered (${line.error ?? 'unreachable'})` : `HTTP ${line.status}${refusal.error ? ` ${refusal.error}` : ''}${refusal.message ? `: ${refusal.message}` : ''}`
    return {
      code: EXIT.failed,
      text: `${fn} did not take it after ${line.attempts} attempt(s): ${why}\n  It was dead-lettered: see \`caretaker dead-letters\`; fix the cause, then \`caretaker redeliver ${line.event.id}\`.`,
      json: { delivery: { ...delivery, ...(refusal.error || refusal.message ? { refusal } : {}) }, outcome: null },
    }
  }
  if (!line.reply) {
    return { code: EXIT.ok, text: `${fn} handled it (HTTP ${line.status}) and replied nothing.`, json: { delivery, outcome: null } }
  }
  const reply = eventFromJson(line.reply)
  const failed = outcomeMessage(reply).severity === 'critical'
  return { code: failed ? EXIT.failed : EXIT.ok, text: outcomeText(reply), json: { delivery, outcome: line.reply } }
}

