import { DURATION_PATTERN, parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { FromSchema, JsonSchema } from '../../shared/schema.ts'

const kubeName = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' } as const
const repoName = { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][-A-Za-z0-9_.]*$' } as const
const url = { type: 'string', maxLength: 2048, pattern: '^https?://[^\\s]+$' } as const

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['namespaces', 'repositories'],
  properties: {
    /** The namespaces whose Helm release Secrets are read (each needs the RoleBinding of rbac.yaml). */
    namespaces: { type: 'array', minItems: 1, uniqueItems: true, items: kubeName },
    repositories: {
      type: 'array',
      items: {
        type: 'object', additionalProperties: false, required: ['name', 'url'],
        properties: {
          /** How `charts` and `releases` name it. */
          name: repoName,
          /** The repository's base URL; its index is `<url>/index.yaml` (as `helm repo add` reads it). HTTPS (HTTP to loopback only). */
          url,
        },
      },
    },
    /** Which repository holds each chart, by chart name: `{ traefik: traefik }`. */
    charts: { type: 'object', default: {}, propertyNames: { minLength: 1, maxLength: 250 }, additionalProperties: repoName },
    /** Per release (`<namespace>/<release>`): its own repository (and chart name), over `charts`. */
    releases: {
      type: 'object', default: {},
      propertyNames: { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 117 },
      additionalProperties: {
        type: 'object', additionalProperties: false, required: ['repository'],
        properties: {
          /** The repository (by name) that holds this release's chart. */
          repository: repoName,
          /** The chart's name in that repository, when it differs from the release's chart name. */
          chart: { type: 'string', minLength: 1, maxLength: 250 },
        },
      },
    },
    /** Pre-release chart versions (`1.2.0-rc.1`) count as newer only when true. */
    includePrerelease: { type: 'boolean', default: false },
    /** The cluster's version against a K3s release channel; absent: not checked. */
    kubernetes: {
      type: 'object', additionalProperties: false, required: ['channelsUrl'],
      properties: { channelsUrl: url, channel: { type: 'string', minLength: 1, maxLength: 100, default: 'stable' } },
    },
    /** How long each repository or channel server has to answer, e.g. `20s`. */
    timeout: { type: 'string', pattern: DURATION_PATTERN, default: '20s' },
    /** An index.yaml larger than this many bytes is not read (the repository is reported unknown). */
    maxIndexBytes: { type: 'integer', minimum: 1024, maximum: 268_435_456, default: 67_108_864 },
    /** Secrets per list request. */
    pageSize: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
  },
} as const satisfies JsonSchema

export type CheckUpdatesConfig = FromSchema<typeof configSchema>
export type Repository = CheckUpdatesConfig['repositories'][number]
export type ReleaseSource = CheckUpdatesConfig['releases'][string]

/** What the schema cannot say: every repository named exists, names are unique, the timeout is above zero. */
export function checkPolicy(config: CheckUpdatesConfig): { timeoutMs: number } {
  const names = new Set<string>()
  for (const [i, r] of config.repositories.entries()) {
    if (names.has(r.name)) throw new CaretakerError(Errors.InvalidConfig, `config.repositories[${i}].name: ${r.name} is listed twice`)
    names.add(r.name)
  }
  for (const [chart, repo] of Object.entries(config.charts)) {
    if (!names.has(repo)) throw new CaretakerError(Errors.InvalidConfig, `config.charts.${chart}: repository ${repo} is not one of config.repositories`)
  }
  for (const [release, source] of Object.entries(config.releases)) {
    if (!names.has(source.repository)) throw new CaretakerError(Errors.InvalidConfig, `config.releases["${release}"].repository: ${source.repository} is not one of config.repositories`)
    const ns = release.split('/')[0]!
    if (!config.namespaces.includes(ns)) throw new CaretakerError(Errors.InvalidConfig, `config.releases["${release}"]: namespace ${ns} is not one of config.namespaces, where the function may read`)
  }
  const timeoutMs = parseDuration(config.timeout) ?? 0
  if (timeoutMs <= 0) throw new CaretakerError(Errors.InvalidConfig, `config.timeout: must be longer than zero, got '${config.timeout}'`)
  return { timeoutMs }
}
