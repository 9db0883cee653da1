import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { loadApiServerSources, type ApiServerSourceObject } from '../../sandbox/mesh/apiserversource.ts'
import { rbacAuthorize, type PolicyKind, type RequestAttributes } from '../../sandbox/simulators/kubernetes/rbac.ts'

// Each ApiServerSource lists and watches as its own ServiceAccount, which
// may read exactly what that source watches, where it watches it, and
// nothing another source watches. Decided by the simulator's RBAC
// authorizer over the objects of manifests/core/apiserversource-rbac.yaml.

type Obj = Record<string, unknown> & { kind: string, metadata: { name: string, namespace?: string } }
const root = new URL('../../', import.meta.url)
const rbac = parseAllDocuments(await readFile(new URL('manifests/core/apiserversource-rbac.yaml', root), 'utf8')).map((d) => d.toJSON() as Obj)
const sources = await loadApiServerSources(new URL('triggers/', root).pathname)
const list = (kind: PolicyKind, namespace?: string) => rbac.filter((o) => o.kind === kind && (namespace === undefined || o.metadata.namespace === namespace))
const RESOURCES: Record<string, { group: string, resource: string }> = {
  Job: { group: 'batch', resource: 'jobs' },
  Certificate: { group: 'cert-manager.io', resource: 'certificates' },
  Event: { group: '', resource: 'events' },
}

function watchedNamespaces(s: ApiServerSourceObject): string[] {
  const expr = s.namespaceSelector?.matchExpressions?.find((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'In')
  return expr?.values ? [...expr.values] : [s.namespace]
}
const may = (account: string, a: Partial<RequestAttributes> & { verb: string }) =>
  rbacAuthorize(list, { username: `system:serviceaccount:caretaker:${account}`, groups: ['system:serviceaccounts', 'system:serviceaccounts:caretaker', 'system:authenticated'] },
    { group: '', resource: '', subresource: '', namespace: '', name: '', ...a }).allowed

t.test('every source has its own ServiceAccount, declared in the manifests', async (t) => {
  t.ok(sources.length >= 2, `${sources.length} ApiServerSources`)
  const accounts = sources.map((s) => s.serviceAccountName)
  for (const s of sources) {
    t.ok(s.serviceAccountName, `${s.name} names a ServiceAccount`)
    t.ok(rbac.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === s.serviceAccountName && o.metadata.namespace === s.namespace), `${s.name}: ServiceAccount ${s.serviceAccountName} exists in ${s.namespace}`)
  }
  t.equal(new Set(accounts).size, accounts.length, 'no two sources share one')
})

for (const source of sources) {
  t.test(`ApiServerSource ${source.name} may watch what it watches, and nothing else`, async (t) => {
    const account = source.serviceAccountName!
    const namespaces = watchedNamespaces(source)
    if (source.namespaceSelector) t.ok(may(account, { verb: 'list', resource: 'namespaces' }), 'lists namespaces to resolve its selector')
    for (const r of source.resources) {
      const what = RESOURCES[r.kind]
      if (!what) { t.fail(`no known resource for ${r.kind}: add it to this test`); continue }
      for (const namespace of namespaces) {
        for (const verb of ['get', 'list', 'watch']) t.ok(may(account, { verb, ...what, namespace }), `${verb} ${what.resource} in ${namespace}`)
        for (const verb of ['create', 'update', 'patch', 'delete']) t.notOk(may(account, { verb, ...what, namespace }), `no ${verb} of ${what.resource}`)
      }
      t.notOk(may(account, { verb: 'list', ...what, namespace: 'default' }), `no ${what.resource} outside the namespaces it watches`)
      t.notOk(may(account, { verb: 'list', ...what }), `no ${what.resource} across all namespaces`)
    }
    t.notOk(may(account, { verb: 'get', resource: 'secrets', namespace: namespaces[0]! }), 'no Secret')
    for (const other of sources) {
      if (other === source) continue
      for (const r of other.resources) {
        if (source.resources.some((mine) => mine.kind === r.kind)) continue
        const what = RESOURCES[r.kind]!
        for (const namespace of watchedNamespaces(other)) t.notOk(may(account, { verb: 'watch', ...what, namespace }), `not what ${other.name} watches: ${what.resource} in ${namespace}`)
      }
    }
  })
}
