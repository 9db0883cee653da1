import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { createLogger } from '../../shared/logger.ts'
import { brokerAudience } from '../../sandbox/mesh/oidc.ts'
import { projectRoot } from '../../sandbox/local/functions.ts'
import { startLocalPlatform } from '../../sandbox/local/platform.ts'
import { startReceiver } from '../mesh/receiver.ts'

// npm start with Knative Eventing's authentication-oidc enabled: the
// functions check every delivery's token, the mesh creates each Trigger's
// OIDC ServiceAccount and sends its token for the audience the Trigger
// names, and a Trigger that names none gets no token, as in Knative, so its
// deliveries are refused.

t.test('npm start --eventing-oidc enabled', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-start-oidc-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const receiver = await startReceiver()
  t.teardown(() => receiver.close())
  const triggers = join(dir, 'triggers')
  await mkdir(triggers)
  await writeFile(join(triggers, 'mesh.yaml'), `
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: caretaker, namespace: caretaker }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: echo-requests, namespace: caretaker }
spec:
  broker: caretaker
  filter: { attributes: { type: dev.caretaker.test.echo.requested } }
  subscriber:
    ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: echo }
    audience: serving.knative.dev/service/caretaker/echo
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: echo-ticks, namespace: caretaker }
spec:
  broker: caretaker
  filter: { attributes: { type: dev.knative.sources.ping } }
  subscriber: { ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: echo } }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: echo-replies, namespace: caretaker }
spec:
  broker: caretaker
  filters: [ { exact: { type: dev.caretaker.test.echoed } } ]
  subscriber: { uri: ${receiver.url}/replies }
`)
  const platform = await startLocalPlatform({
    functionsDir: join(projectRoot, 'test/fixtures/local/functions'),
    triggersDir: triggers,
    manifestsDir: join(projectRoot, 'manifests'),
    stateDir: join(dir, 'state'),
    port: 0, kubePort: 0, vaultPort: 0,
    sandbox: 'always',
    eventingOidc: 'enabled',
    env: { CARETAKER_DRY_RUN: 'false' },
    logger: createLogger({ level: 'silent' }),
  })
  t.teardown(() => platform.close())
  t.equal(platform.console, undefined, 'no console unless a consolePort is given')
  const kube = platform.sandbox!.kube
  t.ok(kube.store.get('v1', 'ServiceAccount', 'caretaker', 'echo-requests-oidc-eventing.knative.dev-trigger'), 'each Trigger has its OIDC ServiceAccount, as Knative\'s reconciler makes it')

  // The test function's ServiceAccount gets what every shipped function's gets in manifests/auth-rbac.yaml.
  const subjects = [{ kind: 'ServiceAccount', name: 'echo', namespace: 'caretaker' }]
  kube.store.seed({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'echo-tokenreview' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'caretaker-tokenreview' }, subjects })
  kube.store.seed({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'echo-accessreview', namespace: 'caretaker' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'caretaker-accessreview' }, subjects })
  const echo = platform.functions.find((f) => f.name === 'echo')!.url
  const headers = { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-source': '/test/start-oidc', 'ce-type': 'dev.caretaker.test.echo.requested' }
  const res = await fetch(`${echo}/manual`, { method: 'POST', headers: { ...headers, 'ce-id': 'oidc-1', authorization: `Bearer ${kube.token}` }, body: JSON.stringify({ message: 'with a token' }) })
  t.equal(res.status, 202, 'a manual request is accepted and sent to the broker (with the function\'s projected token)')
  const deadline = Date.now() + 30_000
  while (receiver.on('/replies').length === 0 && Date.now() < deadline) await sleep(50)
  t.equal(receiver.on('/replies')[0]?.headers['ce-type'], 'dev.caretaker.test.echoed', 'delivered with the Trigger\'s token, handled, and the reply came back through the broker')

  // The broker ingress wants a token for the Broker's audience from its namespace, as Knative's does with OIDC on.
  const tickHeaders = { 'ce-specversion': '1.0', 'ce-source': '/test/start-oidc', 'ce-type': 'dev.knative.sources.ping' }
  const anonymous = await fetch(platform.brokerUrl, { method: 'POST', headers: { ...tickHeaders, 'ce-id': 'tick-0' } })
  t.equal(anonymous.status, 401, 'no token: the ingress refuses the event')
  const sender = platform.issuer!.mint({ namespace: 'caretaker', name: 'some-source' }, brokerAudience('caretaker', 'caretaker'))
  const tick = await fetch(platform.brokerUrl, { method: 'POST', headers: { ...tickHeaders, 'ce-id': 'tick-1', authorization: `Bearer ${sender}` } })
  t.equal(tick.status, 202)
  await platform.mesh.broker.idle()
  t.match(platform.mesh.broker.deadLetters, [{ trigger: 'caretaker/echo-ticks', lastStatus: 401 }], 'a Trigger naming no audience sends no token, as Knative does: refused')
})
