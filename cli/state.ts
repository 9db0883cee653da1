import { appendFile, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CloudEvent } from 'cloudevents'
import type { DeliveryReport } from '../sandbox/mesh/broker.ts'

/**
 * What a running `npm start` tells the `caretaker` command, in its state
 * directory (`.caretaker/`, git-ignored): where the broker and each function
 * listen, the sandbox's kubeconfig (whose token makes manual requests), and
 * the files the mesh writes: every delivery with its reply, and the dead
 * letters. Written once the platform is up, removed when it stops. No token
 * or secret is written here: the kubeconfig file (0600) holds the token.
 */

export const STATE_FILE = 'local.json'
/** One JSON line per delivery the mesh ended: the event, the Trigger, the answer and the reply. */
export const DELIVERIES_FILE = 'deliveries.jsonl'
/** The mesh's dead-letter records (shared/mesh/broker.ts DeadLetterRecord), one JSON line each. */
export const DEAD_LETTERS_FILE = 'dead-letters.jsonl'

export interface LocalState {
  readonly version: 1
  /** The process that runs the platform: a state file whose process is gone is stale. */
  readonly pid: number
  readonly startedAt: string
  /** The Broker's address: where events (and, without the sandbox, manual requests) go. */
  readonly broker: string
  /** Each function's base URL (its manual entry is `<url>/manual`). */
  readonly functions: Readonly<Record<string, string>>
  /** The sandbox's kubeconfig (an admin token): how manual requests authenticate. Null without the sandbox. */
  readonly kubeconfig: string | null
  /** `forced` against a real cluster without --apply; otherwise CARETAKER_DRY_RUN's value. */
  readonly dryRun: string
  readonly eventingOidc: string
  /** The functions and triggers directories the platform runs. */
  readonly functionsDir: string
  readonly triggersDir: string
  readonly deliveries: string
  readonly deadLetters: string
}

/** A CloudEvent as JSON (structured mode), which `new CloudEvent(json)` reads back. */
export type EventJson = Record<string, unknown>

export interface DeliveryLine {
  readonly at: string
  readonly trigger: string
  /** The function (Knative Service) the Trigger delivers to. */
  readonly function: string | undefined
  readonly event: { readonly id: string; readonly type: string; readonly source: string }
  readonly delivered: boolean
  readonly attempts: number
  readonly status: number | null
  readonly error?: string
  /** A refused delivery's answer: Caretaker's `{error, message}` as text. */
  readonly answer?: string
  readonly reply?: EventJson
  /** A dead-lettered event whole, so that `caretaker redeliver` can send it again. */
  readonly deadLettered?: EventJson
}

/** The event as it is, bytes and all (its data as `data_base64` when it came as bytes): what a redelivery sends. */
export function eventJson(event: CloudEvent<unknown>): EventJson {
  return JSON.parse(JSON.stringify(event)) as EventJson
}

function isJsonType(contentType: unknown): boolean {
  return typeof contentType === 'string' && /^application\/([a-z0-9.+-]*\+)?json(\s*;|$)/i.test(contentType)
}

/** The event with JSON data as JSON (the mesh forwards data as bytes): what a person, or a program, reads. */
export function readableEventJson(event: CloudEvent<unknown>): EventJson {
  const json = eventJson(event)
  if (typeof json.data_base64 === 'string' && isJsonType(json.datacontenttype)) {
    const { data_base64: base64, ...rest } = json
    try {
      return { ...rest, data: JSON.parse(Buffer.from(base64 as string, 'base64').toString('utf8')) as unknown }
    } catch {
      return json
    }
  }
  return json
}

export function eventFromJson(json: EventJson): CloudEvent<unknown> {
  return new CloudEvent<unknown>(json as ConstructorParameters<typeof CloudEvent>[0], false)
}

export function deliveryLine(report: DeliveryReport, at = new Date()): DeliveryLine {
  return {
    at: at.toISOString(),
    trigger: report.trigger,
    function: report.service,
    event: { id: report.event.id, type: report.event.type, source: report.event.source },
    delivered: report.delivered,
    attempts: report.attempts,
    status: report.status ?? null,
    ...(report.error ? { error: report.error } : {}),
    ...(report.answer ? { answer: report.answer } : {}),
    ...(report.reply ? { reply: readableEventJson(report.reply) } : {}),
    ...(report.delivered ? {} : { deadLettered: eventJson(report.event) }),
  }
}

export async function writeLocalState(dir: string, state: LocalState): Promise<void> {
  await writeFile(join(dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
}

export async function removeLocalState(dir: string): Promise<void> {
  await rm(join(dir, STATE_FILE), { force: true })
}

/** Appends in order: one write at a time, so lines never interleave. */
export class JsonLines {
  readonly path: string
  #tail: Promise<void> = Promise.resolve()
  readonly #onError: (err: Error) => void

  constructor(path: string, onError: (err: Error) => void) {
    this.path = path
    this.#onError = onError
  }

  append(value: unknown): void {
    const line = `${JSON.stringify(value)}\n`
    this.#tail = this.#tail.then(() => appendFile(this.path, line, { mode: 0o600 })).catch((err: unknown) => this.#onError(err as Error))
  }

  flushed(): Promise<void> {
    return this.#tail
  }
}

export async function readJsonLines<T>(path: string): Promise<T[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const out: T[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    try {
      out.push(JSON.parse(line) as T)
    } catch {
      // A line cut by a crash mid-write: the rest still reads.
    }
  }
  return out
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The running platform's state, or why there is none (no file, or its process is gone). */
export async function readLocalState(dir: string): Promise<{ state: LocalState } | { missing: string }> {
  const path = join(dir, STATE_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { missing: `no running Caretaker: ${path} does not exist` }
    throw err
  }
  let state: LocalState
  try {
    state = JSON.parse(text) as LocalState
  } catch {
    return { missing: `${path} is not valid JSON` }
  }
  if (state.version !== 1 || typeof state.broker !== 'string' || typeof state.functions !== 'object') return { missing: `${path} is not a state file this version understands` }
  if (!alive(state.pid)) return { missing: `the Caretaker that wrote ${path} (process ${state.pid}) is no longer running` }
  return { state }
}
