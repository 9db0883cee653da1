import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { NOTIFIABLE } from '../../../functions/notify/index.ts'
import { checkConfig, configSchema, type NotifyConfig } from '../../../functions/notify/config.ts'
import { sandboxConfigs, type SandboxFacts } from '../../../sandbox/local/sandbox-configs.ts'
import { validateConfig } from '../../../shared/config.ts'
import { catalogue } from '../../../shared/events/catalogue.ts'
import { matchesTrigger } from '../../../sandbox/mesh/filters.ts'
import { loadManifests } from '../../../sandbox/mesh/manifests.ts'

// What ships in manifests/ and triggers/ must be what notify accepts.
const root = new URL('../../../', import.meta.url)
const docs = async (path: string) => parseAllDocuments(await readFile(new URL(path, root), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)

t.test('the example config is valid and routes failures to people', async (t) => {
  const config = validateConfig<NotifyConfig>(parse(await readFile(new URL('manifests/notify/config.yaml', root), 'utf8')), configSchema, 'manifests/notify/config.yaml')
  t.doesNotThrow(() => checkConfig(config))
  t.same(config.channels.map((c) => c.kind).sort(), ['email', 'log', 'mattermost', 'slack', 'webhook'])
  const text = JSON.stringify(config)
  t.notMatch(text, /https:\/\/hooks\.|password"\s*:\s*"/, 'no secret value in the ConfigMap, only references')
})

t.test('the sandbox config is valid and needs no secret to start', async (t) => {
  const facts: SandboxFacts = {
    backups: { dir: '', sets: [] },
    seeded: { now: new Date().toISOString(), namespaces: [], counts: {}, objects: [], vaultSecrets: [], externalSecrets: [], certificates: [], backupJobs: [], snapshots: [] },
  }
  const config = validateConfig<NotifyConfig>(sandboxConfigs(facts).notify, configSchema, 'sandbox')
  t.doesNotThrow(() => checkConfig(config))
  t.ok(config.channels.some((c) => c.kind === 'log'), 'a log channel that always works')
})

t.test('RBAC: a ServiceAccount and nothing else', async (t) => {
  const objects = await docs('manifests/notify/rbac.yaml')
  t.same(objects.map((o) => o.kind), ['ServiceAccount'])
  const [service] = await docs('manifests/notify/service.yaml')
  const spec = ((service!.spec as Record<string, unknown>).template as { spec: { serviceAccountName: string; containers: Array<{ args: string[] }> } }).spec
  t.equal(spec.serviceAccountName, 'notify')
  t.same(spec.containers[0]!.args, ['notify'])
})

t.test('every outbound type reaches notify through exactly one Trigger; requests and its own reply do not', async (t) => {
  const manifests = await loadManifests(new URL('triggers/', root).pathname)
  const ours = manifests.triggers.filter((tr) => tr.subscriber.ref?.name === 'notify')
  t.ok(ours.length >= 6, `${ours.length} Triggers`)
  const routed = (type: string) => ours.filter((tr) => matchesTrigger(tr.filter, { type, source: '/caretaker/functions/x' })).map((tr) => tr.name)
  for (const type of NOTIFIABLE) t.equal(routed(type).length, 1, `${type} → ${routed(type).join(', ') || 'nothing'}`)
  t.same(routed('dev.caretaker.notification.sent'), [], 'its own reply never comes back')
  for (const def of catalogue.values()) if (def.direction === 'inbound') t.same(routed(def.type), [], `inbound ${def.type} is not notified`)
  t.same(routed('dev.caretaker.certificate.expiring'), ['notify-certificate'], 'a family\'s future types are routed too')
  t.same(routed('dev.caretaker.health.report.requested'), [], 'a family\'s manual requests are not')
  for (const tr of ours) t.ok((tr.delivery?.retry ?? 0) >= 3, `${tr.name} retries`)
})
