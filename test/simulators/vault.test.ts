import t from 'tap'
import { startVaultSimulator, CAS_MISMATCH } from '../../sandbox/simulators/vault/index.ts'
import { failure, get, vaultClient } from '../../sandbox/simulators/vault/client.ts'

t.test('KV v2 through node-vault over HTTP', async (t) => {
  const sim = await startVaultSimulator()
  t.teardown(() => sim.close())
  const vault = vaultClient(sim.url, sim.rootToken)

  t.test('write, read, versions and the envelope', async (t) => {
    const w1 = await vault.write('secret/data/app/db', { data: { user: 'app', password: 'one' } })
    t.equal(get(w1, 'data', 'version'), 1)
    t.equal(get(w1, 'data', 'deletion_time'), '')
    t.equal(get(w1, 'data', 'destroyed'), false)
    t.same(Object.keys(w1).sort(), ['auth', 'data', 'lease_duration', 'lease_id', 'mount_type', 'renewable', 'request_id', 'warnings', 'wrap_info'])
    t.equal(w1.mount_type, 'kv')
    await vault.write('secret/data/app/db', { data: { user: 'app', password: 'two' } })

    const latest = await vault.read('secret/data/app/db')
    t.same(get(latest, 'data', 'data'), { user: 'app', password: 'two' })
    t.equal(get(latest, 'data', 'metadata', 'version'), 2)
    t.match(get(latest, 'data', 'metadata', 'created_time'), /^\d{4}-\d\d-\d\dT/)

    const v1 = await vault.read('secret/data/app/db?version=1')
    t.same(get(v1, 'data', 'data'), { user: 'app', password: 'one' })

    const missing = await failure(vault.read('secret/data/app/nothing'))
    t.equal(missing.statusCode, 404)
    t.same(missing.body, { errors: [] })
    const noVersion = await failure(vault.read('secret/data/app/db?version=9'))
    t.equal(noVersion.statusCode, 404)
  })

  t.test('check-and-set', async (t) => {
    const created = await vault.write('secret/data/cas/one', { options: { cas: 0 }, data: { a: '1' } })
    t.equal(get(created, 'data', 'version'), 1, 'cas=0 creates')
    const again = await failure(vault.write('secret/data/cas/one', { options: { cas: 0 }, data: { a: '2' } }))
    t.equal(again.statusCode, 400, 'cas=0 is create-only')
    t.same(again.body, { errors: [CAS_MISMATCH] })
    t.equal(again.message, 'check-and-set parameter did not match the current version')
    const stale = await failure(vault.write('secret/data/cas/one', { options: { cas: 5 }, data: { a: '2' } }))
    t.equal(stale.statusCode, 400)
    const next = await vault.write('secret/data/cas/one', { options: { cas: 1 }, data: { a: '2' } })
    t.equal(get(next, 'data', 'version'), 2)

    await vault.write('secret/metadata/cas/strict', { cas_required: true })
    const required = await failure(vault.write('secret/data/cas/strict', { data: { a: '1' } }))
    t.equal(required.statusCode, 400)
    t.same(required.body, { errors: ['check-and-set parameter required for this call'] })
    t.equal(get(await vault.write('secret/data/cas/strict', { options: { cas: 0 }, data: { a: '1' } }), 'data', 'version'), 1)
  })

  t.test('patch merges into a new version', async (t) => {
    await vault.write('secret/data/patch/me', { data: { keep: 'yes', nested: { a: '1', b: '2' }, drop: 'x' } })
    const patched = await vault.update('secret/data/patch/me', { data: { nested: { b: '3' }, drop: null } })
    t.equal(get(patched, 'data', 'version'), 2)
    t.same(get(await vault.read('secret/data/patch/me'), 'data', 'data'), { keep: 'yes', nested: { a: '1', b: '3' } })
    const wrongType = await fetch(`${sim.url}/v1/secret/data/patch/me`, {
      method: 'PATCH',
      headers: { 'x-vault-token': sim.rootToken, 'content-type': 'application/json' },
      body: JSON.stringify({ data: { a: 1 } }),
    })
    t.equal(wrongType.status, 415, 'PATCH needs application/merge-patch+json')
    const absent = await failure(vault.update('secret/data/patch/absent', { data: { a: '1' } }))
    t.equal(absent.statusCode, 404)
  })

  t.test('metadata: custom_metadata, max_versions, read and patch', async (t) => {
    await vault.write('secret/data/meta/svc', { data: { k: 'v' } })
    const none = await vault.write('secret/metadata/meta/svc', { custom_metadata: { owner: 'sre', rotated: '2026-01-01' }, max_versions: 3 })
    t.same(none, {}, '204 without a body')
    let meta = await vault.read('secret/metadata/meta/svc')
    t.same(get(meta, 'data', 'custom_metadata'), { owner: 'sre', rotated: '2026-01-01' })
    t.equal(get(meta, 'data', 'max_versions'), 3)
    t.equal(get(meta, 'data', 'current_version'), 1)
    t.equal(get(meta, 'data', 'delete_version_after'), '0s')
    t.same(Object.keys(get(meta, 'data', 'versions') as object), ['1'])

    await vault.update('secret/metadata/meta/svc', { custom_metadata: { rotated: '2026-02-02', owner: null, team: 'platform' } })
    meta = await vault.read('secret/metadata/meta/svc')
    t.same(get(meta, 'data', 'custom_metadata'), { rotated: '2026-02-02', team: 'platform' }, 'merge patch of custom_metadata')
    t.same(get(await vault.read('secret/data/meta/svc'), 'data', 'metadata', 'custom_metadata'), { rotated: '2026-02-02', team: 'platform' }, 'visible on reads')

    for (let i = 0; i < 4; i++) await vault.write('secret/data/meta/svc', { data: { i: String(i) } })
    meta = await vault.read('secret/metadata/meta/svc')
    t.equal(get(meta, 'data', 'current_version'), 5)
    t.same(Object.keys(get(meta, 'data', 'versions') as object), ['3', '4', '5'], 'max_versions prunes the oldest')
    t.equal(get(meta, 'data', 'oldest_version'), 3)

    const bad = await failure(vault.write('secret/metadata/meta/svc', { custom_metadata: { n: 1 } }))
    t.equal(bad.statusCode, 400)
  })

  t.test('delete, undelete, destroy', async (t) => {
    await vault.write('secret/data/life/x', { data: { v: '1' } })
    await vault.write('secret/data/life/x', { data: { v: '2' } })
    await vault.delete('secret/data/life/x')
    const deleted = await failure(vault.read('secret/data/life/x'))
    t.equal(deleted.statusCode, 404, 'soft-deleted latest reads as 404')
    t.equal(get(deleted.body, 'data', 'data'), null)
    t.not(get(deleted.body, 'data', 'metadata', 'deletion_time'), '', 'with its deletion time')
    t.same(get(await vault.read('secret/data/life/x?version=1'), 'data', 'data'), { v: '1' }, 'older version intact')

    await vault.write('secret/undelete/life/x', { versions: [2] })
    t.same(get(await vault.read('secret/data/life/x'), 'data', 'data'), { v: '2' }, 'undeleted')

    await vault.write('secret/delete/life/x', { versions: [1, 2] })
    t.equal((await failure(vault.read('secret/data/life/x?version=1'))).statusCode, 404)
    const noVersions = await failure(vault.write('secret/delete/life/x', {}))
    t.equal(noVersions.statusCode, 400)
    t.same(noVersions.body, { errors: ['no version number provided'] })

    await vault.destroySecretVersions('secret', 'life/x', [2])
    await vault.write('secret/undelete/life/x', { versions: [1, 2] })
    t.same(get(await vault.read('secret/data/life/x?version=1'), 'data', 'data'), { v: '1' })
    const destroyed = await failure(vault.read('secret/data/life/x?version=2'))
    t.equal(destroyed.statusCode, 404, 'destroyed cannot be undeleted')
    t.equal(get(destroyed.body, 'data', 'metadata', 'destroyed'), true)

    await vault.delete('secret/metadata/life/x')
    t.equal((await failure(vault.read('secret/metadata/life/x'))).statusCode, 404, 'metadata delete removes everything')
  })

  t.test('list and the empty-list 404', async (t) => {
    await vault.write('secret/data/tree/a', { data: { x: '1' } })
    await vault.write('secret/data/tree/b/c', { data: { x: '1' } })
    await vault.write('secret/data/tree/b/d', { data: { x: '1' } })
    const listed = await vault.list('secret/metadata/tree')
    t.same(get(listed, 'data', 'keys'), ['a', 'b/'])
    t.same(get(await vault.list('secret/metadata/tree/b/'), 'data', 'keys'), ['c', 'd'])

    const empty = await failure(vault.list('secret/metadata/nothing-here'))
    t.equal(empty.statusCode, 404)
    t.same(empty.body, { errors: [] })

    const viaQuery = await fetch(`${sim.url}/v1/secret/metadata/tree?list=true`, { headers: { 'x-vault-token': sim.rootToken } })
    t.equal(viaQuery.status, 200, 'GET ?list=true is the same operation')
    t.same(get(await viaQuery.json(), 'data', 'keys'), ['a', 'b/'])
  })

  t.test('subkeys and mount config', async (t) => {
    await vault.write('secret/data/sub/k', { data: { foo: 'a', bar: { baz: 'b' }, quux: 'c' } })
    const sub = await vault.read('secret/subkeys/sub/k')
    t.same(get(sub, 'data', 'subkeys'), { foo: null, bar: { baz: null }, quux: null })
    t.same(get(await vault.read('secret/subkeys/sub/k?depth=1'), 'data', 'subkeys'), { foo: null, bar: null, quux: null })

    await vault.write('secret/config', { max_versions: 7, delete_version_after: '3h25m19s' })
    const cfg = await vault.read('secret/config')
    t.same(cfg.data, { cas_required: false, delete_version_after: '3h25m19s', max_versions: 7 })
    await vault.write('secret/config', { max_versions: 0, delete_version_after: '0s' })
  })

  t.test('Vault error bodies', async (t) => {
    const noRoute = await failure(vault.read('nomount/foo'))
    t.equal(noRoute.statusCode, 404)
    t.same(noRoute.body, { errors: ['no handler for route "nomount/foo". route entry not found.'] })
    const noData = await failure(vault.write('secret/data/x', { nodata: true }))
    t.equal(noData.statusCode, 400)
    t.same(noData.body, { errors: ['no data provided'] })
    const bad = await fetch(`${sim.url}/v1/secret/data/x`, { method: 'POST', headers: { 'x-vault-token': sim.rootToken }, body: '{not json' })
    t.equal(bad.status, 400)
    t.match(await bad.json(), { errors: [/^failed to parse JSON input/] })
    const noToken = await fetch(`${sim.url}/v1/secret/data/app/db`)
    t.equal(noToken.status, 403)
    t.same(await noToken.json(), { errors: ['permission denied'] })
    const bearer = await fetch(`${sim.url}/v1/secret/data/app/db`, { headers: { authorization: `Bearer ${sim.rootToken}` } })
    t.equal(bearer.status, 200, 'Authorization: Bearer works like X-Vault-Token')
  })

  t.test('seeding API', async (t) => {
    const { version } = sim.putSecret('secret', 'seeded/app', { url: 'postgres://db' }, { owner: 'sandbox' })
    t.equal(version, 1)
    const read = await vault.read('secret/data/seeded/app')
    t.same(get(read, 'data', 'data'), { url: 'postgres://db' })
    t.same(get(read, 'data', 'metadata', 'custom_metadata'), { owner: 'sandbox' })
    t.same(sim.getSecret('secret', 'seeded/app'), { url: 'postgres://db' })
  })

  t.test('more KV v2 mounts', async (t) => {
    const other = await startVaultSimulator({ kvMounts: ['secret', 'platform/kv'] })
    t.teardown(() => other.close())
    const c = vaultClient(other.url, other.rootToken)
    await c.write('platform/kv/data/x', { data: { a: 'b' } })
    t.same(get(await c.read('platform/kv/data/x'), 'data', 'data'), { a: 'b' })
    const mounts = await c.mounts()
    t.same(get(mounts, 'data', 'platform/kv/', 'options'), { version: '2' })
    t.equal(get(mounts, 'data', 'secret/', 'type'), 'kv')
    await c.write('sys/mounts/extra', { type: 'kv', options: { version: '2' } })
    await c.write('extra/data/y', { data: { z: '1' } })
    t.same(get(await c.read('extra/data/y'), 'data', 'data'), { z: '1' })
  })
})

