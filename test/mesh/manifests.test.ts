import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { loadManifests, parseIsoDurationMs, parseManifestText, type MeshManifests } from '../../sandbox/mesh/manifests.ts'

const fixtures = new URL('./fixtures/', import.meta.url).pathname

function parse(text: string): MeshManifests {
  const into: MeshManifests = { brokers: [], triggers: [], pingSources: [] }
  parseManifestText(text, 'triggers/test.yaml', into)
  return into
}

t.test('loads Broker, Triggers and ignores ApiServerSource and Kustomization', async (t) => {
  const manifests = await loadManifests(join(fixtures, 'routing'))
  t.equal(manifests.brokers.length, 1)
  t.same(manifests.triggers.map((tr) => tr.name), ['by-attributes', 'any-source', 'exact', 'prefix', 'suffix', 'nested', 'both'])
  t.equal(manifests.pingSources.length, 0)
  const first = manifests.triggers[0]!
  t.match(first, { file: 'triggers.yaml', namespace: 'caretaker', broker: 'default', subscriber: { ref: { kind: 'Service', name: 'recorder' }, uri: '/by-attributes' } })
})

t.test('reads delivery, PingSource defaults and an empty directory', async (t) => {
  const retry = await loadManifests(join(fixtures, 'retry'))
  t.same(retry.brokers[0]!.delivery, { retry: 1, backoffPolicy: 'exponential', backoffDelayMs: 1000 })
  t.same(retry.triggers.find((tr) => tr.name === 'flaky')!.delivery, {
    retry: 3, backoffPolicy: 'exponential', backoffDelayMs: 200, deadLetterSink: { ref: { kind: 'Service', name: 'dead-letters' } },
  })
  const ping = await loadManifests(join(fixtures, 'ping'))
  t.match(ping.pingSources.find((p) => p.name === 'hello'), { timezone: 'UTC', schedule: '30 0 * * *', contentType: 'application/json' })
  t.same(await loadManifests(join(fixtures, 'empty')), { brokers: [], triggers: [], pingSources: [] })
})

t.test('parses ISO-8601 durations', async (t) => {
  t.equal(parseIsoDurationMs('PT0.2S'), 200)
  t.equal(parseIsoDurationMs('PT1M30S'), 90_000)
  t.equal(parseIsoDurationMs('P1DT1H'), 90_000_000)
  t.equal(parseIsoDurationMs('PT'), undefined)
  t.equal(parseIsoDurationMs('200ms'), undefined)
})

const trigger = (spec: string): string => `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: t1, namespace: ops }
spec:
${spec}`

const ping = (spec: string): string => `apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: p1 }
spec:
${spec}`

const invalid: { name: string; text: string; message: RegExp }[] = [
  { name: 'missing subscriber', text: trigger('  broker: default'), message: /^triggers\/test\.yaml Trigger ops\/t1: spec\.subscriber: is required/ },
  { name: 'missing broker', text: trigger('  subscriber: { uri: "http://x/" }'), message: /Trigger ops\/t1: spec\.broker: is required/ },
  { name: 'subscriber without ref or uri', text: trigger('  broker: default\n  subscriber: {}'), message: /spec\.subscriber: needs ref or uri/ },
  { name: 'relative uri without ref', text: trigger('  broker: default\n  subscriber: { uri: /x }'), message: /spec\.subscriber\.uri: expected an absolute URL/ },
  { name: 'bad backoffDelay', text: trigger('  broker: default\n  subscriber: { uri: "http://x/" }\n  delivery: { backoffDelay: 2s }'), message: /spec\.delivery\.backoffDelay: expected an ISO-8601 duration/ },
  { name: 'bad backoffPolicy', text: trigger('  broker: default\n  subscriber: { uri: "http://x/" }\n  delivery: { backoffPolicy: fibonacci }'), message: /spec\.delivery\.backoffPolicy: expected linear or exponential/ },
  { name: 'negative retry', text: trigger('  broker: default\n  subscriber: { uri: "http://x/" }\n  delivery: { retry: -1 }'), message: /spec\.delivery\.retry: expected a non-negative integer/ },
  { name: 'cesql filter', text: trigger('  broker: default\n  subscriber: { uri: "http://x/" }\n  filters: [{ cesql: "true" }]'), message: /spec\.filters\[0\]\.cesql: CESQL filters are not supported/ },
  { name: 'non-string attribute filter', text: trigger('  broker: default\n  subscriber: { uri: "http://x/" }\n  filter: { attributes: { retries: 3 } }'), message: /spec\.filter\.attributes\.retries: expected a string/ },
  { name: 'six-field schedule', text: ping('  schedule: "0 0 2 * * *"\n  sink: { uri: "http://x/" }'), message: /PingSource default\/p1: spec\.schedule: expected a 5-field cron/ },
  { name: 'unknown timezone', text: ping('  schedule: "0 2 * * *"\n  timezone: Mars/Olympus\n  sink: { uri: "http://x/" }'), message: /spec\.timezone: unknown IANA time zone/ },
  { name: 'data and dataBase64', text: ping('  schedule: "0 2 * * *"\n  data: x\n  dataBase64: eA==\n  sink: { uri: "http://x/" }'), message: /mutually exclusive/ },
  { name: 'missing name', text: 'apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {}', message: /Broker \(document 1\)\.metadata\.name: is required/ },
]

for (const c of invalid) {
  t.test(`rejects ${c.name}`, async (t) => {
    t.throws(() => parse(c.text), { name: 'CaretakerError', code: 'invalid_config', message: c.message })
  })
}

t.test('skips empty documents and kinds of other API groups', async (t) => {
  const result = parse('---\n---\napiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: { name: s }\n---\n' + trigger('  broker: default\n  subscriber: { uri: "http://x/" }'))
  t.equal(result.triggers.length, 1)
})

t.test('names the file of a bad manifest when loading a directory', async (t) => {
  const dir = t.testdir({ 'ok.yaml': '', 'nested': { 'bad.yml': trigger('  broker: default') } })
  await t.rejects(loadManifests(dir), { code: 'invalid_config', message: /^nested\/bad\.yml Trigger ops\/t1: spec\.subscriber/ })
  await writeFile(join(dir, 'nested', 'bad.yml'), 'kind: [unclosed')
  await t.rejects(loadManifests(dir), { code: 'invalid_config', message: /nested\/bad\.yml document 1: is not valid YAML/ })
})
