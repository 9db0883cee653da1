import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { configSchema, healthPolicy, type HealthReportConfig } from '../../../functions/health-report/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { HEALTH_CHECKS } from '../../../shared/events/types/health.ts'
import { loadManifests } from '../../../sandbox/mesh/manifests.ts'
import { matchesTrigger } from '../../../sandbox/mesh/filters.ts'

// What ships in manifests/ and triggers/ must be what the function accepts.
const root = new URL('../../../', import.meta.url)
type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const docs = async (path: string) => parseAllDocuments(await readFile(new URL(path, root), 'utf8')).map((d) => d.toJSON() as Obj)

t.test('the example policy runs every check on the runbooks\' backups, with read-only RBAC', async (t) => {
  const config = validateConfig<HealthReportConfig>(parse(await readFile(new URL('manifests/health-report/config.yaml', root), 'utf8')), configSchema, 'manifests/health-report/config.yaml')
  t.doesNotThrow(() => healthPolicy(config))
  t.same([...config.checks].sort(), [...HEALTH_CHECKS].sort())
  t.same(config.backups.map((b) => `${b.namespace}/${b.name} ${b.window}`), [
    'kube-system/etcd-backup 24h', 'databases/postgres-backup 24h', 'databases/redis-backup 24h', 'vault/vault-backup 24h', 'gitea/gitea-backup 7d',
  ])
  const rbac = await docs('manifests/health-report/rbac.yaml')
  const verbs = rbac.filter((d) => d.kind === 'ClusterRole').flatMap((d) => (d.rules as Obj[]).flatMap((r) => r.verbs as string[]))
  t.same([...new Set(verbs)].sort(), ['get', 'list'], 'it only reads')
  const rules = rbac.filter((d) => d.kind === 'ClusterRole').flatMap((d) => (d.rules as Obj[]).map((r): Obj => ({ ...r, role: d.metadata.name as string })))
  t.same(rules.filter((r) => (r.verbs as string[]).some((v) => v !== 'list')), [{ apiGroups: [''], resources: ['nodes/proxy'], verbs: ['get'], role: 'caretaker-health-report-nodes' }], 'it only lists, but for get on nodes/proxy (the kubelet stats summary), a rule of its own')
  const resources = rbac.filter((d) => d.kind === 'ClusterRole').flatMap((d) => (d.rules as Obj[]).flatMap((r) => r.resources as string[]))
  t.notOk(resources.includes('secrets'), 'never a Secret')
  t.same(rbac.filter((d) => d.kind === 'RoleBinding' && d.roleRef.name === 'caretaker-health-report').map((d) => d.metadata.namespace).sort(), [...config.namespaces].sort(), 'a RoleBinding in each configured namespace')
  // The one thing it writes: its own history ConfigMap, in its own namespace.
  const roles = rbac.filter((d) => d.kind === 'Role')
  t.same(roles.map((r) => `${r.metadata.namespace}/${r.metadata.name}`), [`${config.history.namespace}/caretaker-health-report-history`])
  t.same(roles[0]!.rules, [
    { apiGroups: [''], resources: ['configmaps'], resourceNames: [config.history.configMap], verbs: ['get', 'update'] },
    { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
  ], 'get and update only that ConfigMap by name; create cannot be limited by name')
  t.same(rbac.filter((d) => d.kind === 'RoleBinding' && d.roleRef.kind === 'Role').map((d) => `${d.metadata.namespace}/${d.roleRef.name}`), [`${config.history.namespace}/caretaker-health-report-history`])
  t.same(rbac.filter((d) => d.kind === 'ClusterRoleBinding').map((d) => d.roleRef.name), ['caretaker-health-report-nodes'], 'only nodes, which have no namespace, are bound cluster-wide')
})

t.test('the triggers route the daily check and requests to health-report', async (t) => {
  const manifests = await loadManifests(new URL('triggers/', root).pathname)
  const ours = manifests.triggers.filter((tr) => tr.subscriber.ref?.name === 'health-report')
  const routed = (attrs: Record<string, string>) => ours.filter((tr) => matchesTrigger(tr.filter, attrs)).map((tr) => tr.name)
  t.same(routed({ type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/caretaker/pingsources/health-report-daily' }), ['health-report-daily'])
  t.same(routed({ type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/caretaker/pingsources/renew-certificate-sweep' }), [])
  t.same(routed({ type: 'dev.caretaker.health.report.requested', source: '/manual' }), ['health-report-requests'])
  t.equal(manifests.pingSources.find((p) => p.name === 'health-report-daily')?.schedule, '0 7 * * *')
  t.same(routed({ type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/caretaker/pingsources/health-report-weekly' }), ['health-report-weekly'])
  const weekly = manifests.pingSources.find((p) => p.name === 'health-report-weekly')
  t.equal(weekly?.schedule, '30 7 * * 1', 'Mondays, after that day\'s daily report')
  t.same(JSON.parse(String(weekly?.data)), { report: 'weekly' }, 'the data the function tells the weekly run by')
})
