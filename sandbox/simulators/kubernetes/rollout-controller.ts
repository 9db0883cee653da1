// The Deployment, StatefulSet and DaemonSet rollout controllers.
import { annotations, condition, iso, meta, safeHash, str } from './controller-common.ts'
import type { ControllerContext, Obj, Rec } from './controller-common.ts'

/** Rollouts: each reconcile brings status to the object's generation (or leaves it stuck when failing). */
export function createRolloutControllers({ store, clock, key, event, isFailing }: ControllerContext) {
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

  return { reconcileDeployment, reconcileStatefulSet, reconcileDaemonSet }
}
