import { join } from 'node:path'
import { discoverFunctions } from '../sandbox/local/functions.ts'
import type { DeadLetterRecord } from '../sandbox/mesh/broker.ts'
import { matchesTrigger } from '../sandbox/mesh/filters.ts'
import { loadManifests } from '../sandbox/mesh/manifests.ts'
import { buildPingEvent, nextTick } from '../sandbox/mesh/pingsource.ts'
import { CliError, EXIT, unavailable, usageError, type ExitCode } from './errors.ts'
import { outcomeLine } from './outcome.ts'
import { describeDelivery, waitForDelivery, type Printer } from './deliveries.ts'
import { DEAD_LETTERS_FILE, eventFromJson, readJsonLines, type DeliveryLine } from './state.ts'
import { answerOf, functionUrl, projectRoot, send, type Target } from './target.ts'

/**
 * `caretaker status`, `caretaker dead-letters` and `caretaker redeliver`:
 * what runs, when it runs next, what it last did; what the Broker gave up on.
 */

export interface Schedule {
  readonly pingSource: string
  readonly schedule: string
  readonly timezone: string
  readonly next: string
}

export interface FunctionStatus {
  readonly name: string
  readonly url: string | null
  /** `ready`, or what its readiness probe said (`starting`, `not ready`), `not running`, `unreachable`. */
  readonly state: string
  readonly schedules: Schedule[]
  readonly lastOutcome: { readonly at: string; readonly line: string; readonly type: string | null; readonly dryRun: boolean | null; readonly delivered: boolean } | null
}

/** Each PingSource with the functions its events reach: the Triggers whose filter takes its ping event. */
export async function schedules(triggersDir: string, now: Date): Promise<Map<string, Schedule[]>> {
  const manifests = await loadManifests(triggersDir)
  const byFunction = new Map<string, Schedule[]>()
  for (const source of manifests.pingSources) {
    const ping = buildPingEvent(source, now, 'status')
    const next = nextTick(source, now).toISOString()
    for (const trigger of manifests.triggers) {
      const service = trigger.subscriber.ref?.kind === 'Service' ? trigger.subscriber.ref.name : undefined
      if (!service || !matchesTrigger(trigger.filter, ping)) continue
      const list = byFunction.get(service) ?? []
      if (!list.some((s) => s.pingSource === source.name)) list.push({ pingSource: source.name, schedule: source.schedule, timezone: source.timezone, next })
      byFunction.set(service, list)
    }
  }
  return byFunction
}

async function readiness(url: string): Promise<string> {
  try {
    const res = await fetch(`${url}/health/readiness`, { signal: AbortSignal.timeout(5000) })
    const body = await res.json().catch(() => ({})) as { status?: string }
    return res.ok ? 'ready' : body.status ?? `HTTP ${res.status}`
  } catch {
    return 'unreachable'
  }
}

function lastOutcomes(lines: readonly DeliveryLine[]): Map<string, FunctionStatus['lastOutcome']> {
  const out = new Map<string, FunctionStatus['lastOutcome']>()
  for (const l of lines) {
    if (!l.function) continue
    if (l.reply) {
      const reply = eventFromJson(l.reply)
      const dryrun = (reply as unknown as Record<string, unknown>).dryrun
      out.set(l.function, { at: l.at, line: outcomeLine(reply), type: reply.type, dryRun: dryrun === undefined ? null : String(dryrun) !== 'false', delivered: true })
    } else if (!l.delivered) {
      out.set(l.function, { at: l.at, line: `${l.function}: ${l.event.type} dead-lettered after ${l.attempts} attempt(s) (HTTP ${l.status ?? 'none'})`, type: null, dryRun: null, delivered: false })
    }
  }
  return out
}

export async function statusCommand(target: Target | undefined, json: boolean, print: Printer): Promise<ExitCode> {
  const now = new Date()
  const state = target?.kind === 'local' ? target.state : undefined
  const functionsDir = state?.functionsDir ?? join(projectRoot, 'functions')
  const triggersDir = state?.triggersDir ?? join(projectRoot, 'triggers')
  const names = (await discoverFunctions(functionsDir)).map((f) => f.name)
  const plan = await schedules(triggersDir, now)
  const last = state ? lastOutcomes(await readJsonLines<DeliveryLine>(state.deliveries)) : new Map<string, FunctionStatus['lastOutcome']>()
  // A --server without {function} names one function's address: the others' are unknown.
  const oneServer = target?.kind === 'server' && !target.server.includes('{function}')
  const rows: FunctionStatus[] = await Promise.all(names.map(async (name) => {
    if (oneServer) return { name, url: null, state: 'unknown (give --server with {function} to check every function)', schedules: plan.get(name) ?? [], lastOutcome: null }
    const url = target ? functionUrl(target, name) : undefined
    return { name, url: url ?? null, state: url ? await readiness(url) : 'not running', schedules: plan.get(name) ?? [], lastOutcome: last.get(name) ?? null }
  }))
  if (json) {
    print.out(JSON.stringify({ at: now.toISOString(), dryRun: state?.dryRun ?? null, functions: rows }, null, 2))
    return EXIT.ok
  }
  const lines: string[] = []
  if (state) lines.push(`Caretaker (npm start, process ${state.pid}, since ${state.startedAt}; dry-run: ${state.dryRun}, broker ${state.broker})`, '')
  else if (!target) lines.push('Caretaker is not running here (no `npm start`): schedules only.', '')
  for (const r of rows) {
    lines.push(`${r.name}: ${r.state}${r.url ? ` (${r.url})` : ''}`)
    for (const s of r.schedules) lines.push(`  schedule ${s.pingSource}: "${s.schedule}" ${s.timezone}, next ${s.next}`)
    if (r.schedules.length === 0) lines.push('  no schedule (runs on events and requests)')
    if (r.lastOutcome) lines.push(`  last outcome ${r.lastOutcome.at}: ${r.lastOutcome.line}`)
    else if (state) lines.push('  no outcome yet since start')
  }
  print.out(lines.join('\n'))
  return EXIT.ok
}

