import { DURATION_PATTERN, parseDuration } from '../../../shared/duration.ts'
import { CaretakerError, Errors } from '../../../shared/errors.ts'
import type { FromSchema, JsonSchema } from '../../../shared/schema.ts'

/**
 * The cluster checks' thresholds (config key `thresholds`), with the
 * defaults an SRE would start from. Percentages are of a capacity: a
 * filesystem's bytes and inodes, a node's allocatable cpu and memory, a
 * container's memory limit.
 */

const percent = { type: 'number', exclusiveMinimum: 0, maximum: 1000 } as const

/** Percent at which a warning, and (optionally) a critical finding, is made. */
const percentages = (warning: number) => ({
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: { warning: { ...percent, default: warning }, critical: percent },
}) as const

/** The same, with a critical percent by default. */
const percentagesWithCritical = (warning: number, critical: number) => ({
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: { warning: { ...percent, default: warning }, critical: { ...percent, default: critical } },
}) as const

export type Percentages = FromSchema<ReturnType<typeof percentages>>

export const thresholdsSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    /** Node filesystem (nodefs), image filesystem (imagefs) and PVC fill, bytes and inodes, from the kubelet's stats summary. */
    disk: percentagesWithCritical(80, 90),
    /** A node's cpu in use (metrics-server) of its allocatable: busy, not broken, so a warning by default. */
    nodeCpu: percentages(90),
    /** A node's memory working set (metrics-server) of its allocatable: near it the kubelet evicts. */
    nodeMemory: percentagesWithCritical(85, 95),
    /** A container's memory working set of its memory limit: near it the kernel OOM-kills it. */
    containerMemory: percentages(90),
    /** The sum of a node's pod requests of its allocatable: a warning from this percent; above 100 always critical. */
    requests: { type: 'object', additionalProperties: false, default: {}, properties: { warning: { ...percent, default: 90 } } },
    /** The sum of a node's pod limits of its allocatable that is reported (warning): memory overcommit means OOM kills under pressure; cpu overcommit only throttling. */
    limits: { type: 'object', additionalProperties: false, default: {}, properties: { cpu: { ...percent, default: 200 }, memory: { ...percent, default: 100 } } },
    /** Restarts of a container that restarted within `window` (its last termination ended then). */
    restarts: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        window: { type: 'string', pattern: DURATION_PATTERN, default: '24h' },
        warning: { type: 'integer', minimum: 1, default: 3 },
        critical: { type: 'integer', minimum: 1, default: 10 },
      },
    },
  },
} as const satisfies JsonSchema

export type ClusterThresholds = FromSchema<typeof thresholdsSchema>

/** The thresholds checked beyond the schema (a critical above its warning, a window longer than zero), and the restart window in milliseconds. */
export function clusterPolicy(t: ClusterThresholds): { restartWindowMs: number } {
  const ordered = (p: { warning: number; critical?: number }, field: string) => {
    if (p.critical !== undefined && p.critical < p.warning) throw new CaretakerError(Errors.InvalidConfig, `config.thresholds.${field}: critical (${p.critical}) must not be below warning (${p.warning})`)
  }
  ordered(t.disk, 'disk')
  ordered(t.nodeCpu, 'nodeCpu')
  ordered(t.nodeMemory, 'nodeMemory')
  ordered(t.containerMemory, 'containerMemory')
  ordered(t.restarts, 'restarts')
  const restartWindowMs = parseDuration(t.restarts.window) ?? 0
  if (restartWindowMs <= 0) throw new CaretakerError(Errors.InvalidConfig, `config.thresholds.restarts.window: must be longer than zero, got '${t.restarts.window}'`)
  return { restartWindowMs }
}

/** The severity of a percentage against thresholds, if any. */
export function severityOf(value: number, p: Percentages): 'warning' | 'critical' | undefined {
  if (p.critical !== undefined && value >= p.critical) return 'critical'
  return value >= p.warning ? 'warning' : undefined
}
