import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { CoreV1Api, CoordinationV1Api } from '@kubernetes/client-node'
import pg from 'pg'
import type { RotateSecretConfig } from '../../../functions/rotate-secret/config.ts'
import { postgresSkipReason, startPostgres } from '../../../sandbox/harness/postgres.ts'
import { freePort } from '../../../sandbox/harness/ports.ts'
import { sha256, startPlatform } from './platform.ts'

// rotate-secret end to end over HTTP: a real PostgreSQL role and generated
// secrets, Vault and Kubernetes simulators with the manifest's RBAC; a full
// rotation of each kind, a failure injected at every step, the lock, the
// redelivery, the sweep, dry-run, and no generated value anywhere it must
// not be.

const DAY = 86_400_000
const skip = postgresSkipReason()
if (skip) {
  t.pass(`skipped: ${skip}`)
} else {
  const adminPassword = 'admin-Pw-0f-the-test-server'
  const server = await startPostgres({ password: adminPassword })
  t.teardown(() => server.stop())
  const oldAppPassword = 'app-old-Password-1234567890'
  const reportingPassword = 'reporting-Password-1234567890'
  await server.query(`create role app login password '${oldAppPassword}'`)
  await server.query(`create role reporting login password '${reportingPassword}'`)
  const closedPort = await freePort('127.0.0.1')

  const connection = (port: number) => ({ host: '127.0.0.1', port, database: 'postgres', vault: { mount: 'secret', path: 'databases/postgres/superuser' } })
  const config: Pick<RotateSecretConfig, 'secrets'> = {
    secrets: [
      {
        name: 'postgres-app', vault: { mount: 'secret', path: 'databases/postgres/app' }, keys: ['password'], interval: '90d',
        generate: { length: 41, alphabet: 'alphanumeric' },
        target: { kind: 'postgres-role', connection: connection(server.port) },
        externalSecrets: [{ namespace: 'production', name: 'api-db-credentials' }],
        consumers: [{ kind: 'Deployment', namespace: 'production', name: 'api' }],
      },
      {
        name: 'postgres-reporting', vault: { mount: 'secret', path: 'databases/postgres/reporting' }, keys: ['password'], interval: '90d',
        generate: { length: 41, alphabet: 'alphanumeric' },
        target: { kind: 'postgres-role', connection: connection(closedPort) },
        externalSecrets: [], consumers: [],
      },
      {
        name: 'api-jwt', vault: { mount: 'secret', path: 'production/api/jwt' }, keys: ['signingKey'], interval: '180d',
        generate: { bytes: 48, encoding: 'base64' }, target: { kind: 'generated' },
        externalSecrets: [{ namespace: 'production', name: 'api-jwt' }],
        consumers: [{ kind: 'Deployment', namespace: 'production', name: 'web' }],
      },
      {
        name: 'web-session', vault: { mount: 'secret', path: 'production/web/session' }, keys: ['sessionSecret'], interval: '180d',
        generate: { bytes: 48, encoding: 'base64' }, target: { kind: 'generated' },
        externalSecrets: [{ namespace: 'production', name: 'web-session' }],
        consumers: [{ kind: 'Deployment', namespace: 'production', name: 'web' }],
      },
    ] as RotateSecretConfig['secrets'],
  }
  const p = await startPlatform(config)
  t.teardown(() => p.close())
  const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString()
  p.vault.putSecret('secret', 'databases/postgres/superuser', { username: 'postgres', password: adminPassword }, { 'rotated-at': ago(10) })
  p.vault.putSecret('secret', 'databases/postgres/app', { username: 'app', password: oldAppPassword }, { 'rotated-at': ago(104), owner: 'platform-team' })
  p.vault.putSecret('secret', 'databases/postgres/reporting', { username: 'reporting', password: reportingPassword }, { 'rotated-at': ago(31) })
  p.vault.putSecret('secret', 'production/api/jwt', { signingKey: 'old-signing-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' }, { 'rotated-at': ago(20) })
  p.vault.putSecret('secret', 'production/web/session', { sessionSecret: 'old-session-secret-bbbbbbbbbbbbbbbbbbbbbbbbbbbb' }, { 'rotated-at': ago(62) })
  await p.externalSecret('production', 'api-db-credentials', [{ secretKey: 'username', path: 'databases/postgres/app', property: 'username' }, { secretKey: 'password', path: 'databases/postgres/app', property: 'password' }])
  await p.externalSecret('production', 'api-jwt', [{ secretKey: 'JWT_SIGNING_KEY', path: 'production/api/jwt', property: 'signingKey' }])
  await p.externalSecret('production', 'web-session', [{ secretKey: 'SESSION_SECRET', path: 'production/web/session', property: 'sessionSecret' }])
  p.deployment('production', 'api')
  p.deployment('production', 'web')
  await p.kube.controllers.idle()

  const vaultValue = (path: string, key: string) => String((p.vault.getSecret('secret', path) as Record<string, unknown>)[key])
  function versionOf(path: string): number {
    let v = 0
    while (p.vault.getSecret('secret', path, v + 1) !== null) v++
    return v
  }
  const metadataOf = async (path: string) => {
    const res = await fetch(`${p.vault.url}/v1/secret/metadata/${path}`, { headers: { 'X-Vault-Token': p.vault.rootToken } })
    return ((await res.json()) as { data: { custom_metadata: Record<string, string> | null; current_version: number } }).data
  }
  const canLogin = async (user: string, password: string): Promise<boolean> => {
    const c = new pg.Client({ host: '127.0.0.1', port: server.port, user, password, database: 'postgres', connectionTimeoutMillis: 2000 })
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
  const leases = async () => (await p.admin.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: 'caretaker' })).items
  const eventsOn = async (namespace: string, name: string) => (await p.admin.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace })).items.filter((e) => e.involvedObject.name === name)
  const metric = async (name: string, labels: string) => {
    const m = new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(await p.metrics())
    return m ? Number(m[1]) : undefined
  }
  /** The invariant every test ends with: the credential in Vault logs in. */
  const vaultCredentialWorks = () => canLogin('app', vaultValue('databases/postgres/app', 'password'))
  const request = (secret: string, extra: Record<string, string> = {}) => p.send('dev.caretaker.secret.rotate.requested', { secret }, extra)

  t.test('dry-run reports the plan and changes nothing', async (t) => {
    const before = versionOf('databases/postgres/app')
    const deployment = await p.deploymentOf('production', 'api')
    const res = await request('postgres-app', { 'ce-dryrun': 'true' })
    t.equal(res.status, 200)
    t.equal(res.type, 'dev.caretaker.secret.rotated')
    t.equal(res.body?.dryRun, true)
    const plan = res.body?.plan as { steps: string[]; restarts: unknown[]; target: string; vault: { currentVersion: number } }
    t.equal(plan.vault.currentVersion, before)
    t.match(plan.target, /PostgreSQL role app/)
    t.match(plan.steps.join('\n'), /force-sync ExternalSecret production\/api-db-credentials and wait for Secret production\/api-db-credentials \(keys password\)/)
    t.same(plan.restarts, [{ kind: 'Deployment', namespace: 'production', name: 'api' }], 'who would restart')
    t.equal(versionOf('databases/postgres/app'), before, 'Vault unchanged')
    t.ok(await canLogin('app', oldAppPassword), 'the role keeps its password')
    t.same(await p.deploymentOf('production', 'api'), deployment, 'no restart')
    t.same(await leases(), [], 'no Lease taken')
  })

  t.test('a PostgreSQL role is rotated end to end', async (t) => {
    const before = versionOf('databases/postgres/app')
    const res = await request('postgres-app')
    t.equal(res.status, 200)
    t.equal(res.type, 'dev.caretaker.secret.rotated', JSON.stringify(res.body))
    const body = res.body as Record<string, unknown>
    t.same((body.steps as Array<{ step: string }>).map((s) => s.step), ['lock', 'read', 'generate', 'apply', 'verify', 'write', 'sync', 'restart'])
    t.equal(versionOf('databases/postgres/app'), before + 1)
    t.match(body.vault, { previousVersion: before, version: before + 1 })
    const fresh = vaultValue('databases/postgres/app', 'password')
    t.match(fresh, /^[A-Za-z0-9]{41}$/, 'generated by the policy: 41 alphanumeric characters')
    t.equal(vaultValue('databases/postgres/app', 'username'), 'app', 'the other keys of the secret are kept')
    t.ok(await canLogin('app', fresh), 'the new password works')
    t.notOk(await canLogin('app', oldAppPassword), 'the old one no longer does')
    const meta = await metadataOf('databases/postgres/app')
    t.ok(Date.now() - Date.parse(meta.custom_metadata!['rotated-at']!) < 60_000, 'the rotation time is in Vault\'s custom metadata')
    t.equal(meta.custom_metadata!.owner, 'platform-team', 'other custom metadata is kept')
    t.equal((await p.secretHashes('production', 'api-db-credentials')).password, sha256(fresh), 'the synced Secret carries the new value')
    const api = await p.deploymentOf('production', 'api')
    t.ok(api.restartedAt, 'the consumer was restarted')
    t.ok(api.observedGeneration >= api.generation && api.available === 2, 'and its rollout finished')
    t.ok(Number(body.lockoutWindowMs) > 0, 'the window with one valid password is measured')
    t.same(await leases(), [], 'the Lease is released')
    const events = await eventsOn('production', 'api-db-credentials')
    t.ok(events.some((e) => e.reason === 'SecretRotated' && e.type === 'Normal'), 'a Kubernetes Event records it')
    t.ok((await metric('caretaker_secret_last_rotation_timestamp_seconds', 'secret="postgres-app"'))! > Date.now() / 1000 - 60)
    t.equal(await metric('caretaker_secret_rotations_total', 'secret="postgres-app",result="rotated"'), 1)
  })

  t.test('a generated secret is rotated: Vault, Secret, consumers', async (t) => {
    const res = await request('api-jwt')
    t.equal(res.type, 'dev.caretaker.secret.rotated', JSON.stringify(res.body))
    const fresh = vaultValue('production/api/jwt', 'signingKey')
    t.equal(Buffer.from(fresh, 'base64').length, 48, '48 random bytes, base64')
    t.equal((await p.secretHashes('production', 'api-jwt')).JWT_SIGNING_KEY, sha256(fresh))
    t.ok((await p.deploymentOf('production', 'web')).restartedAt)
    t.equal(res.body?.lockoutWindowMs, 0)
  })

  t.test('a redelivered request does not rotate twice, even after a restart', async (t) => {
    const headers = { 'ce-id': 'rotate-jwt-once', 'ce-source': '/manual/ops' }
    const first = await request('api-jwt', headers)
    t.equal(first.type, 'dev.caretaker.secret.rotated')
    const version = versionOf('production/api/jwt')
    const again = await request('api-jwt', headers)
    t.equal(again.status, 200)
    t.equal(versionOf('production/api/jwt'), version, 'the runtime answers the redelivery with the recorded reply')
    await p.restart()
    const res = await request('api-jwt', headers)
    const body = res.body as Record<string, unknown>
    t.equal(body.alreadyRotated, true, 'a restarted instance finds the request in Vault\'s metadata')
    t.equal(versionOf('production/api/jwt'), version, 'no second rotation')
  })

  t.test('two rotations of one secret at once: one runs, the other reports the lock', async (t) => {
    const before = versionOf('production/api/jwt')
    // Slow reads keep the first rotation inside its Lease while the second arrives.
    p.vault.faults.latency(300, 'GET', 'secret/data/production/api/jwt', 1)
    const [a, b] = await Promise.all([request('api-jwt'), request('api-jwt')])
    const types = [a.type, b.type].sort()
    t.same(types, ['dev.caretaker.secret.rotated', 'dev.caretaker.secret.rotation.failed'])
    const locked = [a, b].find((r) => r.type === 'dev.caretaker.secret.rotation.failed')!
    t.equal(locked.body?.failedStep, 'lock')
    t.equal(locked.body?.changed, false)
    t.match(locked.body?.reason, /holds its lock \(Lease caretaker\/rotate-secret\.api-jwt/)
    t.equal(versionOf('production/api/jwt'), before + 1, 'exactly one rotation')
    t.equal(await metric('caretaker_secret_rotations_total', 'secret="api-jwt",result="locked"'), 1)
  })

  t.test('failures', async (t) => {
    t.test('target unreachable: nothing changes', async (t) => {
      const before = versionOf('databases/postgres/reporting')
      const res = await request('postgres-reporting')
      t.equal(res.status, 200, 'a failed rotation is an outcome, not an error')
      t.equal(res.type, 'dev.caretaker.secret.rotation.failed')
      t.match(res.body, { failedStep: 'apply', changed: false, rolledBack: true, credentialInVault: 'previous' })
      t.match(res.body?.reason, /unreachable \(ECONNREFUSED\)/)
      t.equal(versionOf('databases/postgres/reporting'), before)
      t.ok(await canLogin('reporting', vaultValue('databases/postgres/reporting', 'password')), 'the credential in Vault works')
    })

    t.test('the new password is refused at login: the old one is put back', async (t) => {
      const before = versionOf('databases/postgres/app')
      await server.query('alter role app connection limit 0')
      const res = await request('postgres-app')
      await server.query('alter role app connection limit -1')
      t.equal(res.type, 'dev.caretaker.secret.rotation.failed')
      t.match(res.body, { failedStep: 'verify', changed: true, rolledBack: true, credentialInVault: 'previous' })
      t.match(res.body?.reason, /logging in as app@127\.0\.0\.1:\d+ with the new password: .*53300/)
      t.match(res.body?.rollback, [{ step: 'apply', ok: true }])
      t.equal(versionOf('databases/postgres/app'), before, 'Vault was never written')
      t.ok(await vaultCredentialWorks(), 'the credential in Vault works against the role')
      t.equal(await metric('caretaker_secret_rotation_failures_total', 'secret="postgres-app",step="verify",rolled_back="true"'), 1)
    })

    t.test('Vault seals as the new value is written: the target gets the old password back', async (t) => {
      const before = versionOf('databases/postgres/app')
      p.vault.faults.sealOn(['PUT', 'POST'], 'secret/data/databases/postgres/app')
      const res = await request('postgres-app')
      p.vault.unseal()
      t.match(res.body, { failedStep: 'write', rolledBack: true, credentialInVault: 'previous' })
      t.match(res.body?.reason, /sealed/)
      t.equal(versionOf('databases/postgres/app'), before)
      t.ok(await vaultCredentialWorks())
    })

    t.test('a check-and-set mismatch: someone wrote the secret meanwhile', async (t) => {
      const path = 'databases/postgres/app'
      const before = versionOf(path)
      p.vault.faults.add({ method: ['PUT', 'POST'], path: `secret/data/${path}`, times: 1, latencyMs: 1500 })
      const pending = request('postgres-app')
      const seen = p.vault.requests.length
      while (!p.vault.requests.slice(seen).some((r) => (r.method === 'PUT' || r.method === 'POST') && r.path.includes(`secret/data/${path}`))) await sleep(10)
      // Another writer adds a key while the rotation's write is in flight.
      p.vault.putSecret('secret', path, { username: 'app', password: vaultValue(path, 'password'), note: 'edited by hand' })
      const res = await pending
      t.match(res.body, { failedStep: 'write', rolledBack: true, credentialInVault: 'previous' })
      t.match(res.body?.reason, /check-and-set/)
      t.equal(versionOf(path), before + 1, 'only the other writer\'s version')
      t.ok(await vaultCredentialWorks())
    })

    t.test('the ExternalSecret never syncs: Vault and the role are rolled back', async (t) => {
      const path = 'databases/postgres/app'
      const before = versionOf(path)
      const secretBefore = await p.secretHashes('production', 'api-db-credentials')
      await p.setStorePath('nowhere')
      const res = await request('postgres-app')
      await p.setStorePath('secret')
      t.match(res.body, { failedStep: 'sync', rolledBack: true, credentialInVault: 'previous' })
      t.match(res.body?.reason, /Secret production\/api-db-credentials did not carry the new value within 3s/)
      t.match(res.body?.rollback, [{ step: 'write', ok: true }, { step: 'apply', ok: true }, { step: 'sync', ok: true }])
      t.equal(versionOf(path), before + 2, 'the new version, then the previous value again')
      t.ok(await vaultCredentialWorks())
      t.same(await p.secretHashes('production', 'api-db-credentials'), secretBefore, 'the Secret still carries the working value')
    })

    t.test('a consumer\'s rollout fails: everything goes back, the Secret too', async (t) => {
      const path = 'databases/postgres/app'
      p.kube.controllers.failRollout('Deployment', 'production', 'api')
      const res = await request('postgres-app')
      p.kube.controllers.failRollout('Deployment', 'production', 'api', false)
      t.match(res.body, { failedStep: 'restart', rolledBack: true, credentialInVault: 'previous' })
      t.match(res.body?.reason, /the rollout of Deployment production\/api failed/)
      t.match(res.body?.rollback, [{ step: 'write', ok: true }, { step: 'apply', ok: true }, { step: 'sync', ok: true }, { step: 'restart', ok: true, message: /not restarted again/ }])
      t.ok(await vaultCredentialWorks())
      t.equal((await p.secretHashes('production', 'api-db-credentials')).password, sha256(vaultValue(path, 'password')), 'the Secret carries Vault\'s value again')
      const events = await eventsOn('production', 'api-db-credentials')
      t.ok(events.some((e) => e.reason === 'SecretRotationFailed' && e.type === 'Warning'))
    })
  })

  t.test('the daily sweep rotates only what is due', async (t) => {
    // api-jwt was rotated above; make it 200 days old again. web-session is 62 of 180 days old.
    p.vault.putSecret('secret', 'production/api/jwt', { signingKey: vaultValue('production/api/jwt', 'signingKey') }, { 'rotated-at': ago(200) })
    // Only api-jwt is due: postgres-app was just rotated, reporting is 31 of 90 days old.
    p.vault.putSecret('secret', 'databases/postgres/app', { username: 'app', password: vaultValue('databases/postgres/app', 'password') }, { 'rotated-at': ago(1) })
    const versions = { jwt: versionOf('production/api/jwt'), session: versionOf('production/web/session'), app: versionOf('databases/postgres/app') }
    const emittedBefore = p.sink.on('/broker').length
    const res = await p.send('dev.knative.sources.ping', { sweep: 'daily' }, { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/rotate-secret-sweep' })
    t.equal(res.type, 'dev.caretaker.secret.sweep.completed')
    t.match(res.body, { due: 1, rotated: 1, failed: 0 })
    const rows = res.body?.secrets as Array<{ secret: string; due: boolean; result?: string }>
    t.same(rows.filter((r) => r.due).map((r) => r.secret), ['api-jwt'])
    t.equal(versionOf('production/api/jwt'), versions.jwt + 1)
    t.equal(versionOf('production/web/session'), versions.session, 'a secret not due is left alone')
    t.equal(versionOf('databases/postgres/app'), versions.app)
    const emitted = p.sink.on('/broker').slice(emittedBefore)
    t.same(emitted.map((e) => `${String(e.headers['ce-type'])} ${String(e.headers['ce-subject'])}`), ['dev.caretaker.secret.rotated api-jwt'], 'one outcome event per rotation')
    const again = await p.send('dev.knative.sources.ping', { sweep: 'daily' }, { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/rotate-secret-sweep' })
    t.match(again.body, { due: 0, rotated: 0 }, 'a second sweep finds nothing due')
    t.ok((await metric('caretaker_secret_rotation_due_timestamp_seconds', 'secret="web-session"'))! > Date.now() / 1000, 'when each secret falls due is a metric')
  })

  t.test('bad requests are 400s and rotate nothing', async (t) => {
    const res = await request('mongodb')
    t.equal(res.status, 400)
    t.match(res.body?.message, /no secret named "mongodb"; configured secrets: postgres-app, postgres-reporting, api-jwt, web-session/)
    const empty = await p.send('dev.caretaker.secret.rotate.requested', {})
    t.equal(empty.status, 400)
  })

  t.test('no secret value appears in any log line, reply, event sent or metric of the run', async (t) => {
    const values = new Set<string>()
    for (const path of ['databases/postgres/app', 'databases/postgres/reporting', 'databases/postgres/superuser', 'production/api/jwt', 'production/web/session']) {
      for (let v = 1; v <= versionOf(path); v++) {
        for (const [k, value] of Object.entries(p.vault.getSecret('secret', path, v) ?? {})) if (k !== 'username' && k !== 'note') values.add(String(value))
      }
    }
    t.ok(values.size >= 12, `every value Vault ever held (${values.size})`)
    const haystacks = {
      logs: p.logText(),
      replies: p.replies.join('\n'),
      emitted: p.sink.requests.map((r) => r.body.toString('utf8')).join('\n'),
      metrics: await p.metrics(),
    }
    t.ok(haystacks.logs.length > 1000 && haystacks.replies.length > 1000)
    for (const [where, text] of Object.entries(haystacks)) {
      const leaked = [...values].filter((v) => text.includes(v) || text.includes(Buffer.from(v).toString('base64')))
      t.same(leaked.length, 0, `no value in the ${where}`)
      // Values that were generated and rolled back never reached Vault: look for the shape of one too.
      t.notOk(/(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{41}(?![A-Za-z0-9])/.test(text), `nothing shaped like a generated password in the ${where}`)
    }
  })
}
