import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, symlink, rm } from 'node:fs/promises'
import { promisify } from 'node:util'
import { tmpdir } from 'node:os'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t from 'tap'
import { AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node'
import { parse } from 'yaml'
import { spawnNode } from '../../sandbox/harness/process.ts'
import { alertmanagerSkipReason } from '../../sandbox/harness/alertmanager.ts'
import { caretaker } from '../cli/cli.ts'

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 200))
  }
  return true
}

/** The shell examples of a README section, as a user would paste them. */
async function readmeExamples(from: string, to: string): Promise<string[]> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
  const start = readme.indexOf(`\n${from}`)
  const section = readme.slice(start, readme.indexOf(`\n${to}`, start + 1))
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!)
}

// `npm start` as shipped: the project's own functions, triggers and
// manifests against the sandbox. A backup Job completing in the simulated
// cluster reaches verify-backup through the ApiServerSource, the broker and
// its Trigger, with nothing but the shipped YAML wiring it.

// Every function starts on a machine that may be busy: time enough, and no test of speed.
t.setTimeout(420_000)

t.test('the shipped functions and triggers work against the sandbox', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-sandbox-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const proc = spawnNode(['scripts/start.ts', '--port', '0', '--kube-port', '0', '--vault-port', '0', '--console-port', '0', '--state', join(dir, 'state')],
    { HOME: dir, CARETAKER_DRY_RUN: 'false' })
  let exited = false
  void proc.exited.then(() => { exited = true })
  t.teardown(() => { if (!exited) proc.child.kill('SIGKILL') })
  const ready = await proc.waitForLine((l) => l.msg === 'caretaker ready', 240_000)
  const broker = String(ready.broker)
  t.ok((ready.functions as Record<string, string>)['verify-backup'], 'verify-backup is running')

  // What the demo platform gives health-report's vault and alerts checks to find (the findings: test/functions/health-report/sandbox.test.ts).
  const sandbox = ready.sandbox as { vault: string; vaultStandby: string; alertmanager: string | null }
  const healthConfig = parse(await readFile(join(dirname((ready.sandbox as { kubeconfig: string }).kubeconfig), 'config', 'health-report.yaml'), 'utf8')) as { checks: string[]; vault?: { members: string[]; minStandbys: number }; alertmanager?: { address: string } }
  t.match(healthConfig.vault, { members: [sandbox.vault, sandbox.vaultStandby], minStandbys: 1 }, 'health-report knows both Vault nodes and expects one standby')
  t.equal((await fetch(`${sandbox.vaultStandby}/v1/sys/health`)).status, 503, 'the standby is sealed')
  t.equal((await fetch(`${sandbox.vault}/v1/sys/health`)).status, 200, 'the Vault the functions use is the active node')
  const amSkip = alertmanagerSkipReason()
  if (amSkip) {
    t.equal(sandbox.alertmanager, null)
    t.notOk(healthConfig.checks.includes('alerts'), 'no Alertmanager, no alerts check')
    t.ok(proc.lines.some((l) => /^sandbox: no Alertmanager/.test(String(l.msg))), 'the sandbox says so')
    t.match(proc.stderr(), /no Alertmanager: install prometheus-alertmanager/, 'and so does the banner')
    t.comment(`skipped: alertmanager not installed (${amSkip})`)
  } else {
    t.ok(healthConfig.checks.includes('alerts') && healthConfig.alertmanager?.address === sandbox.alertmanager, 'health-report reads the sandbox\'s Alertmanager')
    const alerts = await (await fetch(`${sandbox.alertmanager}/api/v2/alerts?active=true`)).json() as Array<{ labels: Record<string, string>; status: { state: string } }>
    t.same(alerts.map((a) => `${a.labels.alertname} ${a.labels.severity} ${a.status.state}`).sort(), ['BackupJobFailed warning active', 'Watchdog none active'], 'the demo alerts are firing')
    t.ok(proc.stderr().includes(`${sandbox.alertmanager}/api/v2/alerts`), 'the banner shows where')
  }

  const kc = new KubeConfig()
  kc.loadFromString(await readFile((ready.sandbox as { kubeconfig: string }).kubeconfig, 'utf8'))
  const batch = kc.makeApiClient(BatchV1Api)
  const core = kc.makeApiClient(CoreV1Api)

  // A request posted straight to the broker carries no proof: verify-backup refuses it, it is dead-lettered.
  const headers = { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-source': '/test/sandbox', 'ce-type': 'dev.caretaker.backup.verify.requested' }
  const unproven = await fetch(broker, { method: 'POST', headers: { ...headers, 'ce-id': 'sandbox-0' }, body: JSON.stringify({ set: 'postgresql' }) })
  t.equal(unproven.status, 202, 'the broker takes it')
  const refused = await proc.waitForLine((l) => l.msg === 'event rejected' && (l.event as { id?: string } | undefined)?.id === 'sandbox-0', 60_000)
  t.equal(refused.error, 'unauthenticated', 'verify-backup refuses a request without a Caretaker proof')
  // A manual request, as the banner shows it: the sandbox's admin token, checked by TokenReview and RBAC.
  const verifyUrl = (ready.functions as Record<string, string>)['verify-backup']!
  const res = await fetch(`${verifyUrl}/manual`, {
    method: 'POST',
    headers: { ...headers, 'ce-id': 'sandbox-1', authorization: `Bearer ${kc.getCurrentUser()!.token!}` },
    body: JSON.stringify({ set: 'postgresql' }),
  })
  t.equal(res.status, 202)
  const failed = await proc.waitForLine((l) => l.msg === 'backup set failed verification' && l.set === 'postgresql', 60_000)
  t.equal(failed.failed_check, 'integrity', 'the truncated demo dump fails its integrity check')

  // One line a person reads per outcome, beside the JSON logs; and where it all runs, for the caretaker command.
  t.ok(await until(() => /^outcome: verify-backup: Backup verification FAILED: postgresql \(integrity check\)$/m.test(proc.stderr()), 60_000), 'npm start prints the outcome, applied (CARETAKER_DRY_RUN=false)')
  const stateDir = join(dir, 'state')
  const local = JSON.parse(await readFile(join(stateDir, 'local.json'), 'utf8')) as { pid: number; functions: Record<string, string>; kubeconfig: string }
  t.match(local, { pid: proc.child.pid, functions: { 'verify-backup': verifyUrl }, kubeconfig: (ready.sandbox as { kubeconfig: string }).kubeconfig })
  const status = await caretaker(['status'], { CARETAKER_STATE: stateDir })
  t.equal(status.code, 0, status.stderr)
  // Its last outcome: this request's, or one of the backup Jobs' the ApiServerSource delivered meanwhile.
  t.match(status.stdout, /verify-backup: ready .*\n(.*\n)* {2}last outcome \S+: verify-backup: /)
  const run = await caretaker(['run', 'verify-backup', 'set=gitea'], { CARETAKER_STATE: stateDir })
  t.equal(run.code, 0, `caretaker run against npm start: ${run.stderr}`)
  t.match(run.stdout, /^verify-backup: .*gitea.*\(dry-run: nothing was changed\)/, 'a dry run, whatever the functions\' default')
  t.ok(await until(() => /^outcome: verify-backup: .*gitea.*dry-run/m.test(proc.stderr()), 60_000), 'and npm start printed it too')

  // A backup Job of the etcd CronJob, completed by the simulator's Job controller.
  const cronJob = await batch.readNamespacedCronJob({ namespace: 'kube-system', name: 'etcd-backup' })
  await batch.createNamespacedJob({
    namespace: 'kube-system',
    body: {
      metadata: { name: 'etcd-backup-manual-1', ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'etcd-backup', uid: cronJob.metadata!.uid!, controller: true }] },
      spec: cronJob.spec!.jobTemplate.spec!,
    },
  })
  const verified = await proc.waitForLine((l) => l.msg === 'backup set verified' && l.set === 'etcd', 60_000)
  t.equal(verified.artifact !== undefined, true, 'the Job completing verified the etcd set')
  const events = (await core.listNamespacedEvent({ namespace: 'kube-system' })).items.filter((e) => e.involvedObject.name === 'etcd-backup' && e.reason === 'BackupVerified')
  t.equal(events.length, 1, 'and recorded a BackupVerified Event on the CronJob, with the manifest\'s RBAC')

  // The README's examples of this section, pasted as they are into a shell in a project folder whose
  // .caretaker/ is this sandbox's state (the ports are the ones this sandbox got instead of the defaults).
  const examples = await readmeExamples('## Running locally', '### Against your cluster')
  t.equal(examples.length, 2, 'the README shows a manual request, then kubectl and curl on the sandbox')
  const project = join(dir, 'project')
  await mkdir(project)
  await symlink(join(dir, 'state'), join(project, '.caretaker'))
  const shell = async (script: string) => {
    const filled = script.replaceAll('<verify-backup\'s port>', new URL(verifyUrl).port).replaceAll('http://127.0.0.1:8200', sandbox.vault)
    return (await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', filled], { cwd: project, env: { ...process.env, HOME: dir } })).stdout
  }
  if (!(process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, 'kubectl')))) {
    t.comment('skipped: the README examples need kubectl on PATH')
  } else {
    const manual = await shell(examples[0]!)
    t.match(manual, /^HTTP\/1\.1 202 /m, 'the manual request example is accepted')
    const looked = await shell(examples[1]!)
    t.match(looked, /deployment\.apps\/api\b|^production\s+api\s/m, 'kubectl lists the demo Deployments')
    t.match(looked, /etcd-backup/, 'and the backup CronJobs')
    t.match(looked, /"keys":\[/, 'the Vault example lists the demo secrets')
  }

  // The Command line section's examples against this npm start, line by line as a user would type them
  // (`npx caretaker` is the package's bin; ./backups/ stands for a folder of one's own backups: the sandbox's).
  const [cliExamples] = await readmeExamples('## Command line', '## Functions')
  const cliLines = cliExamples!.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l !== '')
  const readySandbox = ready.sandbox as { backups: string; databases: string[] | 'starting' }
  // The demo databases start beside the functions: the ready line lists them once they have, else this line does.
  const databases = Array.isArray(readySandbox.databases)
    ? readySandbox.databases
    : (await proc.waitForLine((l) => l.msg === 'sandbox: demo databases started', 180_000)).databases as string[]
  const root = join(import.meta.dirname, '..', '..')
  const typed = async (line: string) => {
    const script = `npx() { shift; "${process.execPath}" "${join(root, 'bin', 'caretaker.mjs')}" "$@"; }\n${line.replaceAll('./backups/', `${readySandbox.backups}/`)}`
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('bash', ['-c', script], { cwd: project, env: { PATH: process.env.PATH ?? '', HOME: dir }, timeout: 180_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
      })
    })
  }
  const expected: Array<[RegExp, (r: { code: number; stdout: string; stderr: string }) => void]> = [
    [/^npx caretaker run verify-backup set=postgresql$/, (r) => {
      t.equal(r.code, 1, `a failed verification exits 1: ${r.stderr}`)
      t.match(r.stdout, /Backup verification FAILED: postgresql[\s\S]*dry-run: nothing was changed/, 'and says what it found, in a dry run')
    }],
    [/^npx caretaker run prune-snapshots --apply$/, (r) => {
      t.equal(r.code, 0, `prune-snapshots applied: ${r.stderr}`)
      t.notMatch(r.stdout, /dry-run: nothing was changed/, 'it acted')
    }],
    [/^npx caretaker run maintain-databases target=cache task=memory -o json$/, (r) => {
      if (!databases.includes('cache')) {
        t.equal(r.code, 2, 'without Redis installed the sandbox has no cache target, and the command says so')
        return
      }
      t.equal(r.code, 0, `maintain-databases on the demo Redis: ${r.stderr}`)
      const out = JSON.parse(r.stdout) as { function?: string; request?: { type?: string }; outcome?: { type?: string } }
      t.match(out, { function: 'maintain-databases', request: { type: 'dev.caretaker.database.maintenance.requested' } }, 'the request, as JSON')
      t.match(out.outcome?.type, /^dev\.caretaker\.database\./, 'with the reply event')
    }],
    [/^npx caretaker status$/, (r) => {
      t.equal(r.code, 0, r.stderr)
      t.match(r.stdout, /verify-backup: ready/, 'each function, ready')
    }],
    [/^npx caretaker dead-letters$/, (r) => t.equal(r.code, 0, r.stderr)],
    [/^npx caretaker redeliver \S+$/, (r) => {
      t.equal(r.code, 2, 'the README\'s id stands for one of dead-letters\' ids: as typed, it is a usage error')
      t.match(r.stderr, /caretaker dead-letters lists them/, 'that says where the ids are')
    }],
    [/^npx caretaker verify-backup \.\/backups\/$/, (r) => {
      t.equal(r.code, 1, 'the demo backups include broken ones: exit 1')
      t.match(r.stdout, /^OK /m, 'each file OK')
      t.match(r.stdout, /^FAIL /m, 'or FAIL with its reason')
    }],
  ]
  t.equal(cliLines.length, expected.length, 'every line of the Command line examples is checked')
  for (const line of cliLines) {
    const check = expected.find(([pattern]) => pattern.test(line))
    t.ok(check, `an expectation for: ${line}`)
    if (check) check[1](await typed(line))
  }

  // The Trust boundary's example: who may ask is a RoleBinding, made with kubectl as against a cluster.
  const [bindings] = await readmeExamples('## Trust boundary', '## Layout')
  if (!(process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, 'kubectl')))) {
    t.comment('skipped: the Trust boundary example needs kubectl on PATH')
  } else {
    await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', bindings!], { env: { ...process.env, HOME: dir, KUBECONFIG: (ready.sandbox as { kubeconfig: string }).kubeconfig } })
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api)
    const made = await Promise.all(['oncall', 'auditors'].map((name) => rbac.readNamespacedRoleBinding({ namespace: 'caretaker', name })))
    t.same(made.map((b) => [b.roleRef.name, b.subjects?.map((s) => `${s.kind}/${s.name}`)]), [['caretaker-operator', ['Group/oncall']], ['caretaker-viewer', ['Group/auditors']]], 'the README\'s RoleBindings, as kubectl made them')

    // respond-to-alert's manual restart, as the README shows it, against the sandbox: the on-call ServiceAccount
    // it takes a token of is made first, as an operator would (and bound to caretaker-operator: a ServiceAccount is
    // in no group "oncall"); the function's address is this sandbox's, and the health URL one that answers here.
    const [restartExample] = await readmeExamples('### respond-to-alert', '### maintain-databases')
    const admin = { env: { ...process.env, HOME: dir, KUBECONFIG: (ready.sandbox as { kubeconfig: string }).kubeconfig } }
    await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', 'kubectl create namespace ops && kubectl -n ops create serviceaccount oncall && kubectl -n caretaker create rolebinding oncall-sa --clusterrole=caretaker-operator --serviceaccount=ops:oncall'], admin)
    const respondUrl = (ready.functions as Record<string, string>)['respond-to-alert']!
    const typedRestart = restartExample!.replace('http://respond-to-alert.caretaker.svc.cluster.local', respondUrl).replace('http://api.production.svc:8080/healthz', `${sandbox.vault}/v1/sys/health`)
    const answer = JSON.parse((await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', typedRestart], admin)).stdout) as unknown
    t.match(answer, { accepted: { id: 'restart-api-1' }, by: 'system:serviceaccount:ops:oncall', verb: 'restart' }, 'the manual restart is accepted, with the on-call token, by TokenReview and RBAC')
    const restarted = await proc.waitForLine((l) => l.msg === 'event handled' && l.function === 'respond-to-alert' && (l.event as { id?: string } | undefined)?.id === 'restart-api-1', 120_000)
    t.ok(restarted, 'respond-to-alert handled it')
    const api = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: 'production', name: 'api' })
    t.ok(api.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'], 'and restarted production/api (ce-dryrun: false), its rollout finished and the health URL answered')
  }

  proc.child.kill('SIGTERM')
  t.equal(await proc.exited, 0, 'SIGTERM stops everything cleanly')
  await t.rejects(readFile(join(dir, 'state', 'local.json')), 'and the state file goes with it')
  if (sandbox.alertmanager) await t.rejects(fetch(`${sandbox.alertmanager}/-/ready`), 'the sandbox\'s Alertmanager stopped with it')
})
