import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { BatchV1Api, CoreV1Api, type V1Job } from '@kubernetes/client-node'
import { findPostgresBinDir } from '../../shared/postgres/throwaway.ts'
import { postgresSkipReason } from '../../sandbox/harness/postgres.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'
import { postgresImageMajor } from '../../sandbox/simulators/kubernetes/kubelet.ts'

// The kubelet stand-in: Jobs in a postgres:<major> image run here, with the
// Pod's status and termination message as a kubelet writes them; other Jobs
// keep the plain Job controller stand-in.

t.test('postgres images and their majors', async (t) => {
  t.equal(postgresImageMajor('docker.io/library/postgres:16'), '16')
  t.equal(postgresImageMajor('postgres:16.4-bookworm'), '16')
  t.equal(postgresImageMajor('postgres:9.6-alpine'), '9.6')
  t.equal(postgresImageMajor('registry.example/postgres:15@sha256:abc'), '15')
  t.equal(postgresImageMajor('postgres:latest'), undefined)
  t.equal(postgresImageMajor('bitnami/postgresql:16'), undefined)
  t.equal(postgresImageMajor('nginx:1.27'), undefined)
})

const skip = postgresSkipReason()
t.test('Jobs run by the stand-in', { skip: skip || false }, async (t) => {
  const major = /\/(\d+)\/bin$/.exec(findPostgresBinDir() ?? '')?.[1]
  if (!major) { t.pass('skipped: PostgreSQL is not installed under /usr/lib/postgresql/<major>'); return }
  const claim = await mkdtemp(join(tmpdir(), 'caretaker-kubelet-claim-'))
  t.teardown(() => rm(claim, { recursive: true, force: true }))
  await chmod(claim, 0o755)
  await writeFile(join(claim, 'input.txt'), 'from the claim\n')
  const sim = await startKubernetesSimulator({ controllers: { kubelet: { volumes: { data: claim } } } })
  t.teardown(() => sim.close())
  const batch = sim.kubeConfig().makeApiClient(BatchV1Api)
  const core = sim.kubeConfig().makeApiClient(CoreV1Api)
  sim.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'work' } })

  const job = (name: string, image: string, script: string, extra: Partial<V1Job['spec']> = {}): V1Job => ({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: 'work' },
    spec: {
      backoffLimit: 0, ...extra,
      template: { spec: {
        restartPolicy: 'Never',
        containers: [{ name: 'main', image, command: ['/bin/sh', '-c', script], env: [{ name: 'INPUT', value: '/mnt/data/input.txt' }, { name: 'LOG', value: '/dev/termination-log' }],
          terminationMessagePath: '/dev/termination-log', volumeMounts: [{ name: 'data', mountPath: '/mnt/data', readOnly: true }] }],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data', readOnly: true } }],
      } },
    },
  })
  const finished = async (name: string): Promise<V1Job> => {
    for (let i = 0; i < 200; i++) {
      const j = await batch.readNamespacedJob({ namespace: 'work', name })
      if (j.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')) return j
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`${name} did not finish`)
  }
  const podOf = async (name: string) => (await core.listNamespacedPod({ namespace: 'work', labelSelector: `batch.kubernetes.io/job-name=${name}` })).items

  await t.test('the command runs with that major\'s programs, reads the claim, and its termination message is kept', async (t) => {
    await batch.createNamespacedJob({ namespace: 'work', body: job('ok', `docker.io/library/postgres:${major}`, 'initdb --version | tr -d "\\n" > "$LOG"; printf " / " >> "$LOG"; cat "$INPUT" >> "$LOG"') })
    const j = await finished('ok')
    t.ok(j.status!.conditions!.some((c) => c.type === 'Complete'))
    const pods = await podOf('ok')
    t.equal(pods.length, 1)
    t.equal(pods[0]!.metadata!.ownerReferences![0]!.uid, j.metadata!.uid)
    t.equal(pods[0]!.status!.phase, 'Succeeded')
    const terminated = pods[0]!.status!.containerStatuses![0]!.state!.terminated!
    t.equal(terminated.exitCode, 0)
    t.match(terminated.message, new RegExp(`^initdb \\(PostgreSQL\\) ${major}\\.\\d+.* / from the claim`))
  })

  await t.test('a message longer than 4096 bytes is cut, as the kubelet cuts it', async (t) => {
    await batch.createNamespacedJob({ namespace: 'work', body: job('long', `postgres:${major}`, 'head -c 10000 /dev/zero | tr "\\0" x > "$LOG"; exit 3') })
    const j = await finished('long')
    t.ok(j.status!.conditions!.some((c) => c.type === 'Failed' && c.reason === 'BackoffLimitExceeded'))
    const terminated = (await podOf('long'))[0]!.status!.containerStatuses![0]!.state!.terminated!
    t.equal(terminated.exitCode, 3)
    t.equal(terminated.reason, 'Error')
    t.equal(terminated.message!.length, 4096)
  })

  await t.test('activeDeadlineSeconds ends the run: DeadlineExceeded', async (t) => {
    await batch.createNamespacedJob({ namespace: 'work', body: job('slow', `postgres:${major}`, 'sleep 30', { activeDeadlineSeconds: 1 }) })
    const j = await finished('slow')
    t.match(j.status!.conditions!.find((c) => c.type === 'Failed'), { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' })
  })

  await t.test('a major not installed here: ErrImagePull', async (t) => {
    await batch.createNamespacedJob({ namespace: 'work', body: job('old', 'postgres:9.4', 'true') })
    const j = await finished('old')
    t.ok(j.status!.conditions!.some((c) => c.type === 'Failed'))
    const waiting = (await podOf('old'))[0]!.status!.containerStatuses![0]!.state!.waiting!
    t.equal(waiting.reason, 'ErrImagePull')
    t.match(waiting.message, /image postgres:9.4 is not available here/)
  })

  await t.test('with a label asked for, only Jobs carrying it run', async (t) => {
    const labelled = await startKubernetesSimulator({ controllers: { kubelet: { volumes: { data: claim }, label: 'runs-here' } } })
    t.teardown(() => labelled.close())
    labelled.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'work' } })
    const b = labelled.kubeConfig().makeApiClient(BatchV1Api)
    const c = labelled.kubeConfig().makeApiClient(CoreV1Api)
    await b.createNamespacedJob({ namespace: 'work', body: job('plain', `postgres:${major}`, 'exit 1') })
    const withLabel = job('marked', `postgres:${major}`, 'exit 1')
    withLabel.metadata!.labels = { 'runs-here': '' }
    await b.createNamespacedJob({ namespace: 'work', body: withLabel })
    await labelled.controllers.idle()
    const state = async (name: string) => (await b.readNamespacedJob({ namespace: 'work', name })).status?.conditions?.find((x) => x.status === 'True' && (x.type === 'Complete' || x.type === 'Failed'))?.type
    t.equal(await state('plain'), 'Complete', 'not run: the plain stand-in completes it')
    t.equal(await state('marked'), 'Failed', 'run: its command failed')
    t.equal((await c.listNamespacedPod({ namespace: 'work' })).items.length, 1)
  })

  await t.test('another image keeps the plain Job controller stand-in: no Pod', async (t) => {
    await batch.createNamespacedJob({ namespace: 'work', body: job('other', 'busybox:1.36', 'false') })
    const j = await finished('other')
    t.ok(j.status!.conditions!.some((c) => c.type === 'Complete'))
    t.equal((await podOf('other')).length, 0)
  })
})
