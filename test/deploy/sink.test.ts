import { readFile, readdir } from 'node:fs/promises'
import t from 'tap'
import { parseAllDocuments } from 'yaml'

// A function that sends events beyond its reply (context.emit: requests for
// other functions, notifications, per-object outcomes) sends them to K_SINK;
// a Service without it would drop every one of them.

const root = new URL('../../', import.meta.url)
const functions = (await readdir(new URL('functions/', root), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name)

async function emits(name: string): Promise<boolean> {
  const dir = new URL(`functions/${name}/`, root)
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts') && /\.emit\(/.test(await readFile(`${entry.parentPath}/${entry.name}`, 'utf8'))) return true
  }
  return false
}

t.test('every function that emits events has the Broker as its K_SINK', async (t) => {
  let emitting = 0
  for (const name of functions) {
    if (!await emits(name)) continue
    emitting++
    const service = parseAllDocuments(await readFile(new URL(`manifests/${name}/service.yaml`, root), 'utf8')).map((d) => d.toJSON() as { kind: string; spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } } }).find((d) => d.kind === 'Service')
    const sink = service?.spec.template.spec.containers[0]?.env?.find((e) => e.name === 'K_SINK')?.value
    t.match(sink, /^http:\/\/broker-ingress\.knative-eventing\.svc\.cluster\.local\/caretaker\/caretaker$/, `${name}: emits, and sends to the Broker`)
  }
  t.ok(emitting >= 5, `${emitting} functions emit`)
})
