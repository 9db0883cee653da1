// Minimal stand-ins for the controllers a runbook waits on: the Deployment,
// StatefulSet and DaemonSet rollout controllers, the CronJob and Job controllers, and the
// external-secrets controller (Vault KV backend). Each acts after `delayMs`,
// writes status through the status subresource and records Events like the real one.
import { createHash, randomBytes } from 'node:crypto'
import { CronExpressionParser } from 'cron-parser'
import { recordEvent } from './events.ts'
import { kubeletRuns, podSuffix, runPostgresContainer, type KubeletOptions } from './kubelet.ts'

export type Obj = Record<string, unknown> & { metadata?: Record<string, unknown> }
type Rec = Record<string, unknown>

/** What the controllers need from the API server: object access that bypasses HTTP, auth and faults. */
export interface ObjectStore {
  get(apiVersion: string, kind: string, namespace: string, name: string): Obj | undefined
  list(apiVersion: string, kind: string, namespace?: string): Obj[]
  create(obj: Obj): Obj
  /** Replaces the main resource (status kept); stale resourceVersion -> 409. */
  update(obj: Obj): Obj
  updateStatus(obj: Obj): Obj
  onChange(listener: (e: { type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Obj }) => void): () => void
}

export interface ControllerOptions {
  /** false: nothing reacts on its own; the explicit calls (triggerCronJob, ...) still work. Default true. */
  enabled?: boolean
  /** How long a rollout, a Job or a sync takes. Default 50 ms; the sandbox uses about 1 s. */
  delayMs?: number
  /** The Vault that SecretStores with a `vault` provider read from (its address replaces spec.provider.vault.server). */
  vault?: { url: string, token: string }
  /** Clock for CronJob schedules and timestamps. */
  clock?: () => Date
  /** When set, CronJobs run on their own: every this many ms, due schedules start Jobs (runDueCronJobs). Off by default. */
  scheduleCheckMs?: number
  /**
   * Opt-in stand-in for the kubelet (kubelet.ts): Jobs in a `postgres:<major>`
   * image get a Pod that runs their command here, with that major's programs.
   */
  kubelet?: KubeletOptions
}

/** Set to "true" on a Deployment/StatefulSet/DaemonSet (rollout gets stuck) or a Job / CronJob jobTemplate (Job fails). */
export const FAIL_ANNOTATION = 'simulator.caretaker.dev/fail'
/** A Job with this annotation `true` runs until a test finishes it (a long backup): its pod never ends by itself. */
export const HOLD_ANNOTATION = 'simulator.caretaker.dev/hold'
export const CRONJOB_SCHEDULED_TIMESTAMP = 'batch.kubernetes.io/cronjob-scheduled-timestamp'
export const FORCE_SYNC_ANNOTATION = 'force-sync'

export interface Controllers {
  /** Makes the next (and every later) rollout of this object stick with Progressing=False/ProgressDeadlineExceeded. */
  failRollout(kind: 'Deployment' | 'StatefulSet' | 'DaemonSet', namespace: string, name: string, fail?: boolean): void
  /** Makes this Job fail with BackoffLimitExceeded instead of completing. */
  failJob(namespace: string, name: string, fail?: boolean): void
  /** Runs the CronJob now (or for `scheduledTime`), as the controller does at a schedule tick; returns the Job. */
  triggerCronJob(namespace: string, name: string, opts?: { scheduledTime?: Date, fail?: boolean, hold?: boolean }): Obj
  /** Ends a Job held running (HOLD_ANNOTATION) as its pod would: complete, or failed when it is told to fail. */
  finishHeldJob(namespace: string, name: string): void
  /** Starts the Jobs of every unsuspended CronJob whose schedule had a tick in (lastScheduleTime or creation, now]. */
  runDueCronJobs(now?: Date): Obj[]
  /** Points ExternalSecret syncs at a Vault started after the simulator (Vault's Kubernetes auth needs the simulator's URL first). */
  setVault(vault: { url: string, token: string }): void
  /** Resolves when no reconcile is pending or running. */
  idle(): Promise<void>
  close(): void
}

