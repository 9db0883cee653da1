import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node'
import { spawnNode } from '../../sandbox/harness/process.ts'
import { startReceiver } from '../mesh/receiver.ts'

// `npm start` end to end: the sandbox comes up, each function in the
// functions directory gets its own process, the mesh routes by the Triggers
// of the triggers directory, and a reply reaches its own subscriber.

// Functions start on a machine that may be busy: time enough, and no test of speed.
t.setTimeout(300_000)

t.test('npm start runs the sandbox, the functions and the mesh', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-start-'))
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
  const state = join(dir, 'state')
  const proc = spawnNode([
    'scripts/start.ts', '--port', '0', '--kube-port', '0', '--vault-port', '0', '--console-port', '0',
    '--functions', 'test/fixtures/local/functions', '--triggers', triggers, '--state', state, '--no-databases',
  ], { HOME: dir, CARETAKER_DRY_RUN: 'false' })
  let exited = false
  void proc.exited.then(() => { exited = true })
  t.teardown(() => { if (!exited) proc.child.kill('SIGKILL') })

  const ready = await proc.waitForLine((l) => l.msg === 'caretaker ready', 180_000)
  const broker = String(ready.broker)
  t.equal(ready.eventing_oidc, 'disabled', 'Knative Eventing\'s default: authentication-oidc disabled')
  const functions = ready.functions as Record<string, string>
  const sandbox = ready.sandbox as { kubernetes: string; vault: string; kubeconfig: string; backups: string; databases: string[] }
  t.same(sandbox.databases, [], '--no-databases: no demo PostgreSQL or Redis')
  t.match(broker, /^http:\/\/127\.0\.0\.1:\d+\/caretaker\/caretaker$/, 'the broker ingress is on loopback')
  t.same(Object.keys(functions), ['echo'], 'each function folder is started')
  t.match(functions.echo, /^http:\/\/127\.0\.0\.1:\d+$/, 'on its own loopback port')
  t.match(proc.stderr(), /curl -i -X POST/, 'it prints how to send an event')
  t.match(proc.stderr(), /kubectl --kubeconfig/, 'and how to look at the sandbox')

  // The console: its address in the ready line, the token of this start only in the banner's URL.
  const consoleUrl = String(ready.console)
  t.match(consoleUrl, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'the console is on loopback')
  const opened = new RegExp(`Console \\(open in a browser\\): ${consoleUrl.replace(/[.]/g, '\\.')}#token=([A-Za-z0-9_-]{20,})`).exec(proc.stderr())
  t.ok(opened, 'the banner prints the console\'s URL with its token')
  const consoleToken = opened?.[1] ?? ''
  t.notMatch(JSON.stringify(proc.lines), consoleToken || 'no token', 'the token is in no log line')
  t.equal((await fetch(`${consoleUrl}api/functions`)).status, 401, 'its API takes no call without the token')
  const listed = await fetch(`${consoleUrl}api/functions`, { headers: { authorization: `Bearer ${consoleToken}` } })
  t.equal(listed.status, 200, 'and answers with it')
  t.same(((await listed.json()) as { functions: Array<{ name: string }> }).functions.map((f) => f.name), ['echo'], 'the functions npm start runs')

  // The sandbox is reachable with the kubeconfig it wrote.
  t.ok(existsSync(sandbox.kubeconfig), 'a kubeconfig is written for kubectl')
  const kc = new KubeConfig()
  kc.loadFromString(await readFile(sandbox.kubeconfig, 'utf8'))
  const namespaces = await kc.makeApiClient(CoreV1Api).listNamespace()
  for (const ns of ['production', 'databases', 'vault', 'monitoring', 'caretaker']) {
    t.ok(namespaces.items.some((n) => n.metadata?.name === ns), `the demo platform has namespace ${ns}`)
  }
  t.ok(existsSync(join(sandbox.backups, 'postgres')), 'and a directory of demo backups')
  const health = await fetch(`${sandbox.vault}/v1/sys/health`)
  t.equal(health.status, 200, 'the simulated Vault is unsealed and active')
  t.notMatch(JSON.stringify(proc.lines), new RegExp((await readFile(join(state, 'sandbox', 'vault-token'), 'utf8')).trim()), 'the Vault root token is in its file, never in a log line')

  // The test function's ServiceAccount gets what every shipped function's gets in manifests/auth-rbac.yaml.
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api)
  const subjects = [{ kind: 'ServiceAccount', name: 'echo', namespace: 'caretaker' }]
  await rbac.createClusterRoleBinding({ body: { metadata: { name: 'echo-tokenreview' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'caretaker-tokenreview' }, subjects } })
  await rbac.createNamespacedRoleBinding({ namespace: 'caretaker', body: { metadata: { name: 'echo-accessreview' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'caretaker-accessreview' }, subjects } })
  // A manual request (the sandbox's admin token, TokenReview and RBAC) enters the broker with a proof and
  // reaches the function; its reply goes back through the broker to the reply Trigger's subscriber.
  const sent = await fetch(`${functions.echo}/manual`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'start-1',
      'ce-source': '/test/start', 'ce-type': 'dev.caretaker.test.echo.requested',
      authorization: `Bearer ${kc.getCurrentUser()!.token!}`,
    },
    body: JSON.stringify({ message: 'through the mesh' }),
  })
  t.equal(sent.status, 202, 'the manual request is accepted and sent to the broker')
  const deadline = Date.now() + 20_000
  while (receiver.on('/replies').length === 0 && Date.now() < deadline) await sleep(50)
  const reply = receiver.on('/replies')[0]
  t.ok(reply, 'the reply reached the reply Trigger\'s subscriber')
  t.equal(reply?.headers['ce-type'], 'dev.caretaker.test.echoed', 'the reply event came back through the broker')
  t.equal(reply?.headers['ce-source'], '/caretaker/functions/echo')
  const data = JSON.parse(reply?.body.toString('utf8') ?? '{}') as { message?: string; dryRun?: boolean }
  t.equal(data.message, 'hello, through the mesh', 'with the function\'s data')
  t.equal(data.dryRun, false, 'and the dry-run setting passed to the function process')

  proc.child.kill('SIGTERM')
  t.equal(await proc.exited, 0, 'SIGTERM stops everything cleanly')
})
