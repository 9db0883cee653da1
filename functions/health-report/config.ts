import { DURATION_PATTERN, parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { FromSchema, JsonSchema } from '../../shared/schema.ts'
import { HEALTH_CHECKS } from '../../shared/events/types/health.ts'
import { clusterPolicy, thresholdsSchema } from './checks/thresholds.ts'
import { HISTORY_MAX_DAYS } from './checks/digest.ts'

export type HealthCheck = (typeof HEALTH_CHECKS)[number]

const duration = { type: 'string', pattern: DURATION_PATTERN } as const
const kubeName = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' } as const

/** A service read over HTTP (Vault, Alertmanager): its address and how long an answer may take. */
const httpEndpoint = { address: { type: 'string', pattern: '^https?://' }, timeout: { ...duration, default: '5s' } } as const

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** The namespaces whose pods, events, certificates and PVCs are checked (each needs the RoleBinding of rbac.yaml); empty: every namespace (needs cluster-wide RBAC). */
    namespaces: { type: 'array', default: [], uniqueItems: true, items: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 } },
    /** The checks the daily run does (a request may ask for fewer). */
    checks: { type: 'array', uniqueItems: true, items: { enum: [...HEALTH_CHECKS] }, default: [...HEALTH_CHECKS] },
    /** Objects per list request: large clusters are read page by page. */
    pageSize: { type: 'integer', minimum: 1, maximum: 5000, default: 500 },
    /** Warning events younger than this are reported, e.g. `24h`. */
    eventWindow: { ...duration, default: '24h' },
    /** A Certificate expiring within this is reported, e.g. `14d`. */
    certificateExpiry: { ...duration, default: '14d' },
    /** A Pod still starting or a PVC still Pending is not reported while younger than this. */
    grace: { ...duration, default: '15m' },
    /**
     * Vault's address; its unauthenticated `sys/health` and `sys/leader` are read (no token needed). Without it the vault check is skipped, and the report says so.
     * `members`: each Vault node's own address (e.g. `https://vault-0.vault-internal:8200`), whose `sys/health` counts the standbys; fewer than `minStandbys` is reported.
     */
    vault: {
      type: 'object',
      additionalProperties: false,
      required: ['address'],
      properties: {
        ...httpEndpoint,
        members: { type: 'array', default: [], uniqueItems: true, maxItems: 15, items: { type: 'string', pattern: '^https?://' } },
        minStandbys: { type: 'integer', minimum: 0, maximum: 14, default: 0 },
      },
    },
    /** The backup CronJobs whose Jobs must have run, and succeeded, in their window. */
    backups: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['namespace', 'name'],
        properties: {
          namespace: kubeName,
          name: kubeName,
          /** A successful Job must have started within this, e.g. `24h` (`7d` for a weekly backup). */
          window: { ...duration, default: '24h' },
        },
      },
    },
    /** The cluster checks' thresholds (node pressure, disk, usage, commitment, workloads, restarts): checks/thresholds.ts. */
    thresholds: thresholdsSchema,
    /** Alertmanager's address, whose firing alerts (API v2, neither silenced nor inhibited) the alerts check reports. Without it the alerts check is skipped. */
    alertmanager: {
      type: 'object',
      additionalProperties: false,
      required: ['address'],
      properties: {
        ...httpEndpoint,
        /** Alerts with one of these severity labels are critical findings; other severities are warnings. */
        criticalSeverities: { type: 'array', uniqueItems: true, items: { type: 'string', minLength: 1 }, default: ['critical'] },
        /** Alerts with one of these severity labels are counted, but no finding (kube-prometheus' Watchdog and InfoInhibitor carry `none`). */
        ignoredSeverities: { type: 'array', uniqueItems: true, items: { type: 'string', minLength: 1 }, default: ['none', 'info'] },
        /** An alert firing for less than this is not yet a finding. */
        minFiring: { ...duration, default: '0s' },
      },
    },
    /** Where Longhorn keeps its Volumes and RecurringJobs; a volume degraded longer than `degradedCritical` is critical; a covered volume's last backup older than `backupMaxAge` is reported. */
    longhorn: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { namespace: { ...kubeName, default: 'longhorn-system' }, degradedCritical: { ...duration, default: '24h' }, backupMaxAge: { ...duration, default: '48h' } },
    },
    /** An ExternalSecret not Ready for longer than `criticalAfter` is critical (a warning before). */
    externalSecrets: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { criticalAfter: { ...duration, default: '24h' } },
    },
    /**
     * The daily reports' bounded history (a ConfigMap) the weekly digest compares; `recurringDays`: a problem seen on at least
     * this many of the seven days is listed as recurring; `fillHorizon`: a volume whose fill, growing at the week's pace, reaches
     * 100% within it is flagged.
     */
    history: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        namespace: { ...kubeName, default: 'caretaker' },
        configMap: { ...kubeName, default: 'health-report-history' },
        days: { type: 'integer', minimum: 7, maximum: HISTORY_MAX_DAYS, default: 14 },
        recurringDays: { type: 'integer', minimum: 2, maximum: 7, default: 3 },
        fillHorizon: { ...duration, default: '30d' },
      },
    },
  },
} as const satisfies JsonSchema

