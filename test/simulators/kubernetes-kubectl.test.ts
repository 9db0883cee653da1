import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { CoreV1Api } from '@kubernetes/client-node'
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
    t.match(stderr, /Content-Type: application\/vnd\.kubernetes\.protobuf/, 'kubectl sent protobuf')
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
    t.match(job.spec.template.spec.containers, [{ image: 'busybox:1.36', command: ['echo', 'hi'] }])
    // the same name again: the conflict comes back as the API server's Status
    t.match((await kubectlFails('create', 'namespace', 'imp-ns')).stderr, /namespaces "imp-ns" already exists/)
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
