import { write as fsWrite, writeSync } from 'node:fs'
import { pino, type Logger, type LoggerOptions } from 'pino'
import { compileRedaction, installCompiledRedaction } from './redaction.ts'

/**
 * Paths pino censors before a line is written. Redaction is configuration,
 * not string scrubbing: anything that may carry a credential is listed here,
 * and values wrapped in SecretValue print as a placeholder wherever they go.
 */
export const REDACTED_PATHS = [
  'password', '*.password', '*.*.password',
  'token', '*.token', '*.*.token',
  'secret', '*.secret', '*.*.secret',
  'value', '*.value',
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  // An HTTP client's error carries the request or response it failed on: err.response.headers.
  '*.*.headers.authorization', '*.*.headers["x-vault-token"]',
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-vault-token"]',
  'headers["x-vault-token"]', '*.headers["x-vault-token"]',
  'data.data', 'stringData', '*.stringData',
]

export const REDACTION_CENSOR = '[REDACTED]'

/** REDACTED_PATHS compiled once (shared/redaction.ts): the same censoring as pino's, without its per-call cost. */
export const compiledRedaction = compileRedaction(REDACTED_PATHS, REDACTION_CENSOR)

export interface LoggerSettings {
  level?: string
  name?: string
  /** Where lines go; defaults to stdout. Tests pass a stream to read lines back. */
  destination?: NodeJS.WritableStream
  /**
   * Without a destination: write stdout asynchronously (asynchronousStdout),
   * as a function process does, instead of one blocking write per line.
   */
  asynchronous?: boolean
}

/**
 * Lines written to a file descriptor asynchronously: each write runs on
 * libuv's thread pool instead of blocking the event loop, and the lines
 * that arrive meanwhile go out together in the next one. Nothing waits for
 * a buffer to fill: a line is written as soon as the write before it is
 * done, so readers of the log (`function ready`) see it as it comes.
 *
 * pino's own asynchronous destination (sonic-boom 4, `pino.destination({
 * sync: false })`) is not used: its flushSync, which pino calls at exit,
 * retries every failed write but EAGAIN forever (sonic-boom index.js,
 * flushSync: `sleep(BUSY_WRITE_TIMEOUT)` on any error), so a process whose
 * stdout reader is gone (EPIPE) hangs at exit instead of exiting.
 */
/** At most this much log waits for a stdout that is not read (64 MiB of characters): beyond, lines are dropped and counted. */
const MAX_QUEUED_CHARS = 64 * 1024 * 1024

/** Where lines went missing, in the log's own shape: whoever reads the log knows that lines are missing, and how many. */
function droppedLine(dropped: number): string {
  return `${JSON.stringify({ level: 'warn', time: new Date().toISOString(), dropped, msg: 'log lines dropped: stdout was not read fast enough and the queue was full' })}\n`
}

export class AsynchronousOutput {
  readonly #fd: number
  /** Lines not handed to a write yet. */
  #queue: string[] = []
  /** A write is on the thread pool. */
  #writing = false
  /** What a write refused with EAGAIN (a full non-blocking pipe), waiting to be tried again. */
  #retry: Buffer | undefined
  /** The descriptor failed (EPIPE, EBADF): lines are dropped from then on, as pino does on EPIPE. */
  #broken = false

  /** The characters queued: bounded, so a reader that stops reading cannot make the process run out of memory. */
  #queued = 0
  readonly #maxQueued: number
  /** Lines dropped since the queue was last full; said in a line of their own once it drains. */
  #dropped = 0

  /** How long flushSync waits for a full pipe in all. */
  readonly #exitWaitMs: number

  constructor(fd: number, options: { maxQueuedChars?: number; exitWaitMs?: number } = {}) {
    this.#fd = fd
    this.#maxQueued = options.maxQueuedChars ?? MAX_QUEUED_CHARS
    this.#exitWaitMs = options.exitWaitMs ?? 5000
  }

