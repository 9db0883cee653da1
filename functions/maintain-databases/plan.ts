import type { CloudEvent } from 'cloudevents'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { SCHEDULES, TASKS, type MaintainDatabasesConfig, type Target } from './config.ts'
import { worst, type Finding } from './findings.ts'
import { pingField } from '../../shared/events/types/knative.ts'

/**
 * maintain-databases' pure choices: which schedule a tick runs, which
 * target a request names, which tasks apply, and the schedule's summary.
 */

export type Schedule = keyof typeof SCHEDULES

/** The schedule of a PingSource tick: its data `{"schedule": "weekly"}`, else its name's suffix. */
export function scheduleOf(event: CloudEvent<unknown>): Schedule {
  const schedule = pingField(event.data, 'schedule')
  const named = typeof schedule === 'string' ? schedule : /-(daily|weekly|monthly)$/.exec(event.source)?.[1]
  if (named === 'daily' || named === 'weekly' || named === 'monthly') return named
  throw new CaretakerError(Errors.InvalidRequest, `a maintenance tick must say its schedule (data {"schedule": "daily|weekly|monthly"} or a PingSource named *-daily, *-weekly, *-monthly); got source ${event.source}`)
}

export function targetNamed(config: MaintainDatabasesConfig, name: string): Target {
  const target = config.targets.find((t) => t.name === name)
  if (!target) throw new CaretakerError(Errors.InvalidRequest, `no database target named "${name}"; configured: ${config.targets.map((t) => t.name).join(', ') || 'none'}`)
  return target
}

/** The tasks of a request: a schedule's for the target's kind, or one task that applies to it. */
export function tasksFor(target: Target, task: string): string[] {
  if (task === 'daily' || task === 'weekly' || task === 'monthly') return SCHEDULES[task][target.kind]
  const known: readonly string[] = TASKS[target.kind]
  if (!known.includes(task)) throw new CaretakerError(Errors.InvalidRequest, `task ${task} does not apply to ${target.kind} target ${target.name}; its tasks: ${known.join(', ')}`)
  return [task]
}

/** A target's report, as the schedule's summary reads it. */
export interface TargetReport { target: string; kind: Target['kind']; status: Finding['severity']; findings: Finding[]; actions: readonly unknown[] }

/** The data of dev.caretaker.database.maintenance.completed: the worst status, and each target's. */
export function scheduleSummary(schedule: Schedule, reports: readonly TargetReport[], dryRun: boolean) {
  return {
    schedule,
    status: worst(reports.map((r) => ({ task: '', check: '', message: '', evidence: {}, severity: r.status }))),
    targets: reports.map((r) => ({ target: r.target, kind: r.kind, status: r.status, findings: r.findings.filter((f) => f.severity === 'warning' || f.severity === 'critical').length, actions: r.actions.length })),
    dryRun,
  }
}
