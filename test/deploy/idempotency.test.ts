import { readFile, readdir } from 'node:fs/promises'
import t from 'tap'
import { parseAllDocuments } from 'yaml'

// Every shipped Service records its handled events durably (Leases), or a
// redelivery to another replica or after a restart would act twice; and
// every function's ServiceAccount may write those Leases, in Caretaker's
// namespace only.

const root = new URL('../../manifests/', import.meta.url)
const functions = (await readdir(new URL('../../functions/', import.meta.url), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name)

interface Env { name: string; value?: string }
interface Service { kind: string; metadata: { name: string }; spec: { template: { spec: { serviceAccountName?: string; containers: Array<{ env?: Env[] }> } } } }

t.test('every Knative Service configures the durable idempotency store', async (t) => {
  for (const name of functions) {
    const docs = parseAllDocuments(await readFile(new URL(`${name}/service.yaml`, root), 'utf8')).map((d) => d.toJSON() as Service)
    const service = docs.find((d) => d.kind === 'Service')
    t.ok(service, `${name}: has a Knative Service`)
    const env = service!.spec.template.spec.containers[0]!.env ?? []
    t.equal(env.find((e) => e.name === 'CARETAKER_IDEMPOTENCY')?.value, 'kubernetes', `${name}: CARETAKER_IDEMPOTENCY=kubernetes`)
  }
})

t.test('every function\'s ServiceAccount is bound to the Lease-only Role in Caretaker\'s namespace', async (t) => {
  const docs = parseAllDocuments(await readFile(new URL('core/idempotency-rbac.yaml', root), 'utf8')).map((d) => d.toJSON() as { kind: string; metadata: { namespace?: string }; rules?: Array<{ apiGroups: string[]; resources: string[] }>; subjects?: Array<{ name: string; namespace: string }> })
  const role = docs.find((d) => d.kind === 'Role')!
  t.same(role.rules?.map((r) => [r.apiGroups, r.resources]), [[['coordination.k8s.io'], ['leases']]], 'Leases, nothing else')
  const binding = docs.find((d) => d.kind === 'RoleBinding')!
  t.equal(binding.metadata.namespace, 'caretaker')
  t.same(binding.subjects?.map((s) => s.name).sort(), [...functions].sort(), 'one subject per function')
  const kustomization = await readFile(new URL('core/kustomization.yaml', root), 'utf8')
  t.match(kustomization, /idempotency-rbac\.yaml/, 'installed by the kustomization (core/, in every install)')
})
