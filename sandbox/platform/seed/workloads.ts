import { DAY, HOUR, MINUTE, hex, iso, uuidFrom, b64, type Ctx, type Obj } from './context.ts'

/** Building blocks for workloads: Secrets, pod specs, Deployments with their ReplicaSets, Pods, StatefulSets, Services and claims. */

export function secret(ctx: Ctx, namespace: string, name: string, data: Record<string, string>, opts: { type?: string, labels?: Record<string, string>, annotations?: Record<string, string>, ownerReferences?: Obj[] } = {}): Obj {
  return {
    apiVersion: 'v1', kind: 'Secret', type: opts.type ?? 'Opaque',
    metadata: { name, namespace, creationTimestamp: iso(ctx.ago(200 * DAY)), ...(opts.labels ? { labels: opts.labels } : {}), ...(opts.annotations ? { annotations: opts.annotations } : {}), ...(opts.ownerReferences ? { ownerReferences: opts.ownerReferences } : {}) },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  }
}

export interface ContainerSpec { name: string, image: string, env?: Obj[], envFrom?: Obj[], volumeMounts?: Obj[], args?: string[], command?: string[], ports?: Obj[] }

export function podSpec(containers: ContainerSpec[], volumes: Obj[] = [], extra: Obj = {}): Obj {
  return {
    containers: containers.map((c) => ({ imagePullPolicy: 'IfNotPresent', resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } }, ...c })),
    ...(volumes.length ? { volumes } : {}),
    ...extra,
  }
}

export const secretEnv = (name: string, secretName: string, key: string): Obj => ({ name, valueFrom: { secretKeyRef: { name: secretName, key } } })

export function deployment(ctx: Ctx, namespace: string, name: string, replicas: number, spec: Obj, opts: { annotations?: Record<string, string>, ready?: number, revision?: number } = {}): Obj {
  const labels = { 'app.kubernetes.io/name': name }
  const ready = opts.ready ?? replicas
  return ctx.put({
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace, labels, annotations: { 'deployment.kubernetes.io/revision': String(opts.revision ?? 1), ...opts.annotations }, creationTimestamp: iso(ctx.ago(180 * DAY)) },
    spec: { replicas, revisionHistoryLimit: 2, selector: { matchLabels: labels }, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } }, template: { metadata: { labels }, spec } },
    status: {
      observedGeneration: 1, replicas, updatedReplicas: replicas, readyReplicas: ready, availableReplicas: ready, ...(ready < replicas ? { unavailableReplicas: replicas - ready } : {}),
      conditions: [
        { type: 'Available', status: ready >= Math.ceil(replicas * 0.75) ? 'True' : 'False', reason: ready >= Math.ceil(replicas * 0.75) ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', message: ready >= Math.ceil(replicas * 0.75) ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.', lastUpdateTime: iso(ctx.ago(2 * HOUR)), lastTransitionTime: iso(ctx.ago(2 * HOUR)) },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${name}-${hex(`${name}${opts.revision ?? 1}`, 10)}" has successfully progressed.`, lastUpdateTime: iso(ctx.ago(2 * HOUR)), lastTransitionTime: iso(ctx.ago(30 * DAY)) },
      ],
    },
  })
}

/** The Deployment's ReplicaSets: the current one and older revisions scaled to zero. */
export function replicaSets(ctx: Ctx, dep: Obj, revisions: number) {
  const m = dep.metadata as { name: string, namespace: string }
  const spec = dep.spec as { replicas: number, template: Obj, selector: Obj }
  for (let rev = 1; rev <= revisions; rev++) {
    const current = rev === revisions
    const hash = hex(`${m.name}${rev}`, 10)
    ctx.put({
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: { name: `${m.name}-${hash}`, namespace: m.namespace, labels: { 'app.kubernetes.io/name': m.name, 'pod-template-hash': hash }, annotations: { 'deployment.kubernetes.io/revision': String(rev), 'deployment.kubernetes.io/desired-replicas': String(spec.replicas) }, ownerReferences: [ctx.ownerRef(dep)], creationTimestamp: iso(ctx.ago((revisions - rev + 1) * 20 * DAY)) },
      spec: { replicas: current ? spec.replicas : 0, selector: { matchLabels: { 'app.kubernetes.io/name': m.name, 'pod-template-hash': hash } }, template: spec.template },
      status: { replicas: current ? spec.replicas : 0, ...(current ? { readyReplicas: spec.replicas, availableReplicas: spec.replicas } : {}), observedGeneration: 1 },
    })
  }
}

