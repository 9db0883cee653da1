import { DURATION_PATTERN, parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { FromSchema, JsonSchema } from '../../shared/schema.ts'
import { CONFIGURATION_PARTS } from '../../shared/events/types/configuration.ts'
import { secretRefSchema } from '../../shared/secret-ref.ts'

/** What a configuration backup can hold; a request may ask for some of them. */
export const PARTS = CONFIGURATION_PARTS
export type Part = (typeof PARTS)[number]
export const GRAFANA_PARTS: readonly Part[] = ['dashboards', 'alert-rules', 'contact-points', 'policies']

const duration = { type: 'string', pattern: DURATION_PATTERN } as const
const ns = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 } as const

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['output'],
  properties: {
    output: {
      type: 'object',
      additionalProperties: false,
      required: ['directory'],
      properties: {
        /** Where archives are written: the backups claim mounted read-write (README, back-up-configuration). */
        directory: { type: 'string', pattern: '^/' },
        /** Archives are named `<prefix>_YYYYMMDD_HHmmss.tar.gz` (UTC): verify-backup's `timestamp: { formats: [YYYYMMDD_HHmmss] }`. */
        prefix: { type: 'string', pattern: '^[a-z0-9][-a-z0-9]*$', maxLength: 63, default: 'configuration' },
        /** Archives kept; older ones are deleted (dry-run by default: listed, not deleted). */
        keep: { type: 'integer', minimum: 1, maximum: 10000, default: 30 },
      },
    },
    /** The parts a scheduled run backs up (a request may ask for fewer). */
    parts: { type: 'array', uniqueItems: true, items: { enum: [...PARTS] }, default: [...PARTS] },
    grafana: {
      type: 'object',
      additionalProperties: false,
      required: ['url', 'token'],
      properties: {
        /** Grafana's base URL, e.g. `http://grafana.monitoring.svc`. */
        url: { type: 'string', pattern: '^https?://' },
        /** A Grafana service account token (Viewer, plus alerting read): from a mounted Secret, an env or Vault. */
        token: secretRefSchema,
        /** Dashboards per search page (Grafana's `limit`, at most 5000). */
        pageSize: { type: 'integer', minimum: 1, maximum: 5000, default: 500 },
        /** Per request. */
        timeout: { ...duration, default: '30s' },
      },
    },
    kubernetes: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** The namespaces PrometheusRules and ConfigMaps are read in (each needs the RoleBinding of rbac.yaml). */
        namespaces: { type: 'array', uniqueItems: true, items: ns, default: [] },
        /** Label selectors: only matching objects are backed up (empty: all in the namespaces). */
        prometheusRuleSelector: { type: 'string', minLength: 1 },
        configMapSelector: { type: 'string', minLength: 1 },
        pageSize: { type: 'integer', minimum: 1, maximum: 5000, default: 500 },
      },
    },
  },
} as const satisfies JsonSchema

export type BackUpConfigurationConfig = FromSchema<typeof configSchema>

export function checkConfig(config: BackUpConfigurationConfig): void {
  const bad = (field: string, problem: string): never => { throw new CaretakerError(Errors.InvalidConfig, `config.${field}: ${problem}`) }
  if (config.parts.some((p) => GRAFANA_PARTS.includes(p)) && !config.grafana) bad('grafana', `the parts ${config.parts.filter((p) => GRAFANA_PARTS.includes(p)).join(', ')} need grafana.url and grafana.token (or drop them from parts)`)
  if ((config.parts.includes('prometheusrules') || config.parts.includes('configmaps')) && config.kubernetes.namespaces.length === 0) bad('kubernetes.namespaces', 'prometheusrules and configmaps are read in the namespaces listed here: name at least one (or drop them from parts)')
  if (config.grafana && !parseDuration(config.grafana.timeout)) bad('grafana.timeout', 'must be longer than zero')
}
