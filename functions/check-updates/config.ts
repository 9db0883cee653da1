import { DURATION_PATTERN, parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { JsonSchema } from '../../shared/schema.ts'

export interface Repository {
  /** How `charts` and `releases` name it. */
  name: string
  /** The repository's base URL; its index is `<url>/index.yaml` (as `helm repo add` reads it). HTTPS (HTTP to loopback only). */
  url: string
}

export interface ReleaseSource {
  /** The repository (by name) that holds this release's chart. */
  repository: string
  /** The chart's name in that repository, when it differs from the release's chart name. */
  chart?: string
}

export interface CheckUpdatesConfig {
  /** The namespaces whose Helm release Secrets are read (each needs the RoleBinding of rbac.yaml). */
  namespaces: string[]
  repositories: Repository[]
  /** Which repository holds each chart, by chart name: `{ traefik: traefik }`. */
  charts: Record<string, string>
  /** Per release (`<namespace>/<release>`): its own repository (and chart name), over `charts`. */
  releases: Record<string, ReleaseSource>
  /** Pre-release chart versions (`1.2.0-rc.1`) count as newer only when true. */
  includePrerelease: boolean
  /** The cluster's version against a K3s release channel; absent: not checked. */
  kubernetes?: { channelsUrl: string; channel: string }
  /** How long each repository or channel server has to answer, e.g. `20s`. */
  timeout: string
  /** An index.yaml larger than this many bytes is not read (the repository is reported unknown). */
  maxIndexBytes: number
  /** Secrets per list request. */
  pageSize: number
}

const kubeName = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }
const repoName = { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][-A-Za-z0-9_.]*$' }
const url = { type: 'string', maxLength: 2048, pattern: '^https?://[^\\s]+$' }

export const configSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['namespaces', 'repositories'],
  properties: {
    namespaces: { type: 'array', minItems: 1, uniqueItems: true, items: kubeName },
    repositories: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['name', 'url'], properties: { name: repoName, url } },
    },
    charts: { type: 'object', default: {}, propertyNames: { minLength: 1, maxLength: 250 }, additionalProperties: repoName },
    releases: {
      type: 'object', default: {},
      propertyNames: { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 117 },
      additionalProperties: {
        type: 'object', additionalProperties: false, required: ['repository'],
        properties: { repository: repoName, chart: { type: 'string', minLength: 1, maxLength: 250 } },
      },
    },
    includePrerelease: { type: 'boolean', default: false },
    kubernetes: {
      type: 'object', additionalProperties: false, required: ['channelsUrl'],
      properties: { channelsUrl: url, channel: { type: 'string', minLength: 1, maxLength: 100, default: 'stable' } },
    },
    timeout: { type: 'string', pattern: DURATION_PATTERN, default: '20s' },
    maxIndexBytes: { type: 'integer', minimum: 1024, maximum: 268_435_456, default: 67_108_864 },
    pageSize: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
  },
}

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
