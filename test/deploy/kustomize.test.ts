import { spawnSync } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

// What a platform team installs: the default install (manifests/), the
// example overlay (examples/ops: another namespace, three functions, an own
// config) and overlays written here (another subset, a changed config),
// each rendered by kustomize as `kubectl apply -k` would, every object
// validated as manifests.test.ts validates the files.

const root = fileURLToPath(new URL('../../', import.meta.url))
type Obj = { apiVersion: string, kind: string, metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> }, [k: string]: unknown }
type Subject = { kind: string, name: string, namespace?: string }
type PodSpec = { serviceAccountName?: string, containers: Array<{ image: string }>, volumes?: Array<{ name: string, configMap?: { name: string }, secret?: { secretName: string } }> }
type Ref = { apiVersion?: string, kind: string, name: string, namespace?: string }

const kubectl = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim()
const version = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version
const LABELS = ['name', 'instance', 'version', 'component', 'part-of', 'managed-by'].map((l) => `app.kubernetes.io/${l}`)
const id = (o: Obj) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`
const isKnativeService = (o: Obj) => o.kind === 'Service' && o.apiVersion === 'serving.knative.dev/v1'
const podSpec = (o: Obj) => (o.spec as { template: { spec: PodSpec } }).template.spec

/** Every function posts to the Broker of the install's namespace, and every PingSource-filtering Trigger names its PingSources there. */
function pointsInto(t: Test, objs: Obj[], namespace: string): void {
  for (const svc of objs.filter(isKnativeService)) {
    const sink = podSpec(svc).containers.flatMap((c) => (c as { env?: Array<{ name: string; value?: string }> }).env ?? []).find((e) => e.name === 'K_SINK')
    if (sink) t.match(sink.value, new RegExp(`/${namespace}/caretaker$`), `${svc.metadata.name}: K_SINK is the Broker in ${namespace}`)
  }
  for (const trigger of objs.filter((o) => o.kind === 'Trigger')) {
    const sources = JSON.stringify(trigger.spec).match(/\/apis\/v1\/namespaces\/[^/]+\/pingsources/g) ?? []
    for (const source of sources) t.equal(source, `/apis/v1/namespaces/${namespace}/pingsources`, `${trigger.metadata.name}: its PingSources are in ${namespace}`)
  }
}
const FUNCTIONS = (await readdir(join(root, 'manifests'), { withFileTypes: true }))
  .filter((e) => e.isDirectory() && existsSync(join(root, 'manifests', e.name, 'service.yaml'))).map((e) => e.name).sort()

function render(dir: string): Obj[] {
  const res = spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8' })
  if (res.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${res.stderr}`)
  return parseAllDocuments(res.stdout).map((d) => d.toJSON() as Obj)
}

/**
 * A throwaway overlay outside the repository, as in a fleet repository: it
 * reaches the units by relative path (kustomize refuses absolute ones).
 * `files` gets the repository's root, relative to the overlay.
 */
