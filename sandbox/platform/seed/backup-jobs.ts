import { DAY, MINUTE, iso, type Ctx, type Obj } from './context.ts'
import { podSpec, type ContainerSpec } from './workloads.ts'

/** A backup CronJob with its last runs as Jobs it owns; `runs` are schedule ticks, newest first. */
export function backupCronJob(ctx: Ctx, namespace: string, name: string, schedule: { cron: string, hour: number, minute: number, weekday?: number }, container: ContainerSpec, volumes: Obj[], outcomes: Array<'Complete' | 'Failed'>) {
  const ticks: Date[] = []
  for (let t = Date.UTC(ctx.now.getUTCFullYear(), ctx.now.getUTCMonth(), ctx.now.getUTCDate(), schedule.hour, schedule.minute); ticks.length < outcomes.length; t -= DAY) {
    const d = new Date(t)
    if (d <= ctx.now && (schedule.weekday === undefined || d.getUTCDay() === schedule.weekday)) ticks.push(d)
  }
  const lastOk = ticks.find((_, i) => outcomes[i] === 'Complete')
  const labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': 'backup' }
  const jobTemplate = { metadata: { labels }, spec: { backoffLimit: 1, activeDeadlineSeconds: 3600, template: { metadata: { labels }, spec: podSpec([container], volumes, { restartPolicy: 'OnFailure' }) } } }
  const cj = ctx.put({
    apiVersion: 'batch/v1', kind: 'CronJob',
    metadata: { name, namespace, labels, creationTimestamp: iso(ctx.ago(300 * DAY)) },
    spec: { schedule: schedule.cron, timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid', successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1, startingDeadlineSeconds: 600, jobTemplate },
    status: { lastScheduleTime: iso(ticks[0]!), ...(lastOk ? { lastSuccessfulTime: iso(new Date(lastOk.getTime() + 4 * MINUTE)) } : {}) },
  })
  ticks.forEach((tick, i) => {
    const outcome = outcomes[i]!
    const job = `${name}-${Math.floor(tick.getTime() / MINUTE)}`
    const start = new Date(tick.getTime() + 2_000)
    const end = new Date(tick.getTime() + (outcome === 'Complete' ? 4 * MINUTE : 9 * MINUTE))
    const status = outcome === 'Complete'
      ? { startTime: iso(start), completionTime: iso(end), succeeded: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {}, conditions: [
          { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastProbeTime: iso(end), lastTransitionTime: iso(end) },
          { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastProbeTime: iso(end), lastTransitionTime: iso(end) }] }
      : { startTime: iso(start), failed: 2, ready: 0, terminating: 0, uncountedTerminatedPods: {}, conditions: [
          { type: 'FailureTarget', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastProbeTime: iso(end), lastTransitionTime: iso(end) },
          { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastProbeTime: iso(end), lastTransitionTime: iso(end) }] }
    ctx.put({
      apiVersion: 'batch/v1', kind: 'Job',
      metadata: { name: job, namespace, labels: { ...labels, 'batch.kubernetes.io/job-name': job }, annotations: { 'batch.kubernetes.io/cronjob-scheduled-timestamp': iso(tick) }, ownerReferences: [ctx.ownerRef(cj)], creationTimestamp: iso(tick) },
      spec: { ...jobTemplate.spec, completions: 1, parallelism: 1 },
      status,
    })
    ctx.summary.backupJobs.push({ namespace, cronJob: name, schedule: schedule.cron, job, scheduledAt: iso(tick), outcome })
  })
}
