import type { DeadLetterRecord } from '../../sandbox/mesh/index.ts'

/**
 * The soaks' loss check, by event identity (CloudEvents: source + id), not by
 * count. An event sent is accounted for when the function it was meant for
 * handled it, or when the Broker dead-lettered it and the dead-letter sink
 * (notify) reported it as one. A dead letter nobody reported is lost: the
 * Broker gave up and no one was told.
 */

export interface EventIdentity {
  readonly source: string
  readonly id: string
}

export interface SentEvent extends EventIdentity {
  /** The function meant to handle it. */
  readonly fn: string
}

export function identity(e: EventIdentity): string {
  return `${e.source}\u0000${e.id}`
}

type LogLine = Record<string, unknown>

/** Identities a function logged as handled (its first, successful run). */
export function handledInLog(lines: readonly LogLine[]): Set<string> {
  const out = new Set<string>()
  for (const l of lines) {
    const event = l.event as Partial<EventIdentity> | undefined
    if (l.msg === 'event handled' && typeof event?.id === 'string' && typeof event.source === 'string') out.add(identity(event as EventIdentity))
  }
  return out
}

/** How many times each identity was handled (to find double runs). */
export function runsInLog(lines: readonly LogLine[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const l of lines) {
    const event = l.event as Partial<EventIdentity> | undefined
    if (l.msg === 'event handled' && typeof event?.id === 'string' && typeof event.source === 'string') {
      const key = identity(event as EventIdentity)
      out.set(key, (out.get(key) ?? 0) + 1)
    }
  }
  return out
}

/** Identities notify reported as dead letters (its log line for each one it received). */
export function deadLettersReportedInLog(lines: readonly LogLine[]): Set<string> {
  const out = new Set<string>()
  for (const l of lines) {
    const d = l.deadLetter as Partial<EventIdentity> | undefined
    if (typeof d?.id === 'string' && typeof d.source === 'string') out.add(identity(d as EventIdentity))
  }
  return out
}

export interface LossEvidence {
  readonly sent: readonly SentEvent[]
  /** Per function, the identities it handled. */
  readonly handled: ReadonlyMap<string, ReadonlySet<string>>
  readonly deadLetters: readonly Pick<DeadLetterRecord, 'event'>[]
  /** Identities the dead-letter sink reported. */
  readonly reported: ReadonlySet<string>
}

export interface LossReport {
  /** Distinct events sent (a redelivery is the same event). */
  readonly unique: number
  readonly handled: number
  /** Dead-lettered and reported: accounted for. */
  readonly deadLettered: number
  /** Neither handled nor dead-lettered and reported. */
  readonly lost: SentEvent[]
  /** Of the lost, those the Broker did dead-letter but nobody reported. */
  readonly unreported: SentEvent[]
}

export function checkLoss(evidence: LossEvidence): LossReport {
  const unique = new Map<string, SentEvent>()
  for (const s of evidence.sent) unique.set(`${s.fn}\u0000${identity(s)}`, s)
  const dead = new Set(evidence.deadLetters.map((d) => identity(d.event)))
  let handled = 0
  let deadLettered = 0
  const lost: SentEvent[] = []
  const unreported: SentEvent[] = []
  for (const s of unique.values()) {
    const key = identity(s)
    if (evidence.handled.get(s.fn)?.has(key)) handled++
    else if (dead.has(key) && evidence.reported.has(key)) deadLettered++
    else {
      lost.push(s)
      if (dead.has(key)) unreported.push(s)
    }
  }
  return { unique: unique.size, handled, deadLettered, lost, unreported }
}
