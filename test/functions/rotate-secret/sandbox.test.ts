import { readFile } from 'node:fs/promises'
import t from 'tap'
import { CoreV1Api } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import rotateSecret from '../../../functions/rotate-secret/index.ts'
import { sandboxConfigs } from '../../../sandbox/local/sandbox-configs.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { seedSandbox, type DemoBackups } from '../../../sandbox/platform/index.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator } from '../../../sandbox/simulators/vault/index.ts'
import { sha256 } from './platform.ts'

// The sandbox's config of rotate-secret against the seeded demo platform (the
// Vault secrets with their rotation metadata, the ExternalSecrets, the
// Deployments) with the manifest's RBAC: what `npm start` shows a newcomer.

const vault = await startVaultSimulator()
const kube = await startKubernetesSimulator({ controllers: { vault: { url: vault.url, token: vault.rootToken } } })
t.teardown(async () => { await kube.close(); await vault.close() })
const seeded = await seedSandbox({ kube, vault })
for (const obj of parseAllDocuments(await readFile(new URL('../../../manifests/rotate-secret/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)) {
  if (obj.kind !== 'ServiceAccount') kube.store.seed(obj)
}
const config = sandboxConfigs({ backups: { sets: [] } as unknown as DemoBackups, seeded })['rotate-secret']
const fn = await startTestFunction(rotateSecret, {
  config,
  env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'rotate-secret'), CARETAKER_DRY_RUN: 'false', VAULT_ADDR: vault.url, VAULT_TOKEN: vault.rootToken },
})
t.teardown(() => fn.stop())
const send = async (type: string, data: unknown, extra: Record<string, string> = {}) => {
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(type, extra), body: JSON.stringify(data) })
  return { status: res.status, type: res.headers.get('ce-type'), body: await res.json() as Record<string, unknown> }
}

t.test('the sweep finds the demo JWT key due (203 of 180 days) and the session secret not (62)', async (t) => {
  const dry = await send('dev.knative.sources.ping', {}, { 'ce-dryrun': 'true' })
  t.match(dry.body, { dryRun: true, due: 1, rotated: 0 })
  const res = await send('dev.knative.sources.ping', {})
  t.equal(res.type, 'dev.caretaker.secret.sweep.completed')
  t.match(res.body, { due: 1, rotated: 1, failed: 0 })
  t.same((res.body.secrets as Array<{ secret: string; due: boolean }>).map((s) => `${s.secret}:${s.due}`), ['api-jwt:true', 'web-session:false'])
  const key = String(vault.getSecret('secret', 'production/api/jwt')!.signingKey)
  const secret = await kube.kubeConfig().makeApiClient(CoreV1Api).readNamespacedSecret({ namespace: 'production', name: 'api-jwt' })
  t.equal(sha256(Buffer.from(secret.data!.JWT_SIGNING_KEY!, 'base64').toString('utf8')), sha256(key), 'the demo Secret was synced from Vault')
  t.notOk(fn.logText().includes(key))
})
