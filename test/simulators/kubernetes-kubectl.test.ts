import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AuthenticationV1Api, CoreV1Api } from '@kubernetes/client-node'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

const run = promisify(execFile)
const KUBECTL = '/usr/bin/kubectl'
type Rec = Record<string, unknown>

t.test('real kubectl as a second client (over TLS, bearer token)', async (t) => {
  if (!existsSync(KUBECTL)) {
    const msg = `kubectl not found at ${KUBECTL}: this image ships kubectl 1.32; it comes from no package registry here`
    if (process.env.CI === 'true') t.fail(msg)
    else t.pass(`skipped: ${msg}`)
    return
  }
  // kubectl sends bearer tokens only over https, hence the TLS listener.
  const sim = await startKubernetesSimulator({ tls: true, controllers: { delayMs: 200 } })
  const dir = mkdtempSync(join(tmpdir(), 'kubectl-sim-'))
  t.teardown(async () => { await sim.close(); rmSync(dir, { recursive: true, force: true }) })
  t.match(sim.tlsUrl, /^https:\/\/127\.0\.0\.1:\d+$/)
  const kubeconfig = join(dir, 'config')
  // The client library's own export is a kubeconfig kubectl reads (server, CA data, token).
  writeFileSync(kubeconfig, sim.kubeConfig({ tls: true }).exportConfig())
  t.ok(sim.caCert, 'the TLS listener exposes its CA')
  const exec = (args: string[]) => run(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args], { timeout: 30_000 })
  const kubectl = async (...args: string[]) => (await exec(args)).stdout
  /** Runs kubectl expecting a non-zero exit; returns its output. */
  const kubectlFails = async (...args: string[]) => {
    const err = await exec(args).then(() => undefined, (e: unknown) => e as { code: number, stdout: string, stderr: string })
    if (!err) throw new Error(`kubectl ${args.join(' ')} succeeded`)
    return err
  }
  const file = (name: string, obj: Rec) => { const p = join(dir, name); writeFileSync(p, JSON.stringify(obj)); return p }
  const stored = (apiVersion: string, kind: string, name: string) => sim.store.get(apiVersion, kind, 'default', name)

  t.test('both listeners serve one store; the CA verifies for client-node too', async (t) => {
    sim.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'shared', namespace: 'both' } })
    const overTls = await sim.kubeConfig({ tls: true }).makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'shared', namespace: 'both' })
    const overHttp = await sim.kubeConfig().makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'shared', namespace: 'both' })
    t.equal(overTls.metadata?.uid, overHttp.metadata?.uid)
    t.match(sim.url, /^http:/)
  })

  t.test('create token: a TokenRequest, sent as protobuf, whose token TokenReview takes for the audiences and time asked', async (t) => {
    sim.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ops' } })
    sim.store.seed({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'oncall', namespace: 'ops' } })
    const { stdout, stderr } = await exec(['create', 'token', 'oncall', '-n', 'ops', '-v=8'])
    t.match(stderr, /Content-Type: application\/vnd\.kubernetes\.protobuf[\s\S]*Response Status: 201 Created/, 'kubectl sent a protobuf TokenRequest')
    const reviews = sim.kubeConfig().makeApiClient(AuthenticationV1Api)
    const reviewed = await reviews.createTokenReview({ body: { spec: { token: stdout.trim() } } })
    t.match(reviewed.status, { authenticated: true, user: { username: 'system:serviceaccount:ops:oncall' } }, 'the token is the ServiceAccount\'s, for the API server\'s audience')
    const bound = (await exec(['create', 'token', 'oncall', '-n', 'ops', '--audience=vault', '--duration=15m'])).stdout.trim()
    t.match((await reviews.createTokenReview({ body: { spec: { token: bound } } })).status, { authenticated: false }, 'a token for another audience is not the API server\'s')
    t.match((await reviews.createTokenReview({ body: { spec: { token: bound, audiences: ['vault'] } } })).status, { authenticated: true, audiences: ['vault'] })
    t.match((await kubectlFails('create', 'token', 'oncall', '-n', 'ops', '--duration=1m')).stderr, /TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes/, 'under ten minutes is refused as kube-apiserver refuses it')
    t.match((await kubectlFails('create', 'token', 'nope', '-n', 'ops')).stderr, /serviceaccounts "nope" not found/)
    const resources = await kubectl('api-resources', '--api-group=', '-o', 'name')
    t.match(resources, /^serviceaccounts$/m, 'discovery still lists the ServiceAccounts (the token subresource is not a resource of its own)')
  })

  t.test('get: server-side table and -o json', async (t) => {
    sim.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'seeded', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } })
    const table = await kubectl('get', 'pods')
    t.match(table, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/)
    t.match(table, /seeded\s+0\/1\s+Pending\s+0\s+\d+s/)
    const list = JSON.parse(await kubectl('get', 'pods', '-o', 'json')) as { items: Array<{ metadata: { name: string } }> }
    t.same(list.items.map((p) => p.metadata.name), ['seeded'])
    t.match(await kubectl('get', 'pod', 'seeded', '--show-labels'), /seeded.*<none>/)
    const missing = await kubectlFails('get', 'pod', 'nope')
    t.match(missing.stderr, /pods "nope" not found/)
  })

  t.test('get --chunk-size pages through the list', async (t) => {
    for (let i = 0; i < 5; i++) sim.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `page-${i}`, namespace: 'paged' }, data: { i: String(i) } })
    const { stdout, stderr } = await exec(['get', 'configmaps', '-n', 'paged', '--chunk-size=2', '-o', 'name', '-v=6'])
    t.same(stdout.trim().split('\n'), [0, 1, 2, 3, 4].map((i) => `configmap/page-${i}`))
    t.equal((stderr.match(/GET https:\S+\/configmaps\?limit=2/g) ?? []).length, 1, 'first page')
    t.equal((stderr.match(/GET https:\S+\/configmaps\?continue=\S+&limit=2/g) ?? []).length, 2, 'two more pages via continue')
  })

  t.test('create -f, patch (merge, json, strategic), annotate, label, delete', async (t) => {
    const cm = file('cm.json', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-file' }, data: { a: '1' } })
    t.match(await kubectl('create', '-f', cm), /configmap\/from-file created/)
    t.match((await kubectlFails('create', '-f', cm)).stderr, /AlreadyExists|already exists/)
    t.match(await kubectl('patch', 'configmap', 'from-file', '--type', 'merge', '-p', '{"data":{"a":"2"}}'), /patched/)
    await kubectl('patch', 'configmap', 'from-file', '--type', 'json', '-p', '[{"op":"add","path":"/data/b","value":"3"},{"op":"remove","path":"/data/a"}]')
    t.same(stored('v1', 'ConfigMap', 'from-file')?.data, { b: '3' })
    t.match(await kubectl('annotate', 'configmap', 'from-file', 'owner=sre'), /annotated/)
    t.match(await kubectl('label', 'configmap', 'from-file', 'tier=db'), /labeled/)
    await kubectl('label', 'configmap', 'from-file', 'tier=cache', '--overwrite')
    const m = stored('v1', 'ConfigMap', 'from-file')?.metadata as { annotations?: Rec, labels?: Rec }
    t.equal(m.annotations?.owner, 'sre')
    t.same(m.labels, { tier: 'cache' })
    t.match(await kubectl('get', 'configmaps', '-l', 'tier=cache'), /from-file\s+1\s+/)

    const dep = file('dep.json', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'two' }, spec: { selector: { matchLabels: { app: 'two' } }, template: { metadata: { labels: { app: 'two' } }, spec: { containers: [{ name: 'main', image: 'nginx:1.27' }] } } } })
    await kubectl('create', '-f', dep)
    // strategic: containers merge by name, so the sidecar is added next to main
    await kubectl('patch', 'deployment', 'two', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"envoy"}]}}}}')
    const containers = ((((stored('apps/v1', 'Deployment', 'two')?.spec as Rec).template as Rec).spec as Rec).containers as Rec[]).map((c) => c.name)
    t.same(containers, ['main', 'sidecar'])
    t.match(await kubectl('delete', 'configmap', 'from-file'), /configmap "from-file" deleted/)
    t.equal(stored('v1', 'ConfigMap', 'from-file'), undefined)
  })

  t.test('apply -f: client-side apply with last-applied, then a three-way patch', async (t) => {
    const path = file('applied.json', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', labels: { team: 'a' } }, data: { keep: '1', drop: '2' } })
    t.match(await kubectl('apply', '-f', path), /configmap\/applied created/)
    const first = stored('v1', 'ConfigMap', 'applied') as Rec & { metadata: { annotations: Rec } }
    const last = JSON.parse(String(first.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'])) as Rec
    t.same(last.data, { keep: '1', drop: '2' })
    t.match(await kubectl('apply', '-f', path), /unchanged/)
    // someone else adds a key; our next apply must keep it but drop what we stopped declaring
    await kubectl('patch', 'configmap', 'applied', '--type', 'merge', '-p', '{"data":{"theirs":"x"}}')
    file('applied.json', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', labels: { team: 'b' } }, data: { keep: '10' } })
    t.match(await kubectl('apply', '-f', path), /configmap\/applied configured/)
    const second = stored('v1', 'ConfigMap', 'applied') as Rec & { metadata: { annotations: Rec, labels: Rec } }
    t.same(second.data, { keep: '10', theirs: 'x' })
    t.same(second.metadata.labels, { team: 'b' })
    t.same((JSON.parse(String(second.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'])) as Rec).data, { keep: '10' })
  })

  t.test('rollout restart and rollout status (rollout controller)', async (t) => {
    const dep = file('web.json', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } } })
    await kubectl('apply', '-f', dep)
    t.match(await kubectl('rollout', 'status', 'deployment/web', '--timeout=20s'), /deployment "web" successfully rolled out/)
    t.match(await kubectl('rollout', 'restart', 'deployment/web'), /deployment.apps\/web restarted/)
    const d = stored('apps/v1', 'Deployment', 'web') as Rec & { metadata: { generation: number }, spec: { template: { metadata: { annotations: Rec } } } }
    t.equal(d.metadata.generation, 2)
    t.ok(d.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'])
    t.equal((d.status as Rec).observedGeneration, 1, 'not yet observed right after the restart')
    t.match(await kubectl('rollout', 'status', 'deployment/web', '--timeout=20s'), /successfully rolled out/)
    t.match(await kubectl('get', 'deployment', 'web'), /web\s+2\/2\s+2\s+2\s+/)
    const events = JSON.parse(await kubectl('get', 'events', '--field-selector', 'involvedObject.name=web,reason=ScalingReplicaSet', '-o', 'json')) as { items: Array<{ message: string }> }
    t.ok(events.items.some((e) => /Scaled down replica set web-/.test(e.message)))

    // kubectl refuses a second restart within the same second (restartedAt has second resolution)
    await new Promise((r) => setTimeout(r, 1100))
    sim.controllers.failRollout('Deployment', 'default', 'web')
    await kubectl('rollout', 'restart', 'deployment/web')
    const stuck = await kubectlFails('rollout', 'status', 'deployment/web', '--timeout=20s')
    t.match(stuck.stderr, /exceeded its progress deadline/)

    // roll back to the last good template: its ReplicaSet comes back as a new revision
    sim.controllers.failRollout('Deployment', 'default', 'web', false)
    t.match(await kubectl('rollout', 'history', 'deployment/web'), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>\n3\s+<none>/)
    t.match(await kubectl('rollout', 'undo', 'deployment/web'), /deployment.apps\/web rolled back/)
    t.match(await kubectl('rollout', 'status', 'deployment/web', '--timeout=20s'), /successfully rolled out/)
    t.match(await kubectl('rollout', 'history', 'deployment/web'), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n3\s+<none>\n4\s+<none>/)
    t.match(await kubectl('get', 'replicasets', '-l', 'app=web', '-o', 'name'), /replicaset.apps\/web-\w+\n.*\n.*\n?$/)
  })

  t.test('imperative create: built-in kinds sent as protobuf, decoded with the upstream messages', async (t) => {
    const { stderr } = await exec(['create', 'configmap', 'imp-cm', '--from-literal=x=1', '--from-literal=empty=', '-v=8'])
    t.match(stderr, /Content-Type: application\/vnd\.kubernetes\.protobuf[\s\S]*Response Status: 201 Created[\s\S]*Content-Type: application\/vnd\.kubernetes\.protobuf/, 'kubectl sent protobuf and had protobuf back')
    t.same(stored('v1', 'ConfigMap', 'imp-cm')?.data, { x: '1', empty: '' })
    t.match(await kubectl('create', 'secret', 'generic', 'imp-secret', '--from-literal=password=s3cret'), /secret\/imp-secret created/)
    const secret = stored('v1', 'Secret', 'imp-secret') as Rec
    t.same(secret.data, { password: Buffer.from('s3cret').toString('base64') })
    t.equal(secret.type, 'Opaque', 'defaulted as SetDefaults_Secret does')
    t.match(await kubectl('create', 'namespace', 'imp-ns'), /namespace\/imp-ns created/)
    t.ok(sim.store.get('v1', 'Namespace', '', 'imp-ns'))
    t.match(await kubectl('create', 'deployment', 'imp-dep', '--image=nginx:1.27', '--replicas=3', '--port=8080'), /deployment.apps\/imp-dep created/)
    const dep = stored('apps/v1', 'Deployment', 'imp-dep') as Rec & { spec: { replicas: number, selector: Rec, template: { metadata: { labels: Rec }, spec: { containers: Rec[] } } } }
    t.equal(dep.spec.replicas, 3)
    t.same(dep.spec.selector, { matchLabels: { app: 'imp-dep' } })
    t.same(dep.spec.template.metadata.labels, { app: 'imp-dep' })
    t.match(dep.spec.template.spec.containers, [{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 8080 }] }])
    t.match(await kubectl('create', 'cronjob', 'imp-cj', '--image=busybox:1.36', '--schedule=*/5 * * * *', '--', 'echo', 'hi'), /cronjob.batch\/imp-cj created/)
    t.match(await kubectl('create', 'job', 'imp-job', '--from=cronjob/imp-cj'), /job.batch\/imp-job created/)
    const job = stored('batch/v1', 'Job', 'imp-job') as Rec & { metadata: { annotations: Rec, ownerReferences: Rec[] }, spec: { template: { spec: { containers: Rec[] } } } }
    t.equal(job.metadata.annotations['cronjob.kubernetes.io/instantiate'], 'manual')
    t.match(job.metadata.ownerReferences, [{ kind: 'CronJob', name: 'imp-cj', controller: true }])
    // kubectl read the CronJob as protobuf (its typed client) to build the Job from it
    t.match(job.spec.template.spec.containers, [{ image: 'busybox:1.36', command: ['echo', 'hi'] }])
    t.match((await kubectlFails('create', 'job', 'other', '--from=cronjob/nope')).stderr, /cronjobs.batch "nope" not found/, 'an error Status in protobuf')
    // the same name again: the conflict comes back as the API server's Status
    t.match((await kubectlFails('create', 'namespace', 'imp-ns')).stderr, /namespaces "imp-ns" already exists/)
    // RBAC, as the README's Trust boundary makes it (rbac.authorization.k8s.io/v1, sent as protobuf too)
    const { stderr: rbacWire } = await exec(['create', 'rolebinding', 'imp-oncall', '--clusterrole=view', '--group=oncall', '--serviceaccount=default:bot', '-v=8'])
    t.match(rbacWire, /Content-Type: application\/vnd\.kubernetes\.protobuf[\s\S]*Response Status: 201 Created/, 'a RoleBinding sent as protobuf is taken')
    t.match(stored('rbac.authorization.k8s.io/v1', 'RoleBinding', 'imp-oncall'), { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'oncall' }, { kind: 'ServiceAccount', name: 'bot', namespace: 'default' }] })
    t.match(await kubectl('create', 'role', 'imp-reader', '--verb=get,list', '--resource=pods,configmaps'), /role.rbac.authorization.k8s.io\/imp-reader created/)
    t.match(stored('rbac.authorization.k8s.io/v1', 'Role', 'imp-reader'), { rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', 'configmaps'] }] })
    t.match(await kubectl('create', 'clusterrolebinding', 'imp-admins', '--clusterrole=cluster-admin', '--user=alice'), /clusterrolebinding.rbac.authorization.k8s.io\/imp-admins created/)
    t.match(sim.store.get('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', '', 'imp-admins'), { subjects: [{ kind: 'User', name: 'alice' }] })
  })

  t.test('get: the columns kube-apiserver prints, default and -o wide', async (t) => {
    const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString().replace(/\.\d+Z$/, 'Z')
    const ns = 'cols'
    sim.store.seed({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'cp-1', labels: { 'node-role.kubernetes.io/control-plane': '' }, creationTimestamp: ago(3 * 86400) }, status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: '10.0.0.1' }], nodeInfo: { kubeletVersion: 'v1.32.4', osImage: 'Ubuntu 24.04.1 LTS', kernelVersion: '6.8.0-45-generic', containerRuntimeVersion: 'containerd://1.7.22', machineID: '', systemUUID: '', bootID: '', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64' } } })
    sim.store.seed({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'worker-1', creationTimestamp: ago(3600) }, spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'False' }] } })
    const nodes = await kubectl('get', 'nodes')
    t.match(nodes, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\n/)
    t.match(nodes, /cp-1\s+Ready\s+control-plane\s+3d\s+v1\.32\.4\n/)
    t.match(nodes, /worker-1\s+NotReady,SchedulingDisabled\s+<none>\s+60m\s*\n/)
    const nodesWide = await kubectl('get', 'nodes', '-o', 'wide')
    t.match(nodesWide, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+INTERNAL-IP\s+EXTERNAL-IP\s+OS-IMAGE\s+KERNEL-VERSION\s+CONTAINER-RUNTIME\n/)
    t.match(nodesWide, /cp-1\s+Ready\s+control-plane\s+3d\s+v1\.32\.4\s+10\.0\.0\.1\s+<none>\s+Ubuntu 24\.04\.1 LTS\s+6\.8\.0-45-generic\s+containerd:\/\/1\.7\.22\n/)

    sim.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api-0', namespace: ns, creationTimestamp: ago(600) }, spec: { nodeName: 'worker-1', containers: [{ name: 'api', image: 'api:1' }, { name: 'proxy', image: 'envoy:1' }] }, status: { phase: 'Running', podIP: '10.1.0.5', podIPs: [{ ip: '10.1.0.5' }], containerStatuses: [
      { name: 'api', ready: true, restartCount: 2, image: 'api:1', imageID: '', state: { running: { startedAt: ago(60) } }, lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(300) } } },
      { name: 'proxy', ready: false, restartCount: 0, image: 'envoy:1', imageID: '', state: { waiting: { reason: 'CrashLoopBackOff' } } }] } })
    sim.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'done-0', namespace: ns, creationTimestamp: ago(7200) }, spec: { containers: [{ name: 'c', image: 'busybox' }] }, status: { phase: 'Succeeded', containerStatuses: [{ name: 'c', ready: false, restartCount: 0, image: 'busybox', imageID: '', state: { terminated: { exitCode: 0, reason: 'Completed' } } }] } })
    const pods = await kubectl('get', 'pods', '-n', ns)
    t.match(pods, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/)
    t.match(pods, /api-0\s+1\/2\s+CrashLoopBackOff\s+2 \(5m\d*s? ago\)\s+10m\n/, 'RESTARTS with the age of the last restart')
    t.match(pods, /done-0\s+0\/1\s+Completed\s+0\s+120m\n/)
    const podsWide = await kubectl('get', 'pods', '-n', ns, '-o', 'wide')
    t.match(podsWide, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES\n/)
    t.match(podsWide, /api-0\s+.*10m\s+10\.1\.0\.5\s+worker-1\s+<none>\s+<none>\n/)
    t.match(podsWide, /done-0\s+.*120m\s+<none>\s+<none>\s+<none>\s+<none>\n/)

    sim.store.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns }, spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }, { name: 'log', image: 'fluent-bit:3' }] } } } })
    t.match(await kubectl('get', 'deployments', '-n', ns, '-o', 'wide'), /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\nweb\s+\d\/3\s+\d\s+\d\s+\d+s\s+web,log\s+nginx:1\.27,fluent-bit:3\s+app=web\n/)
    sim.store.seed({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly', namespace: ns }, spec: { schedule: '0 3 * * *', timeZone: 'Europe/Berlin', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'backup', image: 'backup:2' }] } } } } } })
    t.match(await kubectl('get', 'cronjobs', '-n', ns, '-o', 'wide'), /^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\nnightly\s+0 3 \* \* \*\s+Europe\/Berlin\s+False\s+0\s+<none>\s+\d+s\s+backup\s+backup:2\s+<none>\n/)
    sim.store.seed({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'once', namespace: ns }, spec: { parallelism: 2, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'task', image: 'task:1' }] } } }, status: { startTime: ago(90), completionTime: ago(30), succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] } })
    t.match(await kubectl('get', 'jobs', '-n', ns, '-o', 'wide'), /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\nonce\s+Complete\s+1\/1 of 2\s+60s\s+\d+s\s+task\s+task:1\s+<none>\n/)

    sim.store.seed({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: ns }, spec: { accessModes: ['ReadWriteOnce', 'ReadOnlyMany'], storageClassName: 'longhorn', volumeName: 'pvc-1', resources: { requests: { storage: '10Gi' } } }, status: { phase: 'Bound', accessModes: ['ReadWriteOnce', 'ReadOnlyMany'], capacity: { storage: '10Gi' } } })
    sim.store.seed({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'waiting', namespace: ns }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'longhorn', volumeMode: 'Filesystem', resources: { requests: { storage: '1Gi' } } }, status: { phase: 'Pending' } })
    const pvcs = await kubectl('get', 'pvc', '-n', ns, '-o', 'wide')
    t.match(pvcs, /^NAME\s+STATUS\s+VOLUME\s+CAPACITY\s+ACCESS MODES\s+STORAGECLASS\s+VOLUMEATTRIBUTESCLASS\s+AGE\s+VOLUMEMODE\n/)
    t.match(pvcs, /data\s+Bound\s+pvc-1\s+10Gi\s+RWO,ROX\s+longhorn\s+<unset>\s+\d+s\s+<unset>\n/)
    t.match(pvcs, /waiting\s+Pending\s+longhorn\s+<unset>\s+\d+s\s+Filesystem\n/)

    sim.store.seed({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tls', namespace: ns }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'YQ==', 'tls.key': 'Yg==' } })
    sim.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'conf', namespace: ns }, data: { a: '1' }, binaryData: { b: 'AA==' } })
    t.match(await kubectl('get', 'secrets', '-n', ns), /^NAME\s+TYPE\s+DATA\s+AGE\ntls\s+kubernetes\.io\/tls\s+2\s+\d+s\n/)
    t.match(await kubectl('get', 'configmaps', '-n', ns), /^NAME\s+DATA\s+AGE\nconf\s+2\s+\d+s\n/)
    sim.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    t.match(await kubectl('get', 'namespace', ns), /^NAME\s+STATUS\s+AGE\ncols\s+Active\s+\d+s\n/)

    sim.store.seed({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'api-0.1', namespace: ns }, involvedObject: { kind: 'Pod', name: 'api-0', namespace: ns, fieldPath: 'spec.containers{proxy}' }, type: 'Warning', reason: 'BackOff', message: 'Back-off restarting failed container proxy', source: { component: 'kubelet', host: 'worker-1' }, count: 7, firstTimestamp: ago(540), lastTimestamp: ago(20) })
    const onPod = ['--field-selector', 'involvedObject.name=api-0']
    t.match(await kubectl('get', 'events', '-n', ns, ...onPod), /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE\n2\ds\s+Warning\s+BackOff\s+pod\/api-0\s+Back-off restarting failed container proxy\n/)
    t.match(await kubectl('get', 'events', '-n', ns, ...onPod, '-o', 'wide'), /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+SUBOBJECT\s+SOURCE\s+MESSAGE\s+FIRST SEEN\s+COUNT\s+NAME\n2\ds\s+Warning\s+BackOff\s+pod\/api-0\s+spec\.containers\{proxy\}\s+kubelet, worker-1\s+Back-off restarting failed container proxy\s+9m\d*s?\s+7\s+api-0\.1\n/)
  })

  t.test('get: custom resources print their CRD\'s additionalPrinterColumns', async (t) => {
    const ns = 'certs'
    sim.store.seed({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'web-tls', namespace: ns }, spec: { secretName: 'web-tls-secret', issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' }, dnsNames: ['web.example.org'] }, status: { conditions: [{ type: 'Issuing', status: 'False' }, { type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired' }] } })
    sim.store.seed({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'new-tls', namespace: ns }, spec: { secretName: 'new-tls-secret', issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' }, dnsNames: ['new.example.org'] } })
    const certs = await kubectl('get', 'certificates', '-n', ns)
    t.match(certs, /^NAME\s+READY\s+SECRET\s+AGE\n/)
    t.match(certs, /new-tls\s+new-tls-secret\s+\d+s\n/, 'no Ready condition yet: an empty READY cell')
    t.match(certs, /web-tls\s+True\s+web-tls-secret\s+\d+s\n/)
    t.match(await kubectl('get', 'certificates', '-n', ns, '-o', 'wide'), /^NAME\s+READY\s+SECRET\s+ISSUER\s+STATUS\s+AGE\n(.*\n)?web-tls\s+True\s+web-tls-secret\s+letsencrypt\s+Certificate is up to date and has not expired\s+\d+s\n/)
    // a CRD without printer columns gets the defaulted AGE
    sim.store.seed({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'rules', namespace: ns }, spec: { groups: [] } })
    t.match(await kubectl('get', 'prometheusrules', '-n', ns), /^NAME\s+AGE\nrules\s+\d+s\n/)
    // built-in kinds without a printer of their own: NAME and CREATED AT
    sim.store.seed({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reader', namespace: ns }, rules: [] })
    t.match(await kubectl('get', 'roles', '-n', ns), /^NAME\s+CREATED AT\nreader\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n/)
  })

  t.test('get all and api-resources: the categories of discovery', async (t) => {
    const ns = 'every'
    await kubectl('create', 'deployment', 'app', '-n', ns, '--image=nginx:1.27')
    await kubectl('create', 'cronjob', 'tick', '-n', ns, '--image=busybox', '--schedule=0 * * * *')
    sim.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'not-in-all', namespace: ns } })
    sim.store.seed({ apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 'fn', namespace: ns }, spec: { template: { spec: { containers: [{ name: 'user-container', image: 'fn:1' }] } } } })
    const all = await kubectl('get', 'all', '-n', ns)
    t.match(all, /deployment\.apps\/app\s/)
    t.match(all, /cronjob\.batch\/tick\s/)
    t.match(all, /service\.serving\.knative\.dev\/fn\s/, 'Knative Services are in "all", as their CRD says')
    t.notMatch(all, /configmap/, 'ConfigMaps are not in "all"')
    const resources = await kubectl('api-resources', '--categories=all', '-o', 'name')
    t.same(resources.trim().split('\n').sort(), ['apiserversources.sources.knative.dev', 'brokers.eventing.knative.dev', 'cronjobs.batch', 'daemonsets.apps', 'deployments.apps', 'jobs.batch', 'pingsources.sources.knative.dev', 'pods', 'replicasets.apps', 'services', 'services.serving.knative.dev', 'statefulsets.apps', 'triggers.eventing.knative.dev'])
    const custom = await kubectl('api-resources', '--api-group=cert-manager.io')
    t.match(custom, /certificates\s+cert,certs\s+cert-manager\.io\/v1\s+true\s+Certificate\n/, 'custom resources are listed as resources')
    t.match(await kubectl('api-resources', '--categories=cert-manager', '-o', 'name'), /^certificaterequests\.cert-manager\.io\ncertificates\.cert-manager\.io\nclusterissuers\.cert-manager\.io\nissuers\.cert-manager\.io\n$/)
  })

  t.test('get crds: the definitions behind the served custom resources', async (t) => {
    const crds = await kubectl('get', 'crds')
    t.match(crds, /^NAME\s+CREATED AT\n/)
    t.match(crds, /\ncertificates\.cert-manager\.io\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n/)
    t.match(crds, /\nvolumesnapshots\.snapshot\.storage\.k8s\.io\s/)
    t.notMatch(crds, /\ndeployments\./, 'built-in kinds are not CRDs')
    const cert = JSON.parse(await kubectl('get', 'crd', 'certificates.cert-manager.io', '-o', 'json')) as Rec & { spec: { names: Rec, scope: string, versions: Array<Rec & { additionalPrinterColumns: Rec[] }> } }
    t.match(cert.spec, { group: 'cert-manager.io', scope: 'Namespaced', names: { kind: 'Certificate', plural: 'certificates', shortNames: ['cert', 'certs'], categories: ['cert-manager'] } })
    t.same(cert.spec.versions[0]?.additionalPrinterColumns.map((c) => c.name), ['Ready', 'Secret', 'Issuer', 'Status', 'Age'])
    const snapshot = JSON.parse(await kubectl('get', 'crd', 'volumesnapshots.snapshot.storage.k8s.io', '-o', 'json')) as { spec: { versions: Array<{ schema?: { openAPIV3Schema: Rec } }> } }
    t.ok(snapshot.spec.versions[0]?.schema?.openAPIV3Schema, 'a project definition carries its schema')
    t.match((await kubectlFails('get', 'crd', 'nope.example.org')).stderr, /customresourcedefinitions.apiextensions.k8s.io "nope.example.org" not found/)
    t.match((await kubectlFails('delete', 'crd', 'certificates.cert-manager.io')).stderr, /MethodNotAllowed|not allow/)
    t.match(await kubectl('api-resources', '--api-group=apiextensions.k8s.io'), /customresourcedefinitions\s+crd,crds\s+apiextensions\.k8s\.io\/v1\s+false\s+CustomResourceDefinition\n/)
  })

  t.test('apply --server-side: managedFields, conflicts between field managers, --force-conflicts', async (t) => {
    const cm = (data: Rec) => file('ssa.json', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', labels: { team: 'a' } }, data })
    t.match(await kubectl('apply', '--server-side', '--field-manager=alice', '-f', cm({ shared: '1', mine: 'x' })), /configmap\/ssa serverside-applied/)
    const first = stored('v1', 'ConfigMap', 'ssa') as Rec & { metadata: { managedFields: Rec[] } }
    t.match(first.metadata.managedFields, [{ manager: 'alice', operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { '.': {}, 'f:shared': {}, 'f:mine': {} }, 'f:metadata': { 'f:labels': { '.': {}, 'f:team': {} } } } }])
    // the same value is shared ownership, not a conflict
    await kubectl('apply', '--server-side', '--field-manager=bob', '-f', file('ssa-bob.json', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data: { shared: '1' } }))
    const conflict = await kubectlFails('apply', '--server-side', '--field-manager=bob', '-f', file('ssa-bob.json', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data: { shared: '2', theirs: 'y' } }))
    t.match(conflict.stderr, /Apply failed with 1 conflict: conflict with "alice": \.data\.shared/)
    t.match(conflict.stderr, /--force-conflicts/)
    t.equal((stored('v1', 'ConfigMap', 'ssa')?.data as Rec).shared, '1', 'a conflict changes nothing')
    const { stdout } = await exec(['apply', '--server-side', '--field-manager=bob', '--force-conflicts', '-f', join(dir, 'ssa-bob.json')])
    t.match(stdout, /serverside-applied/)
    const forced = stored('v1', 'ConfigMap', 'ssa') as Rec & { data: Rec, metadata: { managedFields: Array<{ manager: string, fieldsV1: Rec }> } }
    t.same(forced.data, { shared: '2', mine: 'x', theirs: 'y' })
    const owners = Object.fromEntries(forced.metadata.managedFields.map((e) => [e.manager, Object.keys((e.fieldsV1['f:data'] ?? {}) as Rec).filter((k) => k !== '.').sort()]))
    t.same(owners, { alice: ['f:mine'], bob: ['f:shared', 'f:theirs'] }, '--force-conflicts moved .data.shared to bob')
    // alice drops a field she alone owns: it goes; one she no longer declares but bob owns stays
    t.match(await kubectlFails('apply', '--server-side', '--field-manager=alice', '-f', cm({ shared: '1' })), { stderr: /conflict with "bob": \.data\.shared/ })
    await kubectl('apply', '--server-side', '--field-manager=alice', '-f', file('ssa.json', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', labels: { team: 'a' } }, data: {} }))
    t.same(stored('v1', 'ConfigMap', 'ssa')?.data, { shared: '2', theirs: 'y' })

    // lists of named items merge by name: the conflict names the container
    const dep = (manager: string, image: string, force = false) => exec(['apply', '--server-side', `--field-manager=${manager}`, ...(force ? ['--force-conflicts'] : []), '-f', file(`dep-${manager}.json`, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ssa-web' }, spec: { selector: { matchLabels: { app: 'ssa-web' } }, template: { metadata: { labels: { app: 'ssa-web' } }, spec: { containers: [{ name: 'web', image }] } } } })])
    await dep('ci', 'web:1')
    const depConflict = await dep('hotfix', 'web:2').then(() => undefined, (e: unknown) => e as { stderr: string })
    t.match(depConflict?.stderr, /Apply failed with 1 conflict: conflict with "ci": \.spec\.template\.spec\.containers\[name="web"\]\.image/)
    await dep('hotfix', 'web:2', true)
    t.match(stored('apps/v1', 'Deployment', 'ssa-web'), { spec: { template: { spec: { containers: [{ name: 'web', image: 'web:2' }] } } } })
    // an imperative update through kubectl takes the fields it changes (operation Update)
    await kubectl('scale', 'deployment', 'ssa-web', '--replicas=2')
    await kubectl('label', 'deployment', 'ssa-web', 'owner=ops')
    const managers = ((stored('apps/v1', 'Deployment', 'ssa-web') as Rec & { metadata: { managedFields: Array<{ manager: string, operation: string }> } }).metadata.managedFields).map((e) => `${e.manager}/${e.operation}`)
    t.ok(managers.includes('kubectl-label/Update'), `managers: ${managers.join(', ')}`)
    const labelConflict = await kubectlFails('apply', '--server-side', '--field-manager=ci', '-f', file('dep-label.json', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ssa-web', labels: { owner: 'ci' } } }))
    t.match(labelConflict.stderr, /conflict with "kubectl-label" using apps\/v1 at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: \.metadata\.labels\.owner/)
  })

  t.test('auth can-i (SelfSubjectAccessReview, sent as protobuf)', async (t) => {
    t.equal((await kubectl('auth', 'can-i', 'create', 'pods')).trim(), 'yes')
    const sa = sim.mintServiceAccountToken('default', 'reader')
    sim.store.seed({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'pod-reader', namespace: 'default' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }] })
    sim.store.seed({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reader', namespace: 'default' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' }, subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'default' }] })
    t.equal((await kubectl('--token', sa, 'auth', 'can-i', 'list', 'pods')).trim(), 'yes')
    const no = await kubectlFails('--token', sa, 'auth', 'can-i', 'delete', 'pods')
    t.equal(no.code, 1)
    t.equal(no.stdout.trim(), 'no')
    t.equal((await kubectlFails('--token', sa, 'auth', 'can-i', 'list', 'pods', '-n', 'kube-system')).stdout.trim(), 'no')
  })
})