async function overlay(t: Test, files: (repo: string) => Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-overlay-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const [name, text] of Object.entries(files(relative(dir, root)))) await writeFile(join(dir, name), text)
  return dir
}
const namespaceYaml = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${name} }\n`

/** Every object valid against its schema (the simulator's upstream-derived schemas), no object twice. */
async function validate(t: Test, objects: Obj[]): Promise<void> {
  const sim = await startKubernetesSimulator({ rbac: false, controllers: { enabled: false } })
  t.teardown(() => sim.close())
  const seen = new Set<string>()
  for (const obj of objects) {
    const key = `${obj.apiVersion} ${id(obj)}`
    t.notOk(seen.has(key), `${id(obj)}: rendered once`)
    seen.add(key)
    try {
      sim.store.seed(structuredClone(obj))
    } catch (err) {
      t.fail(`${id(obj)}: ${(err as Error).message}`)
    }
  }
  t.pass(`${objects.length} objects valid`)
}

/** The six app.kubernetes.io labels on every object; the instance is the install's namespace. */
function labelled(t: Test, objects: Obj[], namespace: string): void {
  const missing = objects.flatMap((o) => LABELS.filter((l) => !o.metadata.labels?.[l]).map((l) => `${id(o)}: ${l}`))
  t.same(missing, [], `every object carries ${LABELS.join(', ')}`)
  const wrong = objects.filter((o) => {
    const l = o.metadata.labels ?? {}
    return l['app.kubernetes.io/part-of'] !== 'caretaker' || l['app.kubernetes.io/managed-by'] !== 'kustomize' || l['app.kubernetes.io/version'] !== version || l['app.kubernetes.io/instance'] !== namespace
  }).map(id)
  t.same(wrong, [], `part-of caretaker, managed-by kustomize, version ${version} (package.json), instance ${namespace}`)
}

/**
 * Everything in the install's namespace but the RBAC that grants rights
 * where the functions work; every subject of Caretaker's ServiceAccounts in
 * the install's namespace; every Trigger reaching a Service of the install,
 * and filtering on PingSources of the install's namespace.
 */
function inNamespace(t: Test, objects: Obj[], namespace: string): void {
  const ns = objects.filter((o) => o.kind === 'Namespace')
  t.same(ns.map((o) => o.metadata.name), [namespace], `one Namespace: ${namespace}`)
  const elsewhere = objects.filter((o) => o.metadata.namespace !== undefined && o.metadata.namespace !== namespace)
  t.same([...new Set(elsewhere.map((o) => o.kind))].sort().filter((k) => k !== 'Role' && k !== 'RoleBinding'), [], 'only Roles and RoleBindings outside the install\'s namespace')
  t.notOk(elsewhere.some((o) => o.metadata.namespace === 'caretaker' && namespace !== 'caretaker'), 'nothing left in caretaker')
  const accounts = new Set(objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name))
  for (const binding of objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
    for (const s of (binding.subjects as Subject[] | undefined) ?? []) {
      if (s.kind !== 'ServiceAccount' || s.namespace === 'knative-eventing') continue
      t.equal(s.namespace, namespace, `${id(binding)}: subject ${s.name} in ${namespace}`)
      // core/'s bindings name every function; a function's own name only its own ServiceAccounts.
      if (accounts.has(s.name) || binding.metadata.labels?.['app.kubernetes.io/component'] === 'core') continue
      t.fail(`${id(binding)}: subject ${s.name} is a ServiceAccount of the install`)
    }
  }
  const services = new Set(objects.filter(isKnativeService).map((o) => o.metadata.name))
  for (const trigger of objects.filter((o) => o.kind === 'Trigger')) {
    const spec = trigger.spec as { subscriber: { ref: Ref }, delivery?: { deadLetterSink?: { ref?: Ref } } }
    for (const ref of [spec.subscriber.ref, spec.delivery?.deadLetterSink?.ref]) {
      if (!ref) continue
      t.ok(ref.kind === 'Service' && services.has(ref.name) && (ref.namespace ?? namespace) === namespace, `${id(trigger)}: ${ref.kind} ${ref.name} is in the install`)
    }
    const text = JSON.stringify(trigger.spec)
    for (const m of text.matchAll(/\/apis\/v1\/namespaces\/([^/]+)\/pingsources\//g)) t.equal(m[1], namespace, `${id(trigger)}: filters on a PingSource of ${namespace}`)
  }
}

/** Each Knative Service mounts the generated config of its function (by its hashed name), and it exists in the install. */
function configs(t: Test, objects: Obj[]): Map<string, Obj> {
  const byFunction = new Map<string, Obj>()
  for (const svc of objects.filter(isKnativeService)) {
    const volume = podSpec(svc).volumes?.find((v) => v.name === 'config')
    const name = volume?.configMap?.name ?? volume?.secret?.secretName
    const config = objects.find((o) => (o.kind === 'ConfigMap' || o.kind === 'Secret') && o.metadata.name === name && o.metadata.namespace === svc.metadata.namespace)
    t.ok(config, `${id(svc)} mounts ${name}, which the install holds`)
    if (config) byFunction.set(svc.metadata.name, config)
  }
  return byFunction
}
const configText = (o: Obj) => {
  const data = o.data as Record<string, string>
  return o.kind === 'Secret' ? Buffer.from(data['config.yaml']!, 'base64').toString('utf8') : data['config.yaml']!
}

t.test('kustomize renders', { skip: kubectl ? false : 'kubectl is not on PATH (it comes from no package registry): kustomize rendering not checked' }, async (t) => {
  const base = render(join(root, 'manifests'))

  t.test('the default install: everything in caretaker, labelled, each config by its content hash', async (t) => {
    await validate(t, base)
    labelled(t, base, 'caretaker')
    inNamespace(t, base, 'caretaker')
    t.same(base.filter(isKnativeService).map((o) => o.metadata.name).sort(), FUNCTIONS, 'every function')
    // What the file-reading tests and the sandbox see is what is installed: the same objects, plus the generated configs.
    const files: string[] = []
    for (const dir of ['manifests', 'triggers']) {
      for (const entry of await readdir(join(root, dir), { withFileTypes: true, recursive: true })) {
        if (!entry.isFile() || !/\.ya?ml$/.test(entry.name) || entry.name === 'kustomization.yaml') continue
        for (const doc of parseAllDocuments(await readFile(join(entry.parentPath, entry.name), 'utf8'))) {
          const obj = doc.toJSON() as Obj | null
          // kustomize reads a local-config object (a component's settings) and never outputs it.
          if (obj?.kind && obj.metadata && obj.metadata.annotations?.['config.kubernetes.io/local-config'] !== 'true') files.push(id(obj))
        }
      }
    }
    const rendered = base.map(id)
    t.same(files.filter((f) => !rendered.includes(f)), [], 'every object of the files is installed')
    t.same(rendered.filter((r) => !files.includes(r)).map((r) => r.replace(/-[a-z0-9]{10}$/, '-<hash>')).sort(),
      FUNCTIONS.map((f) => f === 'alertmanager-bridge' ? `Secret caretaker/${f}-config` : `ConfigMap caretaker/${f}-config-<hash>`).sort(),
      'and nothing else but the configs generated from manifests/<function>/config.yaml')
    for (const [fn, config] of configs(t, base)) {
      t.equal(configText(config), await readFile(join(root, 'manifests', fn, 'config.yaml'), 'utf8'), `${fn}: the config is manifests/${fn}/config.yaml`)
    }
    const image = new Set(base.filter(isKnativeService).flatMap((o) => podSpec(o).containers.map((c) => c.image)))
    t.same([...image], ['caretaker:latest'], 'the image an overlay sets (images: caretaker)')
  })

  t.test('examples/ops: another namespace, three functions, an own config and image', async (t) => {
    const ops = render(join(root, 'examples/ops'))
    await validate(t, ops)
    labelled(t, ops, 'ops')
    inNamespace(t, ops, 'ops')
    pointsInto(t, ops, 'ops')
    t.same(ops.filter(isKnativeService).map((o) => o.metadata.name).sort(), ['health-report', 'notify', 'verify-backup'], 'the three functions it picks')
    t.same(ops.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name).sort(), ['caretaker-source-backup-jobs', 'caretaker-source-certificates', 'caretaker-source-restore-jobs', 'health-report', 'notify', 'verify-backup'], 'their ServiceAccounts and the sources\'')
    // verify-backup's rights where the backup CronJobs run, for ops/verify-backup.
    const grants = ops.filter((o) => o.kind === 'RoleBinding' && o.metadata.name === 'caretaker-verify-backup')
    t.same(grants.map((o) => o.metadata.namespace).sort(), ['databases', 'gitea', 'kube-system', 'longhorn-system', 'vault'], 'verify-backup\'s RoleBindings stay in the namespaces it reads')
    for (const g of grants) t.same(g.subjects, [{ kind: 'ServiceAccount', name: 'verify-backup', namespace: 'ops' }], `${id(g)}: for ops/verify-backup`)
    const own = configs(t, ops)
    t.equal(configText(own.get('health-report')!), await readFile(join(root, 'examples/ops/health-report.yaml'), 'utf8'), 'health-report reads the overlay\'s config')
    t.equal(configText(own.get('notify')!), await readFile(join(root, 'manifests/notify/config.yaml'), 'utf8'), 'notify the shipped one')
    const images = new Set(ops.filter(isKnativeService).flatMap((o) => podSpec(o).containers.map((c) => c.image)))
    t.same([...images], ['registry.example.org/ops/caretaker:0.1.0'], 'the overlay\'s image')
  })

  t.test('a subset into a third namespace, picked by directories', async (t) => {
    const dir = await overlay(t, (repo) => ({
      'namespace.yaml': namespaceYaml('maintenance'),
      'kustomization.yaml': [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        '  - namespace.yaml',
        ...['manifests/core', 'manifests/rotate-secret', 'triggers/rotate-secret', 'manifests/maintain-databases', 'triggers/maintain-databases', 'manifests/notify', 'triggers/notify', 'triggers/broker'].map((p) => `  - ${join(repo, p)}`),
        'components:',
        `  - ${join(repo, 'manifests/install')}`,
        '',
      ].join('\n'),
    }))
    const subset = render(dir)
    await validate(t, subset)
    labelled(t, subset, 'maintenance')
    inNamespace(t, subset, 'maintenance')
    pointsInto(t, subset, 'maintenance')
    t.same(subset.filter(isKnativeService).map((o) => o.metadata.name).sort(), ['maintain-databases', 'notify', 'rotate-secret'], 'the functions picked')
    t.notOk(subset.some((o) => o.kind === 'PrometheusRule'), 'no monitoring when not picked')
    const schedules = subset.find((o) => o.kind === 'Trigger' && o.metadata.name === 'maintain-databases-schedules')!
    t.match(JSON.stringify(schedules.spec), '/apis/v1/namespaces/maintenance/pingsources/maintain-databases-', 'the schedules\' source prefix names the install\'s namespace')
    // rotate-secret's own Role (its leases) moves with it; its grants in production and databases stay.
    const roles = subset.filter((o) => o.kind === 'Role' && o.metadata.name.startsWith('caretaker-rotate-secret'))
    t.ok(roles.some((o) => o.metadata.namespace === 'maintenance'), 'the leases Role in the install\'s namespace')
    t.ok(roles.some((o) => o.metadata.namespace === 'production'), 'the synced-Secret Role where the Secrets are')
  })

  t.test('a changed config is a new ConfigMap name in the Service: Knative rolls a new Revision', async (t) => {
    const shipped = await readFile(join(root, 'manifests/notify/config.yaml'), 'utf8')
    const changed = shipped.replace(/^collapseWindow: 30m$/m, 'collapseWindow: 45m')
    t.not(changed, shipped, 'the config is changed')
    const kustomization = (repo: string, config: string) => [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      '  - namespace.yaml',
      `  - ${join(repo, 'manifests/notify')}`,
      'components:',
      `  - ${join(repo, 'manifests/install')}`,
      ...(config ? ['configMapGenerator:', '  - { name: notify-config, namespace: caretaker, behavior: replace, files: [config.yaml=notify.yaml] }'] : []),
      '',
    ].join('\n')
    const volume = (objects: Obj[]) => podSpec(objects.find(isKnativeService)!).volumes!.find((v) => v.name === 'config')!.configMap!.name
    const before = render(await overlay(t, (repo) => ({ 'namespace.yaml': namespaceYaml('ops'), 'kustomization.yaml': kustomization(repo, '') })))
    const after = render(await overlay(t, (repo) => ({ 'namespace.yaml': namespaceYaml('ops'), 'kustomization.yaml': kustomization(repo, 'own'), 'notify.yaml': changed })))
    t.match(volume(before), /^notify-config-[a-z0-9]{10}$/, 'the Service mounts the hashed name')
    t.not(volume(after), volume(before), 'another config, another name in the Service\'s template')
    t.equal(configText(configs(t, after).get('notify')!), changed, 'holding the new config')
    t.same(volume(render(await overlay(t, (repo) => ({ 'namespace.yaml': namespaceYaml('ops'), 'kustomization.yaml': kustomization(repo, 'own'), 'notify.yaml': shipped })))), volume(before), 'the same config, the same name: no needless rollout')
  })

  t.test('kustomize\'s own namespace: is what the install component replaces', async (t) => {
    // The reason for manifests/install: a plain `namespace:` moves every
    // RoleBinding of the functions into one namespace.
    const dir = await overlay(t, (repo) => ({ 'kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ops\nresources:\n  - ${join(repo, 'manifests/verify-backup')}\n` }))
    t.throws(() => render(dir), /ID conflict/, 'namespace: ops over verify-backup is an ID conflict')
  })
})