export type HealthReportConfig = FromSchema<typeof configSchema>
export type BackupCronJob = HealthReportConfig['backups'][number]

/** The durations in milliseconds, checked beyond what the schema says. */
export interface HealthPolicy {
  eventWindowMs: number
  certificateExpiryMs: number
  graceMs: number
  vaultTimeoutMs: number
  backupWindowMs: number[]
  restartWindowMs: number
  alertMinFiringMs: number
  alertmanagerTimeoutMs: number
  longhornDegradedCriticalMs: number
  longhornBackupMaxAgeMs: number
  externalSecretCriticalMs: number
  fillHorizonMs: number
}

export function healthPolicy(config: HealthReportConfig): HealthPolicy {
  const ms = (text: string, field: string, zeroOk = false): number => {
    const value = parseDuration(text) ?? 0
    if (value <= 0 && !(zeroOk && value === 0)) throw new CaretakerError(Errors.InvalidConfig, `config.${field}: must be longer than zero, got '${text}'`)
    return value
  }
  config.backups.forEach((b, i) => {
    if (config.namespaces.length > 0 && !config.namespaces.includes(b.namespace)) {
      throw new CaretakerError(Errors.InvalidConfig, `config.backups[${i}].namespace: ${b.namespace} is not one of config.namespaces, where the function may read`)
    }
  })
  if (config.vault && config.vault.minStandbys > config.vault.members.length) {
    throw new CaretakerError(Errors.InvalidConfig, `config.vault.minStandbys: ${config.vault.minStandbys} standbys cannot be counted among ${config.vault.members.length} configured members; list each Vault node's address in config.vault.members`)
  }
  return {
    eventWindowMs: ms(config.eventWindow, 'eventWindow'),
    certificateExpiryMs: ms(config.certificateExpiry, 'certificateExpiry'),
    graceMs: ms(config.grace, 'grace', true),
    vaultTimeoutMs: config.vault ? ms(config.vault.timeout, 'vault.timeout') : 0,
    backupWindowMs: config.backups.map((b, i) => ms(b.window, `backups[${i}].window`)),
    ...clusterPolicy(config.thresholds),
    alertMinFiringMs: config.alertmanager ? ms(config.alertmanager.minFiring, 'alertmanager.minFiring', true) : 0,
    alertmanagerTimeoutMs: config.alertmanager ? ms(config.alertmanager.timeout, 'alertmanager.timeout') : 0,
    longhornDegradedCriticalMs: ms(config.longhorn.degradedCritical, 'longhorn.degradedCritical'),
    longhornBackupMaxAgeMs: ms(config.longhorn.backupMaxAge, 'longhorn.backupMaxAge'),
    externalSecretCriticalMs: ms(config.externalSecrets.criticalAfter, 'externalSecrets.criticalAfter'),
    fillHorizonMs: ms(config.history.fillHorizon, 'history.fillHorizon'),
  }
}
