// The Job and CronJob controllers, and the kubelet stand-in's run of a Job's Pod (kubelet.ts).
import { randomBytes } from 'node:crypto'
import { CronExpressionParser } from 'cron-parser'
import { runPostgresContainer, podSuffix, type KubeletOptions } from './kubelet.ts'
import { CRONJOB_SCHEDULED_TIMESTAMP, FAIL_ANNOTATION, HOLD_ANNOTATION, annotations, condition, iso, meta, safeHash, str } from './controller-common.ts'
import type { ControllerContext, Obj, Rec } from './controller-common.ts'

/** Jobs start, then complete or fail after `delay` (or when their Pod ends); CronJobs start Jobs at their ticks. */
export function createJobControllers({ store, delay, clock, watching, key, later, event, isFailing }: ControllerContext, kubelet: KubeletOptions | undefined) {
  const finished = (j: Obj) => ((j.status as Rec | undefined)?.conditions as Rec[] | undefined)?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True') ?? false

  function startJob(ns: string, name: string): void {
    const j = store.get('batch/v1', 'Job', ns, name)
    if (!j || finished(j) || (j.status as Rec | undefined)?.startTime) return
    event(j, 'Normal', 'SuccessfulCreate', `Created pod: ${name}-${safeHash(randomBytes(8).toString('hex'), 5)}`, 'job-controller')
    store.updateStatus({ ...j, status: { startTime: iso(clock()), active: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {} } })
  }

  function finishJob(ns: string, name: string, outcome?: { failed: boolean, reason?: string, message?: string }): void {
    const j = store.get('batch/v1', 'Job', ns, name)
    if (!j || finished(j)) return
    if (!outcome && annotations(j)[HOLD_ANNOTATION] === 'true') return
    const spec = (j.spec ?? {}) as Rec
    const st = (j.status ?? {}) as Rec
    const at = iso(clock())
    const probe = { lastProbeTime: at }
    if (outcome ? outcome.failed : isFailing(j, 'Job')) {
      const reason = outcome?.reason ?? 'BackoffLimitExceeded'
      const msg = outcome?.message ?? 'Job has reached the specified backoff limit'
      store.updateStatus({ ...j, status: { startTime: st.startTime ?? at, failed: Number(spec.backoffLimit ?? 6) + 1, ready: 0, terminating: 0, uncountedTerminatedPods: {},
        conditions: [condition('FailureTarget', 'True', reason, msg, at, probe), condition('Failed', 'True', reason, msg, at, probe)] } })
      event(j, 'Warning', reason, msg, 'job-controller')
    } else {
      const msg = 'Reached expected number of succeeded pods'
      store.updateStatus({ ...j, status: { startTime: st.startTime ?? at, completionTime: at, succeeded: Number(spec.completions ?? 1), ready: 0, terminating: 0, uncountedTerminatedPods: {},
        conditions: [condition('SuccessCriteriaMet', 'True', 'CompletionsReached', msg, at, probe), condition('Complete', 'True', 'CompletionsReached', msg, at, probe)] } })
      event(j, 'Normal', 'Completed', 'Job completed', 'job-controller')
    }
    const owner = ((meta(j).ownerReferences ?? []) as Rec[]).find((r) => r.kind === 'CronJob' && r.controller === true)
    if (owner) cronJobSawJob(ns, str(owner.name), name)
  }

  /** The kubelet stand-in's run of a Job: its Pod, really run here, then the Job's end from the Pod's. */
  async function runJobPod(ns: string, name: string): Promise<void> {
    const j = store.get('batch/v1', 'Job', ns, name)
    if (!j || finished(j)) return
    const m = meta(j)
    const uid = str(m.uid)
    const template = ((j.spec as Rec).template ?? {}) as Rec
    const podName = `${name}-${podSuffix()}`
    // The Job controller's Pod labels (kubernetes/kubernetes pkg/controller/job/job_controller.go, batch.kubernetes.io/job-name and the legacy job-name).
    const labels = { ...((template.metadata as Rec | undefined)?.labels as Rec | undefined), 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': name, 'controller-uid': uid, 'job-name': name }
    const pod = store.create({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: podName, namespace: ns, labels, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid, controller: true, blockOwnerDeletion: true }] },
      spec: template.spec as Rec,
    })
    event(j, 'Normal', 'SuccessfulCreate', `Created pod: ${podName}`, 'job-controller')
    const at = iso(clock())
    store.updateStatus({ ...j, status: { startTime: at, active: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {} } })
    const container = (((template.spec as Rec).containers ?? []) as Rec[])[0] ?? {}
    const run = await runPostgresContainer(j, kubelet ?? {})
    const current = store.get('v1', 'Pod', ns, podName) ?? pod
    store.updateStatus({ ...current, status: {
      phase: run.phase, startTime: at,
      containerStatuses: [{ name: str(container.name), image: str(container.image), imageID: '', ready: false, restartCount: 0, started: false, state: run.state }],
    } })
    if (run.phase === 'Succeeded') finishJob(ns, name, { failed: false })
    else finishJob(ns, name, { failed: true, ...(run.jobFailure ?? {}) })
  }

  function cronJobSawJob(ns: string, cronName: string, jobName: string): void {
    const cj = store.get('batch/v1', 'CronJob', ns, cronName)
    const j = store.get('batch/v1', 'Job', ns, jobName)
    if (!cj || !j) return
    const st = { ...((cj.status ?? {}) as Rec) }
    const active = ((st.active ?? []) as Rec[]).filter((r) => r.name !== jobName)
    const complete = ((j.status as Rec).conditions as Rec[]).some((c) => c.type === 'Complete' && c.status === 'True')
    if (active.length) st.active = active; else delete st.active
    if (complete) st.lastSuccessfulTime = (j.status as Rec).completionTime
    store.updateStatus({ ...cj, status: st })
    event(cj, 'Normal', 'SawCompletedJob', `Saw completed job: ${jobName}, status: ${complete ? 'Complete' : 'Failed'}`, 'cronjob-controller')
  }

  function triggerCronJob(ns: string, name: string, opts: { scheduledTime?: Date, fail?: boolean, hold?: boolean } = {}): Obj {
    const cj = store.get('batch/v1', 'CronJob', ns, name)
    if (!cj) throw new Error(`cronjob ${ns}/${name} not found`)
    const scheduled = opts.scheduledTime ?? clock()
    const minutes = Math.floor(scheduled.getTime() / 60000)
    const tmpl = ((cj.spec as Rec).jobTemplate ?? {}) as Rec
    const tm = (tmpl.metadata ?? {}) as Rec
    const jobName = `${name}-${minutes}`
    const job = store.create({
      apiVersion: 'batch/v1', kind: 'Job',
      metadata: {
        name: jobName, namespace: ns,
        ...(tm.labels ? { labels: tm.labels } : {}),
        annotations: { ...((tm.annotations ?? {}) as Rec), [CRONJOB_SCHEDULED_TIMESTAMP]: iso(new Date(minutes * 60000)), ...(opts.fail ? { [FAIL_ANNOTATION]: 'true' } : {}), ...(opts.hold ? { [HOLD_ANNOTATION]: 'true' } : {}) },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name, uid: meta(cj).uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: structuredClone(tmpl.spec ?? {}),
    })
    const fresh = store.get('batch/v1', 'CronJob', ns, name) ?? cj
    const st = { ...((fresh.status ?? {}) as Rec) }
    st.active = [...((st.active ?? []) as Rec[]), { kind: 'Job', namespace: ns, name: jobName, uid: meta(job).uid, apiVersion: 'batch/v1', resourceVersion: meta(job).resourceVersion }]
    st.lastScheduleTime = iso(new Date(minutes * 60000))
    store.updateStatus({ ...fresh, status: st })
    event(fresh, 'Normal', 'SuccessfulCreate', `Created job ${jobName}`, 'cronjob-controller')
    if (!watching) { later(0, key('Job', ns, jobName), () => startJob(ns, jobName)); later(delay, key('Job', ns, jobName), () => finishJob(ns, jobName)) }
    return job
  }

  function runDueCronJobs(now: Date = clock()): Obj[] {
    const out: Obj[] = []
    for (const cj of store.list('batch/v1', 'CronJob')) {
      const spec = (cj.spec ?? {}) as Rec
      if (spec.suspend === true) continue
      const since = new Date(str((cj.status as Rec | undefined)?.lastScheduleTime) || str(meta(cj).creationTimestamp))
      const it = CronExpressionParser.parse(str(spec.schedule), { currentDate: since, tz: str(spec.timeZone) || 'UTC' })
      let last: Date | undefined
      while (it.hasNext()) { const d = it.next().toDate(); if (d > now) break; last = d }
      if (!last) continue
      try {
        out.push(triggerCronJob(str(meta(cj).namespace), str(meta(cj).name), { scheduledTime: last }))
      } catch { /* the Job for this tick exists already (AlreadyExists), as after a restart of the real controller */ }
    }
    return out
  }

  return { startJob, finishJob, runJobPod, triggerCronJob, runDueCronJobs }
}
