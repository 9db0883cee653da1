import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse } from 'yaml'
import { checkConfig, configSchema, type VerifyBackupConfig } from '../../../functions/verify-backup/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { loadManifests } from '../../../sandbox/mesh/manifests.ts'
import { matchesTrigger } from '../../../sandbox/mesh/filters.ts'

// What ships in manifests/ and triggers/ must be what the function accepts.
const root = new URL('../../../', import.meta.url)

t.test('the example config reproduces the runbooks\' backup table and is valid', async (t) => {
  const config = validateConfig<VerifyBackupConfig>(parse(await readFile(new URL('manifests/verify-backup/config.yaml', root), 'utf8')), configSchema, 'manifests/verify-backup/config.yaml')
  t.doesNotThrow(() => checkConfig(config))
  const byName = new Map(config.sets.map((s) => [s.name, s]))
  t.same([...byName.keys()].sort(), ['configuration', 'etcd', 'gitea', 'longhorn', 'postgresql', 'redis', 'vault'])
  t.equal(byName.get('configuration')?.format, 'sha256sums-tar-gzip', 'back-up-configuration\'s archives, beside the runbooks\' table')
  t.match(byName.get('etcd')?.pattern, /etcd_\*\.db/, 'the runbooks\' etcdctl files, among k3s\'s own names (real-names.test.ts)')
  t.equal(byName.get('postgresql')?.pattern, 'all_databases_*.sql.gz')
  t.equal(byName.get('vault')?.pattern, 'vault_*.snap')
  t.equal(byName.get('gitea')?.rpo, '7d', 'weekly git bundles: a 7-day RPO')
  t.ok(byName.get('postgresql')?.restore, 'PostgreSQL dumps get the restore test')
})

t.test('the triggers route each trigger to verify-backup', async (t) => {
  const manifests = await loadManifests(new URL('triggers/', root).pathname)
  const ours = manifests.triggers.filter((tr) => tr.subscriber.ref?.name === 'verify-backup')
  t.equal(ours.length, 3)
  const routed = (attrs: Record<string, string>) => ours.filter((tr) => matchesTrigger(tr.filter, attrs)).map((tr) => tr.name)
  t.same(routed({ type: 'dev.knative.apiserver.resource.update', kind: 'Job', source: 'https://10.96.0.1:443' }), ['verify-backup-jobs'])
  t.same(routed({ type: 'dev.knative.apiserver.ref.update', kind: 'Job', source: 'https://10.96.0.1:443' }), ['verify-backup-jobs'], 'Reference mode too')
  t.same(routed({ type: 'dev.knative.apiserver.resource.delete', kind: 'Job', source: 'https://10.96.0.1:443' }), [], 'deleted Jobs are not sent')
  t.same(routed({ type: 'dev.knative.apiserver.ref.delete', kind: 'Job', source: 'https://10.96.0.1:443' }), [])
  t.same(routed({ type: 'dev.knative.apiserver.resource.update', kind: 'Pod', source: 'https://10.96.0.1:443' }), [])
  t.same(routed({ type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/caretaker/pingsources/verify-backup-sweep' }), ['verify-backup-sweep'])
  t.same(routed({ type: 'dev.knative.sources.ping', source: '/apis/v1/namespaces/caretaker/pingsources/other' }), [], 'other PingSources are not the sweep')
  t.same(routed({ type: 'dev.caretaker.backup.verify.requested', source: '/manual' }), ['verify-backup-requests'])
  const sweep = manifests.pingSources.find((p) => p.name === 'verify-backup-sweep')
  t.equal(sweep?.schedule, '30 5 * * *')
})
