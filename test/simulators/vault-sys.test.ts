import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import t from 'tap'
import { readTar, startVaultSimulator, writeTar } from '../../sandbox/simulators/vault/index.ts'
import { apiError, failure, get, vaultClient } from '../../sandbox/simulators/vault/client.ts'

t.test('health, seal status, seal and unseal', async (t) => {
  const sim = await startVaultSimulator({ unsealShares: 3, unsealThreshold: 2 })
  t.teardown(() => sim.close())
  const vault = vaultClient(sim.url, sim.rootToken)
  sim.putSecret('secret', 'app/x', { a: '1' })

  const active = await fetch(`${sim.url}/v1/sys/health`)
  t.equal(active.status, 200)
  const body = (await active.json()) as Record<string, unknown>
  t.match(body, { initialized: true, sealed: false, standby: false, enterprise: false, replication_dr_mode: 'disabled' })
  t.type(body.cluster_id, 'string')
  t.equal((await vault.health()).sealed, false, 'node-vault health()')

  const status = await vault.status()
  t.match(status, { type: 'shamir', sealed: false, t: 2, n: 3, progress: 0 })

  await vault.seal()
  t.equal(sim.sealed, true)
  const sealedHealth = await fetch(`${sim.url}/v1/sys/health`)
  t.equal(sealedHealth.status, 503)
  const sealedBody = (await sealedHealth.json()) as Record<string, unknown>
  t.match(sealedBody, { sealed: true, standby: true })
  t.equal(sealedBody.cluster_id, undefined, 'no cluster identity while sealed')
  t.equal((await fetch(`${sim.url}/v1/sys/health?sealedcode=200`)).status, 200, 'sealedcode overrides')
  t.equal((await fetch(`${sim.url}/v1/sys/health?activecode=299&sealedcode=299`, { method: 'HEAD' })).status, 299, 'HEAD works too')
  t.equal((await vault.health()).sealed, true, 'node-vault treats a health status as data, not an error')

  const kv = await failure(vault.read('secret/data/app/x'))
  t.equal(kv.statusCode, 503)
  t.same(kv.body, { errors: ['Vault is sealed'] })
  t.match(await vault.status(), { sealed: true, progress: 0 })

  const first = await vault.unseal(sim.unsealKeys[0]!)
  t.match(first, { sealed: true, progress: 1 })
  t.match(await vault.unseal(sim.unsealKeys[0]!), { sealed: true, progress: 1 }, 'the same share twice does not count')
  const wrong = await failure(vault.unseal('00'.repeat(33)))
  t.equal(wrong.statusCode, 400)
  t.match(await vault.status(), { progress: 0 }, 'a wrong share resets progress')
  await vault.unseal(sim.unsealKeys[1]!)
  const done = await vault.unseal(Buffer.from(sim.unsealKeys[2]!, 'hex').toString('base64'))
  t.match(done, { sealed: false, progress: 0 }, 'base64 shares are accepted')
  t.same(get(await vault.read('secret/data/app/x'), 'data', 'data'), { a: '1' })

  const missingKey = await failure(vault.write('sys/unseal', {}))
  t.equal(missingKey.statusCode, 400)

  t.test('uninitialized answers 501', async (t) => {
    const fresh = await startVaultSimulator({ uninitialized: true })
    t.teardown(() => fresh.close())
    const res = await fetch(`${fresh.url}/v1/sys/health`)
    t.equal(res.status, 501)
    t.match(await res.json(), { initialized: false, sealed: true })
    t.equal((await fetch(`${fresh.url}/v1/sys/health?uninitcode=200`)).status, 200)
  })

  t.test('started sealed', async (t) => {
    const s = await startVaultSimulator({ sealed: true })
    t.teardown(() => s.close())
    t.equal((await fetch(`${s.url}/v1/secret/data/x`, { headers: { 'x-vault-token': s.rootToken } })).status, 503)
    s.unseal()
    t.equal((await fetch(`${s.url}/v1/secret/data/x`, { headers: { 'x-vault-token': s.rootToken } })).status, 404)
  })
})