export interface DeadLetterRow extends DeadLetterRecord {
  /** Whether its event was kept, so that `caretaker redeliver` can send it again. */
  readonly redeliverable: boolean
  readonly answer?: string
}

async function deadLetterRows(stateDir: string, deliveries: string | undefined): Promise<DeadLetterRow[]> {
  const records = await readJsonLines<DeadLetterRecord>(join(stateDir, DEAD_LETTERS_FILE))
  const kept = deliveries ? (await readJsonLines<DeliveryLine>(deliveries)).filter((l) => l.deadLettered) : []
  return records.map((r) => {
    const line = kept.find((l) => l.event.id === r.event.id && l.event.source === r.event.source && l.trigger === r.trigger)
    return { ...r, redeliverable: line !== undefined, ...(line?.answer ? { answer: line.answer } : {}) }
  })
}

function refusalText(answer: string | undefined): string {
  if (!answer) return ''
  try {
    const body = JSON.parse(answer) as { error?: string; message?: string }
    return `${body.error ? ` ${body.error}` : ''}${body.message ? `: ${body.message}` : ''}`
  } catch {
    return `: ${answer.slice(0, 200)}`
  }
}

export async function deadLettersCommand(stateDir: string, target: Target | undefined, json: boolean, print: Printer): Promise<ExitCode> {
  if (target?.kind === 'server') {
    throw usageError('a cluster\'s Broker keeps no dead letters to list: it sends each to notify\'s /dead-letter, which logs it ("an event was dead-lettered", with its id), counts it (caretaker_dead_letters_total) and messages your channels. Drop --server to list the dead letters of `npm start`')
  }
  const rows = await deadLetterRows(stateDir, target?.kind === 'local' ? target.state.deliveries : undefined)
  if (json) {
    print.out(JSON.stringify(rows, null, 2))
    return EXIT.ok
  }
  if (rows.length === 0) {
    print.out('No dead letters: every event the Broker took was delivered.')
    return EXIT.ok
  }
  const lines = rows.map((r) => [
    `${r.event.id}  ${r.at}  ${r.event.type}`,
    `  from ${r.event.source} to ${r.trigger}${r.subscriber ? ` (${r.subscriber})` : ''}`,
    `  ${r.attempts} attempt(s), last answer ${r.lastStatus === undefined || r.lastStatus === null ? `none (${r.lastError ?? 'unreachable'})` : `HTTP ${r.lastStatus}${refusalText(r.answer)}`}`,
    `  ${r.redeliverable ? `redeliver with: caretaker redeliver ${r.event.id}` : 'its event was not kept (an earlier run of npm start): it cannot be redelivered from here'}`,
  ].join('\n'))
  print.out(lines.join('\n'))
  return EXIT.ok
}

export async function redeliverCommand(target: Target, id: string | undefined, options: { json: boolean; timeoutMs: number }, print: Printer): Promise<ExitCode> {
  if (!id) throw usageError('name the dead letter: caretaker redeliver <event id> (caretaker dead-letters lists them)')
  if (target.kind !== 'local') throw usageError('redeliver works on the dead letters of `npm start`; in a cluster, send the event again to the Broker (notify\'s dead-letter message names it)')
  const state = target.state
  const kept = (await readJsonLines<DeliveryLine>(state.deliveries)).filter((l) => l.deadLettered && l.event.id === id)
  const line = kept.at(-1)
  if (!line?.deadLettered) {
    const known = (await readJsonLines<DeadLetterRecord>(state.deadLetters)).some((r) => r.event.id === id)
    throw usageError(known
      ? `the event of dead letter ${id} was not kept (it is from an earlier run of npm start): send it again by hand`
      : `no dead letter with id ${id}: caretaker dead-letters lists them`)
  }
  const event = eventFromJson(line.deadLettered)
  const since = new Date().toISOString()
  // Sent to the Broker again, as it came the first time: every Trigger that takes it gets it (a function that handled it already answers from its idempotency record).
  const res = await send(state.broker, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(event) }, 'the Broker')
  if (res.status !== 202 && res.status !== 200) {
    const a = await answerOf(res)
    throw new CliError(res.status === 401 || res.status === 403 ? EXIT.unavailable : EXIT.failed, `the Broker refused the event: HTTP ${res.status}: ${a.message}${res.status === 401 ? ' (with authentication-oidc enabled the Broker takes only ServiceAccount tokens: redeliver works with it disabled)' : ''}`)
  }
  await res.arrayBuffer().catch(() => undefined)
  const fn = line.function ?? line.trigger
  if (!options.json) print.err(`${id} sent to the Broker again; waiting for ${fn}…`)
  const again = await waitForDelivery(state, event, line.function, since, options.timeoutMs)
  if (!again) throw unavailable(`no delivery of ${id} to ${fn} within ${Math.round(options.timeoutMs / 1000)}s: see \`npm start\`'s output, or wait longer with --timeout SECONDS`)
  const result = describeDelivery(fn, again)
  if (options.json) print.out(JSON.stringify({ redelivered: { id, source: event.source, type: event.type }, function: fn, ...result.json }, null, 2))
  else print.out(result.text)
  return result.code
}
