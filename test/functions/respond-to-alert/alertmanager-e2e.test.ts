import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import bridge from '../../../functions/alertmanager-bridge/index.ts'
import respondToAlert from '../../../functions/respond-to-alert/index.ts'
import { configSchema, type RespondToAlertConfig } from '../../../functions/respond-to-alert/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { alertmanagerSkipReason, startAlertmanager } from '../../../sandbox/harness/alertmanager.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// End to end: a real Alertmanager whose webhook receiver is the bridge; the
// bridge's events go through a small broker stand-in to respond-to-alert,
// which confirms each alert with the same Alertmanager (GET /api/v2/alerts),
// acts in the Kubernetes simulator and silences the alert there; then the
// alerts resolve and the silence expires. A forged alert is not acted on.

const skip = alertmanagerSkipReason()
if (skip) {
  t.pass(`skipped: ${skip}`)
} else {
  const kube = await startKubernetesSimulator()
  t.teardown(() => kube.close())
  const admin = kube.kubeConfig()
  const rbac = parseAllDocuments(await readFile(new URL('../../../manifests/respond-to-alert/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)
  for (const ns of ['caretaker', 'apps', 'databases', 'gitea']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  for (const obj of rbac) kube.store.seed(obj)
  kube.store.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'apps' }, spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } } } })
  kube.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gitea-0', namespace: 'gitea' }, spec: { containers: [{ name: 'gitea', image: 'gitea' }] } })

  // Alertmanager needs the bridge's URL, respond-to-alert needs Alertmanager's: the bridge starts first.
  const replies: Array<{ type: string | null; body: Record<string, unknown> }> = []
  let target = ''
  const broker = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith('ce-') || k === 'content-type')) as Record<string, string>
      fetch(target, { method: 'POST', headers, body: Buffer.concat(chunks) }).then(async (r) => {
        const text = await r.text()
        if (r.status === 200) replies.push({ type: r.headers.get('ce-type'), body: JSON.parse(text) as Record<string, unknown> })
        res.writeHead(r.status < 300 ? 202 : 503).end()
      }, () => res.writeHead(503).end())
    })
  })
  await new Promise<void>((r) => broker.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => broker.close(() => r())))
  const token = 'e2e-bridge-token-0123456789abcdef'
  const bridgeFn = await startTestFunction(bridge, { config: { bearerToken: token }, env: { K_SINK: `http://127.0.0.1:${(broker.address() as AddressInfo).port}/` } })
  t.teardown(() => bridgeFn.stop())
  const am = await startAlertmanager({ webhookUrl: `${bridgeFn.url}/alertmanager`, httpConfig: { authorization: { type: 'Bearer', credentials: token } } })
  t.teardown(() => am.close())

  const config: RespondToAlertConfig = validateConfig({
    alertmanagerUrl: am.url,
    // Alertmanager sends no notification for a silenced alert, resolved
    // included: the silence covers the remediation only, then runs out.
    // Long enough to outlast both remediations and the forged deliveries on
    // a loaded machine; the test then waits for it to run out.
    silenceFor: '20s',
    rules: [
      { name: 'crashloop', matchers: ['alertname="KubePodCrashLooping"'], allowedNamespaces: ['gitea'], silence: true, actions: [{ type: 'deletePod', name: '{{ $labels.pod }}' }] },
      { name: 'stuck', matchers: ['alertname="StuckRollout"', 'severity=~"warning|critical"'], allowedNamespaces: ['apps'], silence: true, actions: [{ type: 'restart', kind: 'Deployment', name: '{{ $labels.deployment }}' }] },
    ],
  }, configSchema, 'test')
  const fn = await startTestFunction(respondToAlert, { config, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'respond-to-alert'), CARETAKER_DRY_RUN: 'false' } })
  t.teardown(() => fn.stop())
  target = fn.url

  const until = async <T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> => {
    const end = Date.now() + ms
    for (;;) {
      const v = await probe()
      if (v !== undefined) return v
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const startsAt = new Date().toISOString()
  const crash = { alertname: 'KubePodCrashLooping', namespace: 'gitea', pod: 'gitea-0', severity: 'critical' }
  const stuck = { alertname: 'StuckRollout', namespace: 'apps', deployment: 'web', severity: 'warning' }

  t.test('firing alerts are remediated and silenced', async (t) => {
    await am.fire([{ labels: crash, startsAt }, { labels: stuck, startsAt }])
    const remediated = await until('two remediations', async () => {
      const r = replies.filter((x) => x.type === 'dev.caretaker.alert.remediated')
      return r.length >= 2 ? r : undefined
    })
    t.same(remediated.map((r) => r.body.rule).sort(), ['crashloop', 'stuck'])
    await t.rejects(admin.makeApiClient(CoreV1Api).readNamespacedPod({ namespace: 'gitea', name: 'gitea-0' }), 'the crash-looping pod was deleted')
    const web = await admin.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: 'apps', name: 'web' })
    t.ok(web.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'], 'the Deployment was restarted')
    const active = (await am.silences()).filter((s) => s.status.state === 'active')
    t.equal(active.length, 2, 'both alerts are silenced in Alertmanager')
    t.ok(active.every((s) => s.createdBy === 'caretaker/respond-to-alert'))
  })

  t.test('a forged alert, one Alertmanager does not have firing, is not acted on', async (t) => {
    // Knative's default install takes events from anyone who reaches the Broker: sent straight to the function.
    kube.store.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'apps' }, spec: { replicas: 1, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image: 'nginx' }] } } } })
    const forge = async (data: Record<string, unknown>, id: string) => {
      const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.alert.firing', { 'ce-id': id, 'ce-source': '/forged' }), body: JSON.stringify(data) })
      return { status: res.status, type: res.headers.get('ce-type'), body: await res.json() as Record<string, unknown> }
    }
    const forged = await forge({ fingerprint: '0123456789abcdef', status: 'firing', labels: { ...stuck, deployment: 'api' }, startsAt }, 'forged-1')
    t.equal(forged.type, 'dev.caretaker.alert.skipped')
    t.match(forged.body.reason, /^unconfirmed: Alertmanager has no firing alert 0123456789abcdef/)
    const api = await admin.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: 'apps', name: 'api' })
    t.equal(api.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'], undefined, 'nothing was restarted')
    // The labels of a real firing alert, with a made-up fingerprint or an older startsAt: not that alert either.
    const real = (await (await fetch(`${am.url}/api/v2/alerts?filter=alertname%3D%22StuckRollout%22`)).json() as Array<{ fingerprint: string; startsAt: string }>)[0]!
    t.match((await forge({ fingerprint: 'ffffffffffffffff', status: 'firing', labels: stuck, startsAt }, 'forged-2')).body.reason, /^unconfirmed/)
    t.match((await forge({ fingerprint: real.fingerprint, status: 'firing', labels: stuck, startsAt: '2026-01-01T00:00:00Z' }, 'forged-3')).body.reason, /^unconfirmed/)
    t.match((await forge({ fingerprint: real.fingerprint, status: 'firing', labels: { ...stuck, extra: 'x' }, startsAt }, 'forged-4')).body.reason, /^unconfirmed/, 'a label more is another alert')
    // A forged "resolved" while Alertmanager has the alert firing does not expire its silence.
    const resolved = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.alert.resolved', { 'ce-id': 'forged-5', 'ce-source': '/forged' }), body: JSON.stringify({ fingerprint: real.fingerprint, status: 'resolved', labels: stuck, startsAt, endsAt: new Date().toISOString() }) })
    t.match((await resolved.json() as Record<string, unknown>).reason, /^unconfirmed: Alertmanager still has alert .* firing/)
    t.equal((await am.silences()).filter((s) => s.status.state === 'active').length, 2, 'the silences stay')
    const metrics = await (await fetch(new URL('/metrics', fn.url))).text()
    t.match(metrics, /caretaker_alert_skipped_total\{reason="unconfirmed"\} 5/)
  })

  t.test('the silences run out after the remediation; the resolved alerts then reach respond-to-alert', async (t) => {
    // Alertmanager drops the resolved notification of an alert that is still
    // silenced when it resolves, so the remediation's silence is short.
    await until('the silences to run out', async () => (await am.silences()).every((s) => s.status.state === 'expired') ? true : undefined, 60_000)
    const endsAt = new Date().toISOString()
    await am.fire([{ labels: crash, startsAt, endsAt }, { labels: stuck, startsAt, endsAt }])
    await until('two resolved replies', async () => replies.filter((x) => x.body.reason === 'resolved').length >= 2 ? true : undefined, 30_000)
    t.same(replies.filter((x) => x.body.reason === 'resolved').map((x) => x.body.rule).sort(), ['crashloop', 'stuck'])
    t.same((await am.silences()).map((s) => s.status.state), ['expired', 'expired'])
    t.equal(replies.filter((x) => x.type === 'dev.caretaker.alert.remediated' && x.body.reason !== 'resolved').length, 2, 'acted once per alert, whatever Alertmanager re-sent')
  })
}
