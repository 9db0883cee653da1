import { randomUUID } from 'node:crypto'
import { CloudEvent } from 'cloudevents'
import { CronExpressionParser } from 'cron-parser'
import type { Logger } from '../../shared/logger.ts'
import type { PingSourceObject } from './manifests.ts'
import { knativeTime } from './delivery.ts'

/**
 * PingSource schedules run locally: each tick emits the event Knative's
 * ping adapter emits (binary mode, type dev.knative.sources.ping).
 */

export interface Clock {
  now(): Date
}

export const systemClock: Clock = { now: () => new Date() }

/** A clock that only moves when told to; tests drive schedules with it. */
export class ManualClock implements Clock {
  #now: Date
  constructor(start: Date) {
    this.#now = new Date(start)
  }
  now(): Date {
    return new Date(this.#now)
  }
  set(date: Date): void {
    this.#now = new Date(date)
  }
}

export const PING_EVENT_TYPE = 'dev.knative.sources.ping'

export function pingSourceUri(source: PingSourceObject): string {
  return `/apis/v1/namespaces/${source.namespace}/pingsources/${source.name}`
}

export function buildPingEvent(source: PingSourceObject, tick: Date, id: string = randomUUID()): CloudEvent<unknown> {
  const attributes: Record<string, unknown> = {
    specversion: '1.0',
    type: PING_EVENT_TYPE,
    source: pingSourceUri(source),
    id,
    // The adapter sets a Go time.Time; sdk-go writes it as UTC RFC3339Nano (no ".000").
    time: knativeTime(tick.toISOString()),
  }
  if (source.data !== undefined) attributes.data = source.data
  else if (source.dataBase64 !== undefined) attributes.data = Buffer.from(source.dataBase64, 'base64')
  // Knative sets datacontenttype only alongside data; contentType without data sends neither.
  if (attributes.data !== undefined && source.contentType !== undefined) attributes.datacontenttype = source.contentType
  return new CloudEvent(attributes, false)
}

/** The ticks of `schedule` in `timezone` strictly after `after` and at or before `until`. */
export function ticksBetween(source: Pick<PingSourceObject, 'schedule' | 'timezone'>, after: Date, until: Date): Date[] {
  const expression = CronExpressionParser.parse(source.schedule, { currentDate: after, tz: source.timezone })
  const ticks: Date[] = []
  for (;;) {
    const next = expression.next().toDate()
    if (next.getTime() > until.getTime()) return ticks
    ticks.push(next)
  }
}

export function nextTick(source: Pick<PingSourceObject, 'schedule' | 'timezone'>, after: Date): Date {
  return CronExpressionParser.parse(source.schedule, { currentDate: after, tz: source.timezone }).next().toDate()
}

export type PingSend = (source: PingSourceObject, event: CloudEvent<unknown>) => Promise<void>

export interface PingSchedulerOptions {
  readonly sources: readonly PingSourceObject[]
  readonly clock: Clock
  readonly send: PingSend
  readonly logger: Logger
}

/** Longest single timer; setTimeout overflows past ~24.8 days. */
const MAX_TIMER_MS = 2 ** 31 - 1

export class PingScheduler {
  readonly sources: readonly PingSourceObject[]
  readonly #options: PingSchedulerOptions
  /** Per source, the instant up to which ticks have been fired. */
  readonly #firedUntil = new Map<PingSourceObject, Date>()
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor(options: PingSchedulerOptions) {
    this.#options = options
    this.sources = options.sources
    const start = options.clock.now()
    for (const source of options.sources) this.#firedUntil.set(source, start)
  }

  /** Fires every tick due up to the clock's now (missed ones included, in order); returns how many fired. */
  async fireDue(): Promise<number> {
    const now = this.#options.clock.now()
    let fired = 0
    for (const source of this.sources) {
      const after = this.#firedUntil.get(source)!
      const ticks = ticksBetween(source, after, now)
      this.#firedUntil.set(source, now)
      for (const tick of ticks) {
        const event = buildPingEvent(source, tick)
        try {
          await this.#options.send(source, event)
        } catch (err) {
          this.#options.logger.error({ pingSource: `${source.namespace}/${source.name}`, reason: err instanceof Error ? err.message : String(err) }, 'mesh: ping event not delivered')
        }
        fired++
      }
    }
    return fired
  }

  /** Sets a ManualClock to `date` and fires what became due. */
  async advanceTo(date: Date): Promise<number> {
    const clock = this.#options.clock
    if (!(clock instanceof ManualClock)) throw new TypeError('advanceTo needs a ManualClock')
    clock.set(date)
    return this.fireDue()
  }

  /** Runs the schedules on real timers until stop(). */
  start(): void {
    this.#stopped = false
    this.#arm()
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #arm(): void {
    if (this.#stopped || this.sources.length === 0) return
    const now = this.#options.clock.now()
    const next = Math.min(...this.sources.map((source) => nextTick(source, this.#firedUntil.get(source)!).getTime()))
    const wait = Math.min(Math.max(next - now.getTime(), 0), MAX_TIMER_MS)
    this.#timer = setTimeout(() => {
      void this.fireDue().finally(() => this.#arm())
    }, wait)
    this.#timer.unref()
  }
}
