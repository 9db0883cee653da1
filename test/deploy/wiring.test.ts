import { readdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import { catalogue } from '../../shared/events/catalogue.ts'
import { loadApiServerSources } from '../../sandbox/mesh/apiserversource.ts'
import { matchesTrigger } from '../../sandbox/mesh/filters.ts'
import { loadManifests } from '../../sandbox/mesh/manifests.ts'
import type { FunctionModule } from '../../shared/runtime/function.ts'

// No dead wiring: every Trigger delivers something its function accepts,
// and every type a function accepts reaches it through some Trigger, from a
// source that exists (a PingSource, an ApiServerSource, a function's reply
// or a manual request of the catalogue).

const root = fileURLToPath(new URL('../../', import.meta.url))
const triggersDir = join(root, 'triggers')
const manifests = await loadManifests(triggersDir)
const apiSources = await loadApiServerSources(triggersDir)

const functions = new Map<string, FunctionModule>()
for (const entry of await readdir(join(root, 'functions'), { withFileTypes: true })) {
  const index = join(root, 'functions', entry.name, 'index.ts')
  if (entry.isDirectory() && existsSync(index)) {
    functions.set(entry.name, ((await import(pathToFileURL(index).href)) as { default: FunctionModule }).default)
  }
}

type Attrs = Record<string, string>
/** Every event some source in this project can put on the broker. */
const possible: Attrs[] = []
for (const p of manifests.pingSources) possible.push({ type: 'dev.knative.sources.ping', source: `/apis/v1/namespaces/${p.namespace}/pingsources/${p.name}`, id: 'x', specversion: '1.0' })
for (const s of apiSources) {
  for (const r of s.resources) {
    for (const mode of ['resource', 'ref']) {
      for (const action of ['add', 'update', 'delete']) {
        possible.push({ type: `dev.knative.apiserver.${mode}.${action}`, kind: r.kind, source: 'https://10.96.0.1:443', name: 'x', namespace: 'x', id: 'x', specversion: '1.0' })
      }
    }
  }
}
for (const type of catalogue.keys()) {
  if (type.startsWith('dev.caretaker.')) possible.push({ type, source: '/caretaker/functions/any', id: 'x', specversion: '1.0' })
}

t.test('every Trigger delivers to a function something it accepts', async (t) => {
  const toFunctions = manifests.triggers.filter((tr) => tr.subscriber.ref?.kind === 'Service')
  t.ok(toFunctions.length > 0, `${toFunctions.length} Triggers to functions`)
  for (const trigger of toFunctions) {
    const name = trigger.subscriber.ref!.name
    const fn = functions.get(name)
    t.ok(fn, `${trigger.name}: its subscriber ${name} is a function in functions/`)
    if (!fn) continue
    const delivered = possible.filter((e) => matchesTrigger(trigger.filter, e) && fn.definition.accepts.includes(e.type!))
    t.ok(delivered.length > 0, `${trigger.name}: delivers some type ${name} accepts`)
    const refused = possible.filter((e) => matchesTrigger(trigger.filter, e) && !fn.definition.accepts.includes(e.type!)).map((e) => e.type)
    t.same([...new Set(refused)], [], `${trigger.name}: delivers nothing ${name} would refuse`)
  }
})

t.test('every type a function accepts reaches it', async (t) => {
  t.ok(functions.size > 0, `${functions.size} functions`)
  for (const [name, fn] of functions) {
    const triggers = manifests.triggers.filter((tr) => tr.subscriber.ref?.kind === 'Service' && tr.subscriber.ref.name === name)
    for (const type of fn.definition.accepts) {
      const reaches = possible.some((e) => e.type === type && triggers.some((tr) => matchesTrigger(tr.filter, e)))
      t.ok(reaches, `${name} accepts ${type}: some source sends it and a Trigger routes it there`)
    }
  }
})

t.test('the Broker and every Trigger dead-letter to a function route that takes dead letters', async (t) => {
  const owners = [...manifests.brokers.map((b) => ({ what: `Broker ${b.name}`, delivery: b.delivery })), ...manifests.triggers.map((tr) => ({ what: `Trigger ${tr.name}`, delivery: tr.delivery }))]
  for (const { what, delivery } of owners) {
    const sink = delivery?.deadLetterSink
    t.ok(sink, `${what} has a dead-letter sink`)
    if (!sink) continue
    const fn = sink.ref?.kind === 'Service' ? functions.get(sink.ref.name) : undefined
    t.ok(fn, `${what}: its dead-letter sink is a function`)
    t.equal(sink.uri, fn?.definition.httpPath, `${what}: at the route that function takes plain requests on`)
  }
})
