import { DURATION_PATTERN, parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { JsonSchema } from '../../shared/schema.ts'

export interface RenewCertificateConfig {
  /** The namespaces whose Certificates it follows (and has RoleBindings in); empty: every namespace (needs cluster-wide RBAC). */
  namespaces: string[]
  /** A Certificate not Ready for longer than this gets a renewal requested, e.g. `1h`. */
  notReadyFor: string
  /** A Certificate expiring within this is reported as expiring, e.g. `14d`. */
  expiryThreshold: string
  /** At most one renewal request per Certificate in this long, e.g. `6h`. */
  cooldown: string
  /** Issuing for longer than this is reported as stuck, e.g. `1h`. */
  stuckIssuingAfter: string
  /** Delete a stuck issuance's failed CertificateRequest so cert-manager makes a new one (at most once per cooldown). */
  retryFailedRequests: boolean
  /** Objects per list request. */
  pageSize: number
}

const duration = { type: 'string', pattern: DURATION_PATTERN }

export const configSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    namespaces: { type: 'array', default: [], uniqueItems: true, items: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 } },
    notReadyFor: { ...duration, default: '1h' },
    expiryThreshold: { ...duration, default: '14d' },
    cooldown: { ...duration, default: '6h' },
    stuckIssuingAfter: { ...duration, default: '1h' },
    retryFailedRequests: { type: 'boolean', default: false },
    pageSize: { type: 'integer', minimum: 1, maximum: 1000, default: 250 },
  },
}

/** The policy in milliseconds, checked beyond what the schema says. */
export interface RenewalPolicy {
  notReadyForMs: number
  expiryThresholdMs: number
  cooldownMs: number
  stuckIssuingMs: number
}

export function renewalPolicy(config: RenewCertificateConfig): RenewalPolicy {
  const ms = (field: 'notReadyFor' | 'expiryThreshold' | 'cooldown' | 'stuckIssuingAfter'): number => {
    const value = parseDuration(config[field]) ?? 0
    if (value <= 0) throw new CaretakerError(Errors.InvalidConfig, `config.${field}: must be longer than zero, got '${config[field]}'`)
    return value
  }
  return { notReadyForMs: ms('notReadyFor'), expiryThresholdMs: ms('expiryThreshold'), cooldownMs: ms('cooldown'), stuckIssuingMs: ms('stuckIssuingAfter') }
}
