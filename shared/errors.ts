/**
 * The one error catalogue. Every error Caretaker reports has a stable code
 * (what clients and alerts key on), an HTTP status the runtime maps it to,
 * and a message that says what to fix. Code throws these, never bare strings.
 */
export interface ErrorDefinition {
  readonly code: string
  readonly status: number
  /** Whether a sender should retry: 5xx and 429 are, 4xx are not. */
  readonly retryable: boolean
}

export class CaretakerError extends Error {
  readonly code: string
  readonly status: number
  readonly retryable: boolean
  /** Structured, secret-free facts for the reply body and the log line. */
  readonly details: Record<string, unknown> | undefined

  constructor(def: ErrorDefinition, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'CaretakerError'
    this.code = def.code
    this.status = def.status
    this.retryable = def.retryable
    this.details = options.details
  }

  is(def: ErrorDefinition): boolean {
    return this.code === def.code
  }
}

function define(code: string, status: number): ErrorDefinition {
  return Object.freeze({ code, status, retryable: status >= 500 || status === 429 })
}

export const Errors = {
  // The event itself is wrong: never retried.
  NotACloudEvent: define('not_a_cloudevent', 400),
  InvalidCloudEvent: define('invalid_cloudevent', 400),
  UnsupportedMediaType: define('unsupported_media_type', 415),
  UnknownEventType: define('unknown_event_type', 400),
  InvalidEventData: define('invalid_event_data', 400),
  BodyTooLarge: define('body_too_large', 413),
  Unauthenticated: define('unauthenticated', 401),
  Forbidden: define('forbidden', 403),
  NotFound: define('not_found', 404),
  MethodNotAllowed: define('method_not_allowed', 405),
  InvalidRequest: define('invalid_request', 400),
  // The event is fine but cannot be handled now: retried.
  EventInProgress: define('event_in_progress', 429),
  NotReady: define('not_ready', 503),
  ShuttingDown: define('shutting_down', 503),
  DependencyFailed: define('dependency_failed', 502),
  DependencyUnavailable: define('dependency_unavailable', 503),
  Internal: define('internal_error', 500),
  // Raised at start, before anything is served.
  InvalidConfig: define('invalid_config', 500),
  // Caught where they arise and reported in the outcome (a failed check, a
  // release or repository reported unknown), or mapped onto one of the above
  // by the reader that meets them; the status applies only to one that escapes.
  JsonTooDeep: define('json_too_deep', 400),
  RepositoryUnreadable: define('repository_unreadable', 502),
  ReleaseUnreadable: define('release_unreadable', 502),
  ArchiveUnreadable: define('archive_unreadable', 502),
  RestoreTimedOut: define('restore_timed_out', 504),
  // A lock's Lease was taken over while held: its holder stops; the new holder carries on.
  LeaseLost: define('lease_lost', 409),
  // A user's message template (notify's templatesDir) that cannot be used: reported, never fatal.
  InvalidTemplate: define('invalid_template', 500),
} as const

/** Whether `err` is a CaretakerError, and (given `def`) one of that definition. */
export function isCaretakerError(err: unknown, def?: ErrorDefinition): err is CaretakerError {
  return err instanceof CaretakerError && (def === undefined || err.is(def))
}

/**
 * What may be logged of an error that is not a CaretakerError: its type and
 * stack frames. The message line is dropped: it may quote anything,
 * secrets included.
 */
export function loggableUnexpected(err: unknown): { type: string; stack: string } {
  const e = err as Error | undefined
  return { type: e?.name ?? typeof err, stack: (e?.stack ?? '').split('\n').slice(1).join('\n') }
}
