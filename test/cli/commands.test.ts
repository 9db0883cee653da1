import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import notify from '../../functions/notify/index.ts'
import verifyBackup from '../../functions/verify-backup/index.ts'
import { DEAD_LETTERS_FILE, DELIVERIES_FILE, deliveryLine, JsonLines, writeLocalState } from '../../cli/state.ts'
import { createLogger } from '../../shared/logger.ts'
import { startMesh } from '../../sandbox/mesh/index.ts'
import { freePort } from '../../shared/process/ports.ts'
import { manifestRbac } from '../../sandbox/local/sandbox.ts'
import { startTestFunction, type TestFunction } from '../../sandbox/harness/function.ts'
import { pgDumpallSql } from '../../sandbox/platform/index.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'
import { caretaker, root } from './cli.ts'

// Every `caretaker` subcommand against what `npm start` runs, in its
// lighter parts: the Kubernetes simulator (TokenReview and RBAC of the
// manual entry, with the manifests' RBAC), verify-backup and notify through
// the real runtime, the project's own triggers/ in the local mesh, and the
// state file npm start writes. notify is down at first, so the outcomes
// sent to it are dead-lettered; it comes up, and one is redelivered.

t.setTimeout(600_000)
const NS = 'caretaker'

// With TLS, as the sandbox's kubeconfig has it: the client sends a token only over TLS.
const kube = await startKubernetesSimulator({ tls: { port: 0 } })
t.teardown(() => kube.close())
for (const o of await manifestRbac(`${root}manifests`)) kube.store.seed(o)

const state = t.testdir()
const backups = join(state, 'backups')
const dump = gzipSync(Buffer.from(pgDumpallSql(new Date('2026-12-01T02:00:00Z'), 3)))
await mkdir(join(backups, 'good'), { recursive: true })
await mkdir(join(backups, 'cut'), { recursive: true })
await writeFile(join(backups, 'good', 'all_databases_20261201_020000.sql.gz'), dump)
await writeFile(join(backups, 'cut', 'all_databases_20261201_020000.sql.gz'), dump.subarray(0, Math.floor(dump.length / 2)))
const set = (name: string, dir: string) => ({ name, format: 'pg-dumpall-gzip', directory: join(backups, dir), pattern: 'all_databases_*.sql.gz', rpo: '36500d' })

const key = randomBytes(32).toString('base64')
const port = await freePort('127.0.0.1')
const env = (account: string): Record<string, string> => ({
  CARETAKER_AUTH: 'tokenreview', CARETAKER_EVENTING_OIDC: 'disabled', CARETAKER_NAMESPACE: NS, CARETAKER_PROOF_KEY: key,
  CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken(NS, account), K_SINK: `http://127.0.0.1:${port}/${NS}/caretaker`,
  LOG_LEVEL: 'info',
})
const verify = await startTestFunction(verifyBackup, { env: env('verify-backup'), config: { sets: [set('demo', 'good'), set('broken', 'cut')] } })
t.teardown(() => verify.stop())
const notifyPort = await freePort('127.0.0.1')
const notifyUrl = `http://127.0.0.1:${notifyPort}`

const deliveries = new JsonLines(join(state, DELIVERIES_FILE), (err) => { throw err })
const mesh = await startMesh({
  dir: `${root}triggers`, port,
  services: { 'verify-backup': verify.url, notify: notifyUrl },
  logger: createLogger({ level: 'silent' }),
  sleep: async () => undefined,
  deadLetterFile: join(state, DEAD_LETTERS_FILE),
  onDelivery: (report) => deliveries.append(deliveryLine(report)),
})
t.teardown(() => mesh.close())

const kubeconfig = join(state, 'kubeconfig')
await writeFile(kubeconfig, JSON.stringify({
  apiVersion: 'v1', kind: 'Config', 'current-context': 'sandbox',
  clusters: [{ name: 'sandbox', cluster: { server: kube.tlsUrl!, 'certificate-authority-data': Buffer.from(kube.caCert!).toString('base64') } }],
  users: [{ name: 'sandbox-admin', user: { token: kube.token } }],
  contexts: [{ name: 'sandbox', context: { cluster: 'sandbox', user: 'sandbox-admin' } }],
}), { mode: 0o600 })
await writeLocalState(state, {
  version: 1, pid: process.pid, startedAt: new Date().toISOString(),
  broker: mesh.brokers[0]!.url, functions: { 'verify-backup': verify.url, notify: notifyUrl },
  kubeconfig, dryRun: 'true', eventingOidc: 'disabled',
  functionsDir: `${root}functions`, triggersDir: `${root}triggers`,
  deliveries: deliveries.path, deadLetters: join(state, DEAD_LETTERS_FILE),
})
const cli = (...args: string[]) => caretaker(args, { CARETAKER_STATE: state })

