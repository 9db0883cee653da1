import type { CloudEvent } from 'cloudevents'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { checkConfig, configSchema, SCHEDULES, TASKS, type MaintainDatabasesConfig, type Target } from './config.ts'
import { Report, worst } from './findings.ts'
import { DatabaseMetrics } from './metrics.ts'
import { runPostgres } from './postgres.ts'
import { runRedis } from './redis.ts'
import { EventTypes, isEvent } from '../../shared/events/catalogue.ts'
import { pingField } from '../../shared/events/types/knative.ts'

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
type Schedule = keyof typeof SCHEDULES

/** The schedule of a PingSource tick: its data `{"schedule": "weekly"}`, else its name's suffix. */
function scheduleOf(event: CloudEvent<unknown>): Schedule {
  const schedule = pingField(event.data, 'schedule')
  const named = typeof schedule === 'string' ? schedule : /-(daily|weekly|monthly)$/.exec(event.source)?.[1]
  if (named === 'daily' || named === 'weekly' || named === 'monthly') return named
  throw new CaretakerError(Errors.InvalidRequest, `a maintenance tick must say its schedule (data {"schedule": "daily|weekly|monthly"} or a PingSource named *-daily, *-weekly, *-monthly); got source ${event.source}`)
}

export default defineFunction<MaintainDatabasesConfig>({
  name: 'maintain-databases',
  description: 'PostgreSQL and Redis maintenance runbooks: checks, reports, ANALYZE/VACUUM, Redis housekeeping',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, metrics: registry, vault }) {
    checkConfig(config)
    const metrics = new DatabaseMetrics(registry)
    const running = new Set<string>()

    async function credentials(target: Target): Promise<{ username?: string; password?: string }> {
      const ref = target.credentials
      if (!ref) return {}
      if (!vault) throw new CaretakerError(Errors.DependencyUnavailable, `target ${target.name} reads its credentials from Vault, and VAULT_ADDR is not set`)
      const secret = await vault.readKv(ref.mount, ref.path)
      return { ...(secret.data[ref.usernameKey] ? { username: secret.data[ref.usernameKey] } : {}), ...(secret.data[ref.passwordKey] ? { password: secret.data[ref.passwordKey] } : {}) }
    }

    async function maintain(target: Target, tasks: readonly string[], context: HandlerContext, index: number) {
      if (running.has(target.name)) {
        throw new CaretakerError(Errors.EventInProgress, `maintenance of ${target.name} is running already; retry later`)
      }
      running.add(target.name)
      const started = performance.now()
      const now = new Date()
      const report = new Report()
      try {
        let creds: { username?: string; password?: string } = {}
        try {
          creds = await credentials(target)
        } catch (err) {
          if (!(err instanceof CaretakerError) || err.retryable) throw err
          report.find('health', 'credentials', 'critical', `credentials for ${target.name}: ${err.message}`, {})
        }
        if (report.findings.length === 0) {
          if (target.kind === 'postgres') {
            await runPostgres({ target, user: creds.username ?? 'postgres', password: creds.password ?? '', thresholds: config.thresholds, dryRun: context.dryRun, now, report, signal: context.signal, deadline: context.deadline }, tasks)
          } else {
            await runRedis({ target, username: creds.username, password: creds.password, thresholds: config.thresholds, dryRun: context.dryRun, report, signal: context.signal, deadline: context.deadline }, tasks)
          }
        }
      } finally {
        running.delete(target.name)
      }
      metrics.observe(target.name, report.findings, now)
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

    function tasksFor(target: Target, task: string): string[] {
      if (task === 'daily' || task === 'weekly' || task === 'monthly') return SCHEDULES[task][target.kind]
      const known: readonly string[] = TASKS[target.kind]
      if (!known.includes(task)) throw new CaretakerError(Errors.InvalidRequest, `task ${task} does not apply to ${target.kind} target ${target.name}; its tasks: ${known.join(', ')}`)
      return [task]
    }

    return {
      async handle(context, event) {
        if (event.type === PING) {
          const schedule = scheduleOf(event)
          const reports = []
          for (const [i, target] of config.targets.entries()) {
            const data = await maintain(target, SCHEDULES[schedule][target.kind], context, i)
            reports.push(data)
            await context.emit({ type: REPORTED, subject: target.name, data }, i + 1)
          }
          return context.reply({
            type: SCHEDULE_DONE,
            subject: schedule,
            data: {
              schedule,
              status: worst(reports.map((r) => ({ task: '', check: '', message: '', evidence: {}, severity: r.status }))),
              targets: reports.map((r) => ({ target: r.target, kind: r.kind, status: r.status, findings: r.findings.filter((f) => f.severity === 'warning' || f.severity === 'critical').length, actions: r.actions.length })),
              dryRun: context.dryRun,
            },
          })
        }
        if (!isEvent(event, REQUEST)) throw new CaretakerError(Errors.UnknownEventType, `event type ${JSON.stringify(event.type)} is not handled here`)
        const request = event.data
        const target = config.targets.find((t) => t.name === request.target)
        if (!target) throw new CaretakerError(Errors.InvalidRequest, `no database target named "${request.target}"; configured: ${config.targets.map((t) => t.name).join(', ') || 'none'}`)
        const data = await maintain(target, tasksFor(target, request.task ?? 'daily'), context, 0)
        return context.reply({ type: REPORTED, subject: target.name, data })
      },
    }
  },
})
