import { pino, type Logger, type LoggerOptions } from 'pino'

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
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-vault-token"]',
  'headers["x-vault-token"]', '*.headers["x-vault-token"]',
  'data.data', 'stringData', '*.stringData',
]

export const REDACTION_CENSOR = '[REDACTED]'

export interface LoggerSettings {
  level?: string
  name?: string
  /** Where lines go; defaults to stdout. Tests pass a stream to read lines back. */
  destination?: NodeJS.WritableStream
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: REDACTION_CENSOR },
    base: settings.name ? { function: settings.name } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }
  return settings.destination ? pino(options, settings.destination) : pino(options)
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
