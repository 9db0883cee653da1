import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { checkPolicy, configSchema, type CheckUpdatesConfig } from '../../../functions/check-updates/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { loadManifests } from '../../../sandbox/mesh/manifests.ts'
import { matchesTrigger } from '../../../sandbox/mesh/filters.ts'

// What ships in manifests/ and triggers/ must be what the function accepts.
const root = new URL('../../../', import.meta.url)
type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const docs = async (path: string) => parseAllDocuments(await readFile(new URL(path, root), 'utf8')).map((d) => d.toJSON() as Obj)

t.test('the shipped policy is valid, over HTTPS, and its RBAC lists Secrets only where it reads', async (t) => {
  const config = validateConfig<CheckUpdatesConfig>(parse(await readFile(new URL('manifests/check-updates/config.yaml', root), 'utf8')), configSchema, 'manifests/check-updates/config.yaml')
  t.doesNotThrow(() => checkPolicy(config))
  t.equal(config.includePrerelease, false)
  t.same(config.kubernetes, { channelsUrl: 'https://update.k3s.io/v1-release/channels', channel: 'stable' })
  for (const r of config.repositories) t.match(r.url, /^https:\/\//, `${r.name} over HTTPS`)
  const rbac = await docs('manifests/check-updates/rbac.yaml')
  const rules = rbac.filter((d) => d.kind === 'ClusterRole').flatMap((d) => d.rules as Obj[])
  t.same(rules, [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }], 'list Secrets, nothing else')
  t.same(rbac.filter((d) => d.kind === 'ClusterRoleBinding'), [], 'never bound cluster-wide')
  t.same(rbac.filter((d) => d.kind === 'RoleBinding').map((d) => d.metadata.namespace).sort(), [...config.namespaces].sort(), 'a RoleBinding in each configured namespace')
  const auth = await docs('manifests/core/auth-rbac.yaml')
  for (const role of ['caretaker-operator', 'caretaker-viewer']) {
    t.ok((auth.find((d) => d.metadata.name === role)!.rules as Obj[]).some((r) => r.resources.includes('check-updates') && r.verbs.includes('check')), `${role} may request a check`)
  }
})

t.test('the triggers route the monthly check and requests to check-updates, and its report to notify', async (t) => {
  const manifests = await loadManifests(new URL('triggers/', root).pathname)
  const to = (name: string) => manifests.triggers.filter((tr) => tr.subscriber.ref?.name === name)
  const routed = (name: string, attrs: Record<string, string>) => to(name).filter((tr) => matchesTrigger(tr.filter, attrs)).map((tr) => tr.name)
  t.same(routed('check-updates', { type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/caretaker/pingsources/check-updates-monthly' }), ['check-updates-monthly'])
  t.same(routed('check-updates', { type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/caretaker/pingsources/health-report-daily' }), [])
  t.same(routed('check-updates', { type: 'dev.caretaker.updates.check.requested', source: '/manual' }), ['check-updates-requests'])
  const ping = manifests.pingSources.find((p) => p.name === 'check-updates-monthly')
  t.equal(ping?.schedule, '0 8 1 * *', 'monthly')
  t.same(routed('notify', { type: 'dev.caretaker.updates.reported', source: '/caretaker/check-updates' }), ['notify-updates'], 'the report reaches notify')
  t.same(routed('notify', { type: 'dev.caretaker.updates.check.requested', source: '/manual' }), [], 'a request does not')
})
