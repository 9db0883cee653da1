import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import checkUpdates from '../../../functions/check-updates/index.ts'
import { configSchema, type CheckUpdatesConfig } from '../../../functions/check-updates/config.ts'
import { startChartRepository, stopChartRepository } from '../../../sandbox/local/sandbox.ts'
import { sandboxConfigs, type SandboxFacts } from '../../../sandbox/local/sandbox-configs.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { seedSandbox } from '../../../sandbox/platform/index.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator } from '../../../sandbox/simulators/vault/index.ts'

// check-updates on the demo platform that `npm start` runs: the sandbox's
// Helm release records, its config and its loopback chart repository, under
// the manifest's RBAC.

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
const vault = await startVaultSimulator()
t.teardown(() => vault.close())
const seeded = await seedSandbox({ kube, vault, now: new Date() })
const rbac = parseAllDocuments(await readFile(new URL('../../../manifests/check-updates/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Obj)
for (const obj of rbac) {
  if (!kube.store.get(obj.apiVersion, obj.kind, obj.metadata.namespace ?? '', obj.metadata.name)) kube.store.seed(obj)
}
const charts = await startChartRepository()
t.teardown(() => stopChartRepository(charts.server))
const config = validateConfig<CheckUpdatesConfig>(sandboxConfigs({ seeded, backups: { sets: [] }, chartRepository: charts.url } as unknown as SandboxFacts)['check-updates'], configSchema, 'sandbox')
const fn = await startTestFunction(checkUpdates, { config, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'check-updates') } })
t.teardown(() => fn.stop())

t.test('the demo platform\'s releases against the demo repository', async (t) => {
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.knative.sources.ping'), body: '{}' })
  t.equal(res.status, 200)
  const report = await res.json() as Obj
  t.same((report.objects as Obj[]).map((r) => `${r.namespace}/${r.release} ${r.version} ${r.status} ${r.latest?.version ?? ''}`), [
    'kube-system/traefik 33.0.0 update-available 33.2.1',
    'monitoring/grafana 8.5.2 current 8.5.2',
  ])
  t.match(report.kubernetes, { channel: 'stable', latest: 'v1.30.5+k3s1' })
})