t.test('ACL policies answer 403 where Vault would', async (t) => {
  const sim = await startVaultSimulator()
  t.teardown(() => sim.close())
  const root = vaultClient(sim.url, sim.rootToken)
  sim.putSecret('secret', 'app/db', { password: 'p' })
  sim.putSecret('secret', 'other/db', { password: 'q' })

  await root.write('sys/policies/acl/app-read', {
    policy: `
# what a runbook may touch
path "secret/data/app/*" {
  capabilities = ["read", "create", "update"]
}
path "secret/metadata/app/*" {
  capabilities = ["list", "read"]
}
path "secret/data/app/locked" {
  capabilities = ["deny"]
}
path "secret/data/team/+/config" { capabilities = ["read"] }
`,
  })
  t.match(get(await root.read('sys/policies/acl/app-read'), 'data', 'policy'), /secret\/data\/app/)
  t.same(get(await root.list('sys/policies/acl'), 'data', 'keys'), ['app-read', 'default', 'root'])

  const created = await root.tokenCreate({ policies: ['app-read'] })
  // node-vault switches a client to the token it just created; keep root as root.
  t.not(root.token, sim.rootToken)
  root.token = sim.rootToken
  const clientToken = get(created, 'auth', 'client_token')
  t.type(clientToken, 'string')
  t.same(get(created, 'auth', 'policies'), ['app-read', 'default'])
  const app = vaultClient(sim.url, String(clientToken))

  t.same(get(await app.read('secret/data/app/db'), 'data', 'data'), { password: 'p' }, 'inside the policy')
  await app.write('secret/data/app/new', { data: { a: '1' } })
  t.same(get(await app.list('secret/metadata/app/'), 'data', 'keys'), ['db', 'new'])

  const outside = await failure(app.read('secret/data/other/db'))
  t.equal(outside.statusCode, 403)
  t.same(outside.body, { errors: ['permission denied'] })
  t.equal((await failure(app.write('secret/data/other/db', { data: { a: '1' } }))).statusCode, 403)
  t.equal((await failure(app.read('secret/data/app/locked'))).statusCode, 403, 'deny wins')
  t.equal((await failure(app.delete('secret/metadata/app/db'))).statusCode, 403, 'no delete capability')
  t.equal((await failure(app.update('secret/data/app/db', { data: { a: '1' } }))).statusCode, 403, 'patch is its own capability')
  t.equal((await failure(app.write('secret/metadata/app/db', { max_versions: 1 }))).statusCode, 403, 'metadata needs its own path')
  t.equal((await failure(app.seal())).statusCode, 403, 'sys/seal needs sudo')

  sim.putSecret('secret', 'team/a/config', { x: '1' })
  sim.putSecret('secret', 'team/a/b/config', { x: '1' })
  t.same(get(await app.read('secret/data/team/a/config'), 'data', 'data'), { x: '1' }, '+ matches one segment')
  t.equal((await failure(app.read('secret/data/team/a/b/config'))).statusCode, 403, 'but not two')

  t.test('the most specific path wins, as in Vault', async (t) => {
    sim.putPolicy('broad', 'path "secret/*" { capabilities = ["read", "list"] }\npath "secret/data/app/*" { capabilities = ["list"] }')
    const b = vaultClient(sim.url, sim.createToken(['broad']))
    t.same(get(await b.read('secret/data/other/db'), 'data', 'data'), { password: 'q' })
    t.equal((await failure(b.read('secret/data/app/db'))).statusCode, 403, 'secret/data/app/* grants no read although secret/* does')
    t.equal((await failure(b.read('secret/app/db'))).statusCode, 404, 'a KV v1-style path finds nothing on a v2 mount')
  })

  t.test('create vs update on KV data', async (t) => {
    sim.putPolicy('create-only', 'path "secret/data/co/*" { capabilities = ["create"] }')
    const co = vaultClient(sim.url, sim.createToken(['create-only']))
    await co.write('secret/data/co/new', { data: { a: '1' } })
    t.equal((await failure(co.write('secret/data/co/new', { data: { a: '2' } }))).statusCode, 403, 'overwriting needs update')
  })

  t.test('legacy sys/policy through node-vault and JSON policies', async (t) => {
    await root.addPolicy('json-pol', JSON.stringify({ path: { 'secret/data/other/*': { capabilities: ['read'] } } }))
    t.match(get(await root.getPolicy('json-pol'), 'rules'), /other/)
    const jt = vaultClient(sim.url, sim.createToken(['json-pol']))
    t.same(get(await jt.read('secret/data/other/db'), 'data', 'data'), { password: 'q' })
    const bad = await failure(root.write('sys/policies/acl/broken', { policy: 'path "x" { capabilities = ["fly"] }' }))
    t.equal(bad.statusCode, 400)
  })

  t.test('a child token cannot widen its policies', async (t) => {
    const err = await failure(app.tokenCreate({ policies: ['root'] }))
    t.equal(err.statusCode, 403, 'auth/token/create is not in its policy')
    sim.putPolicy('creator', 'path "auth/token/create" { capabilities = ["update"] }')
    const creator = vaultClient(sim.url, sim.createToken(['creator']))
    const widen = await failure(creator.tokenCreate({ policies: ['app-read'] }))
    t.equal(widen.statusCode, 400)
    t.same(widen.body, { errors: ['child policies must be subset of parent'] })
  })
})
