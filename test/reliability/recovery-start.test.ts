import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { CoordinationV1Api } from '@kubernetes/client-node'
import pg from 'pg'
import type { RotateSecretConfig } from '../../functions/rotate-secret/config.ts'
import { binaryHeaders } from '../../sandbox/harness/function.ts'
import { postgresSkipReason, startPostgres } from '../../sandbox/harness/postgres.ts'
import { spawnFunction, type FunctionProcess } from '../../sandbox/harness/process.ts'
import { sha256, startPlatform } from '../functions/rotate-secret/platform.ts'

// A rotation killed outright (SIGKILL) is recovered when rotate-secret
// starts again, with no redelivery of its request: the restarted container
// of the same pod (CARETAKER_POD_NAME stands for the pod's hostname) takes
// over its previous incarnation's Lease at once; another pod takes it over
// once it expired. Then the harder case: the process recovering it is
// killed mid-recovery too, and a third one finishes. Real processes (the
// test-only crash points of functions/rotate-secret/crash.ts), a real
// PostgreSQL role and a generated secret. At the end of every case the
// credential in Vault works against the target, the Secret carries it, the
// consumer restarted, no Lease and no journal are left, and the event sent
// to the Broker says what was found and done.

const skip = postgresSkipReason()
t.setTimeout(1_200_000)
if (skip) {
  t.pass(`skipped: ${skip}`)
} else {
  const pgAdmin = 'start-admin-Pw-0f-the-server'
  const server = await startPostgres({ password: pgAdmin })
  t.teardown(() => server.stop())
  const pgOld = 'start-app-old-Password-123456'
  await server.query(`create role app login password '${pgOld}'`)
  const secrets = [
    {
      name: 'postgres-app', vault: { mount: 'secret', path: 'databases/postgres/app' }, keys: ['password'], interval: '90d',
      generate: { length: 41, alphabet: 'alphanumeric' },
      target: { kind: 'postgres-role', connection: { host: '127.0.0.1', port: server.port, database: 'postgres', vault: { mount: 'secret', path: 'databases/postgres/superuser' } } },
      externalSecrets: [{ namespace: 'production', name: 'api-db-credentials' }],
      consumers: [{ kind: 'Deployment', namespace: 'production', name: 'api' }],
    },
    {
      name: 'api-jwt', vault: { mount: 'secret', path: 'production/api/jwt' }, keys: ['signingKey'], interval: '180d',
      generate: { bytes: 48, encoding: 'base64' }, target: { kind: 'generated' },
      externalSecrets: [{ namespace: 'production', name: 'api-jwt' }],
      consumers: [{ kind: 'Deployment', namespace: 'production', name: 'web' }],
    },
  ] as RotateSecretConfig['secrets']
  const timing = { leaseDuration: '3s', syncTimeout: '5s', rolloutTimeout: '8s', connectTimeout: '2s' }
  const p = await startPlatform({ ...timing, secrets })
  t.teardown(() => p.close())
  p.vault.putSecret('secret', 'databases/postgres/superuser', { username: 'postgres', password: pgAdmin })
  p.vault.putSecret('secret', 'databases/postgres/app', { username: 'app', password: pgOld }, { 'rotated-at': '2026-01-01T00:00:00Z' })
  p.vault.putSecret('secret', 'production/api/jwt', { signingKey: 'start-old-signing-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaa' }, { 'rotated-at': '2026-01-01T00:00:00Z' })
  await p.externalSecret('production', 'api-db-credentials', [{ secretKey: 'password', path: 'databases/postgres/app', property: 'password' }])
  await p.externalSecret('production', 'api-jwt', [{ secretKey: 'JWT_SIGNING_KEY', path: 'production/api/jwt', property: 'signingKey' }])
  p.deployment('production', 'api')
  p.deployment('production', 'web')
  await p.kube.controllers.idle()

  const dir = await mkdtemp(join(tmpdir(), 'caretaker-recovery-start-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const configPath = join(dir, 'config.yaml')
  await writeFile(configPath, JSON.stringify({ ...timing, secrets }))
  const env = {
    CARETAKER_CONFIG: configPath, CARETAKER_KUBE_SERVER: p.kube.url, CARETAKER_KUBE_TOKEN: p.kube.mintServiceAccountToken('caretaker', 'rotate-secret'),
    CARETAKER_DRY_RUN: 'false', K_SINK: `${p.sink.url}/broker`, VAULT_ADDR: p.vault.url, VAULT_TOKEN: p.vault.rootToken, LOG_LEVEL: 'info',
  }
  const processes: FunctionProcess[] = []
  t.teardown(() => { for (const f of processes) f.child.kill('SIGKILL') })
  /** A rotate-secret process of the pod named; `crashAt` makes it kill itself there. */
  const start = async (pod: string, crashAt?: string) => {
    // Every process here ends by SIGKILL: none writes coverage, so none collects it.
    const fn = spawnFunction('rotate-secret', { ...env, CARETAKER_POD_NAME: pod, ...(crashAt ? { CARETAKER_TEST_CRASH_AT: crashAt } : {}) }, { coverage: false })
    processes.push(fn)
    const ready = await fn.waitForLine((l) => l.msg === 'function ready', 120_000)
    return { fn, url: String(ready.address) }
  }
  const request = async (url: string, secret: string, id: string) => {
    const res = await fetch(url, { method: 'POST', headers: binaryHeaders('dev.caretaker.secret.rotate.requested', { 'ce-id': id, 'ce-source': '/test/recovery-start' }), body: JSON.stringify({ secret }) })
    const text = await res.text()
    p.replies.push(text)
    return text
  }
  const canPg = async (password: string) => {
    const c = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'app', password, database: 'postgres', connectionTimeoutMillis: 2000 })
    c.on('error', () => undefined)
    try {
      await c.connect()
      await c.query('select 1')
      return true
    } catch {
      return false
    } finally {
      await c.end().catch(() => undefined)
    }
  }
  const where = {
    'postgres-app': { path: 'databases/postgres/app', key: 'password', secret: ['production', 'api-db-credentials', 'password'], consumer: ['production', 'api'], logsIn: canPg },
    'api-jwt': { path: 'production/api/jwt', key: 'signingKey', secret: ['production', 'api-jwt', 'JWT_SIGNING_KEY'], consumer: ['production', 'web'], logsIn: undefined },
  } as const
  type Name = keyof typeof where
  const vaultValue = (name: Name) => String(p.vault.getSecret('secret', where[name].path)![where[name].key])
  const leases = async () => (await p.admin.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: 'caretaker' })).items.map((l) => l.metadata?.name)
  /** The events recovery at start sent to the Broker, for one secret. */
  const recoveryEvents = (name: Name) => p.sink.on('/broker')
    .filter((r) => r.headers['ce-subject'] === name && r.headers['ce-source'] === '/caretaker/functions/rotate-secret')
    .map((r) => ({ type: String(r.headers['ce-type']), id: String(r.headers['ce-id']), data: JSON.parse(r.body.toString('utf8')) as Record<string, unknown> }))
    .filter((e) => e.data.trigger === 'recovery at process start')
  const recoveryDone = (fn: FunctionProcess) => fn.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('recovery at process start'), 60_000)

  /** A rotation of `name` killed at `point` by a process of `pod`: returns the values and state before. */
  const killRotation = async (t: Test, name: Name, pod: string, point: string, id: string) => {
    const before = vaultValue(name)
    const restartedBefore = (await p.deploymentOf(where[name].consumer[0], where[name].consumer[1])).restartedAt
    const doomed = await start(pod, point)
    const cut = await request(doomed.url, name, id).then(() => 'answered', () => 'cut off')
    t.equal(cut, 'cut off', `killed at ${point} before answering`)
    t.equal(await doomed.fn.exited, null, 'killed by a signal')
    t.ok(p.vault.getSecret('secret', `caretaker/rotate-secret/${name}`), 'it left its journal')
    t.same(await leases(), [`rotate-secret.${name}`], 'and its Lease')
    return { before, restartedBefore }
  }

  /** Everything a finished recovery leaves: `rotated` (the new value) or not (the previous one). */
  const checkEnd = async (t: Test, name: Name, state: { before: string; restartedBefore: string | undefined }, rotated: boolean) => {
    const w = where[name]
    const now = vaultValue(name)
    if (rotated) t.not(now, state.before, 'Vault holds the new value')
    else t.equal(now, state.before, 'Vault holds the previous value')
    if (w.logsIn) {
      t.equal(await w.logsIn(now), true, 'the credential in Vault logs in to the target')
      if (rotated) t.equal(await w.logsIn(state.before), false, 'the one before it no longer does')
    }
    const [ns, secretName, key] = w.secret
    t.equal((await p.secretHashes(ns, secretName))[key], sha256(now), 'the Secret carries Vault\'s value')
    const consumer = await p.deploymentOf(w.consumer[0], w.consumer[1])
    if (rotated) t.ok(consumer.restartedAt && consumer.restartedAt !== state.restartedBefore && consumer.observedGeneration >= consumer.generation && consumer.available === 2, 'the consumer restarted with it')
    t.same(await leases(), [], 'no Lease left')
    t.equal(p.vault.getSecret('secret', `caretaker/rotate-secret/${name}`), null, 'no journal left')
  }

  t.test('restarted in the same pod: the new process recovers at start, with no redelivery', async (t) => {
    const state = await killRotation(t, 'postgres-app', 'rotate-secret-a', 'before:write', 'start-1')
    const seen = recoveryEvents('postgres-app').length
    const { fn, url } = await start('rotate-secret-a')
    const done = await recoveryDone(fn)
    t.equal(done.msg, 'recovery at process start done', JSON.stringify(done))
    t.ok(fn.lines.findIndex((l) => l.msg === 'function ready') < fn.lines.indexOf(done), 'ready before the recovery finished: readiness does not wait for it')
    const events = recoveryEvents('postgres-app').slice(seen)
    t.equal(events.length, 1, 'one outcome sent to the Broker')
    t.equal(events[0]?.type, 'dev.caretaker.secret.rotated')
    t.match(events[0]?.data, { secret: 'postgres-app', trigger: 'recovery at process start', recovered: { action: 'rolled-forward', stepFound: 'verify', interrupted: { trigger: 'request' } } }, 'it says what was found and done')
    t.match(fn.lines.find((l) => l.msg === 'a rotation\'s Lease was left by a holder that is gone: recovering it'), { left: 'previous-incarnation' }, 'the previous incarnation\'s Lease was taken over at once')
    await checkEnd(t, 'postgres-app', state, true)
    t.match(await (await fetch(`${url}/metrics`)).text(), /caretaker_secret_rotation_recoveries_total\{secret="postgres-app",action="rolled-forward",at="start"\} 1/, 'counted')
    // The broker's redelivery, should it still come, finds the request done.
    const again = JSON.parse(await request(url, 'postgres-app', 'start-1')) as Record<string, unknown>
    t.equal(again.alreadyRotated, true, 'a later redelivery finds the rotation done')
    fn.child.kill('SIGKILL')
  })

  t.test('another pod, once the dead holder\'s Lease expired: rolls back a rotation cut off before its target changed', async (t) => {
    const state = await killRotation(t, 'postgres-app', 'rotate-secret-b', 'before:apply', 'start-2')
    await new Promise((r) => setTimeout(r, 3500))
    const seen = recoveryEvents('postgres-app').length
    const { fn } = await start('rotate-secret-c')
    await recoveryDone(fn)
    t.match(fn.lines.find((l) => l.msg === 'a rotation\'s Lease was left by a holder that is gone: recovering it'), { left: 'expired' })
    const events = recoveryEvents('postgres-app').slice(seen)
    t.equal(events[0]?.type, 'dev.caretaker.secret.rotation.failed', 'the cut-off rotation did not happen, and the event says so')
    t.match(events[0]?.data, { recovered: { action: 'rolled-back', stepFound: 'generate' }, rolledBack: true, credentialInVault: 'previous', reason: /cut off at step generate/ })
    await checkEnd(t, 'postgres-app', state, false)
    fn.child.kill('SIGKILL')
  })

  // Killed mid-way, then killed again while recovering it, then a third process finishes.
  const twice: Array<[name: Name, point: string, recoveryPoint: string, action: string, stepFound: string, message: RegExp]> = [
    ['postgres-app', 'before:write', 'recover:write', 'rolled-forward', 'verify', /Vault held the new value already/],
    ['api-jwt', 'before:write', 'recover:sync', 'rolled-forward', 'verify', /Vault held the new value already/],
    ['postgres-app', 'before:apply', 'recover:revert', 'rolled-back', 'generate', /the target has the previous credential/],
  ]
  for (const [i, [name, point, recoveryPoint, action, stepFound, message]] of twice.entries()) {
    const pod = `rotate-secret-twice-${i}`
    t.test(`${name}: killed at ${point}, its recovery killed at ${recoveryPoint}, a third process finishes`, async (t) => {
      const state = await killRotation(t, name, pod, point, `twice-${i}`)
      const seen = recoveryEvents(name).length
      const second = await start(pod, recoveryPoint)
      t.equal(await second.fn.exited, null, `the recovering process was killed at ${recoveryPoint}`)
      t.equal(recoveryEvents(name).length, seen, 'it sent nothing')
      t.same(await leases(), [`rotate-secret.${name}`], 'its Lease is left, for the next holder')
      const third = await start(pod)
      const done = await recoveryDone(third.fn)
      t.equal(done.msg, 'recovery at process start done', JSON.stringify(done))
      const events = recoveryEvents(name).slice(seen)
      t.equal(events.length, 1, 'one outcome sent')
      t.equal(events[0]?.type, action === 'rolled-forward' ? 'dev.caretaker.secret.rotated' : 'dev.caretaker.secret.rotation.failed')
      t.match(events[0]?.data, { recovered: { action, stepFound, message } }, 'the third process says what it found (the first one\'s step) and did')
      await checkEnd(t, name, state, action === 'rolled-forward')
      third.fn.child.kill('SIGKILL')
    })
  }

  t.test('two replicas start at once after a kill: the Lease decides which one recovers, once', async (t) => {
    const state = await killRotation(t, 'api-jwt', 'rotate-secret-r1', 'before:sync', 'replicas-1')
    await new Promise((r) => setTimeout(r, 3500))
    const seen = recoveryEvents('api-jwt').length
    const replicas = await Promise.all([start('rotate-secret-r2'), start('rotate-secret-r3')])
    const checked = await Promise.all(replicas.map(({ fn }) => fn.waitForLine((l) => l.msg === 'recovery at process start: every secret\'s Lease checked', 60_000)))
    t.same(checked.map((l) => l.recovered).sort(), [0, 1], 'one replica recovered it, the other left it')
    const events = recoveryEvents('api-jwt').slice(seen)
    t.equal(events.length, 1, 'one outcome sent')
    t.match(events[0]?.data, { recovered: { action: 'rolled-forward', stepFound: 'write' } })
    await checkEnd(t, 'api-jwt', state, true)
    for (const { fn } of replicas) fn.child.kill('SIGKILL')
  })

  t.test('no value in any log line, reply or event', async (t) => {
    const values = new Set<string>([pgAdmin, pgOld])
    for (const w of Object.values(where)) {
      for (let v = 1; v <= 100; v++) {
        const data = p.vault.getSecret('secret', w.path, v)
        if (data) values.add(String(data[w.key]))
      }
    }
    const text = [p.logText(), p.replies.join('\n'), p.sink.requests.map((r) => r.body.toString('utf8')).join('\n'), ...processes.map((f) => JSON.stringify(f.lines) + f.stderr())].join('\n')
    t.ok(values.size >= 7, `values searched for: ${values.size}`)
    t.same([...values].filter((v) => text.includes(v)), [], 'none found')
  })
}
