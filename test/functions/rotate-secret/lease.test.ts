import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { CoordinationV1Api } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { acquireLease, leaseName } from '../../../functions/rotate-secret/lease.ts'
import { createKubeConfig } from '../../../shared/kubernetes/client.ts'
import { startKubernetesSimulator } from '../../simulators/kubernetes/index.ts'

// The lock of one secret, as rotate-secret's own ServiceAccount holds it
// (the manifest's RBAC): renewed while held, so a long rotation keeps it; a
// second holder is refused; after release another may take it.

const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
for (const name of ['caretaker', 'production', 'databases']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
for (const doc of parseAllDocuments(await readFile(new URL('../../../manifests/rotate-secret/rbac.yaml', import.meta.url), 'utf8'))) kube.store.seed(doc.toJSON() as Record<string, unknown>)
const kc = createKubeConfig({ server: kube.url, token: kube.mintServiceAccountToken('caretaker', 'rotate-secret') })
const leases = kube.kubeConfig().makeApiClient(CoordinationV1Api)
const renewTime = async (secret: string) => new Date(String((await leases.readNamespacedLease({ namespace: 'caretaker', name: leaseName(secret) })).spec?.renewTime)).getTime()

t.test('a held Lease is renewed while the rotation runs, and refuses a second holder', async (t) => {
  const first = await acquireLease(kc, 'caretaker', 'long-one', 1500)
  t.equal(first.acquired, true)
  const acquiredAt = await renewTime('long-one')
  await sleep(1400)
  t.ok(await renewTime('long-one') > acquiredAt, 'renewed (every third of its duration, at least every second)')
  await sleep(1000)
  const second = await acquireLease(kc, 'caretaker', 'long-one', 1500)
  t.match(second, { acquired: false, holder: /\// }, 'still held past its first expiry: a second rotation is refused')
  if (first.acquired) await first.lock.release()
  const third = await acquireLease(kc, 'caretaker', 'long-one', 1500)
  t.equal(third.acquired, true, 'released: the next rotation takes it')
  if (third.acquired) await third.lock.release()
})
