import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { stringify } from 'yaml'
import { projectRoot } from '../../sandbox/local/functions.ts'
import { spawnNode, type FunctionProcess } from '../../sandbox/harness/process.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'
import { caretaker } from '../cli/cli.ts'

// `KUBECONFIG=… npm start -- --no-sandbox` as a user runs it against their
// own cluster from a laptop: the Kubernetes simulator plays the cluster,
// reached only through a kubeconfig over TLS. Every shipped function starts
// with the shipped configs, the user's own config directory takes
// precedence, and nothing in the cluster changes unless --apply.

t.setTimeout(300_000)
const DAY = 86_400_000
const kube = await startKubernetesSimulator({ tls: true, controllers: { enabled: false } })
t.teardown(() => kube.close())
for (const ns of ['caretaker', 'team-a']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
const finished = new Date(Date.now() - 3 * DAY).toISOString()
kube.store.seed({
  apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'nightly-import', namespace: 'team-a' },
  spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } },
  status: { startTime: finished, succeeded: 1, completionTime: finished, conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: finished }] },
})
const jobExists = () => kube.store.get('batch/v1', 'Job', 'team-a', 'nightly-import') !== undefined

const dir = await mkdtemp(join(tmpdir(), 'caretaker-cluster-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const kubeconfig = join(dir, 'kubeconfig')
await writeFile(kubeconfig, stringify({
  apiVersion: 'v1', kind: 'Config',
  clusters: [{ name: 'laptop', cluster: { server: kube.tlsUrl, 'certificate-authority-data': Buffer.from(kube.caCert!).toString('base64') } }],
  users: [{ name: 'me', user: { token: kube.token } }],
  contexts: [{ name: 'laptop', context: { cluster: 'laptop', user: 'me' } }],
  'current-context': 'laptop',
}), { mode: 0o600 })
const configDir = join(dir, 'my-config')
await mkdir(configDir)
await writeFile(join(configDir, 'clean-up-resources.yaml'), 'namespaces: [team-a]\njobs: { enabled: true, ttl: 1d }\n')
const shippedFunctions = (await readdir(join(projectRoot, 'functions'), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()

function start(args: string[], env: Record<string, string> = {}): FunctionProcess {
  const proc = spawnNode(['scripts/start.ts', '--no-sandbox', '--port', '0', '--console-port', '0', '--state', join(dir, `state-${Math.random().toString(36).slice(2)}`), ...args], { HOME: dir, KUBECONFIG: kubeconfig, ...env })
  let exited = false
  void proc.exited.then(() => { exited = true })
  t.teardown(async () => {
    if (exited) return
    proc.child.kill('SIGTERM')
    await Promise.race([proc.exited, sleep(40_000).then(() => proc.child.kill('SIGKILL'))])
  })
  return proc
}

async function requestCleanUp(broker: string, id: string): Promise<number> {
  const res = await fetch(broker, {
    method: 'POST',
    // The event asks to act: only --apply may let it.
    headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/manual/laptop', 'ce-type': 'dev.caretaker.resources.clean.requested', 'ce-dryrun': 'false' },
    body: '{}',
  })
  return res.status
}

t.test('every shipped function starts against the cluster, with the shipped configs or the user\'s, held in dry-run', async (t) => {
  const state = join(dir, 'state-first')
  const proc = start(['--config', configDir, '--state', state], { CARETAKER_DRY_RUN: 'false' })
  const ready = await proc.waitForLine((l) => l.msg === 'caretaker ready', 240_000)
  t.equal(ready.sandbox, null, 'no sandbox: the cluster of KUBECONFIG')
  t.same(Object.keys(ready.functions as Record<string, string>).sort(), shippedFunctions, 'every shipped function is running (respond-to-alert with the shipped rules)')
  t.equal(ready.dry_run, 'forced')
  const configs = ready.configs as Record<string, string>
  t.equal(configs['clean-up-resources'], join(configDir, 'clean-up-resources.yaml'), 'the user\'s own config first')
  t.equal(configs['respond-to-alert'], join(projectRoot, 'manifests', 'respond-to-alert', 'config.yaml'), 'else the shipped one')
  t.match(configs['alertmanager-bridge'], /local default/, 'the bridge: on loopback, not the Secret\'s placeholder')
  t.ok(proc.lines.some((l) => l.level === 'warn' && /CARETAKER_DRY_RUN=false is not enough/.test(String(l.msg))), 'CARETAKER_DRY_RUN=false alone is refused, and said so')
  t.match(proc.stderr(), /in dry-run: nothing changes, whatever an event asks\. Start with --apply/, 'the banner says so too')

  t.equal(await requestCleanUp(String(ready.broker), 'laptop-1'), 202)
  await proc.waitForLine((l) => l.function === 'clean-up-resources' && l.msg === 'event handled', 60_000)
  t.ok(jobExists(), 'the finished Job the user\'s config would delete is still there')

  // The caretaker command: without the sandbox the functions take no token, so its request goes to the Broker.
  const run = await caretaker(['run', 'clean-up-resources', '--apply'], { CARETAKER_STATE: state })
  t.equal(run.code, 0, run.stderr)
  t.match(run.stderr, /asked to act, but this Caretaker holds every function in dry-run: start `npm start` with --apply/)
  t.match(run.stdout, /^clean-up-resources: .*\(dry-run: nothing was changed\)/, 'the reply says dry-run, whatever the request asked')
  t.ok(jobExists(), 'and the Job is still there')
})

t.test('--apply lets the functions act', async (t) => {
  // Only clean-up-resources, to keep the run short: the same module, through a directory of its own.
  const functionsDir = join(dir, 'functions')
  await mkdir(functionsDir)
  await symlink(join(projectRoot, 'functions', 'clean-up-resources'), join(functionsDir, 'clean-up-resources'))
  const proc = start(['--config', configDir, '--functions', functionsDir, '--apply'])
  const ready = await proc.waitForLine((l) => l.msg === 'caretaker ready', 120_000)
  t.equal(ready.dry_run, 'false')
  t.equal(await requestCleanUp(String(ready.broker), 'laptop-2'), 202)
  await proc.waitForLine((l) => l.function === 'clean-up-resources' && l.msg === 'event handled', 60_000)
  for (let i = 0; i < 50 && jobExists(); i++) await sleep(100)
  t.notOk(jobExists(), 'the finished Job is deleted')
})

t.test('a config file that names no function is refused at start', async (t) => {
  const wrong = join(dir, 'wrong-config')
  await mkdir(wrong)
  await writeFile(join(wrong, 'clean-up.yaml'), 'namespaces: [team-a]\n')
  const proc = start(['--config', wrong])
  const fatal = await proc.waitForLine((l) => l.level === 'fatal', 60_000)
  t.match(fatal.msg, /clean-up\.yaml names no function; one <function>\.yaml per function/)
  t.equal(await proc.exited, 1)
})