t.test('the example Flux Kustomization builds an install of this repository', async (t) => {
  const docs = parseAllDocuments(await readFile(join(root, 'examples/flux/caretaker.yaml'), 'utf8')).map((d) => d.toJSON() as Obj)
  const source = docs.find((o) => o.kind === 'GitRepository' && o.apiVersion === 'source.toolkit.fluxcd.io/v1')
  const kustomization = docs.find((o) => o.kind === 'Kustomization' && o.apiVersion === 'kustomize.toolkit.fluxcd.io/v1')
  t.ok(source && kustomization, 'a GitRepository and a Kustomization (Flux v1 APIs)')
  const spec = kustomization!.spec as { path: string, prune: boolean, targetNamespace?: string, sourceRef: { kind: string, name: string } }
  t.same(spec.sourceRef, { kind: 'GitRepository', name: source!.metadata.name }, 'built from the GitRepository')
  t.equal(spec.targetNamespace, undefined, 'no targetNamespace (it would move the RoleBindings where the functions work)')
  t.ok(existsSync(join(root, spec.path, 'kustomization.yaml')), `${spec.path} is a kustomization of this repository`)
  const k = parse(await readFile(join(root, spec.path, 'kustomization.yaml'), 'utf8')) as { components?: string[] }
  t.ok(k.components?.some((c) => c.endsWith('manifests/install')), 'which ends with the install component')
  t.equal(spec.prune, true, 'prunes what leaves the install')
})