t.test('raft snapshots', async (t) => {
  const sim = await startVaultSimulator()
  t.teardown(() => sim.close())
  const vault = vaultClient(sim.url, sim.rootToken)
  const headers = { 'x-vault-token': sim.rootToken }
  await vault.write('secret/data/app/db', { data: { password: 'before' } })
  await vault.write('sys/policies/acl/keep', { policy: 'path "secret/data/*" { capabilities = ["read"] }' })

  const res = await fetch(`${sim.url}/v1/sys/storage/raft/snapshot`, { headers })
  t.equal(res.status, 200)
  const archive = Buffer.from(await res.arrayBuffer())
  t.equal(archive[0], 0x1f, 'gzip magic')
  t.equal(archive[1], 0x8b)
  const files = readTar(gunzipSync(archive))
  t.same(files.map((f) => f.name), ['meta.json', 'state.bin', 'SHA256SUMS', 'SHA256SUMS.sealed'])
  const meta = JSON.parse(files[0]!.data.toString()) as Record<string, unknown>
  t.match(meta, { Version: 1, Index: Number, Term: Number, Size: files[1]!.data.length })
  t.match(files[2]!.data.toString(), /^[0-9a-f]{64} {2}meta\.json\n[0-9a-f]{64} {2}state\.bin\n$/)

  t.test('the archive is a real tar.gz whose SHA256SUMS checks out', async (t) => {
    const hasTools = spawnSync('tar', ['--version']).status === 0 && spawnSync('sha256sum', ['--version']).status === 0
    if (!hasTools) {
      if (process.env.CI === 'true') t.fail('tar and sha256sum are needed: apt-get install tar coreutils')
      else t.skip('tar or sha256sum missing (apt-get install tar coreutils)', () => undefined)
      return
    }
    const dir = mkdtempSync(join(tmpdir(), 'vault-snap-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, 'snap.tar.gz'), archive)
    const list = spawnSync('tar', ['-tzf', 'snap.tar.gz'], { cwd: dir, encoding: 'utf8' })
    t.equal(list.status, 0, list.stderr)
    t.same(list.stdout.trim().split('\n'), ['meta.json', 'state.bin', 'SHA256SUMS', 'SHA256SUMS.sealed'])
    t.equal(spawnSync('tar', ['-xzf', 'snap.tar.gz'], { cwd: dir }).status, 0)
    const check = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' })
    t.equal(check.status, 0, check.stdout + check.stderr)
  })

  // change things, then restore
  await vault.write('secret/data/app/db', { data: { password: 'after' } })
  await vault.write('secret/data/app/new', { data: { x: '1' } })
  await vault.delete('sys/policies/acl/keep')
  const restored = await fetch(`${sim.url}/v1/sys/storage/raft/snapshot`, { method: 'POST', headers, body: archive })
  t.equal(restored.status, 204)
  t.same(get(await vault.read('secret/data/app/db'), 'data', 'data'), { password: 'before' }, 'data as at the snapshot')
  t.equal(get(await vault.read('secret/metadata/app/db'), 'data', 'current_version'), 1)
  t.equal((await failure(vault.read('secret/data/app/new'))).statusCode, 404, 'later secrets gone')
  t.match(get(await vault.read('sys/policies/acl/keep'), 'data', 'policy'), /secret\/data/, 'policies restored')

  t.test('a corrupted archive is refused and changes nothing', async (t) => {
    await vault.write('secret/data/app/db', { data: { password: 'current' } })
    const tar = gunzipSync(archive)
    const entries = readTar(tar)
    const state = Buffer.from(entries[1]!.data)
    state[10] = state[10]! ^ 0x01
    const tampered = gzipSync(writeTar([entries[0]!, { name: 'state.bin', data: state }, entries[2]!, entries[3]!]))
    const bad = await fetch(`${sim.url}/v1/sys/storage/raft/snapshot`, { method: 'POST', headers, body: tampered })
    t.equal(bad.status, 400)
    t.same(await bad.json(), { errors: ['failed checking integrity of snapshot: hash check failed for "state.bin"'] })

    const garbage = await fetch(`${sim.url}/v1/sys/storage/raft/snapshot`, { method: 'POST', headers, body: Buffer.from('not a snapshot') })
    t.equal(garbage.status, 400)
    const truncated = await fetch(`${sim.url}/v1/sys/storage/raft/snapshot`, { method: 'POST', headers, body: archive.subarray(0, archive.length - 40) })
    t.equal(truncated.status, 400)
    t.same(get(await vault.read('secret/data/app/db'), 'data', 'data'), { password: 'current' }, 'state untouched')
  })

  t.test('another cluster\'s snapshot needs snapshot-force', async (t) => {
    const other = await startVaultSimulator()
    t.teardown(() => other.close())
    const otherHeaders = { 'x-vault-token': other.rootToken }
    const refused = await fetch(`${other.url}/v1/sys/storage/raft/snapshot`, { method: 'POST', headers: otherHeaders, body: archive })
    t.equal(refused.status, 400)
    const forced = await fetch(`${other.url}/v1/sys/storage/raft/snapshot-force`, { method: 'POST', headers: otherHeaders, body: archive })
    t.equal(forced.status, 204)
    t.equal(other.rootToken, sim.rootToken, 'the snapshot brings its tokens, root included')
    t.same(other.getSecret('secret', 'app/db', 1), { password: 'before' })
  })

  t.test('snapshots need the right capability', async (t) => {
    const reader = vaultClient(sim.url, sim.createToken([]))
    const res = await fetch(`${sim.url}/v1/sys/storage/raft/snapshot`, { headers: { 'x-vault-token': reader.token } })
    t.equal(res.status, 403)
  })
})

t.test('fault injection', async (t) => {
  const sim = await startVaultSimulator()
  t.teardown(() => sim.close())
  const vault = vaultClient(sim.url, sim.rootToken)
  sim.putSecret('secret', 'app/db', { password: 'p' })
  t.afterEach(() => sim.faults.clear())

  t.test('fail the next N matching requests', async (t) => {
    sim.faults.failNext(2, 'GET', 'secret/data/app/*', 503)
    const a = await failure(vault.read('secret/data/app/db'))
    t.equal(a.statusCode, 503)
    t.same(a.body, { errors: ['Vault is sealed'] })
    t.equal((await failure(vault.read('secret/data/app/db'))).statusCode, 503)
    t.same(get(await vault.read('secret/data/app/db'), 'data', 'data'), { password: 'p' }, 'third call succeeds')
    t.equal(sim.faults.list().length, 0, 'used-up rules go away')

    sim.faults.failNext(1, 'POST', /^secret\/data\//, 429)
    const limited = await failure(vault.write('secret/data/app/db', { data: { a: '1' } }))
    t.equal(limited.statusCode, 429)
    t.same(limited.body, { errors: ['rate limit quota exceeded'] })
    t.equal(sim.getSecret('secret', 'app/db')?.password, 'p', 'a failed write changed nothing')

    sim.faults.failNext(1, undefined, 'secret/*', 500, { errors: ['custom'] })
    t.same((await failure(vault.read('secret/data/app/db'))).body, { errors: ['custom'] })

    sim.faults.failNext(1, 'LIST', 'secret/metadata/*', 500)
    t.same((await failure(vault.list('secret/metadata/app'))).body, { errors: ['internal error'] }, 'LIST is matched as LIST')
    t.same(get(await vault.read('secret/data/app/db'), 'data', 'data'), { password: 'p' }, 'a GET is not a LIST')
  })

  t.test('latency', async (t) => {
    sim.faults.latency(150, 'GET', 'secret/data/app/db', 1)
    const started = performance.now()
    await vault.read('secret/data/app/db')
    t.ok(performance.now() - started >= 140, 'the answer came after the delay')
  })

  t.test('dropped connection', async (t) => {
    sim.faults.dropNext(1, 'GET', 'secret/data/app/db')
    try {
      await vault.read('secret/data/app/db')
      t.fail('expected a connection error')
    } catch (err) {
      t.equal(apiError(err), undefined, 'no HTTP answer at all')
      t.match(String((err as { code?: string }).code ?? (err as Error).message), /ECONNRESET|socket hang up/)
    }
    t.equal(sim.requests.at(-1)?.status, -1)
    t.same(get(await vault.read('secret/data/app/db'), 'data', 'data'), { password: 'p' }, 'the next call goes through')
  })

  t.test('seal as a request arrives', async (t) => {
    sim.faults.sealOn('POST', 'secret/data/app/*')
    const err = await failure(vault.write('secret/data/app/db', { data: { a: '1' } }))
    t.equal(err.statusCode, 503)
    t.same(err.body, { errors: ['Vault is sealed'] })
    t.equal(sim.sealed, true)
    for (const key of sim.unsealKeys.slice(0, 3)) await vault.unseal(key)
    t.equal(sim.sealed, false)
  })

  t.test('the admin endpoint', async (t) => {
    const add = await fetch(`${sim.url}/__sim/faults`, {
      method: 'POST',
      body: JSON.stringify({ method: 'GET', path: '^secret/data/app/.*$', regex: true, status: 500, times: 2 }),
    })
    t.equal(add.status, 201)
    const { id } = (await add.json()) as { id: string }
    t.type(id, 'string')
    const listed = (await (await fetch(`${sim.url}/__sim/faults`)).json()) as { faults: { id: string; remaining: number }[] }
    t.match(listed.faults, [{ id, remaining: 2 }])
    t.equal((await failure(vault.read('secret/data/app/db'))).statusCode, 500)
    t.equal((await fetch(`${sim.url}/__sim/faults/${id}`, { method: 'DELETE' })).status, 204)
    t.same(get(await vault.read('secret/data/app/db'), 'data', 'data'), { password: 'p' })

    await fetch(`${sim.url}/__sim/faults`, { method: 'POST', body: JSON.stringify({ path: 'secret/*', latencyMs: 10, times: null }) })
    await fetch(`${sim.url}/__sim/faults`, { method: 'POST', body: JSON.stringify({ path: 'secret/*', drop: true }) })
    t.equal(sim.faults.list().length, 2)
    t.equal((await fetch(`${sim.url}/__sim/faults`, { method: 'DELETE' })).status, 204)
    t.equal(sim.faults.list().length, 0)

    t.equal((await fetch(`${sim.url}/__sim/seal`, { method: 'POST' })).status, 204)
    t.equal(sim.sealed, true)
    t.equal((await fetch(`${sim.url}/__sim/unseal`, { method: 'POST' })).status, 204)
    t.equal(sim.sealed, false)
    t.equal((await fetch(`${sim.url}/__sim/faults`, { method: 'POST', body: '{}' })).status, 400)
  })
})

t.test('HA: sys/leader without a token, and a standby\'s sys/health, as Vault answers them', async (t) => {
  const active = await startVaultSimulator()
  const standby = await startVaultSimulator()
  t.teardown(() => Promise.all([active.close(), standby.close()]))
  standby.setHa({ role: 'standby', leaderAddress: active.url })
  const json = async (url: string) => { const res = await fetch(url); return { status: res.status, body: await res.json() as Record<string, unknown> } }

  // hashicorp/vault http/sys_leader.go, vault/ha.go Core.Leader: the active node names itself.
  t.match(await json(`${active.url}/v1/sys/leader`), { status: 200, body: { ha_enabled: true, is_self: true, leader_address: active.url, performance_standby: false } })
  t.match(await json(`${standby.url}/v1/sys/leader`), { status: 200, body: { ha_enabled: true, is_self: false, leader_address: active.url, active_time: '0001-01-01T00:00:00Z' } })
  t.equal((await fetch(`${active.url}/v1/sys/leader`, { method: 'POST' })).status, 405)

  // api-docs/system/health.mdx: 429 for a standby, the active code with standbyok=true.
  t.match(await json(`${standby.url}/v1/sys/health`), { status: 429, body: { standby: true, sealed: false } })
  t.equal((await fetch(`${standby.url}/v1/sys/health?standbyok=true`)).status, 200)
  t.equal((await fetch(`${standby.url}/v1/sys/health?standbycode=299`)).status, 299)
  t.match(await json(`${active.url}/v1/sys/health`), { status: 200, body: { standby: false } })

  // No node holds the lock: a standby that names no leader.
  standby.setHa({ leaderAddress: '' })
  t.match(await json(`${standby.url}/v1/sys/leader`), { status: 200, body: { is_self: false, leader_address: '' } })

  // Sealed: Core.Leader returns ErrSealed, sys/leader answers 500.
  active.seal()
  t.match(await json(`${active.url}/v1/sys/leader`), { status: 500, body: { errors: ['Vault is sealed'] } })

  // A storage backend without HA: said so, not an error.
  active.unseal()
  active.setHa({ enabled: false })
  t.match(await json(`${active.url}/v1/sys/leader`), { status: 200, body: { ha_enabled: false, is_self: false, leader_address: '' } })
})
