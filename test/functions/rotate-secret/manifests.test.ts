import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { checkConfig, configSchema, type RotateSecretConfig } from '../../../functions/rotate-secret/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { matchesTrigger } from '../../../sandbox/mesh/filters.ts'
import { loadManifests } from '../../../sandbox/mesh/manifests.ts'

// What ships in manifests/ and triggers/ must be what the function accepts and needs.
const root = new URL('../../../', import.meta.url)
type Doc = { kind: string; metadata: { name: string; namespace?: string }; data?: Record<string, string>; rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>; roleRef?: { kind: string; name: string } }
const docs = async (path: string) => parseAllDocuments(await readFile(new URL(path, root), 'utf8')).map((d) => d.toJSON() as Doc)

const loadConfig = async () => {
  const config = validateConfig<RotateSecretConfig>(parse(await readFile(new URL('manifests/rotate-secret/config.yaml', root), 'utf8')), configSchema, 'manifests/rotate-secret/config.yaml')
  checkConfig(config)
  return config
}

t.test('the example config reproduces the runbooks\' rotation table', async (t) => {
  const config = await loadConfig()
  const interval = Object.fromEntries(config.secrets.map((s) => [s.name, s.interval]))
  t.same(interval, { 'postgres-app': '90d', 'postgres-reporting': '90d', 'redis-app': '90d', 'api-jwt': '180d', 'web-session': '180d', 'web-oidc': '365d' }, 'PostgreSQL and Redis every 90 days, JWT and session secrets every 180, OIDC client secrets every 365')
  for (const s of config.secrets.filter((x) => x.target.kind === 'postgres-role')) {
    t.notOk('password' in (s.target as unknown as { connection: Record<string, unknown> }).connection, `${s.name}: the admin login comes from Vault`)
  }
  const redis = config.secrets.find((s) => s.name === 'redis-app')!.target
  t.match(redis, { kind: 'redis', mode: 'acl' })
  t.equal((redis as { nodes: unknown[] }).nodes.length, 2, 'the primary and the replica')
  const oidc = config.secrets.find((s) => s.name === 'web-oidc')!
  t.match(oidc.target, { kind: 'keycloak-client', realm: 'platform', clientId: 'web', connection: { vault: { path: 'identity/keycloak/caretaker' } } }, 'the OIDC client secret is rotated in Keycloak')
  t.notOk(/@/.test((oidc.target as { url: string }).url), 'the admin login comes from Vault, not the URL')
  const text = await readFile(new URL('manifests/rotate-secret/config.yaml', root), 'utf8')
  t.match(text, /Vault unseal keys: never automatic/)
  t.match(text, /OIDC client secrets \(365 days\)/)
})

t.test('the RBAC grants what the example config needs and no more', async (t) => {
  const config = await loadConfig()
  const rbac = await docs('manifests/rotate-secret/rbac.yaml')
  const roles = rbac.filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole')
  for (const r of roles) for (const rule of r.rules ?? []) {
    t.notOk(rule.verbs.includes('*') || rule.resources.includes('*'), `${r.metadata.name}: no wildcards`)
    t.notOk(rule.verbs.some((v) => ['list', 'watch', 'deletecollection'].includes(v)), `${r.metadata.name}: no list or watch`)
  }
  t.notOk(rbac.some((d) => d.kind === 'ClusterRoleBinding'), 'never bound cluster-wide')
  const bound = (ns: string, roleName: string) => rbac.some((d) => d.kind === 'RoleBinding' && d.metadata.namespace === ns && d.roleRef?.name === roleName)
  const synced = (ns: string) => rbac.find((d) => d.kind === 'Role' && d.metadata.namespace === ns && d.metadata.name === 'caretaker-rotate-secret-synced')?.rules?.[0]?.resourceNames ?? []
  for (const s of config.secrets) {
    for (const es of s.externalSecrets) {
      t.ok(bound(es.namespace, 'caretaker-rotate-secret'), `${s.name}: may force-sync in ${es.namespace}`)
      t.ok(synced(es.namespace).includes(es.name), `${s.name}: may read Secret ${es.namespace}/${es.name}`)
    }
    for (const c of s.consumers) t.ok(bound(c.namespace, 'caretaker-rotate-secret'), `${s.name}: may restart ${c.kind} ${c.namespace}/${c.name}`)
  }
  t.ok(bound(config.leaseNamespace, 'caretaker-rotate-secret-leases'), 'Leases in the lease namespace')
})

t.test('the triggers route the sweep and the requests to rotate-secret', async (t) => {
  const manifests = await loadManifests(new URL('triggers/', root).pathname)
  const ours = manifests.triggers.filter((tr) => tr.subscriber.ref?.name === 'rotate-secret')
  const routed = (attrs: Record<string, string>) => ours.filter((tr) => matchesTrigger(tr.filter, attrs)).map((tr) => tr.name)
  t.same(routed({ type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/caretaker/pingsources/rotate-secret-sweep' }), ['rotate-secret-sweep'])
  t.same(routed({ type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/caretaker/pingsources/verify-backup-sweep' }), [], 'other PingSources are not the sweep')
  t.same(routed({ type: 'dev.caretaker.secret.rotate.requested', source: '/caretaker/functions/respond-to-alert' }), ['rotate-secret-requests'], 'the request respond-to-alert emits')
  t.same(routed({ type: 'dev.caretaker.secret.rotated', source: '/caretaker/functions/rotate-secret' }), [], 'its own outcomes do not come back')
  const sweep = manifests.pingSources.find((p) => p.name === 'rotate-secret-sweep')
  t.equal(sweep?.schedule, '0 4 * * *', 'daily')
})
