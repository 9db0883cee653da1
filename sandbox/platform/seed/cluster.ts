import { DAY, MINUTE, hex, iso, uuidFrom, VAULT_MOUNT, type Ctx } from './context.ts'
import { secret } from './workloads.ts'

/** Cluster-wide objects: Namespaces, Nodes, issuers and snapshot classes, and Caretaker's own ServiceAccounts and ClusterSecretStore. */

export function seedNamespaces(ctx: Ctx) {
  const namespaces: Record<string, Record<string, string>> = {
    'kube-system': {},
    'cert-manager': {},
    'longhorn-system': {},
    production: { environment: 'production' },
    databases: { environment: 'production', 'caretaker.dev/backups': 'enabled' },
    vault: { 'caretaker.dev/backups': 'enabled' },
    gitea: { 'caretaker.dev/backups': 'enabled' },
    monitoring: {},
    caretaker: { 'app.kubernetes.io/part-of': 'caretaker' },
  }
  for (const [name, labels] of Object.entries(namespaces)) {
    ctx.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels }, creationTimestamp: iso(ctx.ago(420 * DAY)) }, status: { phase: 'Active' } })
  }
}

export function seedNodes(ctx: Ctx) {
  // worker-2's root filesystem is 91% full: the kubelet reports DiskPressure (its nodefs.available<10% eviction
  // threshold). worker-3 stopped reporting, and was cordoned for its repair.
  const nodes: Array<{ name: string, role: string, ready: boolean, diskPressure?: boolean, cordoned?: boolean }> = [
    { name: 'control-plane-1', role: 'control-plane', ready: true },
    { name: 'worker-1', role: 'worker', ready: true },
    { name: 'worker-2', role: 'worker', ready: true, diskPressure: true },
    { name: 'worker-3', role: 'worker', ready: false, cordoned: true },
  ]
  for (const n of nodes) {
    const heartbeat = iso(n.ready ? ctx.ago(20_000) : ctx.ago(47 * MINUTE))
    ctx.put({
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', [`node-role.kubernetes.io/${n.role}`]: '' }, creationTimestamp: iso(ctx.ago(410 * DAY)) },
      spec: {
        ...(n.cordoned ? { unschedulable: true } : {}),
        ...(n.ready && !n.diskPressure && !n.cordoned ? {} : {
          taints: [
            ...(n.ready ? [] : [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule', timeAdded: heartbeat }]),
            ...(n.diskPressure ? [{ key: 'node.kubernetes.io/disk-pressure', effect: 'NoSchedule', timeAdded: iso(ctx.ago(40 * MINUTE)) }] : []),
            ...(n.cordoned ? [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: iso(ctx.ago(30 * MINUTE)) }] : []),
          ],
        }),
      },
      status: {
        capacity: { cpu: '8', memory: '32Gi', pods: '110' },
        allocatable: { cpu: '7800m', memory: '31Gi', pods: '110' },
        conditions: [
          { type: 'MemoryPressure', status: n.ready ? 'False' : 'Unknown', reason: n.ready ? 'KubeletHasSufficientMemory' : 'NodeStatusUnknown', message: n.ready ? 'kubelet has sufficient memory available' : 'Kubelet stopped posting node status.', lastHeartbeatTime: heartbeat, lastTransitionTime: iso(ctx.ago(n.ready ? 30 * DAY : 45 * MINUTE)) },
          { type: 'DiskPressure', status: !n.ready ? 'Unknown' : n.diskPressure ? 'True' : 'False', reason: !n.ready ? 'NodeStatusUnknown' : n.diskPressure ? 'KubeletHasDiskPressure' : 'KubeletHasNoDiskPressure', message: !n.ready ? 'Kubelet stopped posting node status.' : n.diskPressure ? 'kubelet has disk pressure' : 'kubelet has no disk pressure', lastHeartbeatTime: heartbeat, lastTransitionTime: iso(ctx.ago(n.diskPressure ? 40 * MINUTE : n.ready ? 30 * DAY : 45 * MINUTE)) },
          { type: 'PIDPressure', status: n.ready ? 'False' : 'Unknown', reason: n.ready ? 'KubeletHasSufficientPID' : 'NodeStatusUnknown', message: n.ready ? 'kubelet has sufficient PID available' : 'Kubelet stopped posting node status.', lastHeartbeatTime: heartbeat, lastTransitionTime: iso(ctx.ago(n.ready ? 30 * DAY : 45 * MINUTE)) },
          { type: 'Ready', status: n.ready ? 'True' : 'Unknown', reason: n.ready ? 'KubeletReady' : 'NodeStatusUnknown', message: n.ready ? 'kubelet is posting ready status' : 'Kubelet stopped posting node status.', lastHeartbeatTime: heartbeat, lastTransitionTime: iso(ctx.ago(n.ready ? 30 * DAY : 45 * MINUTE)) },
        ],
        nodeInfo: { kubeletVersion: 'v1.32.4', containerRuntimeVersion: 'containerd://1.7.27', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0-31-amd64', architecture: 'amd64', operatingSystem: 'linux', machineID: hex(n.name, 32), systemUUID: uuidFrom(n.name), bootID: uuidFrom(`${n.name}-boot`), kubeProxyVersion: 'v1.32.4' },
      },
    })
  }
}

export function seedClusterScoped(ctx: Ctx) {
  ctx.put(secret(ctx, 'cert-manager', 'internal-ca-key-pair', { 'tls.crt': ctx.ca.certPem, 'tls.key': ctx.ca.keyPem }, { type: 'kubernetes.io/tls' }))
  const ready = (reason: string, message: string) => ({ conditions: [{ type: 'Ready', status: 'True', reason, message, lastTransitionTime: iso(ctx.ago(300 * DAY)), observedGeneration: 1 }] })
  ctx.put({ apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'letsencrypt-prod' },
    spec: { acme: { server: 'https://acme-v02.api.letsencrypt.org/directory', email: 'platform@example.com', privateKeySecretRef: { name: 'letsencrypt-prod-account-key' }, solvers: [{ http01: { ingress: { ingressClassName: 'nginx' } } }] } },
    status: { ...ready('ACMEAccountRegistered', 'The ACME account was registered with the ACME server'), acme: { uri: 'https://acme-v02.api.letsencrypt.org/acme/acct/1234567890', lastRegisteredEmail: 'platform@example.com' } } })
  ctx.put({ apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'internal-ca' }, spec: { ca: { secretName: 'internal-ca-key-pair' } }, status: ready('KeyPairVerified', 'Signing CA verified') })
  ctx.put({ apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotClass', metadata: { name: 'longhorn-snapshot', annotations: { 'snapshot.storage.kubernetes.io/is-default-class': 'true' } }, driver: 'driver.longhorn.io', deletionPolicy: 'Delete', parameters: { type: 'snap' } })
  ctx.put({ apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotClass', metadata: { name: 'longhorn-backup' }, driver: 'driver.longhorn.io', deletionPolicy: 'Retain', parameters: { type: 'bak' } })
}

export function seedCaretaker(ctx: Ctx) {
  for (const fn of ['verify-backup', 'rotate-secret', 'prune-snapshots', 'clean-up-resources', 'respond-to-alert', 'renew-certificate', 'health-report', 'notify', 'maintain-databases', 'check-updates', 'back-up-configuration']) {
    ctx.put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: fn, namespace: 'caretaker', labels: { 'app.kubernetes.io/part-of': 'caretaker' } } })
  }
  // respond-to-alert acts only where its ClusterRole is bound, one RoleBinding per namespace (manifests/respond-to-alert/
  // rbac.yaml binds the shipped example's namespaces): the demo's workloads are in production, which the sandbox's
  // rules and manual restarts allow, so the demo binds it there too, as an install of one's own would.
  ctx.put({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'caretaker-respond-to-alert', namespace: 'production' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'caretaker-respond-to-alert' },
    subjects: [{ kind: 'ServiceAccount', name: 'respond-to-alert', namespace: 'caretaker' }],
  })
  ctx.put(secret(ctx, 'caretaker', 'vault-token', { token: 'sandbox-external-secrets-token' }))
  ctx.put({
    apiVersion: 'external-secrets.io/v1', kind: 'ClusterSecretStore', metadata: { name: 'vault-backend' },
    spec: { provider: { vault: { server: 'http://vault.vault.svc:8200', path: VAULT_MOUNT, version: 'v2', auth: { tokenSecretRef: { name: 'vault-token', namespace: 'caretaker', key: 'token' } } } } },
    status: { capabilities: 'ReadWrite', conditions: [{ type: 'Ready', status: 'True', reason: 'Valid', message: 'store validated', lastTransitionTime: iso(ctx.ago(200 * DAY)) }] },
  })
}