t.test('usage errors say what to fix, exit 2', async (t) => {
  const unknown = await cli('run', 'verify-backups', 'set=demo')
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /no function "verify-backups"\. These take manual requests:\n(.|\n)* {2}verify-backup {2}\(dev\.caretaker\.backup\.verify\.requested\)/)
  const field = await cli('run', 'verify-backup', 'sett=demo')
  t.equal(field.code, 2)
  t.match(field.stderr, /has no field "sett"\. It takes:\n {2}set=string\n {2}path=string/)
  const none = await cli('run', 'notify')
  t.equal(none.code, 2)
  t.match(none.stderr, /notify takes no manual requests/)
  const empty = await cli('run', 'verify-backup')
  t.equal(empty.code, 2)
  t.match(empty.stderr, /data of dev\.caretaker\.backup\.verify\.requested is invalid/)
  const command = await cli('frobnicate')
  t.equal(command.code, 2)
  t.match(command.stderr, /unknown command "frobnicate": use run, status, dead-letters, redeliver or verify-backup/)
  const flag = await cli('status', '--bogus')
  t.equal(flag.code, 2)
  t.match(flag.stderr, /Unknown option '--bogus'(.|\n)*See caretaker --help/)
  const help = await cli('--help')
  t.equal(help.code, 0)
  t.match(help.stdout, /exit codes:\n {2}0 {2}done(.|\n)* {2}2 {2}usage error(.|\n)* {2}3 {2}unavailable/)
})

t.test('status before any outcome: who is ready, schedules, next run', async (t) => {
  const r = await cli('status')
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, new RegExp(`verify-backup: ready \\(${verify.url}\\)\\n {2}schedule verify-backup-sweep: "30 5 \\* \\* \\*" Etc/UTC, next \\d{4}-\\d\\d-\\d\\dT05:30:00\\.000Z\\n {2}no outcome yet since start`))
  t.match(r.stdout, /notify: unreachable/, 'notify is down')
  t.match(r.stdout, /prune-snapshots: not running\n {2}schedule prune-snapshots-daily: "0 4 \* \* \*"/)
  const json = JSON.parse((await cli('status', '-o', 'json')).stdout) as { functions: Array<{ name: string; state: string; schedules: Array<{ next: string }> }> }
  const health = json.functions.find((f) => f.name === 'health-report')!
  t.equal(health.schedules.length, 2, 'health-report: daily and weekly')
  t.ok(health.schedules.every((s) => Date.parse(s.next) > Date.now()), 'next runs are ahead')
})

t.test('run: dry-run by default, --apply acts, outcomes read as notify would write them', async (t) => {
  const dry = await cli('run', 'verify-backup', 'set=demo')
  t.equal(dry.code, 0, dry.stderr)
  t.match(dry.stderr, /request cli-[0-9a-f-]+ accepted \(dry-run: nothing will be changed; --apply to act\)/)
  t.match(dry.stdout, /^verify-backup: .*demo.*\(dry-run: nothing was changed\)\n/)
  t.match(dry.stdout, /\(dev\.caretaker\.backup\.verified, dry-run, severity info\)/)

  const applied = await cli('run', 'verify-backup', 'set=demo', '--apply', '-o', 'json')
  t.equal(applied.code, 0, applied.stderr)
  const out = JSON.parse(applied.stdout) as { function: string; request: { dryRun: boolean }; accepted: { by: string; verb: string }; delivery: { delivered: boolean }; outcome: { type: string; dryrun?: string; data: { set: string; verified: boolean } } }
  t.match(out, { function: 'verify-backup', request: { dryRun: false }, accepted: { by: 'admin', verb: 'verify' }, delivery: { delivered: true } })
  t.match(out.outcome, { type: 'dev.caretaker.backup.verified', data: { set: 'demo', verified: true } })
  t.equal(out.outcome.dryrun, undefined, 'an applied run\'s reply carries no dryrun')

  const failed = await cli('run', 'verify-backup', 'set=broken')
  t.equal(failed.code, 1, 'a failed outcome exits 1')
  t.match(failed.stdout, /^verify-backup: .*broken/)
  t.match(failed.stdout, /dev\.caretaker\.backup\.verification\.failed, dry-run, severity critical/)

  const refused = await cli('run', 'verify-backup', 'set=nosuch')
  t.equal(refused.code, 1)
  t.match(refused.stdout, /verify-backup did not take it after 1 attempt\(s\): HTTP 4\d\d [a-z_]+: .*nosuch(.|\n)*caretaker redeliver cli-/)
})