  write(line: string): boolean {
    if (this.#broken) return true
    if (this.#queued + line.length > this.#maxQueued) {
      this.#dropped++
      return true
    }
    this.#queue.push(line)
    this.#queued += line.length
    if (!this.#writing && !this.#retry) this.#writeQueued()
    return true
  }

  /** How many lines were dropped because the queue was full (since the last `dropped` line). */
  get dropped(): number {
    return this.#dropped
  }

  #writeQueued(): void {
    if (this.#dropped > 0 && this.#queued + 200 <= this.#maxQueued) {
      this.#queue.push(droppedLine(this.#dropped))
      this.#dropped = 0
    }
    if (this.#queue.length === 0) return
    const chunk = Buffer.from(this.#queue.join(''))
    this.#queue = []
    this.#queued = 0
    this.#write(chunk)
  }

  #write(chunk: Buffer): void {
    this.#writing = true
    fsWrite(this.#fd, chunk, 0, chunk.length, null, (err, written) => {
      this.#writing = false
      if (err?.code === 'EAGAIN') {
        this.#retry = chunk
        setTimeout(() => {
          if (this.#retry !== chunk) return
          this.#retry = undefined
          this.#write(chunk)
        }, 10)
      } else if (err) {
        this.#fail()
      } else if (written < chunk.length) {
        this.#write(chunk.subarray(written))
      } else {
        this.#writeQueued()
      }
    })
  }

  #fail(): void {
    this.#broken = true
    this.#queue = []
    this.#retry = undefined
  }

  /**
   * Write what is queued, synchronously: at the process's exit, when no
   * callback will run any more. A write already on the thread pool is
   * finished by libuv, not repeated here. Never blocks for long: a full
   * non-blocking pipe (fd 1 is one once anything has used process.stdout) is
   * waited for up to 5 s in all, a failed descriptor not at all.
   */
  flushSync(): void {
    if (this.#broken) return
    if (this.#dropped > 0) this.#queue.push(droppedLine(this.#dropped))
    const chunks = [...(this.#retry ? [this.#retry] : []), Buffer.from(this.#queue.join(''))]
    this.#retry = undefined
    this.#queue = []
    this.#queued = 0
    this.#dropped = 0
    const giveUpAt = Date.now() + this.#exitWaitMs
    for (const chunk of chunks) {
      let offset = 0
      while (offset < chunk.length) {
        try {
          offset += writeSync(this.#fd, chunk, offset)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && Date.now() < giveUpAt) {
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
            continue
          }
          this.#fail()
          return
        }
      }
    }
  }
}

let stdout: AsynchronousOutput | undefined

/**
 * The process's one asynchronous stdout (AsynchronousOutput on fd 1). The
 * lines still queued when the process ends are written at its 'exit'
 * (flushLogs), which Node emits on process.exit (the SIGTERM drain in
 * process.ts ends so), when the event loop is empty, and after an uncaught
 * exception or unhandled rejection has been printed. Only a process killed
 * outright (SIGKILL, or a signal it has no handler for) can lose the lines
 * of its last moment.
 */
export function asynchronousStdout(): AsynchronousOutput {
  if (!stdout) {
    stdout = new AsynchronousOutput(1)
    process.on('exit', flushLogs)
  }
  return stdout
}

/** Write what the asynchronous stdout still holds, synchronously (the 'exit' handler). */
export function flushLogs(): void {
  stdout?.flushSync()
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: REDACTION_CENSOR },
    base: settings.name ? { function: settings.name } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }
  const logger = settings.destination ? pino(options, settings.destination) : settings.asynchronous ? pino(options, asynchronousStdout()) : pino(options)
  return installCompiledRedaction(logger, compiledRedaction)
}

/**
 * A value that must never be printed. JSON, string conversion and
 * util.inspect all show a placeholder; only reveal() gives the value.
 */
export class SecretValue {
  readonly #value: string
  constructor(value: string) {
    this.#value = value
  }
  reveal(): string {
    return this.#value
  }
  toJSON(): string {
    return REDACTION_CENSOR
  }
  toString(): string {
    return REDACTION_CENSOR
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return REDACTION_CENSOR
  }
}

export type { Logger }
