import { readFile } from 'node:fs/promises'
import t from 'tap'
import { AuthorizationV1Api, BatchV1Api } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { createRespondToAlert } from '../../../functions/respond-to-alert/index.ts'
import { checkConfig, configSchema, type RespondToAlertConfig } from '../../../functions/respond-to-alert/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { sandboxConfigs } from '../../../sandbox/local/sandbox-configs.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { seedSandbox, type DemoBackups } from '../../../sandbox/platform/index.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator } from '../../../sandbox/simulators/vault/index.ts'

// The sandbox's config of respond-to-alert against the seeded demo platform:
// the failed backup Job's KubeJobFailed alert (the labels kube-state-metrics
// gives it: job_name, namespace) re-runs the Job's CronJob.

const vault = await startVaultSimulator()
const kube = await startKubernetesSimulator()
t.teardown(async () => { await kube.close(); await vault.close() })
const seeded = await seedSandbox({ kube, vault })
for (const obj of parseAllDocuments(await readFile(new URL('../../../manifests/respond-to-alert/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)) {
  if (obj.kind !== 'ServiceAccount') kube.store.seed(obj)
}
const config = validateConfig<RespondToAlertConfig>(sandboxConfigs({ backups: { sets: [] } as unknown as DemoBackups, seeded })['respond-to-alert'], configSchema, 'sandbox')
checkConfig(config)
const fn = await startTestFunction(createRespondToAlert(), { config, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'respond-to-alert'), CARETAKER_DRY_RUN: 'false' } })
t.teardown(() => fn.stop())

t.test('the failed backup Job\'s alert re-runs its CronJob', async (t) => {
  const failed = seeded.backupJobs.find((j) => j.outcome === 'Failed')
  if (!failed) throw new Error('the sandbox seeds one failed backup Job')
  const labels = { alertname: 'KubeJobFailed', condition: 'true', job: 'kube-state-metrics', job_name: failed.job, namespace: failed.namespace, severity: 'warning' }
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.alert.firing', { 'ce-id': 'sandbox-1', 'ce-source': '/manual' }), body: JSON.stringify({ fingerprint: 'f1', status: 'firing', labels, startsAt: new Date().toISOString() }) })
  const body = await res.json() as Record<string, unknown>
  t.equal(res.headers.get('ce-type'), 'dev.caretaker.alert.remediated', JSON.stringify(body))
  t.match(body.actions, [{ action: 'create Job from CronJob', target: `${failed.namespace}/${failed.cronJob}`, done: true }])
  const jobs = (await kube.kubeConfig().makeApiClient(BatchV1Api).listNamespacedJob({ namespace: failed.namespace })).items
  t.ok(jobs.some((j) => j.metadata?.annotations?.['cronjob.kubernetes.io/instantiate'] === 'manual' && j.metadata.ownerReferences?.[0]?.name === failed.cronJob))
})

t.test('the sandbox\'s rules and manual restarts act only where the RBAC lets respond-to-alert act', async (t) => {
  // What each action needs (manifests/respond-to-alert/rbac.yaml's ClusterRole, bound per namespace).
  const needs: Record<string, Array<{ verb: string; group: string; resource: string }>> = {
    deletePod: [{ verb: 'delete', group: '', resource: 'pods' }],
    runCronJob: [{ verb: 'get', group: 'batch', resource: 'cronjobs' }, { verb: 'create', group: 'batch', resource: 'jobs' }],
    restart: [{ verb: 'patch', group: 'apps', resource: 'deployments' }],
  }
  const wanted = [
    ...config.rules.flatMap((rule) => rule.actions.flatMap((a) => (needs[a.type] ?? []).flatMap((n) => rule.allowedNamespaces.map((namespace) => ({ ...n, namespace, why: `rule ${rule.name}` }))))),
    ...(config.manualRestart?.namespaces ?? []).flatMap((namespace) => needs.restart!.map((n) => ({ ...n, namespace, why: 'manualRestart' }))),
  ]
  t.ok(wanted.some((w) => w.why === 'manualRestart'), 'the sandbox takes manual restarts')
  const reviews = kube.kubeConfig().makeApiClient(AuthorizationV1Api)
  for (const w of wanted) {
    const review = await reviews.createSubjectAccessReview({ body: { spec: { user: 'system:serviceaccount:caretaker:respond-to-alert', groups: ['system:serviceaccounts', 'system:serviceaccounts:caretaker', 'system:authenticated'], resourceAttributes: { namespace: w.namespace, verb: w.verb, group: w.group, resource: w.resource } } } })
    t.equal(review.status?.allowed, true, `${w.why}: ${w.verb} ${w.resource}${w.group ? `.${w.group}` : ''} in ${w.namespace}`)
  }
})