t.test('run: who may, and where to', async (t) => {
  const intern = join(state, 'intern-token')
  await writeFile(intern, kube.mintServiceAccountToken('ops', 'intern'))
  const forbidden = await cli('run', 'verify-backup', 'set=demo', '--token-file', intern)
  t.equal(forbidden.code, 3)
  t.match(forbidden.stderr, /verify-backup refused the request: HTTP 403 forbidden: .*may not verify verify-backup(.|\n)*RoleBinding/)
  const bogus = join(state, 'bogus-token')
  await writeFile(bogus, 'not-a-token')
  const unauthenticated = await cli('run', 'verify-backup', 'set=demo', '--token-file', bogus)
  t.equal(unauthenticated.code, 3)
  t.match(unauthenticated.stderr, /HTTP 401 unauthenticated(.|\n)*Check the token/)

  // A function's Service by URL, as from a laptop through a port-forward: the request is accepted, its outcome goes to the Broker.
  const admin = join(state, 'admin-token')
  await writeFile(admin, kube.token)
  const server = await caretaker(['run', 'verify-backup', 'set=demo', '--server', verify.url, '--token-file', admin], { CARETAKER_STATE: join(state, 'nowhere') })
  t.equal(server.code, 0, server.stderr)
  t.match(server.stdout, /verify-backup: request accepted \(dry-run\), id cli-.*\n {2}The outcome goes to the Broker/)

  const closed = await freePort('127.0.0.1')
  const down = await caretaker(['run', 'verify-backup', 'set=demo', '--server', `http://127.0.0.1:${closed}`, '--token-file', admin])
  t.equal(down.code, 3)
  t.match(down.stderr, `cannot reach verify-backup's manual entry at http://127.0.0.1:${closed}/manual (ECONNREFUSED): is it running?`)

  const nothing = await caretaker(['run', 'verify-backup', 'set=demo'], { CARETAKER_STATE: join(state, 'nowhere') })
  t.equal(nothing.code, 3)
  t.match(nothing.stderr, /no running Caretaker: .*local\.json does not exist\. Start Caretaker with `npm start`/)
})

t.test('status after the runs: the last outcome of each function', async (t) => {
  const r = await cli('status')
  t.match(r.stdout, /verify-backup: ready .*\n(.*\n)* {2}last outcome \S+: verify-backup: /)
})

t.test('dead letters: listed, and one redelivered once notify is up', async (t) => {
  await mesh.broker.idle()
  const list = await cli('dead-letters')
  t.equal(list.code, 0, list.stderr)
  // Each outcome verify-backup replied went on to notify, which was down.
  t.match(list.stdout, /dev\.caretaker\.backup\.verified\n {2}from \/caretaker\/functions\/verify-backup to caretaker\/notify-[a-z-]+ \(http:\/\/127\.0\.0\.1:\d+\/?\)\n {2}\d+ attempt\(s\), last answer none \(.*\)\n {2}redeliver with: caretaker redeliver [0-9a-f]{32}/)
  // The request verify-backup refused: its 4xx answer shown.
  t.match(list.stdout, /dev\.caretaker\.backup\.verify\.requested\n(.*\n){1} {2}1 attempt\(s\), last answer HTTP 4\d\d [a-z_]+: .*nosuch/)
  const rows = JSON.parse((await cli('dead-letters', '-o', 'json')).stdout) as Array<{ event: { id: string; type: string }; redeliverable: boolean; trigger: string }>
  const verified = rows.find((r) => r.event.type === 'dev.caretaker.backup.verified' && r.redeliverable)!
  t.ok(verified, 'a verified outcome can be redelivered')

  const unknown = await cli('redeliver', 'no-such-id')
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /no dead letter with id no-such-id: caretaker dead-letters lists them/)

  const up: TestFunction = await startTestFunction(notify, {
    env: { ...env('notify'), PORT: String(notifyPort), CARETAKER_DRY_RUN: 'false' },
    config: { cluster: 'test', channels: [{ name: 'log', kind: 'log' }], routes: [{ types: ['dev.caretaker.*'], minSeverity: 'info', channels: ['log'] }] },
  })
  t.teardown(() => up.stop())
  const again = await cli('redeliver', verified.event.id)
  t.equal(again.code, 0, again.stderr)
  t.match(again.stderr, new RegExp(`${verified.event.id} sent to the Broker again; waiting for notify`))
  t.match(again.stdout, /^notify: /, 'notify took it and replied')
  t.ok(up.logLines().some((l) => (l.event as { id?: string } | undefined)?.id === verified.event.id && l.msg === 'event handled'), 'notify handled the very event')
  const lines = (await readFile(join(state, DELIVERIES_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { event: { id: string }; delivered: boolean; function: string })
  t.ok(lines.some((l) => l.event.id === verified.event.id && l.delivered && l.function === 'notify'), 'the mesh recorded the delivery')
})