const iso = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z')
const meta = (o: Obj): Rec => (o.metadata ??= {})
const annotations = (o: Obj | undefined): Rec => ((o?.metadata?.annotations ?? {}) as Rec)
const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v))

// Like k8s.io/apimachinery's rand.SafeEncodeString: no vowels, no look-alike characters.
const SAFE = 'bcdfghjklmnpqrstvwxz2456789'
// JSON with sorted keys and without null or empty-object fields, so equal templates hash equally whatever
// key order a patch left and whatever zero values a Go client sent (creationTimestamp: null, resources: {}).
const empty = (v: unknown): boolean => v === null || v === undefined || (typeof v === 'object' && !Array.isArray(v) && Object.values(v).every(empty))
const canonical = (v: unknown): string => (Array.isArray(v) ? `[${v.map(canonical).join(',')}]`
  : v && typeof v === 'object' ? `{${Object.keys(v).filter((k) => !empty((v as Rec)[k])).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Rec)[k])}`).join(',')}}` : JSON.stringify(v ?? null))
function safeHash(value: unknown, length = 10): string {
  const bytes = createHash('sha256').update(canonical(value)).digest()
  return [...bytes.subarray(0, length)].map((b) => SAFE[b % SAFE.length]).join('')
}

function condition(type: string, status: 'True' | 'False', reason: string, message: string, at: string, extra: Rec = {}): Rec {
  return { type, status, ...extra, lastTransitionTime: at, reason, message }
}

export function startControllers(store: ObjectStore, options: ControllerOptions = {}): Controllers {
  const delay = options.delayMs ?? 50
  const clock = options.clock ?? (() => new Date())
  const timers = new Set<NodeJS.Timeout>()
  const running = new Set<Promise<unknown>>()
  const failing = new Set<string>()
  const chains = new Map<string, Promise<void>>()
  let closed = false

  const key = (kind: string, ns: string, name: string) => `${kind}/${ns}/${name}`
  const later = (ms: number, k: string, fn: () => void | Promise<void>) => {
    if (closed) return
    const timer = setTimeout(() => {
      timers.delete(timer)
      // One reconcile at a time per object, in order.
      const next = (chains.get(k) ?? Promise.resolve()).then(fn).catch(() => undefined)
      chains.set(k, next)
      running.add(next)
      void next.finally(() => { running.delete(next); if (chains.get(k) === next) chains.delete(k) })
    }, ms)
    timers.add(timer)
  }
  const event = (o: Obj, type: 'Normal' | 'Warning', reason: string, message: string, component: string) => {
    try { recordEvent(store, o, type, reason, message, component) } catch { /* an Event is best effort, as in client-go */ }
  }
  const isFailing = (o: Obj, kind: string) => failing.has(key(kind, str(meta(o).namespace), str(meta(o).name))) || annotations(o)[FAIL_ANNOTATION] === 'true'

  // ---- Deployments and StatefulSets -------------------------------------------------------
  const rolledHash = new Map<string, { hash: string, replicas: number }>()

  const REVISION = 'deployment.kubernetes.io/revision'
  const revisionOf = (o: Obj) => Number(annotations(o)[REVISION] ?? 0)

  /** The deployment controller: one ReplicaSet per pod template (named <deployment>-<pod-template-hash>), old ones scaled to 0. */
  function reconcileDeployment(ns: string, name: string): void {
    const d = store.get('apps/v1', 'Deployment', ns, name)
    if (!d) return
    const spec = (d.spec ?? {}) as Rec
    const gen = Number(meta(d).generation ?? 1)
    const replicas = Number(spec.replicas ?? 1)
    const template = (spec.template ?? {}) as Rec
    const hash = safeHash(template)
    const rsName = `${name}-${hash}`
    const at = iso(clock())
    const failing = isFailing(d, 'Deployment')
    const target = failing ? Math.min(replicas, 1) : replicas
    const scaled = (rs: string, from: number, to: number) => event(d, 'Normal', 'ScalingReplicaSet', `Scaled ${to > from ? 'up' : 'down'} replica set ${rs} from ${from} to ${to}`, 'deployment-controller')
    const owned = store.list('apps/v1', 'ReplicaSet', ns).filter((rs) => ((meta(rs).ownerReferences ?? []) as Rec[]).some((r) => r.uid === meta(d).uid && r.controller === true))
    const maxRevision = Math.max(0, ...owned.map(revisionOf))
    let current = owned.find((rs) => meta(rs).name === rsName)
    const revision = current && revisionOf(current) === maxRevision ? maxRevision : maxRevision + 1
    const rsMeta = { [REVISION]: String(revision), 'deployment.kubernetes.io/desired-replicas': String(replicas), 'deployment.kubernetes.io/max-replicas': String(replicas + 1) }
    if (!current) {
      const labels = { ...(((template.metadata ?? {}) as Rec).labels as Rec | undefined), 'pod-template-hash': hash }
      const selector = (spec.selector ?? {}) as Rec
      current = store.create({
        apiVersion: 'apps/v1', kind: 'ReplicaSet',
        metadata: { name: rsName, namespace: ns, labels, annotations: rsMeta, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: meta(d).uid, controller: true, blockOwnerDeletion: true }] },
        spec: { replicas: target, selector: { ...selector, matchLabels: { ...((selector.matchLabels ?? {}) as Rec), 'pod-template-hash': hash } }, template: { ...template, metadata: { ...((template.metadata ?? {}) as Rec), labels } } },
      })
      if (target > 0) scaled(rsName, 0, target)
    } else {
      const was = Number((current.spec as Rec).replicas ?? 0)
      if (was !== target || revisionOf(current) !== revision) {
        current = store.update({ ...current, metadata: { ...meta(current), annotations: { ...annotations(current), ...rsMeta } }, spec: { ...(current.spec as Rec), replicas: target } })
        if (was !== target) scaled(rsName, was, target)
      }
    }
    const ready = failing ? 0 : target
    store.updateStatus({ ...current, status: { replicas: target, fullyLabeledReplicas: target, readyReplicas: ready, availableReplicas: ready, observedGeneration: Number(meta(current).generation ?? 1) } })
    let oldReplicas = 0
    let oldReady = 0
    for (const old of owned.filter((rs) => meta(rs).name !== rsName)) {
      const was = Number((old.spec as Rec).replicas ?? 0)
      if (failing) { oldReplicas += was; oldReady += Number((old.status as Rec | undefined)?.readyReplicas ?? 0); continue }
      if (was === 0) continue
      const down = store.update({ ...old, spec: { ...(old.spec as Rec), replicas: 0 } })
      store.updateStatus({ ...down, status: { replicas: 0, observedGeneration: Number(meta(down).generation ?? 1) } })
      scaled(str(meta(old).name), was, 0)
    }
    const avail = (ok: boolean) => condition('Available', ok ? 'True' : 'False', ok ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', ok ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.', at, { lastUpdateTime: at })
    const status = failing
      ? { observedGeneration: gen, replicas: oldReplicas + target, updatedReplicas: target, readyReplicas: oldReady, availableReplicas: oldReady, unavailableReplicas: Math.max(replicas - oldReady, target),
          conditions: [avail(oldReady >= replicas && oldReady > 0), condition('Progressing', 'False', 'ProgressDeadlineExceeded', `ReplicaSet "${rsName}" has timed out progressing.`, at, { lastUpdateTime: at })] }
      : { observedGeneration: gen, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas,
          conditions: [avail(true), condition('Progressing', 'True', 'NewReplicaSetAvailable', `ReplicaSet "${rsName}" has successfully progressed.`, at, { lastUpdateTime: at })] }
    store.updateStatus({ ...d, status })
    const latest = store.get('apps/v1', 'Deployment', ns, name)
    if (latest && annotations(latest)[REVISION] !== String(revision)) store.update({ ...latest, metadata: { ...meta(latest), annotations: { ...annotations(latest), [REVISION]: String(revision) } } })
  }

  function reconcileStatefulSet(ns: string, name: string): void {
    const s = store.get('apps/v1', 'StatefulSet', ns, name)
    if (!s) return
    const spec = (s.spec ?? {}) as Rec
    const st = (s.status ?? {}) as Rec
    const gen = Number(meta(s).generation ?? 1)
    const replicas = Number(spec.replicas ?? 1)
    const revision = `${name}-${safeHash(spec.template)}`
    const k = key('StatefulSet', ns, name)
    if (!rolledHash.has(k)) for (let i = 0; i < replicas; i++) event(s, 'Normal', 'SuccessfulCreate', `create Pod ${name}-${i} in StatefulSet ${name} successful`, 'statefulset-controller')
    if (isFailing(s, 'StatefulSet')) {
      const current = str(st.currentRevision) || revision
      const ready = Math.max(replicas - 1, 0)
      store.updateStatus({ ...s, status: { observedGeneration: gen, replicas, readyReplicas: ready, currentReplicas: ready, updatedReplicas: 0, availableReplicas: ready, currentRevision: current, updateRevision: revision, collisionCount: 0 } })
      return
    }
    rolledHash.set(k, { hash: revision, replicas })
    store.updateStatus({ ...s, status: { observedGeneration: gen, replicas, readyReplicas: replicas, currentReplicas: replicas, updatedReplicas: replicas, availableReplicas: replicas, currentRevision: revision, updateRevision: revision, collisionCount: 0 } })
  }

  /**
   * The daemon set controller (kubernetes/kubernetes pkg/controller/daemon,
   * updateDaemonSetStatus): one Pod per node, the status counts of
   * DaemonSetStatus. The nodes are the store's Node objects, or one implicit
   * node when none is seeded. Stuck: the new template's Pods never become
   * available (an updated Pod on one node, not ready), as a crash-looping
   * image leaves a RollingUpdate with maxUnavailable 1; the DaemonSet API has
   * no progress deadline, so no condition says so.
   */
  function reconcileDaemonSet(ns: string, name: string): void {
    const ds = store.get('apps/v1', 'DaemonSet', ns, name)
    if (!ds) return
    const gen = Number(meta(ds).generation ?? 1)
    const nodes = Math.max(1, store.list('v1', 'Node').length)
    const stuck = isFailing(ds, 'DaemonSet')
    const updated = stuck ? Math.min(1, nodes) : nodes
    const available = stuck ? nodes - updated : nodes
    store.updateStatus({ ...ds, status: { observedGeneration: gen, desiredNumberScheduled: nodes, currentNumberScheduled: nodes, numberMisscheduled: 0, numberReady: available,
      updatedNumberScheduled: updated, numberAvailable: available, ...(available < nodes ? { numberUnavailable: nodes - available } : {}) } })
  }

  // ---- Jobs and CronJobs ------------------------------------------------------------------
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
    const run = await runPostgresContainer(j, options.kubelet ?? {})
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

  // ---- ExternalSecrets --------------------------------------------------------------------
  const syncVersion = (es: Obj) => `${Number(meta(es).generation ?? 1)}-${createHash('md5').update(JSON.stringify({ annotations: meta(es).annotations ?? {}, labels: meta(es).labels ?? {} })).digest('hex')}`

  let vaultAt = options.vault
  async function readVault(store0: Obj, key0: string, version?: string): Promise<Rec> {
    const vaultConn = vaultAt
    if (!vaultConn) throw new Error('no Vault configured for the external-secrets controller')
    const vault = ((((store0.spec as Rec | undefined)?.provider as Rec | undefined)?.vault) ?? undefined) as Rec | undefined
    if (!vault) throw new Error(`${str(store0.kind)} ${str(meta(store0).name)} has no vault provider`)
    const mount = str(vault.path) || 'secret'
    const v2 = (str(vault.version) || 'v2') === 'v2'
    const rel = key0.startsWith(`${mount}/`) ? key0.slice(mount.length + 1) : key0
    const path = v2 ? `${mount}/data/${rel}` : `${mount}/${rel}`
    const res = await fetch(`${vaultConn.url}/v1/${path}${v2 && version ? `?version=${encodeURIComponent(version)}` : ''}`, { headers: { 'X-Vault-Token': vaultConn.token }, signal: AbortSignal.timeout(5000) })
    const body = await res.json().catch(() => ({})) as Rec
    if (!res.ok) throw new Error(`Error making API request.\n\nURL: GET ${vaultConn.url}/v1/${path}\nCode: ${res.status}. Errors:\n\n* ${((body.errors ?? []) as string[]).join('\n* ')}`)
    const data = (body.data ?? {}) as Rec
    return (v2 ? (data.data ?? {}) : data) as Rec
  }

  async function syncExternalSecret(ns: string, name: string): Promise<void> {
    const es = store.get('external-secrets.io/v1', 'ExternalSecret', ns, name)
    if (!es) return
    const version = syncVersion(es)
    if ((es.status as Rec | undefined)?.syncedResourceVersion === version) return
    const spec = (es.spec ?? {}) as Rec
    const ref = (spec.secretStoreRef ?? {}) as Rec
    const target = (spec.target ?? {}) as Rec
    const secretName = str(target.name) || name
    const at = iso(clock())
    try {
      const storeKind = str(ref.kind) || 'SecretStore'
      const secretStore = storeKind === 'ClusterSecretStore' ? store.get('external-secrets.io/v1', 'ClusterSecretStore', '', str(ref.name)) : store.get('external-secrets.io/v1', 'SecretStore', ns, str(ref.name))
      if (!secretStore) throw new Error(`could not get ${storeKind} "${str(ref.name)}"`)
      const values: Record<string, string> = {}
      for (const d of (spec.dataFrom ?? []) as Rec[]) {
        const extract = d.extract as Rec | undefined
        if (!extract) continue
        const got = await readVault(secretStore, str(extract.key), str(extract.version) || undefined)
        for (const [k, v] of Object.entries(got)) values[k] = str(v)
      }
      for (const d of (spec.data ?? []) as Rec[]) {
        const rr = (d.remoteRef ?? {}) as Rec
        const got = await readVault(secretStore, str(rr.key), str(rr.version) || undefined)
        const prop = str(rr.property)
        if (prop && !(prop in got)) throw new Error(`key ${prop} does not exist in secret ${str(rr.key)}`)
        values[str(d.secretKey)] = prop ? str(got[prop]) : JSON.stringify(got)
      }
      const data = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]))
      const dataHash = createHash('md5').update(JSON.stringify(data)).digest('hex')
      const existing = store.get('v1', 'Secret', ns, secretName)
      const policy = str(target.creationPolicy) || 'Owner'
      const owner = { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', name, uid: meta(es).uid, controller: true, blockOwnerDeletion: true }
      if (existing) {
        const em = meta(existing)
        const refs = ((em.ownerReferences ?? []) as Rec[]).filter((r) => r.uid !== owner.uid)
        store.update({ ...existing, metadata: { ...em, annotations: { ...((em.annotations ?? {}) as Rec), 'reconcile.external-secrets.io/data-hash': dataHash }, ...(policy === 'Owner' ? { ownerReferences: [...refs, owner] } : {}) }, data: policy === 'Merge' ? { ...((existing.data ?? {}) as Rec), ...data } : data })
      } else if (policy === 'Merge') {
        throw new Error(`secret ${secretName} does not exist and creationPolicy is Merge`)
      } else if (policy !== 'None') {
        store.create({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: secretName, namespace: ns, annotations: { 'reconcile.external-secrets.io/data-hash': dataHash }, ...(policy === 'Owner' ? { ownerReferences: [owner] } : {}) }, data })
      }
      const cur = store.get('external-secrets.io/v1', 'ExternalSecret', ns, name)
      if (!cur) return
      store.updateStatus({ ...cur, status: { refreshTime: at, syncedResourceVersion: version, binding: { name: secretName }, conditions: [condition('Ready', 'True', 'SecretSynced', 'secret synced', at)] } })
      event(cur, 'Normal', 'Updated', 'Updated Secret', 'external-secrets')
    } catch (err) {
      const cur = store.get('external-secrets.io/v1', 'ExternalSecret', ns, name)
      if (!cur) return
      const prevStatus = (cur.status ?? {}) as Rec
      store.updateStatus({ ...cur, status: { ...prevStatus, conditions: [condition('Ready', 'False', 'SecretSyncedError', 'could not get secret data from provider', at)] } })
      event(cur, 'Warning', 'UpdateFailed', (err as Error).message, 'external-secrets')
    }
  }

  // ---- Wiring -----------------------------------------------------------------------------
  const watching = options.enabled !== false
  const attempted = new Map<string, string>()
  const unsubscribe = watching ? store.onChange(({ type, object }) => {
    if (type === 'DELETED') return
    const m = meta(object)
    const ns = str(m.namespace)
    const name = str(m.name)
    const st = (object.status ?? {}) as Rec
    const stale = Number(st.observedGeneration ?? 0) !== Number(m.generation ?? 1)
    switch (`${str(object.apiVersion)}/${str(object.kind)}`) {
      case 'apps/v1/Deployment': if (stale) later(delay, key('Deployment', ns, name), () => reconcileDeployment(ns, name)); break
      case 'apps/v1/StatefulSet': if (stale) later(delay, key('StatefulSet', ns, name), () => reconcileStatefulSet(ns, name)); break
      case 'apps/v1/DaemonSet': if (stale) later(delay, key('DaemonSet', ns, name), () => reconcileDaemonSet(ns, name)); break
      case 'batch/v1/Job':
        if (type !== 'ADDED') break
        if (options.kubelet && kubeletRuns(object, options.kubelet)) {
          later(0, key('Job', ns, name), () => runJobPod(ns, name))
          break
        }
        later(0, key('Job', ns, name), () => startJob(ns, name)); later(delay, key('Job', ns, name), () => finishJob(ns, name))
        break
      case 'external-secrets.io/v1/ExternalSecret': {
        // Once per spec/labels/annotations version: a failed sync is retried on the next change (force-sync), not in a loop.
        const version = syncVersion(object)
        const k = key('ExternalSecret', ns, name)
        if (st.syncedResourceVersion !== version && attempted.get(k) !== version) { attempted.set(k, version); later(delay, k, () => syncExternalSecret(ns, name)) }
        break
      }
    }
  }) : () => undefined

  const scheduler = options.scheduleCheckMs ? setInterval(() => { if (!closed) runDueCronJobs() }, options.scheduleCheckMs) : undefined
  scheduler?.unref()

  return {
    failRollout(kind, ns, name, fail = true) { if (fail) failing.add(key(kind, ns, name)); else failing.delete(key(kind, ns, name)) },
    failJob(ns, name, fail = true) { if (fail) failing.add(key('Job', ns, name)); else failing.delete(key('Job', ns, name)) },
    triggerCronJob,
    finishHeldJob(ns, name) {
      const j = store.get('batch/v1', 'Job', ns, name)
      if (j) later(0, key('Job', ns, name), () => finishJob(ns, name, { failed: isFailing(j, 'Job') }))
    },
    runDueCronJobs,
    setVault(v) { vaultAt = v },
    async idle() {
      for (let i = 0; i < 1000 && (timers.size || running.size); i++) {
        if (running.size) await Promise.allSettled([...running])
        else await new Promise((r) => setTimeout(r, Math.max(5, Math.min(delay, 20))))
      }
    },
    close() { closed = true; clearInterval(scheduler); unsubscribe(); for (const t of timers) clearTimeout(t); timers.clear() },
  }
}
