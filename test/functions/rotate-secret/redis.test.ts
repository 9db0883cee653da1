import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { AppsV1Api } from '@kubernetes/client-node'
import { Redis } from 'ioredis'
import type { RotateSecretConfig } from '../../../functions/rotate-secret/config.ts'
import { freePort } from '../../../sandbox/harness/ports.ts'
import { redisSkipReason, startRedis } from '../../../sandbox/harness/redis.ts'
import { sha256, startPlatform } from './platform.ts'

// rotate-secret against a real Redis primary with a replica: an ACL user
// whose old password stays valid until the consumers have restarted, and
// requirepass (with masterauth) on every node, or on none.

const skip = redisSkipReason()
if (skip) {
  t.pass(`skipped: ${skip}`)
} else {
  const adminPassword = 'redis-admin-Password-12345'
  const oldAppPassword = 'redis-app-old-Password-12345'
  const oldRequirepass = 'redis-requirepass-old-12345'
  // Started from config files, as deployed servers are: each change is saved there (CONFIG REWRITE).
  const acl = await startRedis({ password: adminPassword, replica: true, configFile: true })
  t.teardown(() => acl.stop())
  const plain = await startRedis({ password: oldRequirepass, replica: true, configFile: true })
  t.teardown(() => plain.stop())
  // A server started from arguments only: nothing to save a change to.
  const noFile = await startRedis({ password: oldRequirepass })
  t.teardown(() => noFile.stop())
  const configText = (r: typeof acl) => Promise.all(Object.values(r.configFiles!).map((f) => readFile(f, 'utf8')))
  const closedPort = await freePort('127.0.0.1')
  const nodes = (r: typeof acl) => [{ host: '127.0.0.1', port: r.port }, { host: '127.0.0.1', port: r.replica!.port }]

  const admin = (port: number, password: string) => {
    const r = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    r.on('error', () => undefined)
    return r
  }
  for (const port of [acl.port, acl.replica!.port]) {
    const r = admin(port, adminPassword)
    await r.connect()
    await r.call('ACL', 'SETUSER', 'app', 'on', `>${oldAppPassword}`, '~*', '&*', '+@all')
    r.disconnect()
  }
  const canAuth = async (port: number, password: string, username?: string): Promise<boolean> => {
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

  const config: Pick<RotateSecretConfig, 'secrets'> = {
    secrets: [
      {
        name: 'redis-app', vault: { mount: 'secret', path: 'databases/redis' }, keys: ['password'], interval: '90d',
        generate: { length: 41, alphabet: 'alphanumeric' },
        target: { kind: 'redis', mode: 'acl', user: 'app', nodes: nodes(acl), connection: { vault: { mount: 'secret', path: 'databases/redis-admin' } } },
        externalSecrets: [{ namespace: 'production', name: 'worker-redis' }],
        consumers: [{ kind: 'Deployment', namespace: 'production', name: 'worker' }],
      },
      {
        name: 'redis-requirepass', vault: { mount: 'secret', path: 'databases/redis-requirepass' }, keys: ['password'], interval: '90d',
        generate: { length: 41, alphabet: 'alphanumeric' },
        target: { kind: 'redis', mode: 'requirepass', nodes: nodes(plain) },
        externalSecrets: [{ namespace: 'databases', name: 'redis-credentials' }],
        consumers: [{ kind: 'StatefulSet', namespace: 'databases', name: 'redis' }],
      },
      {
        name: 'redis-without-a-config-file', vault: { mount: 'secret', path: 'databases/redis-nofile' }, keys: ['password'], interval: '90d',
        generate: { length: 41, alphabet: 'alphanumeric' },
        target: { kind: 'redis', mode: 'requirepass', nodes: [{ host: '127.0.0.1', port: noFile.port }] },
        externalSecrets: [], consumers: [],
      },
      {
        name: 'redis-with-a-lost-node', vault: { mount: 'secret', path: 'databases/redis-requirepass' }, keys: ['password'], interval: '90d',
        generate: { length: 41, alphabet: 'alphanumeric' },
        target: { kind: 'redis', mode: 'requirepass', nodes: [...nodes(plain), { host: '127.0.0.1', port: closedPort }] },
        externalSecrets: [], consumers: [],
      },
    ] as RotateSecretConfig['secrets'],
  }
  const p = await startPlatform(config)
  t.teardown(() => p.close())
  p.vault.putSecret('secret', 'databases/redis', { username: 'app', password: oldAppPassword }, { 'rotated-at': '2026-08-01T00:00:00Z' })
  p.vault.putSecret('secret', 'databases/redis-admin', { password: adminPassword })
  p.vault.putSecret('secret', 'databases/redis-requirepass', { password: oldRequirepass }, { 'rotated-at': '2026-08-01T00:00:00Z' })
  p.vault.putSecret('secret', 'databases/redis-nofile', { password: oldRequirepass })
  await p.externalSecret('production', 'worker-redis', [{ secretKey: 'password', path: 'databases/redis', property: 'password' }])
  await p.externalSecret('databases', 'redis-credentials', [{ secretKey: 'REDIS_PASSWORD', path: 'databases/redis-requirepass', property: 'password' }])
  p.deployment('production', 'worker')
  p.statefulSet('databases', 'redis')
  await p.kube.controllers.idle()
  const vaultValue = (path: string) => String((p.vault.getSecret('secret', path) as Record<string, unknown>).password)
  const request = (secret: string) => p.send('dev.caretaker.secret.rotate.requested', { secret })

  t.test('a node that cannot be reached: no node changes', async (t) => {
    const res = await request('redis-with-a-lost-node')
    t.equal(res.type, 'dev.caretaker.secret.rotation.failed')
    t.match(res.body, { failedStep: 'apply', changed: false, rolledBack: true, credentialInVault: 'previous' })
    t.match(res.body?.reason, new RegExp(`Redis 127\\.0\\.0\\.1:${closedPort}: unreachable`))
    for (const port of [plain.port, plain.replica!.port]) t.ok(await canAuth(port, oldRequirepass), `node ${port} keeps the password in Vault`)
  })

  t.test('a node that could not keep the change across a restart: refused before anything changes', async (t) => {
    const res = await request('redis-without-a-config-file')
    t.match(res.body, { failedStep: 'apply', changed: false, rolledBack: true, credentialInVault: 'previous' })
    t.match(res.body?.reason, new RegExp(`Redis 127\\.0\\.0\\.1:${noFile.port} runs without a config file: the new password would be lost at its next restart.*persist: false`))
    t.ok(await canAuth(noFile.port, oldRequirepass), 'the password in Vault still works')
  })

  t.test('an ACL user: old and new side by side until the consumers restarted', async (t) => {
    const apps = p.admin.makeApiClient(AppsV1Api)
    const generationBefore = (await apps.readNamespacedDeployment({ namespace: 'production', name: 'worker' })).metadata?.generation ?? 0
    const rolledOut = async () => {
      const d = await apps.readNamespacedDeployment({ namespace: 'production', name: 'worker' })
      const gen = d.metadata?.generation ?? 0
      return gen > generationBefore && (d.status?.observedGeneration ?? 0) >= gen && d.status?.availableReplicas === 2
    }
    let done = false
    const samples: Array<{ old: boolean; both: boolean; rolledOut: boolean }> = []
    const watcher = (async () => {
      while (!done) {
        const old = await canAuth(acl.port, oldAppPassword, 'app')
        const latest = vaultValue('databases/redis')
        const both = old && latest !== oldAppPassword && await canAuth(acl.port, latest, 'app')
        // Read after the login: a refused old password means the rollout had finished before it.
        samples.push({ old, both, rolledOut: await rolledOut() })
        await sleep(2)
      }
    })()
    const res = await request('redis-app')
    done = true
    await watcher
    t.equal(res.type, 'dev.caretaker.secret.rotated', JSON.stringify(res.body))
    t.same((res.body?.steps as Array<{ step: string }>).map((s) => s.step), ['lock', 'read', 'generate', 'apply', 'verify', 'write', 'sync', 'restart', 'retire'])
    t.equal(res.body?.oldCredentialRemoved, true)
    t.equal(res.body?.lockoutWindowMs, 0, 'no window with one valid password')
    t.ok(samples.some((s) => s.both), 'old and new were both valid while the rotation ran')
    t.same(samples.filter((s) => !s.old && !s.rolledOut), [], 'the old password was never refused before the consumers had restarted')
    const fresh = vaultValue('databases/redis')
    for (const port of [acl.port, acl.replica!.port]) {
      t.ok(await canAuth(port, fresh, 'app'), `the new password works on ${port}`)
      t.notOk(await canAuth(port, oldAppPassword, 'app'), `the old one no longer does on ${port}`)
    }
    t.equal((await p.secretHashes('production', 'worker-redis')).password, sha256(fresh))
    for (const text of await configText(acl)) {
      // CONFIG REWRITE writes ACL users with their passwords' SHA-256.
      t.match(text, new RegExp(`^user app .*#${sha256(fresh)}`, 'm'), 'the config file holds the new password, for the next start')
      t.notMatch(text, new RegExp(sha256(oldAppPassword)), 'and no longer the old one')
    }
  })

  t.test('requirepass on the primary and the replica, which still replicates', async (t) => {
    const res = await request('redis-requirepass')
    t.equal(res.type, 'dev.caretaker.secret.rotated', JSON.stringify(res.body))
    const fresh = vaultValue('databases/redis-requirepass')
    for (const port of [plain.port, plain.replica!.port]) {
      t.ok(await canAuth(port, fresh), `the new password works on ${port}`)
      t.notOk(await canAuth(port, oldRequirepass), `the old one no longer does on ${port}`)
    }
    t.ok(Number(res.body?.lockoutWindowMs) > 0, 'one password at a time: the window is reported')
    const sts = await p.admin.makeApiClient(AppsV1Api).readNamespacedStatefulSet({ namespace: 'databases', name: 'redis' })
    t.ok(sts.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'], 'the StatefulSet was restarted')
    t.equal((await p.secretHashes('databases', 'redis-credentials')).REDIS_PASSWORD, sha256(fresh))
    // The replica reconnects to its primary with the new masterauth.
    const replica = admin(plain.replica!.port, fresh)
    await replica.connect()
    await replica.call('CLIENT', 'KILL', 'TYPE', 'master')
    let info = ''
    for (let i = 0; i < 100 && !/master_link_status:up/.test(info); i++) {
      await sleep(50)
      info = await replica.info('replication')
    }
    replica.disconnect()
    t.match(info, /master_link_status:up/, 'the replica re-authenticates with the new password')
    for (const text of await configText(plain)) {
      t.ok(text.includes(`requirepass "${fresh}"`) && text.includes(`masterauth "${fresh}"`), 'requirepass and masterauth saved for the next start')
      t.notOk(text.includes(oldRequirepass), 'the old password is gone from the file')
    }
  })

  t.test('the new password refused on a node: every node gets the old one back', async (t) => {
    const before = vaultValue('databases/redis')
    // The user is switched off on the replica: the new password is set there but refused at login.
    const replica = admin(acl.replica!.port, adminPassword)
    await replica.connect()
    await replica.call('ACL', 'SETUSER', 'app', 'off')
    const res = await request('redis-app')
    await replica.call('ACL', 'SETUSER', 'app', 'on')
    replica.disconnect()
    t.match(res.body, { failedStep: 'verify', rolledBack: true, credentialInVault: 'previous' })
    t.match(res.body?.reason, /logging in as app with the new password: the password was refused/)
    t.equal(vaultValue('databases/redis'), before)
    for (const port of [acl.port, acl.replica!.port]) t.ok(await canAuth(port, before, 'app'), `the credential in Vault works on ${port}`)
  })

  t.test('no secret value in any log line, reply or metric', async (t) => {
    const values = new Set<string>([adminPassword, oldAppPassword, oldRequirepass])
    for (const path of ['databases/redis', 'databases/redis-requirepass']) {
      for (let v = 1; p.vault.getSecret('secret', path, v) !== null; v++) values.add(String(p.vault.getSecret('secret', path, v)!.password))
    }
    t.ok(values.size >= 5)
    const text = [p.logText(), p.replies.join('\n'), await p.metrics()].join('\n')
    t.same([...values].filter((v) => text.includes(v)), [], 'none found')
    t.notOk(/(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{41}(?![A-Za-z0-9])/.test(text), 'nothing shaped like a generated password')
  })
}
