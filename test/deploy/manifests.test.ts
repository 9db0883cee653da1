import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

// What `kubectl apply -k manifests` and `kubectl apply -k triggers` would
// send: every object valid against its schema, and a security review of the
// RBAC and the Knative Services.

const root = fileURLToPath(new URL('../../', import.meta.url))
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown }

async function yamlObjects(dir: string): Promise<Array<{ file: string; obj: Obj }>> {
  const out: Array<{ file: string; obj: Obj }> = []
  for (const entry of await readdir(join(root, dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/\.ya?ml$/.test(entry.name) || entry.name === 'kustomization.yaml') continue
    const path = join(entry.parentPath, entry.name)
    for (const doc of parseAllDocuments(await readFile(path, 'utf8'))) {
      const obj = doc.toJSON() as Obj | null
      // kustomize reads a local-config object (a component's settings) and never outputs it.
      if (obj?.kind && (obj.metadata as { annotations?: Record<string, string> } | undefined)?.annotations?.['config.kubernetes.io/local-config'] !== 'true') out.push({ file: relative(root, path), obj })
    }
  }
  return out
}

const objects = [...await yamlObjects('manifests'), ...await yamlObjects('triggers')]
const id = (o: Obj) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`

t.test('both kustomizations render', async (t) => {
  const kubectl = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim()
  if (!kubectl) {
    if (process.env.CI === 'true') t.comment('kubectl is not on PATH (it comes from no package registry): kustomize rendering not checked')
    t.pass('kubectl absent: skipped')
    return
  }
  for (const dir of ['manifests', 'triggers']) {
    const res = spawnSync(kubectl, ['kustomize', join(root, dir)], { encoding: 'utf8' })
    t.equal(res.status, 0, `kubectl kustomize ${dir}${res.status === 0 ? '' : `: ${res.stderr}`}`)
    const rendered = parseAllDocuments(res.stdout).map((d) => d.toJSON() as Obj)
    t.ok(rendered.length > 0, `${dir} renders ${rendered.length} objects`)
  }
})

t.test('every object is valid against its schema', async (t) => {
  // The simulator validates what it stores with the upstream-derived schemas
  // (checked against ../shared/upstream by kubernetes-crds.test.ts).
  const sim = await startKubernetesSimulator({ rbac: false, controllers: { enabled: false } })
  t.teardown(() => sim.close())
  t.ok(objects.length > 10, `${objects.length} objects in manifests/ and triggers/`)
  for (const { file, obj } of objects) {
    try {
      sim.store.seed(structuredClone(obj))
      t.pass(`${file}: ${id(obj)}`)
    } catch (err) {
      t.fail(`${file}: ${id(obj)}: ${(err as Error).message}`)
    }
  }
})

// Resources that exist only cluster-wide: the one case a ClusterRoleBinding is needed.
const CLUSTER_SCOPED = new Set(['namespaces', 'nodes', 'persistentvolumes', 'storageclasses', 'volumesnapshotcontents', 'volumesnapshotclasses', 'clusterissuers', 'clustersecretstores', 'selfsubjectaccessreviews', 'tokenreviews'])
type Rule = { apiGroups?: string[]; resources?: string[]; verbs?: string[]; resourceNames?: string[] }

// The roles that must list Secrets, and why. check-updates reads Helm 3's release records,
// Secrets whose names carry each revision (sh.helm.release.v1.<release>.v<n>): they can only
// be found by label (owner=helm), and RBAC cannot restrict by label, so it lists the Secrets
// of the namespaces it is bound in (still never cluster-wide, checked below).
const SECRET_LISTERS: Record<string, string> = {
  'caretaker-check-updates': 'Helm release records, found by label owner=helm',
}

t.test('security review: RBAC', async (t) => {
  const roles = new Map(objects.filter(({ obj }) => obj.kind === 'ClusterRole' || obj.kind === 'Role').map(({ obj }) => [`${obj.kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`, obj]))
  t.ok(roles.size > 0, `${roles.size} roles reviewed`)
  for (const role of roles.values()) {
    for (const rule of (role.rules as Rule[] | undefined) ?? []) {
      for (const field of ['apiGroups', 'resources', 'verbs'] as const) {
        t.notOk((rule[field] ?? []).includes('*'), `${id(role)}: no wildcard in ${field}`)
      }
    }
  }
  for (const { obj } of objects.filter(({ obj }) => obj.kind === 'ClusterRoleBinding')) {
    const ref = obj.roleRef as { kind: string; name: string }
    const role = roles.get(`ClusterRole//${ref.name}`)
    t.ok(role, `${id(obj)} refers to a ClusterRole in the manifests`)
    const resources = ((role?.rules as Rule[] | undefined) ?? []).flatMap((r) => r.resources ?? [])
    t.same(resources.filter((r) => !CLUSTER_SCOPED.has(r.split('/')[0]!)), [], `${id(obj)}: bound cluster-wide only for cluster-scoped resources (a RoleBinding suffices otherwise)`)
  }
  // Secrets: only through RoleBindings, i.e. only in the namespaces bound.
  const clusterBound = new Set(objects.filter(({ obj }) => obj.kind === 'ClusterRoleBinding').map(({ obj }) => (obj.roleRef as { name: string }).name))
  for (const role of roles.values()) {
    const readsSecrets = ((role.rules as Rule[] | undefined) ?? []).some((r) => (r.resources ?? []).includes('secrets'))
    if (readsSecrets) t.notOk(role.kind === 'ClusterRole' && clusterBound.has(role.metadata.name), `${id(role)}: Secrets never cluster-wide`)
    const listing = SECRET_LISTERS[role.metadata.name as string]
    for (const rule of ((role.rules as Rule[] | undefined) ?? []).filter((r) => (r.resources ?? []).includes('secrets'))) {
      if (listing) {
        // The one exception, and as narrow as RBAC allows: `list` alone, nothing else on any resource of that rule.
        t.same(rule.verbs, ['list'], `${id(role)}: lists Secrets (${listing}), and nothing more`)
        t.same(rule.resources, ['secrets'], `${id(role)}: the Secret-listing rule covers Secrets alone`)
        continue
      }
      t.ok((rule.resourceNames ?? []).length > 0, `${id(role)}: Secrets only by name (resourceNames), never every Secret of a namespace`)
      t.same((rule.verbs ?? []).filter((v) => v !== 'get'), [], `${id(role)}: Secrets are only read, never listed, watched or written`)
    }
  }
})

