import { DAY, HOUR, GiB, hex, iso, uuidFrom, type Ctx, type Obj, type SeedKubernetes } from './context.ts'
import { deployment, podSpec } from './workloads.ts'

// What health-report's cluster checks find: the kubelets' stats summaries
// (worker-2's root filesystem 91% full, the PostgreSQL volume 92% full),
// metrics-server's samples (worker-2 busy, a web container near its memory
// limit), and Loki's read path in monitoring at 1/3: one replica up, one
// Running but failing its readiness probe, one Pending with no node to take
// it; their 16 GiB memory limits overcommit worker-1.

export function seedClusterHealth(ctx: Ctx, kube: SeedKubernetes) {
  const ns = 'monitoring'
  const labels = { 'app.kubernetes.io/name': 'loki-read' }
  const lokiSpec = podSpec([{ name: 'loki', image: 'grafana/loki:3.4.2', args: ['-target=read'], ports: [{ containerPort: 3100, name: 'http' }] }])
  const containers = lokiSpec.containers as Obj[]
  containers[0]!.resources = { requests: { cpu: '500m', memory: '2Gi' }, limits: { memory: '16Gi' } }
  containers[0]!.readinessProbe = { httpGet: { path: '/ready', port: 3100 }, periodSeconds: 10 }
  const dep = deployment(ctx, ns, 'loki-read', 3, { ...lokiSpec, containers }, { ready: 1, revision: 4 })
  const hash = hex('loki-read4', 10)
  const rs = ctx.put({
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: { name: `loki-read-${hash}`, namespace: ns, labels: { ...labels, 'pod-template-hash': hash }, annotations: { 'deployment.kubernetes.io/revision': '4', 'deployment.kubernetes.io/desired-replicas': '3' }, ownerReferences: [ctx.ownerRef(dep)], creationTimestamp: iso(ctx.ago(9 * DAY)) },
    spec: { replicas: 3, selector: { matchLabels: { ...labels, 'pod-template-hash': hash } }, template: { metadata: { labels }, spec: lokiSpec } },
    status: { replicas: 3, readyReplicas: 1, availableReplicas: 1, observedGeneration: 1 },
  })
  const lokiPod = (suffix: string, state: 'ready' | 'unready' | 'pending') => {
    const started = iso(ctx.ago(state === 'ready' ? 9 * DAY : 2 * HOUR))
    const name = `loki-read-${hash}-${suffix}`
    ctx.put({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name, namespace: ns, labels: { ...labels, 'pod-template-hash': hash }, ownerReferences: [ctx.ownerRef(rs)], creationTimestamp: started },
      spec: { ...lokiSpec, containers, restartPolicy: 'Always', ...(state === 'pending' ? {} : { nodeName: 'worker-1' }) },
      status: state === 'pending'
        ? {
          phase: 'Pending',
          conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', lastTransitionTime: started, message: '0/4 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 1 node(s) were unschedulable. preemption: 0/4 nodes are available: 1 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.' }],
        }
        : {
          phase: 'Running', hostIP: '10.0.0.21', podIP: `10.244.1.${suffix.charCodeAt(0) % 250}`, startTime: started,
          conditions: [{ type: 'Ready', status: state === 'ready' ? 'True' : 'False', lastTransitionTime: iso(ctx.ago(state === 'ready' ? 9 * DAY : HOUR)), ...(state === 'ready' ? {} : { reason: 'ContainersNotReady', message: 'containers with unready status: [loki]' }) }],
          containerStatuses: [{ name: 'loki', image: 'grafana/loki:3.4.2', imageID: `grafana/loki@sha256:${hex('loki', 64)}`, containerID: `containerd://${hex(name, 64)}`, ready: state === 'ready', started: true, restartCount: 0, state: { running: { startedAt: started } } }],
        },
    })
    return name
  }
  const up = lokiPod('w8x2d', 'ready')
  lokiPod('r4n7k', 'unready')
  lokiPod('p9c3v', 'pending')
  if (!kube.metrics) return

  const fs = (capacityGiB: number, usedPercent: number) => ({
    time: iso(ctx.ago(10_000)), capacityBytes: capacityGiB * GiB, availableBytes: Math.round(capacityGiB * GiB * (1 - usedPercent / 100)), usedBytes: Math.round(capacityGiB * GiB * usedPercent / 100),
    inodes: 6_553_600, inodesFree: Math.round(6_553_600 * (1 - usedPercent / 200)), inodesUsed: Math.round(6_553_600 * usedPercent / 200),
  })
  const claim = (namespace: string, pod: string, name: string, sizeGiB: number, usedPercent: number) => ({
    podRef: { name: pod, namespace, uid: uuidFrom(`${namespace}/${pod}`) }, startTime: iso(ctx.ago(20 * DAY)),
    volume: [{ name: 'data', ...fs(sizeGiB, usedPercent), pvcRef: { name, namespace } }],
  })
  const node = (name: string, rootPercent: number, images: number | undefined, pods: ReturnType<typeof claim>[] = []) => {
    const root = fs(120, rootPercent)
    kube.metrics!.setStatsSummary(name, { node: { nodeName: name, startTime: iso(ctx.ago(30 * DAY)), fs: root, runtime: { imageFs: images === undefined ? { ...root } : fs(200, images) } }, pods })
  }
  node('control-plane-1', 44, undefined)
  node('worker-1', 38, undefined, [claim('databases', 'postgres-0', 'data-postgres-0', 20, 92), claim('databases', 'redis-0', 'data-redis-0', 5, 41), claim('gitea', `gitea-${hex('gitea1', 10)}-p2k4s`, 'gitea-data', 10, 30)])
  node('worker-2', 91, 63, [claim('databases', 'redis-1', 'data-redis-1', 5, 39), claim('vault', 'vault-0', 'data-vault-0', 10, 12)])

  kube.metrics.setNodeMetrics('control-plane-1', { cpu: '912m', memory: '6Gi' })
  kube.metrics.setNodeMetrics('worker-1', { cpu: '2134m', memory: '14Gi' })
  kube.metrics.setNodeMetrics('worker-2', { cpu: '7290m', memory: '19Gi' })
  kube.metrics.setPodMetrics('production', `web-${hex('web2', 10)}-t5v6c`, [{ name: 'web', usage: { cpu: '180m', memory: '492Mi' } }])
  kube.metrics.setPodMetrics('production', `api-${hex('api5', 10)}-x7k2p`, [{ name: 'api', usage: { cpu: '90m', memory: '210Mi' } }])
  kube.metrics.setPodMetrics(ns, up, [{ name: 'loki', usage: { cpu: '310m', memory: '5Gi' } }])
}
