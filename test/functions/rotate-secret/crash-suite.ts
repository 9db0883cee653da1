import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { CoordinationV1Api } from '@kubernetes/client-node'
import { Redis } from 'ioredis'
import pg from 'pg'
import type { RotateSecretConfig } from '../../../functions/rotate-secret/config.ts'
import { binaryHeaders } from '../../../sandbox/harness/function.ts'
import { postgresSkipReason, startPostgres } from '../../../sandbox/harness/postgres.ts'
import { spawnFunction, type FunctionProcess } from '../../../sandbox/harness/process.ts'
import { redisSkipReason, startRedis } from '../../../sandbox/harness/redis.ts'
import { startKeycloakSimulator } from '../../../sandbox/simulators/keycloak/index.ts'
import { sha256, startPlatform } from './platform.ts'

// A rotation killed outright (SIGKILL, as the kubelet kills a pod) at every
// step boundary of every target kind, as a real process: a real PostgreSQL
// role, a real Redis primary and replica (requirepass, and an ACL user), a
// generated secret, a Keycloak client (the stand-in of
// sandbox/simulators/keycloak); and Vault sealed mid-way. The crash points are the
// test-only CARETAKER_TEST_CRASH_AT of functions/rotate-secret/crash.ts.
// After the kill the request is redelivered, to a restarted process or to
// another replica (an in-process instance), which takes the dead holder's
// Lease once it expires and finishes or undoes the cut-off rotation from
// its journal. At the end of every case: the credential in Vault logs in to
// the target and the one before it no longer does, the synced Secret
// carries it and the consumers restarted with it, no Lease and no journal
// are left, and the reply says what was found and done.

// The cases are split over test files (each with its own servers and
// platform, only those its secrets need) so that the runner can run them
// side by side.

export type CrashSecret = 'postgres-app' | 'redis-requirepass' | 'redis-app' | 'api-jwt' | 'keycloak-app'

/**
 * The crash cases of the secrets named, and (with `others`) the cases that
 * are not one secret's step boundaries: Vault sealed, killed while undoing,
 * the sweep, a redelivery during its own rotation. Every file ends with the
 * check that no value leaked.
 */