t.test('security review: Knative Services', async (t) => {
  const services = objects.filter(({ obj }) => obj.kind === 'Service' && obj.apiVersion === 'serving.knative.dev/v1')
  t.ok(services.length > 0, `${services.length} Knative Services reviewed`)
  const accounts = new Set(objects.filter(({ obj }) => obj.kind === 'ServiceAccount').map(({ obj }) => `${obj.metadata.namespace}/${obj.metadata.name}`))
  for (const { obj } of services) {
    const name = id(obj)
    t.equal(obj.metadata.labels?.['networking.knative.dev/visibility'], 'cluster-local', `${name}: cluster-local`)
    const spec = ((obj.spec as { template: { spec: Record<string, unknown> } }).template.spec)
    const account = spec.serviceAccountName as string | undefined
    t.ok(account && accounts.has(`${obj.metadata.namespace}/${account}`), `${name}: runs as its own ServiceAccount from the manifests (${account})`)
    const podContext = (spec.securityContext ?? {}) as Record<string, unknown>
    for (const c of spec.containers as Array<Record<string, unknown>>) {
      const sc = (c.securityContext ?? {}) as Record<string, unknown>
      const at = `${name} container ${String(c.name)}`
      t.equal(sc.runAsNonRoot ?? podContext.runAsNonRoot, true, `${at}: non-root`)
      t.equal(sc.allowPrivilegeEscalation, false, `${at}: no privilege escalation`)
      t.ok(((sc.capabilities as { drop?: string[] } | undefined)?.drop ?? []).includes('ALL'), `${at}: all capabilities dropped`)
      t.equal(sc.readOnlyRootFilesystem, true, `${at}: read-only root filesystem`)
      t.equal(((sc.seccompProfile ?? podContext.seccompProfile) as { type?: string } | undefined)?.type, 'RuntimeDefault', `${at}: seccomp RuntimeDefault`)
      t.equal((c.readinessProbe as { httpGet?: { path?: string } } | undefined)?.httpGet?.path, '/health/readiness', `${at}: readiness probe`)
      t.equal((c.livenessProbe as { httpGet?: { path?: string } } | undefined)?.httpGet?.path, '/health/liveness', `${at}: liveness probe`)
      t.ok((c.resources as { requests?: unknown; limits?: unknown } | undefined)?.limits, `${at}: resource limits`)
    }
  }
})

t.test('every manifest file is reached from its kustomization, and every reference resolves (without kubectl too)', async (t) => {
  const reached = new Set<string>()
  const walk = async (dir: string): Promise<void> => {
    const kustomization = parse(await readFile(join(root, dir, 'kustomization.yaml'), 'utf8')) as { resources?: string[], components?: string[] }
    for (const resource of [...kustomization.resources ?? [], ...kustomization.components ?? []]) {
      const path = join(dir, resource)
      if (existsSync(join(root, path, 'kustomization.yaml'))) await walk(path)
      else {
        t.ok(existsSync(join(root, path)), `${dir}/kustomization.yaml: ${resource} exists`)
        reached.add(path)
      }
    }
  }
  for (const dir of ['manifests', 'triggers']) await walk(dir)
  // The Alertmanager receiver is a snippet of alertmanager.yml, not a Kubernetes object.
  const files = [...new Set(objects.map((o) => o.file))].filter((f) => f !== join('triggers', 'alertmanager-receiver.yaml'))
  t.same(files.filter((f) => !reached.has(f)), [], 'no manifest left out of the kustomizations')
})
