import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { configSchema, renewalPolicy, type RenewCertificateConfig } from '../../../functions/renew-certificate/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { loadManifests } from '../../../sandbox/mesh/manifests.ts'
import { matchesTrigger } from '../../../sandbox/mesh/filters.ts'

// What ships in manifests/ and triggers/ must be what the function accepts.
const root = new URL('../../../', import.meta.url)
type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const docs = async (path: string) => parseAllDocuments(await readFile(new URL(path, root), 'utf8')).map((d) => d.toJSON() as Obj)

t.test('the example policy is valid, and its namespaces are those the RBAC and the sources cover', async (t) => {
  const config = validateConfig<RenewCertificateConfig>(parse(await readFile(new URL('manifests/renew-certificate/config.yaml', root), 'utf8')), configSchema, 'manifests/renew-certificate/config.yaml')
  t.same(renewalPolicy(config), { notReadyForMs: 3_600_000, expiryThresholdMs: 14 * 86_400_000, cooldownMs: 6 * 3_600_000, stuckIssuingMs: 3_600_000 })
  const rbac = await docs('manifests/renew-certificate/rbac.yaml')
  t.same(rbac.filter((d) => d.kind === 'RoleBinding').map((d) => d.metadata.namespace).sort(), [...config.namespaces].sort(), 'a RoleBinding in each configured namespace')
  t.notOk(rbac.some((d) => d.kind === 'ClusterRoleBinding'), 'nothing cluster-wide')
  const rules = rbac.find((d) => d.kind === 'ClusterRole')!.rules as Obj[]
  t.notOk(rules.some((r) => (r.resources as string[]).includes('secrets')), 'no Secret is ever read')
  t.notOk(rules.some((r) => [...r.verbs, ...r.resources, ...r.apiGroups].includes('*')), 'no wildcards')
  const sources = await docs('triggers/renew-certificate/renew-certificate.yaml')
  const source = sources.find((d) => d.kind === 'ApiServerSource')!
  t.same(source.spec.namespaceSelector.matchExpressions[0].values.sort(), [...config.namespaces].sort())
  t.same(source.spec.resources, [{ apiVersion: 'cert-manager.io/v1', kind: 'Certificate' }, { apiVersion: 'v1', kind: 'Event' }])
  const sourceRbac = await docs('manifests/core/apiserversource-rbac.yaml')
  t.same(sourceRbac.filter((d) => d.kind === 'RoleBinding' && d.roleRef.name === 'caretaker-source-certificates').map((d) => d.metadata.namespace).sort(), [...config.namespaces].sort(),
    'the ApiServerSource may watch Certificates and Events where it watches them')
})

t.test('the triggers route each trigger to renew-certificate', async (t) => {
  const manifests = await loadManifests(new URL('triggers/', root).pathname)
  const ours = manifests.triggers.filter((tr) => tr.subscriber.ref?.name === 'renew-certificate')
  t.equal(ours.length, 3)
  const routed = (attrs: Record<string, string>) => ours.filter((tr) => matchesTrigger(tr.filter, attrs)).map((tr) => tr.name)
  const api = 'https://10.96.0.1:443'
  t.same(routed({ type: 'dev.knative.apiserver.resource.update', kind: 'Certificate', source: api }), ['renew-certificate-certs'])
  t.same(routed({ type: 'dev.knative.apiserver.ref.add', kind: 'Certificate', source: api }), ['renew-certificate-certs'], 'Reference mode too')
  t.same(routed({ type: 'dev.knative.apiserver.resource.delete', kind: 'Certificate', source: api }), [], 'deleted Certificates are not sent')
  t.same(routed({ type: 'dev.knative.apiserver.resource.add', kind: 'Event', source: api }), ['renew-certificate-events'])
  t.same(routed({ type: 'dev.knative.apiserver.resource.update', kind: 'Event', source: api }), ['renew-certificate-events'])
  t.same(routed({ type: 'dev.knative.apiserver.resource.delete', kind: 'Event', source: api }), [])
  t.same(routed({ type: 'dev.knative.apiserver.resource.update', kind: 'Job', source: api }), [])
  t.same(routed({ type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/caretaker/pingsources/renew-certificate-sweep' }), ['renew-certificate-sweep'])
  t.same(routed({ type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/caretaker/pingsources/verify-backup-sweep' }), [])
  t.equal(manifests.pingSources.find((p) => p.name === 'renew-certificate-sweep')?.schedule, '0 6 * * *')
})