export async function crashSuite(only: CrashSecret[], others: boolean): Promise<void> {
  // The servers the cases need: the other cases use the PostgreSQL role and the generated key.
  const needed = new Set<CrashSecret>([...only, ...(others ? ['postgres-app', 'api-jwt'] as const : [])])
  const needsRedis = needed.has('redis-requirepass') || needed.has('redis-app')
  const skip = (needed.has('postgres-app') ? postgresSkipReason() : undefined) || (needsRedis ? redisSkipReason() : undefined)
  // Up to 20 kills, each with a process started for it and a Lease to wait out.
  t.setTimeout(1_800_000)
  if (skip) {
    t.pass(`skipped: ${skip}`)
  } else {
    const pgAdmin = 'crash-admin-Pw-0f-the-server'
    const server = needed.has('postgres-app') ? await startPostgres({ password: pgAdmin }) : undefined
    if (server) {
      t.teardown(() => server.stop())
      await server.query(`create role app login password 'crash-app-old-Password-123456'`)
    }
    const requirepass = 'crash-requirepass-old-123456'
    const plain = needed.has('redis-requirepass') ? await startRedis({ password: requirepass, replica: true, configFile: true }) : undefined
    if (plain) t.teardown(() => plain.stop())
    const aclAdmin = 'crash-acl-admin-Password-123'
    const acl = needed.has('redis-app') ? await startRedis({ password: aclAdmin, replica: true, configFile: true }) : undefined
    if (acl) t.teardown(() => acl.stop())
    const aclOld = 'crash-acl-app-old-Password-12'
    for (const port of acl ? [acl.port, acl.replica!.port] : []) {
      const r = new Redis({ host: '127.0.0.1', port, password: aclAdmin, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      r.on('error', () => undefined)
      await r.connect()
      await r.call('ACL', 'SETUSER', 'app', 'on', `>${aclOld}`, '~*', '&*', '+@all')
      r.disconnect()
    }
    const kcAdmin = 'crash-kc-admin-Secret-1234567'
    const kcOld = 'crash-kc-web-old-Secret-12345'
    const kc = needed.has('keycloak-app') ? await startKeycloakSimulator() : undefined
    if (kc) {
      t.teardown(() => kc.close())
      kc.addRealm('platform')
      kc.addClient('platform', { clientId: 'caretaker-rotator', secret: kcAdmin, serviceAccountsEnabled: true, serviceAccountRoles: ['manage-clients'] })
      kc.addClient('platform', { clientId: 'web', secret: kcOld, serviceAccountsEnabled: true })
    }
    const nodes = (r: NonNullable<typeof plain>) => [{ host: '127.0.0.1', port: r.port }, { host: '127.0.0.1', port: r.replica!.port }]

    // As written in a config file: the schema's defaults (persist) are filled in when it is loaded.
    const policies: Record<CrashSecret, () => Record<string, unknown>> = {
      'postgres-app': () => ({
        name: 'postgres-app', vault: { mount: 'secret', path: 'databases/postgres/app' }, keys: ['password'], interval: '90d',
        generate: { length: 41, alphabet: 'alphanumeric' },
        target: { kind: 'postgres-role', connection: { host: '127.0.0.1', port: server!.port, database: 'postgres', vault: { mount: 'secret', path: 'databases/postgres/superuser' } } },
        externalSecrets: [{ namespace: 'production', name: 'api-db-credentials' }],
        consumers: [{ kind: 'Deployment', namespace: 'production', name: 'api' }],
      }),
      'redis-requirepass': () => ({
        name: 'redis-requirepass', vault: { mount: 'secret', path: 'databases/redis-requirepass' }, keys: ['password'], interval: '90d',
        generate: { length: 41, alphabet: 'alphanumeric' },
        target: { kind: 'redis', mode: 'requirepass', nodes: nodes(plain!) },
        externalSecrets: [{ namespace: 'databases', name: 'redis-credentials' }],
        consumers: [{ kind: 'Deployment', namespace: 'databases', name: 'cache-user' }],
      }),
      'redis-app': () => ({
        name: 'redis-app', vault: { mount: 'secret', path: 'databases/redis' }, keys: ['password'], interval: '90d',
        generate: { length: 41, alphabet: 'alphanumeric' },
        target: { kind: 'redis', mode: 'acl', user: 'app', nodes: nodes(acl!), connection: { vault: { mount: 'secret', path: 'databases/redis-admin' } } },
        externalSecrets: [{ namespace: 'production', name: 'worker-redis' }],
        consumers: [{ kind: 'Deployment', namespace: 'production', name: 'worker' }],
      }),
      'api-jwt': () => ({
        name: 'api-jwt', vault: { mount: 'secret', path: 'production/api/jwt' }, keys: ['signingKey'], interval: '180d',
        generate: { bytes: 48, encoding: 'base64' }, target: { kind: 'generated' },
        externalSecrets: [{ namespace: 'production', name: 'api-jwt' }],
        consumers: [{ kind: 'Deployment', namespace: 'production', name: 'web' }],
      }),
      'keycloak-app': () => ({
        name: 'keycloak-app', vault: { mount: 'secret', path: 'platform/keycloak/web' }, keys: ['clientSecret'], interval: '365d',
        generate: { length: 41, alphabet: 'alphanumeric' },
        target: { kind: 'keycloak-client', url: kc!.url, realm: 'platform', clientId: 'web', connection: { vault: { mount: 'secret', path: 'identity/keycloak/caretaker' } } },
        externalSecrets: [{ namespace: 'production', name: 'web-oidc' }],
        consumers: [{ kind: 'Deployment', namespace: 'production', name: 'portal' }],
      }),
    }
    const secrets = [...needed].map((name) => policies[name]()) as unknown as RotateSecretConfig['secrets']
    // A short Lease: a killed holder's is free 3 s after its last renewal. These cases prove the redelivery's and
    // the sweep's recovery, so a process does not recover at its start (test/reliability/recovery-start.test.ts does).
    const timing = { leaseDuration: '3s', syncTimeout: '5s', rolloutTimeout: '8s', connectTimeout: '2s', recoverAtStart: false }
    const p = await startPlatform({ ...timing, secrets })
    t.teardown(() => p.close())
    p.vault.putSecret('secret', 'databases/postgres/superuser', { username: 'postgres', password: pgAdmin })
    p.vault.putSecret('secret', 'databases/postgres/app', { username: 'app', password: 'crash-app-old-Password-123456' }, { 'rotated-at': '2026-01-01T00:00:00Z', owner: 'platform-team' })
    p.vault.putSecret('secret', 'databases/redis-requirepass', { password: requirepass }, { 'rotated-at': '2026-01-01T00:00:00Z' })
    p.vault.putSecret('secret', 'databases/redis-admin', { password: aclAdmin })
    p.vault.putSecret('secret', 'databases/redis', { username: 'app', password: aclOld }, { 'rotated-at': '2026-01-01T00:00:00Z' })
    p.vault.putSecret('secret', 'production/api/jwt', { signingKey: 'crash-old-signing-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaa' }, { 'rotated-at': '2026-01-01T00:00:00Z' })
    p.vault.putSecret('secret', 'identity/keycloak/caretaker', { clientId: 'caretaker-rotator', clientSecret: kcAdmin })
    p.vault.putSecret('secret', 'platform/keycloak/web', { clientId: 'web', clientSecret: kcOld }, { 'rotated-at': '2025-01-01T00:00:00Z' })
    await p.externalSecret('production', 'api-db-credentials', [{ secretKey: 'password', path: 'databases/postgres/app', property: 'password' }])
    await p.externalSecret('databases', 'redis-credentials', [{ secretKey: 'REDIS_PASSWORD', path: 'databases/redis-requirepass', property: 'password' }])
    await p.externalSecret('production', 'worker-redis', [{ secretKey: 'password', path: 'databases/redis', property: 'password' }])
    await p.externalSecret('production', 'api-jwt', [{ secretKey: 'JWT_SIGNING_KEY', path: 'production/api/jwt', property: 'signingKey' }])
    await p.externalSecret('production', 'web-oidc', [{ secretKey: 'OIDC_CLIENT_SECRET', path: 'platform/keycloak/web', property: 'clientSecret' }])
    for (const [ns, name] of [['production', 'api'], ['databases', 'cache-user'], ['production', 'worker'], ['production', 'web'], ['production', 'portal']] as const) p.deployment(ns, name)
    await p.kube.controllers.idle()

    const dir = await mkdtemp(join(tmpdir(), 'caretaker-crash-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const configPath = join(dir, 'config.yaml')
    // JSON is YAML: the same config the in-process replica runs with.
    await writeFile(configPath, JSON.stringify({ ...timing, secrets }))
    const env = {
      CARETAKER_CONFIG: configPath, CARETAKER_KUBE_SERVER: p.kube.url, CARETAKER_KUBE_TOKEN: p.kube.mintServiceAccountToken('caretaker', 'rotate-secret'),
      CARETAKER_DRY_RUN: 'false', K_SINK: `${p.sink.url}/broker`, VAULT_ADDR: p.vault.url, VAULT_TOKEN: p.vault.rootToken, LOG_LEVEL: 'info',
    }
    const processes: FunctionProcess[] = []
    t.teardown(() => { for (const f of processes) f.child.kill('SIGKILL') })
    const start = async (extra: Record<string, string> = {}) => {
      // Every process here ends by SIGKILL: none writes coverage, so none collects it.
      const fn = spawnFunction('rotate-secret', { ...env, ...extra }, { coverage: false })
      processes.push(fn)
      const ready = await fn.waitForLine((l) => l.msg === 'function ready', 120_000)
      return { fn, url: String(ready.address) }
    }
    const post = async (url: string, secret: string, headers: Record<string, string>) => {
      const res = await fetch(url, { method: 'POST', headers: { ...binaryHeaders('dev.caretaker.secret.rotate.requested'), ...headers }, body: JSON.stringify({ secret }) })
      const text = await res.text()
      p.replies.push(text)
      return { status: res.status, type: res.headers.get('ce-type'), body: JSON.parse(text) as Record<string, unknown> }
    }

    const vaultValue = (path: string, key: string) => String(p.vault.getSecret('secret', path)![key])
    const canPg = async (password: string) => {
      const c = new pg.Client({ host: '127.0.0.1', port: server!.port, user: 'app', password, database: 'postgres', connectionTimeoutMillis: 2000 })
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
    const canRedis = async (port: number, password: string, username?: string) => {
      const r = new Redis({ host: '127.0.0.1', port, ...(username ? { username } : {}), password, lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
      r.on('error', () => undefined)
      try {
        await r.connect()
        return (await r.ping()) === 'PONG'
      } catch {
        return false
      } finally {
        r.disconnect()
      }
    }
    /** Whether a password logs in to the secret's target, on every node (undefined: a generated secret has no target). */
    const logsIn: Record<string, (password: string) => Promise<boolean | undefined>> = {
      'postgres-app': canPg,
      'redis-requirepass': async (pw) => (await canRedis(plain!.port, pw)) && canRedis(plain!.replica!.port, pw),
      'redis-app': async (pw) => (await canRedis(acl!.port, pw, 'app')) && canRedis(acl!.replica!.port, pw, 'app'),
      'api-jwt': async () => undefined,
      // Keycloak authenticated the client: a token (it has a service account).
      'keycloak-app': async (pw) => {
        const res = await fetch(`${kc!.url}/realms/platform/protocol/openid-connect/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'web', client_secret: pw }) })
        return res.status === 200
      },
    }
    const where: Record<string, { path: string; key: string; secret: [string, string, string]; consumer: [string, string] }> = {
      'postgres-app': { path: 'databases/postgres/app', key: 'password', secret: ['production', 'api-db-credentials', 'password'], consumer: ['production', 'api'] },
      'redis-requirepass': { path: 'databases/redis-requirepass', key: 'password', secret: ['databases', 'redis-credentials', 'REDIS_PASSWORD'], consumer: ['databases', 'cache-user'] },
      'redis-app': { path: 'databases/redis', key: 'password', secret: ['production', 'worker-redis', 'password'], consumer: ['production', 'worker'] },
      'api-jwt': { path: 'production/api/jwt', key: 'signingKey', secret: ['production', 'api-jwt', 'JWT_SIGNING_KEY'], consumer: ['production', 'web'] },
      'keycloak-app': { path: 'platform/keycloak/web', key: 'clientSecret', secret: ['production', 'web-oidc', 'OIDC_CLIENT_SECRET'], consumer: ['production', 'portal'] },
    }
    /** The Leases someone holds (one given up with its step record kept, for a journal left behind, has no holder). */
    const leases = async () => (await p.admin.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: 'caretaker' })).items.filter((l) => l.spec?.holderIdentity).map((l) => l.metadata?.name)

    /**
     * Where each crash point leaves a rotation, and what the next holder must find:
     * the step its Lease recorded (the step a `before:` point was about to start is not recorded yet)
     * and whether it finishes or undoes the rotation. No journal: nothing to recover.
     */
    const common: Array<[point: string, step: string | null, action: string | null]> = [
      ['before:generate', null, null],
      ['before:apply', 'generate', 'rolled-back'],
      ['before:verify', 'apply', 'rolled-forward'],
      ['before:write', 'verify', 'rolled-forward'],
      ['write:data', 'write', 'rolled-forward'],
      ['before:sync', 'write', 'rolled-forward'],
      ['before:restart', 'sync', 'rolled-forward'],
      ['before:finish', 'restart', 'rolled-forward'],
      ['before:release', null, null],
    ]
    const allPoints: Record<CrashSecret, typeof common> = {
      'postgres-app': common,
      'redis-requirepass': [...common.slice(0, 2), ['apply:node-1', 'apply', 'rolled-back'], ...common.slice(2)],
      'redis-app': [...common.slice(0, 2), ['apply:node-1', 'apply', 'rolled-back'], ...common.slice(2, 7), ['before:retire', 'restart', 'rolled-forward'], ['before:finish', 'retire', 'rolled-forward'], common[8]!],
      // No target: a value journaled but not yet in Vault is simply written (nothing refuses it).
      'api-jwt': common.map(([point, step, action]) => [point, step, action === 'rolled-back' ? 'rolled-forward' : action] as [string, string | null, string | null]),
      // One secret at a time, set by PUT: as a PostgreSQL role.
      'keycloak-app': common,
    }
    const points: Partial<Record<CrashSecret, typeof common>> = Object.fromEntries(only.map((s) => [s, allPoints[s]]))

    // Each case's process is started while the case before it runs: a process start is the slow part.
    const cases = Object.entries(points).flatMap(([secret, list]) => list.map(([point]) => ({ secret, point })))
    const doomedFor = new Map<number, ReturnType<typeof start>>()
    // And warmed by a dry run of the same secret (read-only: it changes nothing and takes no Lease), so its first
    // use of the Kubernetes and Vault clients (loading them from source takes a second or two here) is behind it
    // when the case's request arrives, and the kill comes at the step's own pace.
    const warmed = async (i: number) => {
      const started = await start({ CARETAKER_TEST_CRASH_AT: cases[i]!.point })
      const res = await post(started.url, cases[i]!.secret, { 'ce-id': `warm-${i}`, 'ce-source': '/test/crash', 'ce-dryrun': 'true' })
      if (res.status !== 200 || res.body.dryRun !== true) throw new Error(`the warming dry run failed: ${res.status} ${JSON.stringify(res.body)}`)
      return started
    }
    const prepare = (i: number) => {
      if (i < cases.length && !doomedFor.has(i)) doomedFor.set(i, warmed(i))
    }
    let n = 0
    for (const secret of only) {
      t.test(`${secret}: killed at every step boundary, then redelivered`, async (t) => {
        const w = where[secret]!
        for (const [point, step, action] of points[secret]!) {
          const caseNo = ++n
          const before = vaultValue(w.path, w.key)
          const restartedBefore = (await p.deploymentOf(...w.consumer)).restartedAt
          const headers = { 'ce-id': `crash-${caseNo}`, 'ce-source': '/test/crash' }
          prepare(caseNo - 1)
          const doomed = await doomedFor.get(caseNo - 1)!
          const cut = await post(doomed.url, secret, headers).then(() => 'answered', () => 'cut off')
          t.equal(cut, 'cut off', `${point}: the process died before answering`)
          t.equal(await doomed.fn.exited, null, `${point}: killed by a signal`)
          // The redelivery reaches another replica or (twice per kind: a process start is slow) a restarted process.
          const restarted = point === 'before:verify' || point === 'before:restart'
          const again = restarted ? start() : undefined
          prepare(caseNo)
          let res
          if (again) {
            const { fn, url } = await again
            res = await post(url, secret, headers)
            fn.child.kill('SIGKILL')
          } else {
            res = await p.send('dev.caretaker.secret.rotate.requested', { secret }, headers)
          }
          const label = `${point} (${restarted ? 'restarted process' : 'other replica'})`
          t.equal(res.status, 200, `${label}: answered`)
          const body = res.body!
          const recovered = body.recovered as { action: string; stepFound: string } | undefined
          if (action) {
            t.match(recovered, { action, stepFound: step }, `${label}: the reply says what was found and done`)
          } else {
            t.notOk(recovered, `${label}: nothing to recover`)
          }
          if (point === 'before:release') {
            t.equal(body.alreadyRotated, true, `${label}: the rotation had finished; the redelivery does not rotate again`)
          } else {
            t.equal(res.type, 'dev.caretaker.secret.rotated', `${label}: rotated: ${JSON.stringify(body)}`)
          }
          const now = vaultValue(w.path, w.key)
          t.not(now, before, `${label}: the secret is rotated`)
          const works = await logsIn[secret]!(now)
          if (works !== undefined) {
            t.equal(works, true, `${label}: the credential in Vault logs in on every node`)
            t.equal(await logsIn[secret]!(before), false, `${label}: the one before it no longer does`)
          }
          const [ns, name, key] = w.secret
          t.equal((await p.secretHashes(ns, name))[key], sha256(now), `${label}: the Secret carries Vault's value`)
          const consumer = await p.deploymentOf(...w.consumer)
          t.ok(consumer.restartedAt && consumer.restartedAt !== restartedBefore && consumer.observedGeneration >= consumer.generation && consumer.available === 2, `${label}: the consumer restarted with it`)
          t.same(await leases(), [], `${label}: no Lease left`)
          t.equal(p.vault.getSecret('secret', `caretaker/rotate-secret/${secret}`), null, `${label}: no journal left`)
        }
      })
    }

    if (others) {
      t.test('Vault sealed mid-way: the rotation stops, the journal waits for Vault, the next holder finishes it', async (t) => {
        const w = where['postgres-app']!
        const before = vaultValue(w.path, w.key)
        const headers = { 'ce-id': 'crash-sealed', 'ce-source': '/test/crash' }
        // Killed after the target took the new password; Vault seals before anyone can write it.
        const doomed = await start({ CARETAKER_TEST_CRASH_AT: 'before:write' })
        await post(doomed.url, 'postgres-app', headers).catch(() => undefined)
        await doomed.fn.exited
        p.vault.seal()
        const sealed = await p.send('dev.caretaker.secret.rotate.requested', { secret: 'postgres-app' }, headers)
        t.equal(sealed.status, 503, 'retryable: the broker redelivers it once Vault is back')
        t.match(sealed.body, { error: 'dependency_unavailable', message: /a rotation cut off earlier left its journal, and it could not be finished or undone yet: .*sealed.*the journal is kept/ }, 'it says the cut-off rotation is not resolved yet')
        t.same(await leases(), [], 'no Lease held while Vault is sealed')
        p.vault.unseal()
        const res = await p.send('dev.caretaker.secret.rotate.requested', { secret: 'postgres-app' }, headers)
        t.equal(res.type, 'dev.caretaker.secret.rotated', JSON.stringify(res.body))
        t.match(res.body?.recovered, { action: 'rolled-forward', stepFound: 'verify' })
        const now = vaultValue(w.path, w.key)
        t.not(now, before)
        t.ok(await canPg(now), 'the credential in Vault logs in')
        t.notOk(await canPg(before))
        t.equal((await p.secretHashes('production', 'api-db-credentials')).password, sha256(now))
        t.same(await leases(), [])
        t.equal(p.vault.getSecret('secret', 'caretaker/rotate-secret/postgres-app'), null)

        // Sealed as the new value is written: the process itself puts the old password back, and the journal
        // it could not delete is confirmed and deleted by the next rotation.
        const version = vaultValue(w.path, w.key)
        p.vault.faults.sealOn(['PUT', 'POST'], `secret/data/${w.path}`)
        const failed = await p.send('dev.caretaker.secret.rotate.requested', { secret: 'postgres-app' })
        t.match(failed.body, { failedStep: 'write', rolledBack: true, credentialInVault: 'previous', journal: 'kept' })
        t.ok(await canPg(version), 'the target has the credential in Vault again')
        p.vault.unseal()
        const next = await p.send('dev.caretaker.secret.rotate.requested', { secret: 'postgres-app' })
        t.equal(next.type, 'dev.caretaker.secret.rotated')
        t.match(next.body?.recovered, { action: 'rolled-back' })
        t.ok(await canPg(vaultValue(w.path, w.key)))
        t.equal(p.vault.getSecret('secret', 'caretaker/rotate-secret/postgres-app'), null)
        t.same(await leases(), [])
      })

      t.test('killed while undoing a failed rotation: the next holder finishes the undo, then rotates', async (t) => {
        const w = where['postgres-app']!
        const before = vaultValue(w.path, w.key)
        const headers = { 'ce-id': 'crash-undo', 'ce-source': '/test/crash' }
        // The ExternalSecret cannot sync: the rotation fails at sync and rolls back; killed once Vault has the old value again.
        await p.setStorePath('nowhere')
        const doomed = await start({ CARETAKER_TEST_CRASH_AT: 'rollback:vault' })
        await post(doomed.url, 'postgres-app', headers).catch(() => undefined)
        t.equal(await doomed.fn.exited, null)
        await p.setStorePath('secret')
        t.equal(vaultValue(w.path, w.key), before, 'Vault had the previous value back')
        t.notOk(await canPg(before), 'but the role still had the new one: Vault did not work against it')
        const res = await p.send('dev.caretaker.secret.rotate.requested', { secret: 'postgres-app' }, headers)
        t.equal(res.type, 'dev.caretaker.secret.rotated', JSON.stringify(res.body))
        t.match(res.body?.recovered, { action: 'rolled-back', stepFound: 'sync', message: /Vault held the previous value again; the Secrets carry it and the consumers restarted with it/ })
        const now = vaultValue(w.path, w.key)
        t.ok(await canPg(now), 'the credential in Vault logs in')
        t.equal((await p.secretHashes('production', 'api-db-credentials')).password, sha256(now))
        t.same(await leases(), [])
        t.equal(p.vault.getSecret('secret', 'caretaker/rotate-secret/postgres-app'), null)
      })

      t.test('the daily sweep finishes a cut-off rotation of a secret that is not due', async (t) => {
        const w = where['api-jwt']!
        const doomed = await start({ CARETAKER_TEST_CRASH_AT: 'before:sync' })
        await post(doomed.url, 'api-jwt', { 'ce-id': 'crash-sweep', 'ce-source': '/test/crash' }).catch(() => undefined)
        await doomed.fn.exited
        const res = await p.send('dev.knative.sources.ping', {}, { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/rotate-secret-sweep' })
        t.equal(res.type, 'dev.caretaker.secret.sweep.completed')
        const row = (res.body?.secrets as Array<Record<string, unknown>>).find((r) => r.secret === 'api-jwt')
        t.match(row, { due: false, result: 'rotated', recovered: { action: 'rolled-forward', stepFound: 'write' } })
        t.equal((await p.secretHashes(...w.secret.slice(0, 2) as [string, string]))[w.secret[2]], sha256(vaultValue(w.path, w.key)))
        t.same(await leases(), [])
        t.equal(p.vault.getSecret('secret', 'caretaker/rotate-secret/api-jwt'), null)
      })

      t.test('a redelivery while its own rotation still runs elsewhere (a timed-out first delivery) is told to retry, then gets the outcome', async (t) => {
        const headers = { 'ce-id': 'crash-slow', 'ce-source': '/test/crash' }
        const slow = await start()
        p.vault.faults.latency(4000, ['PUT', 'POST'], 'secret/data/production/api/jwt', 1)
        const first = post(slow.url, 'api-jwt', headers)
        while (p.vault.getSecret('secret', 'caretaker/rotate-secret/api-jwt') === null) await new Promise((r) => setTimeout(r, 50))
        const early = await p.send('dev.caretaker.secret.rotate.requested', { secret: 'api-jwt' }, headers)
        t.equal(early.status, 429, 'retryable: the broker redelivers it later')
        t.match(early.body, { error: 'event_in_progress', message: /this request's rotation of api-jwt is still running \(Lease caretaker\/rotate-secret\.api-jwt/ })
        t.equal((await first).type, 'dev.caretaker.secret.rotated')
        slow.fn.child.kill('SIGKILL')
        const late = await p.send('dev.caretaker.secret.rotate.requested', { secret: 'api-jwt' }, headers)
        t.equal(late.body?.alreadyRotated, true, 'the retry finds the rotation done')
        t.same(await leases(), [])
      })

    }

    t.test('no value in any log line or reply of any process', async (t) => {
      const values = new Set<string>([pgAdmin, requirepass, aclAdmin, aclOld, kcAdmin, kcOld])
      for (const w of Object.values(where)) {
        // Every version Vault still keeps (it prunes the oldest beyond max_versions).
        for (let v = 1; v <= 100; v++) {
          const data = p.vault.getSecret('secret', w.path, v)
          if (data) values.add(String(data[w.key]))
        }
      }
      const text = [p.logText(), p.replies.join('\n'), ...processes.map((f) => JSON.stringify(f.lines) + f.stderr())].join('\n')
      t.ok(values.size >= 8, `values searched for: ${values.size}`)
      t.same([...values].filter((v) => text.includes(v)), [], 'none found')
      t.notOk(/(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{41}(?![A-Za-z0-9])/.test(text), 'nothing shaped like a generated password')
    })
  }
}
