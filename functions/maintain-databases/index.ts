import type { CloudEvent } from 'cloudevents'
import type { Registry } from 'prom-client'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import type { Vault } from '../../shared/vault/client.ts'
import { checkConfig, configSchema, SCHEDULES, type MaintainDatabasesConfig, type Target } from './config.ts'
import { Report, worst } from './findings.ts'
import { DatabaseMetrics } from './metrics.ts'
import { scheduleOf, scheduleSummary, targetNamed, tasksFor } from './plan.ts'
import { runPostgres } from './postgres.ts'
import { runRedis } from './redis.ts'
import { EventTypes, isEvent } from '../../shared/events/catalogue.ts'

/**
 * maintain-databases: the PostgreSQL and Redis runbooks (daily checks,
 * weekly ANALYZE / VACUUM and Redis housekeeping, monthly reviews) on a
 * schedule or on request, with every finding reported and degradations
 * raised for notify and respond-to-alert. Credentials are read from Vault,
 * read-only, and never leave the driver.
 */

const PING = EventTypes.Ping
const REQUEST = EventTypes.DatabaseMaintenanceRequested
const REPORTED = EventTypes.DatabaseReported
const DEGRADED = EventTypes.DatabaseDegraded
const SCHEDULE_DONE = EventTypes.DatabaseMaintenanceCompleted

/** What maintain-databases' steps share, built once per instance. */
export interface Maintainer {
  config: MaintainDatabasesConfig
  vault: Vault | undefined
  metrics: DatabaseMetrics
  /** The targets being maintained now in this instance: one run per target at a time. */
  running: Set<string>
}

/** A target's credentials, read from Vault when it names them. */
export async function credentials(m: Maintainer, target: Target): Promise<{ username?: string; password?: string }> {
  const ref = target.credentials
  if (!ref) return {}
  if (!m.vault) throw new CaretakerError(Errors.DependencyUnavailable, `target ${target.name} reads its credentials from Vault, and VAULT_ADDR is not set`)
  const secret = await m.vault.readKv(ref.mount, ref.path)
  return { ...(secret.data[ref.usernameKey] ? { username: secret.data[ref.usernameKey] } : {}), ...(secret.data[ref.passwordKey] ? { password: secret.data[ref.passwordKey] } : {}) }
}

/**
 * One target's tasks: its credentials (missing ones are a critical finding,
 * not a retry), its driver's tasks, its metrics, and a degraded event when
 * it has warnings or worse. The target's report.
 */
export async function maintain(m: Maintainer, target: Target, tasks: readonly string[], context: HandlerContext, index: number) {
  if (m.running.has(target.name)) {
    throw new CaretakerError(Errors.EventInProgress, `maintenance of ${target.name} is running already; retry later`)
  }
  m.running.add(target.name)
  const started = performance.now()
  const now = new Date()
  const report = new Report()
  try {
    let creds: { username?: string; password?: string } = {}
    try {
      creds = await credentials(m, target)
    } catch (err) {
      if (!(err instanceof CaretakerError) || err.retryable) throw err
      report.find('health', 'credentials', 'critical', `credentials for ${target.name}: ${err.message}`, {})
    }
    if (report.findings.length === 0) {
      const { thresholds } = m.config
      if (target.kind === 'postgres') {
        await runPostgres({ target, user: creds.username ?? 'postgres', password: creds.password ?? '', thresholds, dryRun: context.dryRun, now, report, signal: context.signal, deadline: context.deadline }, tasks)
      } else {
        await runRedis({ target, username: creds.username, password: creds.password, thresholds, dryRun: context.dryRun, report, signal: context.signal, deadline: context.deadline }, tasks)
      }
    }
  } finally {
    m.running.delete(target.name)
  }
  m.metrics.observe(target.name, report.findings, now)
  const status = worst(report.findings)
  const data = { target: target.name, kind: target.kind, tasks: [...tasks], status, findings: report.findings, actions: report.actions, durationMs: Math.round(performance.now() - started), dryRun: context.dryRun }
  const line = { target: target.name, status, findings: report.findings.length, actions: report.actions.length, duration_ms: data.durationMs }
  if (status === 'warning' || status === 'critical') {
    context.log.warn(line, 'database target degraded')
    await context.emit({ type: DEGRADED, subject: target.name, data: { target: target.name, status, findings: report.findings.filter((f) => f.severity === 'warning' || f.severity === 'critical') } }, 1000 + index)
  } else {
    context.log.info(line, 'database target reported')
  }
  return data
}

/** A schedule's tick: every target in turn, a report each, and the schedule's summary. */
export async function onSchedule(m: Maintainer, event: CloudEvent<unknown>, context: HandlerContext): Promise<CloudEvent<unknown>> {
  const schedule = scheduleOf(event)
  const reports = []
  for (const [i, target] of m.config.targets.entries()) {
    const data = await maintain(m, target, SCHEDULES[schedule][target.kind], context, i)
    reports.push(data)
    await context.emit({ type: REPORTED, subject: target.name, data }, i + 1)
  }
  return context.reply({ type: SCHEDULE_DONE, subject: schedule, data: scheduleSummary(schedule, reports, context.dryRun) })
}

/** A request: one target, a schedule's tasks or one task. */
export async function onRequest(m: Maintainer, event: CloudEvent<unknown>, context: HandlerContext): Promise<CloudEvent<unknown>> {
  if (!isEvent(event, REQUEST)) throw new CaretakerError(Errors.UnknownEventType, `event type ${JSON.stringify(event.type)} is not handled here`)
  const request = event.data
  const target = targetNamed(m.config, request.target)
  const data = await maintain(m, target, tasksFor(target, request.task ?? 'daily'), context, 0)
  return context.reply({ type: REPORTED, subject: target.name, data })
}

export function createMaintainer(config: MaintainDatabasesConfig, vault: Vault | undefined, registry: Registry): Maintainer {
  return { config, vault, metrics: new DatabaseMetrics(registry), running: new Set() }
}

export default defineFunction<MaintainDatabasesConfig>({
  name: 'maintain-databases',
  description: 'PostgreSQL and Redis maintenance runbooks: checks, reports, ANALYZE/VACUUM, Redis housekeeping',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, metrics, vault }) {
    checkConfig(config)
    const maintainer = createMaintainer(config, vault, metrics)
    return {
      async handle(context, event) {
        if (event.type === PING) return onSchedule(maintainer, event, context)
        return onRequest(maintainer, event, context)
      },
    }
  },
})
