import t from 'tap'
import { AppsV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, Watch, setHeaderOptions } from '@kubernetes/client-node'
import type { V1Deployment } from '@kubernetes/client-node'
import { startKubernetesSimulator, FAIL_ANNOTATION, CRONJOB_SCHEDULED_TIMESTAMP } from '../../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator } from '../../sandbox/simulators/vault/index.ts'
import { rolloutStatus } from '../../shared/kubernetes/rollout.ts'

type Rec = Record<string, unknown>
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const template = (app: string) => ({ metadata: { labels: { app } }, spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] } })

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 3000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

t.test('controllers through @kubernetes/client-node', async (t) => {
  const vault = await startVaultSimulator()
  const sim = await startKubernetesSimulator({ controllers: { delayMs: 40 } })
  sim.controllers.setVault({ url: vault.url, token: vault.rootToken })
  t.teardown(async () => { await sim.close(); await vault.close() })
  const kc = sim.kubeConfig()
  const core = kc.makeApiClient(CoreV1Api)
  const apps = kc.makeApiClient(AppsV1Api)
  const batch = kc.makeApiClient(BatchV1Api)
  const custom = kc.makeApiClient(CustomObjectsApi)
  const events = async (ns: string, fieldSelector: string) => (await core.listNamespacedEvent({ namespace: ns, fieldSelector })).items

  t.test('Deployment: new object gets status; rollout restart bumps generation and a watch sees it complete', async (t) => {
    const created = await apps.createNamespacedDeployment({ namespace: 'default', body: { metadata: { name: 'web' }, spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: template('web') } } })
    t.equal(created.metadata?.generation, 1)
    t.same(created.status, undefined, 'no status before the controller acts')
    const first = await until('first status', async () => { const d = await apps.readNamespacedDeployment({ name: 'web', namespace: 'default' }); return d.status?.observedGeneration === 1 ? d : undefined })
    t.match(first.status, { replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 })
    t.match(first.status?.conditions?.find((c) => c.type === 'Progressing'), { status: 'True', reason: 'NewReplicaSetAvailable' })
    t.match(first.status?.conditions?.find((c) => c.type === 'Available'), { status: 'True', reason: 'MinimumReplicasAvailable' })

    // metadata-only and status-only changes leave generation alone
    const labelled = await apps.patchNamespacedDeployment({ name: 'web', namespace: 'default', body: { metadata: { labels: { team: 'sre' } } } }, merge)
    t.equal(labelled.metadata?.generation, 1)

    const seen: V1Deployment[] = []
    let done!: () => void
    const complete = new Promise<void>((resolve) => { done = resolve })
    const watch = await new Watch(kc).watch('/apis/apps/v1/namespaces/default/deployments', { fieldSelector: 'metadata.name=web', resourceVersion: labelled.metadata?.resourceVersion }, (_type, obj: V1Deployment) => {
      seen.push(obj)
      if ((obj.metadata?.generation ?? 0) === 2 && obj.status?.observedGeneration === 2 && obj.status.updatedReplicas === 2) done()
    }, () => undefined)
    t.teardown(() => watch.abort())
    // what `kubectl rollout restart` sends
    const restarted = await apps.patchNamespacedDeployment({ name: 'web', namespace: 'default', body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } } }, strategic)
    t.equal(restarted.metadata?.generation, 2)
    t.equal(restarted.status?.observedGeneration, 1, 'status lags until the controller catches up')
    await complete
    t.ok(seen.some((d) => d.metadata?.generation === 2 && d.status?.observedGeneration === 1), 'watch saw the in-between state')
    const scaling = await events('default', 'involvedObject.name=web,involvedObject.kind=Deployment,reason=ScalingReplicaSet')
    t.ok(scaling.length >= 3, 'scaled up at creation, then up/down on restart')
    t.match(scaling[0], { type: 'Normal', source: { component: 'deployment-controller' }, involvedObject: { kind: 'Deployment', name: 'web', namespace: 'default', apiVersion: 'apps/v1', uid: created.metadata?.uid }, count: 1 })
    t.match(scaling.map((e) => e.message).join('\n'), /Scaled down replica set web-\w+ from 2 to 0/)
    // one ReplicaSet per template, owned by the Deployment, with revisions like the real controller
    const sets = (await apps.listNamespacedReplicaSet({ namespace: 'default', labelSelector: 'app=web' })).items
    t.equal(sets.length, 2)
    const byRevision = Object.fromEntries(sets.map((rs) => [rs.metadata?.annotations?.['deployment.kubernetes.io/revision'], rs]))
    t.equal(byRevision['2']?.spec?.replicas, 2)
    t.equal(byRevision['2']?.status?.readyReplicas, 2)
    t.equal(byRevision['1']?.spec?.replicas, 0)
    t.match(byRevision['2']?.metadata?.ownerReferences, [{ kind: 'Deployment', name: 'web', uid: created.metadata?.uid, controller: true }])
    t.equal(byRevision['2']?.metadata?.name, `web-${byRevision['2']?.metadata?.labels?.['pod-template-hash']}`)
    const now = await apps.readNamespacedDeployment({ name: 'web', namespace: 'default' })
    t.equal(now.metadata?.annotations?.['deployment.kubernetes.io/revision'], '2')
    t.equal(now.metadata?.generation, 2, 'the revision annotation does not bump generation')
  })

  t.test('Deployment: a failed rollout reports ProgressDeadlineExceeded and stays unready', async (t) => {
    await apps.createNamespacedDeployment({ namespace: 'default', body: { metadata: { name: 'stuck' }, spec: { replicas: 1, selector: { matchLabels: { app: 'stuck' } }, template: template('stuck') } } })
    await until('ready', async () => { const d = await apps.readNamespacedDeployment({ name: 'stuck', namespace: 'default' }); return d.status?.readyReplicas === 1 ? d : undefined })
    sim.controllers.failRollout('Deployment', 'default', 'stuck')
    await apps.patchNamespacedDeployment({ name: 'stuck', namespace: 'default', body: { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:broken' }] } } } } }, strategic)
    const d = await until('failed rollout', async () => { const x = await apps.readNamespacedDeployment({ name: 'stuck', namespace: 'default' }); return x.status?.observedGeneration === 2 ? x : undefined })
    t.match(d.status?.conditions?.find((c) => c.type === 'Progressing'), { status: 'False', reason: 'ProgressDeadlineExceeded' })
    t.match(d.status, { updatedReplicas: 1, readyReplicas: 1, unavailableReplicas: 1 }, 'only the old ReplicaSet is ready')
    const fresh = (await apps.listNamespacedReplicaSet({ namespace: 'default', labelSelector: 'app=stuck' })).items.find((rs) => rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] === '2')
    t.equal(fresh?.status?.readyReplicas, 0, 'the new ReplicaSet never gets ready')
    // the annotation works the same way
    await apps.createNamespacedDeployment({ namespace: 'default', body: { metadata: { name: 'stuck2', annotations: { [FAIL_ANNOTATION]: 'true' } }, spec: { selector: { matchLabels: { app: 's2' } }, template: template('s2') } } })
    const d2 = await until('failed rollout 2', async () => { const x = await apps.readNamespacedDeployment({ name: 'stuck2', namespace: 'default' }); return x.status?.observedGeneration === 1 ? x : undefined })
    t.match(d2.status?.conditions?.find((c) => c.type === 'Progressing'), { reason: 'ProgressDeadlineExceeded' })
    t.equal(d2.status?.readyReplicas, 0)
  })

  t.test('StatefulSet: revisions converge, or stay apart when the rollout fails', async (t) => {
    await apps.createNamespacedStatefulSet({ namespace: 'default', body: { metadata: { name: 'db' }, spec: { replicas: 3, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: template('db') } } })
    const s1 = await until('sts status', async () => { const s = await apps.readNamespacedStatefulSet({ name: 'db', namespace: 'default' }); return s.status?.observedGeneration === 1 ? s : undefined })
    t.match(s1.status, { replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 3 })
    t.equal(s1.status?.currentRevision, s1.status?.updateRevision)
    t.match(s1.status?.currentRevision, /^db-\w{10}$/)
    t.equal((await events('default', 'involvedObject.kind=StatefulSet,reason=SuccessfulCreate')).length, 3)
    await apps.patchNamespacedStatefulSet({ name: 'db', namespace: 'default', body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'now' } } } } } }, strategic)
    const s2 = await until('sts rollout', async () => { const s = await apps.readNamespacedStatefulSet({ name: 'db', namespace: 'default' }); return s.status?.observedGeneration === 2 ? s : undefined })
    t.not(s2.status?.updateRevision, s1.status?.updateRevision)
    t.equal(s2.status?.currentRevision, s2.status?.updateRevision)
    sim.controllers.failRollout('StatefulSet', 'default', 'db')
    await apps.patchNamespacedStatefulSet({ name: 'db', namespace: 'default', body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'later' } } } } } }, strategic)
    const s3 = await until('sts failed rollout', async () => { const s = await apps.readNamespacedStatefulSet({ name: 'db', namespace: 'default' }); return s.status?.observedGeneration === 3 ? s : undefined })
    t.equal(s3.status?.currentRevision, s2.status?.currentRevision)
    t.not(s3.status?.updateRevision, s3.status?.currentRevision)
    t.equal(s3.status?.readyReplicas, 2)
  })

  t.test('CronJob: trigger creates the Job like the controller; it completes, or fails when told', async (t) => {
    const cj = await batch.createNamespacedCronJob({ namespace: 'ops', body: { metadata: { name: 'backup', namespace: 'ops' }, spec: { schedule: '*/5 * * * *', jobTemplate: { metadata: { labels: { task: 'backup' } }, spec: { backoffLimit: 2, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'b', image: 'busybox' }] } } } } } } })
    const at = new Date('2026-11-22T10:05:00Z')
    // Held running until read: on a busy machine the Job could otherwise finish before the CronJob is read.
    const job = sim.controllers.triggerCronJob('ops', 'backup', { scheduledTime: at, hold: true })
    const name = `backup-${at.getTime() / 60000}`
    t.equal((job.metadata as Rec).name, name)
    const j = await batch.readNamespacedJob({ name, namespace: 'ops' })
    t.same(j.metadata?.ownerReferences, [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'backup', uid: cj.metadata?.uid, controller: true, blockOwnerDeletion: true }])
    t.equal(j.metadata?.annotations?.[CRONJOB_SCHEDULED_TIMESTAMP], '2026-11-22T10:05:00Z')
    t.equal(j.metadata?.labels?.task, 'backup')
    const running = await batch.readNamespacedCronJob({ name: 'backup', namespace: 'ops' })
    t.same(running.status?.active?.map((a) => a.name), [name])
    t.equal(new Date(running.status?.lastScheduleTime as unknown as string).toISOString(), at.toISOString())
    sim.controllers.finishHeldJob('ops', name)

    const done = await until('job complete', async () => { const x = await batch.readNamespacedJob({ name, namespace: 'ops' }); return x.status?.completionTime ? x : undefined })
    t.equal(done.status?.succeeded, 1)
    t.ok(done.status?.startTime)
    t.same(done.status?.conditions?.map((c) => [c.type, c.status]), [['SuccessCriteriaMet', 'True'], ['Complete', 'True']])
    const after = await until('cronjob saw it', async () => { const x = await batch.readNamespacedCronJob({ name: 'backup', namespace: 'ops' }); return x.status?.lastSuccessfulTime ? x : undefined })
    t.equal(after.status?.active, undefined)
    t.match((await events('ops', `involvedObject.name=${name}`)).map((e) => e.reason), ['SuccessfulCreate', 'Completed'])
    t.match((await events('ops', 'involvedObject.kind=CronJob')).map((e) => `${e.reason}: ${e.message}`), [`SuccessfulCreate: Created job ${name}`, `SawCompletedJob: Saw completed job: ${name}, status: Complete`])

    const failAt = new Date('2026-11-22T10:10:00Z')
    const failed = sim.controllers.triggerCronJob('ops', 'backup', { scheduledTime: failAt, fail: true })
    const fname = String((failed.metadata as Rec).name)
    const fj = await until('job failed', async () => { const x = await batch.readNamespacedJob({ name: fname, namespace: 'ops' }); return x.status?.conditions?.length ? x : undefined })
    t.match(fj.status?.conditions?.find((c) => c.type === 'Failed'), { status: 'True', reason: 'BackoffLimitExceeded' })
    t.equal(fj.status?.failed, 3)
    t.equal(fj.status?.completionTime, undefined)
    const warn = await events('ops', `involvedObject.name=${fname},type=Warning`)
    t.match(warn, [{ reason: 'BackoffLimitExceeded', source: { component: 'job-controller' } }])

    // schedule driven: ticks between the last schedule and "now" start one Job, for the latest tick
    const due = sim.controllers.runDueCronJobs(new Date('2026-11-22T10:27:30Z'))
    t.same(due.map((x) => (x.metadata as Rec).name), [`backup-${new Date('2026-11-22T10:25:00Z').getTime() / 60000}`])
    await sim.controllers.idle()
  })

  t.test('DaemonSet: a rollout restart rolls out on every node, or stays unavailable when the rollout is stuck', async (t) => {
    await core.createNode({ body: { metadata: { name: 'node-a' } } })
    await core.createNode({ body: { metadata: { name: 'node-b' } } })
    await apps.createNamespacedDaemonSet({ namespace: 'default', body: { metadata: { name: 'agent' }, spec: { selector: { matchLabels: { app: 'agent' } }, template: template('agent') } } })
    const d1 = await until('ds status', async () => { const d = await apps.readNamespacedDaemonSet({ name: 'agent', namespace: 'default' }); return d.status?.observedGeneration === 1 ? d : undefined })
    t.match(d1.status, { desiredNumberScheduled: 2, currentNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2, numberReady: 2, numberMisscheduled: 0 })
    t.same(rolloutStatus('DaemonSet', d1, 1), { done: true, message: 'daemon set "agent" successfully rolled out' })
    const restarted = await apps.patchNamespacedDaemonSet({ name: 'agent', namespace: 'default', body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'now' } } } } } }, strategic)
    t.equal(restarted.metadata?.generation, 2)
    t.match(rolloutStatus('DaemonSet', restarted, 2), { done: false, message: /spec update to be observed/ }, 'not rolled out before the controller observed it')
    const d2 = await until('ds rollout', async () => { const d = await apps.readNamespacedDaemonSet({ name: 'agent', namespace: 'default' }); return d.status?.observedGeneration === 2 ? d : undefined })
    t.equal(rolloutStatus('DaemonSet', d2, 2).done, true)
    sim.controllers.failRollout('DaemonSet', 'default', 'agent')
    await apps.patchNamespacedDaemonSet({ name: 'agent', namespace: 'default', body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'later' } } } } } }, strategic)
    const d3 = await until('ds stuck rollout', async () => { const d = await apps.readNamespacedDaemonSet({ name: 'agent', namespace: 'default' }); return d.status?.observedGeneration === 3 ? d : undefined })
    t.match(d3.status, { desiredNumberScheduled: 2, updatedNumberScheduled: 1, numberAvailable: 1, numberUnavailable: 1 })
    t.match(rolloutStatus('DaemonSet', d3, 3), { done: false, message: '1 out of 2 new pods have been updated' }, 'stuck: waiting, with no condition to say it failed (a DaemonSet has no progress deadline)')
    t.notOk(rolloutStatus('DaemonSet', d3, 3).failed)
  })

  t.test('Events: recorded against the involved object; field selectors filter', async (t) => {
    const job = await batch.createNamespacedJob({ namespace: 'ev', body: { metadata: { name: 'once', namespace: 'ev' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'x', image: 'x' }] } } } } })
    sim.controllers.failJob('ev', 'once')
    await until('job done', async () => { const x = await batch.readNamespacedJob({ name: 'once', namespace: 'ev' }); return x.status?.conditions ? x : undefined })
    const before = await events('ev', 'reason=BackoffLimitExceeded')
    t.equal(before.length, 1)
    t.equal(before[0]?.count, 1)
    t.equal(before[0]?.involvedObject.uid, job.metadata?.uid)
    t.ok(before[0]?.firstTimestamp)
    t.equal((await events('ev', 'type=Normal,involvedObject.kind=Job')).length, 1, 'only SuccessfulCreate is Normal')
    t.equal((await events('ev', 'involvedObject.name=other')).length, 0)
    t.equal((await events('ev', 'source=job-controller,involvedObject.name=once')).length, 2, 'source selects source.component')
    t.equal((await events('ev', 'source=deployment-controller')).length, 0)
  })

  t.test('ExternalSecret: syncs from Vault on create and on force-sync; errors go to status and an Event', async (t) => {
    vault.putSecret('secret', 'apps/db', { username: 'app', password: 's3cret' })
    await custom.createNamespacedCustomObject({ group: 'external-secrets.io', version: 'v1', namespace: 'apps', plural: 'secretstores', body: { apiVersion: 'external-secrets.io/v1', kind: 'SecretStore', metadata: { name: 'vault', namespace: 'apps' }, spec: { provider: { vault: { server: 'http://vault.vault:8200', path: 'secret', version: 'v2', auth: { tokenSecretRef: { name: 'vault-token', key: 'token' } } } } } } })
    const es = await custom.createNamespacedCustomObject({ group: 'external-secrets.io', version: 'v1', namespace: 'apps', plural: 'externalsecrets', body: { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', metadata: { name: 'db', namespace: 'apps' }, spec: { refreshInterval: '1h', secretStoreRef: { name: 'vault', kind: 'SecretStore' }, target: { name: 'db-credentials' }, data: [{ secretKey: 'pw', remoteRef: { key: 'apps/db', property: 'password' } }], dataFrom: [{ extract: { key: 'apps/db' } }] } } }) as Rec
    const secret = await until('secret', async () => core.readNamespacedSecret({ name: 'db-credentials', namespace: 'apps' }).catch(() => undefined))
    const decoded = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]))
    t.same(decoded, { username: 'app', password: 's3cret', pw: 's3cret' })
    t.match(secret.metadata?.ownerReferences, [{ apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', name: 'db', uid: (es.metadata as Rec).uid, controller: true }])
    const synced = await until('es status', async () => { const x = await custom.getNamespacedCustomObject({ group: 'external-secrets.io', version: 'v1', namespace: 'apps', plural: 'externalsecrets', name: 'db' }) as Rec; return (x.status as Rec | undefined)?.refreshTime ? x : undefined })
    const st = synced.status as Rec
    t.match(st.conditions, [{ type: 'Ready', status: 'True', reason: 'SecretSynced' }])
    t.match(st.syncedResourceVersion, /^1-[0-9a-f]{32}$/)

    // rotate in Vault, then force a sync the way operators do
    vault.putSecret('secret', 'apps/db', { username: 'app', password: 'rotated' })
    await custom.patchNamespacedCustomObject({ group: 'external-secrets.io', version: 'v1', namespace: 'apps', plural: 'externalsecrets', name: 'db', body: { metadata: { annotations: { 'force-sync': String(Date.now()) } } } }, merge)
    await until('rotated secret', async () => { const s = await core.readNamespacedSecret({ name: 'db-credentials', namespace: 'apps' }); return Buffer.from(s.data?.pw ?? '', 'base64').toString() === 'rotated' ? s : undefined })
    const resynced = await until('new synced version', async () => { const x = await custom.getNamespacedCustomObject({ group: 'external-secrets.io', version: 'v1', namespace: 'apps', plural: 'externalsecrets', name: 'db' }) as Rec; return (x.status as Rec).syncedResourceVersion !== st.syncedResourceVersion ? x : undefined })
    t.match((resynced.status as Rec).conditions, [{ type: 'Ready', status: 'True' }])

    // a Vault error: the path is gone
    await custom.createNamespacedCustomObject({ group: 'external-secrets.io', version: 'v1', namespace: 'apps', plural: 'externalsecrets', body: { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', metadata: { name: 'missing', namespace: 'apps' }, spec: { secretStoreRef: { name: 'vault', kind: 'SecretStore' }, data: [{ secretKey: 'x', remoteRef: { key: 'apps/nope', property: 'x' } }] } } })
    const bad = await until('error status', async () => { const x = await custom.getNamespacedCustomObject({ group: 'external-secrets.io', version: 'v1', namespace: 'apps', plural: 'externalsecrets', name: 'missing' }) as Rec; return (x.status as Rec | undefined)?.conditions ? x : undefined })
    t.match((bad.status as Rec).conditions, [{ type: 'Ready', status: 'False', reason: 'SecretSyncedError' }])
    const warn = await events('apps', 'involvedObject.name=missing,type=Warning')
    t.match(warn, [{ reason: 'UpdateFailed', message: /Code: 404/, count: 1 }])
    // the same failure again: the Event is bumped, not duplicated
    await sleep(1100)
    await custom.patchNamespacedCustomObject({ group: 'external-secrets.io', version: 'v1', namespace: 'apps', plural: 'externalsecrets', name: 'missing', body: { metadata: { annotations: { 'force-sync': 'again' } } } }, merge)
    const bumped = await until('event count 2', async () => { const [e] = await events('apps', 'involvedObject.name=missing,reason=UpdateFailed'); return e?.count === 2 ? e : undefined })
    t.equal((await events('apps', 'involvedObject.name=missing,reason=UpdateFailed')).length, 1, 'still one Event object')
    t.equal(bumped.metadata?.name, warn[0]?.metadata?.name)
    t.ok(new Date(bumped.lastTimestamp as unknown as string) > new Date(bumped.firstTimestamp as unknown as string), 'lastTimestamp moved on')
    t.equal(await core.readNamespacedSecret({ name: 'missing', namespace: 'apps' }).catch((e: unknown) => (e as { code?: number }).code), 404)
  })

  t.test('CronJobs can run on their own schedule, with an injected clock', async (t) => {
    let now = new Date()
    const timed = await startKubernetesSimulator({ controllers: { delayMs: 20, scheduleCheckMs: 20, clock: () => now } })
    t.teardown(() => timed.close())
    const b = timed.kubeConfig().makeApiClient(BatchV1Api)
    await b.createNamespacedCronJob({ namespace: 'default', body: { metadata: { name: 'tick' }, spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 't', image: 'busybox' }] } } } } } } })
    await sleep(100)
    t.equal((await b.listNamespacedJob({ namespace: 'default' })).items.length, 0, 'no tick yet')
    now = new Date(now.getTime() + 61_000)
    const jobs = await until('scheduled job', async () => { const l = await b.listNamespacedJob({ namespace: 'default' }); return l.items.length ? l.items : undefined })
    const tick = Math.floor(now.getTime() / 60000)
    t.same(jobs.map((j) => j.metadata?.name), [`tick-${tick}`])
    await until('complete', async () => { const j = await b.readNamespacedJob({ name: `tick-${tick}`, namespace: 'default' }); return j.status?.succeeded ? j : undefined })
    await sleep(60)
    t.equal((await b.listNamespacedJob({ namespace: 'default' })).items.length, 1, 'one Job per tick')
  })

  t.test('controllers can be switched off', async (t) => {
    const off = await startKubernetesSimulator({ controllers: { enabled: false } })
    t.teardown(() => off.close())
    const a = off.kubeConfig().makeApiClient(AppsV1Api)
    await a.createNamespacedDeployment({ namespace: 'default', body: { metadata: { name: 'x' }, spec: { selector: { matchLabels: { app: 'x' } }, template: template('x') } } })
    await sleep(150)
    t.same((await a.readNamespacedDeployment({ name: 'x', namespace: 'default' })).status, undefined)
  })
})
