import { CloudEvent } from 'cloudevents'
import t from 'tap'
import rotateSecret from '../../../functions/rotate-secret/index.ts'
import { checkConfig, configSchema, type RotateSecretConfig } from '../../../functions/rotate-secret/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { replyEvent, type Outcome } from '../../../shared/events/reply.ts'
import { createLogger } from '../../../shared/logger.ts'
import type { HandlerContext } from '../../../shared/runtime/function.ts'
import { Vault } from '../../../shared/vault/client.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator } from '../../../sandbox/simulators/vault/index.ts'

// rotate-secret within the run's deadline (CARETAKER_RUN_DEADLINE, below the
// Knative Service's timeoutSeconds): one rotation's waits must fit in it, and
// the sweep starts no rotation it has no time left for: it asks for it again.

const config = validateConfig<RotateSecretConfig>({
  syncTimeout: '2m', rolloutTimeout: '5m',
  secrets: [
    { name: 'api-jwt', vault: { mount: 'secret', path: 'production/api/jwt' }, keys: ['signingKey'], interval: '180d', target: { kind: 'generated' } },
    { name: 'web-session', vault: { mount: 'secret', path: 'production/web/session' }, keys: ['key'], interval: '180d', target: { kind: 'generated' } },
  ],
}, configSchema, 'test')

t.test('syncTimeout and rolloutTimeout must fit in the run deadline', async (t) => {
  t.throws(() => checkConfig(config, 420_000), { message: /syncTimeout \(2m\) and rolloutTimeout \(5m\) together do not fit in the run's deadline \(CARETAKER_RUN_DEADLINE, 420s/ })
  t.doesNotThrow(() => checkConfig(config, 540_000))
  t.doesNotThrow(() => checkConfig(config), 'no deadline, no bound')
})

t.test('a sweep with no time left for a rotation starts none and asks for each due one again', async (t) => {
  const vault = await startVaultSimulator()
  t.teardown(() => vault.close())
  const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => kube.close())
  const old = new Date(Date.now() - 200 * 86_400_000).toISOString()
  vault.putSecret('secret', 'production/api/jwt', { signingKey: 'old-signing-key-value' }, { 'rotated-at': old })
  vault.putSecret('secret', 'production/web/session', { key: 'fresh-session-key' }, { 'rotated-at': new Date().toISOString() })
  await rotateSecret.init({ config, kubeConfig: kube.kubeConfig(), vault: new Vault({ address: vault.url, token: vault.rootToken }), runDeadlineMs: 540_000 })
  t.teardown(() => rotateSecret.shutdown())

  const ping = new CloudEvent({ specversion: '1.0', id: 'sweep-late', source: '/apis/v1/namespaces/caretaker/pingsources/rotate-secret-sweep', type: 'dev.knative.sources.ping', data: { sweep: 'daily' } })
  const emitted: Array<CloudEvent<unknown>> = []
  const context: HandlerContext = {
    log: createLogger({ level: 'silent' }), dryRun: false, traceparent: undefined, signal: new AbortController().signal, identity: undefined,
    // Six minutes left: less than one rotation's seven (2m sync + 5m rollout).
    deadline: Date.now() + 360_000,
    reply: <T>(outcome: Outcome<T>, index?: number) => replyEvent('rotate-secret', ping, outcome, { index: index ?? 0 }),
    emit: async <T>(outcome: Outcome<T>, index: number) => { emitted.push(replyEvent('rotate-secret', ping, outcome, { index })); return true },
  }
  const reply = await rotateSecret.invoke(context, ping)
  t.equal(reply?.type, 'dev.caretaker.secret.sweep.completed')
  t.match(reply?.data, { due: 1, rotated: 0, failed: 0, deferred: 1 })
  const rows = (reply?.data as { secrets: Array<{ secret: string; result?: string; reason: string }> }).secrets
  t.match(rows.find((r) => r.secret === 'api-jwt'), { result: 'deferred', reason: /deadline is reached: left for the next run/ })
  t.notOk(rows.find((r) => r.secret === 'web-session')?.result, 'a secret not due is not touched either way')
  t.same(emitted.map((e) => [e.type, e.data]), [['dev.caretaker.secret.rotate.requested', { secret: 'api-jwt', reason: 'due; left by the sweep at its deadline' }]])
  const res = await fetch(`${vault.url}/v1/secret/metadata/production/api/jwt`, { headers: { 'X-Vault-Token': vault.rootToken } })
  t.equal(((await res.json()) as { data: { current_version: number } }).data.current_version, 1, 'nothing was rotated')
})