export function pod(ctx: Ctx, namespace: string, name: string, app: string, node: string, state: 'running' | 'crashloop', spec: Obj) {
  const started = iso(ctx.ago(state === 'running' ? 2 * DAY : 3 * HOUR))
  const containers = (spec.containers as Array<{ name: string, image: string }>).map((c) => ({
    name: c.name, image: c.image, imageID: `${c.image}@sha256:${hex(c.image, 64)}`, containerID: `containerd://${hex(name + c.name, 64)}`,
    ready: state === 'running', started: state === 'running', restartCount: state === 'running' ? 0 : 14,
    state: state === 'running' ? { running: { startedAt: started } } : { waiting: { reason: 'CrashLoopBackOff', message: `back-off 5m0s restarting failed container=${c.name} pod=${name}` } },
    ...(state === 'crashloop' ? { lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: iso(ctx.ago(7 * MINUTE)), finishedAt: iso(ctx.ago(6 * MINUTE)) } } } : {}),
  }))
  ctx.put({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/name': app }, creationTimestamp: started },
    spec: { ...spec, nodeName: node, restartPolicy: 'Always' },
    status: {
      phase: 'Running', hostIP: '10.0.0.21', podIP: `10.244.${name.length}.${name.charCodeAt(name.length - 1) % 250}`, startTime: started,
      conditions: [{ type: 'Ready', status: state === 'running' ? 'True' : 'False', lastTransitionTime: started, ...(state === 'running' ? {} : { reason: 'ContainersNotReady', message: 'containers with unready status: [worker]' }) }],
      containerStatuses: containers,
    },
  })
}

export function statefulSet(ctx: Ctx, namespace: string, name: string, replicas: number, spec: Obj, storage: string): Obj {
  const labels = { 'app.kubernetes.io/name': name }
  return ctx.put({
    apiVersion: 'apps/v1', kind: 'StatefulSet',
    metadata: { name, namespace, labels, creationTimestamp: iso(ctx.ago(300 * DAY)) },
    spec: {
      replicas, serviceName: name, selector: { matchLabels: labels }, podManagementPolicy: 'OrderedReady', updateStrategy: { type: 'RollingUpdate' },
      template: { metadata: { labels }, spec },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'longhorn', resources: { requests: { storage } } } }],
    },
    status: { observedGeneration: 1, replicas, readyReplicas: replicas, currentReplicas: replicas, updatedReplicas: replicas, availableReplicas: replicas, currentRevision: `${name}-${hex(name, 10)}`, updateRevision: `${name}-${hex(name, 10)}` },
  })
}

export function service(ctx: Ctx, namespace: string, name: string, port: number, headless = false) {
  ctx.put({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, labels: { 'app.kubernetes.io/name': name }, creationTimestamp: iso(ctx.ago(300 * DAY)) }, spec: { selector: { 'app.kubernetes.io/name': name }, ports: [{ name: 'main', port, targetPort: port, protocol: 'TCP' }], type: 'ClusterIP', ...(headless ? { clusterIP: 'None' } : {}) } })
}

export function pvc(ctx: Ctx, namespace: string, name: string, storage: string, opts: { volumeName?: string, dataSource?: Obj, ageDays?: number } = {}) {
  ctx.put({
    apiVersion: 'v1', kind: 'PersistentVolumeClaim',
    metadata: { name, namespace, annotations: { 'pv.kubernetes.io/bind-completed': 'yes', 'volume.kubernetes.io/storage-provisioner': 'driver.longhorn.io' }, finalizers: ['kubernetes.io/pvc-protection'], creationTimestamp: iso(ctx.ago((opts.ageDays ?? 300) * DAY)) },
    spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'longhorn', volumeMode: 'Filesystem', resources: { requests: { storage } }, volumeName: opts.volumeName ?? `pvc-${uuidFrom(`${namespace}/${name}`)}`, ...(opts.dataSource ? { dataSource: opts.dataSource } : {}) },
    status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage } },
  })
}

export const volumeName = (namespace: string, claim: string) => `pvc-${uuidFrom(`${namespace}/${claim}`)}`
