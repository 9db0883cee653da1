import t from 'tap'
import { startVaultSimulator } from '../../sandbox/simulators/vault/index.ts'
import { failure, get, vaultClient } from '../../sandbox/simulators/vault/client.ts'
import { tokenReviewServer } from '../../sandbox/simulators/vault/token-review.ts'

t.test('token auth', async (t) => {
  const sim = await startVaultSimulator()
  t.teardown(() => sim.close())
  const root = vaultClient(sim.url, sim.rootToken)

  const self = await root.tokenLookupSelf()
  t.same(get(self, 'data', 'policies'), ['root'])
  t.equal(get(self, 'data', 'ttl'), 0)
  t.equal(self.mount_type, 'token')

  const created = await root.tokenCreate({ policies: ['reader'], ttl: '1h', meta: { purpose: 'test' } })
  // node-vault adopts a token it creates; keep this client on root.
  root.token = sim.rootToken
  t.equal(get(created, 'auth', 'lease_duration'), 3600)
  t.equal(get(created, 'auth', 'renewable'), true)
  t.match(get(created, 'auth', 'client_token'), /^hvs\./)
  t.equal(created.data, null)
  const child = vaultClient(sim.url, String(get(created, 'auth', 'client_token')))
  const lookup = await child.tokenLookupSelf()
  t.same(get(lookup, 'data', 'policies'), ['default', 'reader'])
  t.same(get(lookup, 'data', 'meta'), { purpose: 'test' })
  t.ok((get(lookup, 'data', 'ttl') as number) > 3500)

  await child.tokenRevokeSelf()
  const revoked = await failure(child.tokenLookupSelf())
  t.equal(revoked.statusCode, 403, 'a revoked token is refused')

  const renewable = vaultClient(sim.url, sim.createToken([], 60))
  const renewed = await renewable.write('auth/token/renew-self', { increment: '2h' })
  t.equal(get(renewed, 'auth', 'lease_duration'), 7200, 'renew-self extends the TTL')

  const limited = await root.tokenCreate({ policies: ['default'], num_uses: 2 })
  root.token = sim.rootToken
  const twice = vaultClient(sim.url, String(get(limited, 'auth', 'client_token')))
  await twice.tokenLookupSelf()
  await twice.tokenLookupSelf()
  t.equal((await failure(twice.tokenLookupSelf())).statusCode, 403, 'num_uses runs out')

  const expiring = vaultClient(sim.url, sim.createToken([], 1))
  await new Promise((r) => setTimeout(r, 1100))
  t.equal((await failure(expiring.tokenLookupSelf())).statusCode, 403, 'an expired token is refused')
})

t.test('Kubernetes auth with a TokenReview', async (t) => {
  const reviewer = 'reviewer-jwt'
  const k8s = await tokenReviewServer(reviewer, {
    'jwt-of-backup': { namespace: 'caretaker', name: 'backup-runner' },
    'jwt-of-intruder': { namespace: 'caretaker', name: 'intruder' },
    'jwt-other-ns': { namespace: 'default', name: 'backup-runner' },
  })
  t.teardown(() => k8s.close())
  const sim = await startVaultSimulator()
  t.teardown(() => sim.close())
  const root = vaultClient(sim.url, sim.rootToken)

  await root.write('auth/kubernetes/config', { kubernetes_host: k8s.url, token_reviewer_jwt: reviewer })
  const cfg = await root.read('auth/kubernetes/config')
  t.equal(get(cfg, 'data', 'kubernetes_host'), k8s.url)
  t.equal(get(cfg, 'data', 'token_reviewer_jwt_set'), true)
  t.equal(get(cfg, 'data', 'token_reviewer_jwt'), undefined, 'the reviewer JWT is never read back')

  await root.write('auth/kubernetes/role/backup', {
    bound_service_account_names: ['backup-runner'],
    bound_service_account_namespaces: 'caretaker',
    policies: ['backup-read'],
    ttl: '20m',
  })
  const role = await root.read('auth/kubernetes/role/backup')
  t.same(get(role, 'data', 'token_policies'), ['backup-read'])
  t.equal(get(role, 'data', 'token_ttl'), 1200)
  t.same(get(await root.list('auth/kubernetes/role'), 'data', 'keys'), ['backup'])
  sim.putPolicy('backup-read', 'path "secret/data/backup/*" { capabilities = ["read"] }')
  sim.putSecret('secret', 'backup/s3', { key: 'k' })
  sim.putSecret('secret', 'other/s3', { key: 'k' })

  const app = vaultClient(sim.url)
  const login = await app.kubernetesLogin({ role: 'backup', jwt: 'jwt-of-backup' })
  t.same(get(login, 'auth', 'policies'), ['backup-read', 'default'], 'the role\'s policies and default')
  t.equal(get(login, 'auth', 'lease_duration'), 1200)
  t.match(get(login, 'auth', 'metadata'), { role: 'backup', service_account_name: 'backup-runner', service_account_namespace: 'caretaker', service_account_uid: 'uid-backup-runner' })
  t.equal(login.mount_type, 'kubernetes')
  t.match(k8s.reviews[0], { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'jwt-of-backup' } })
  t.equal(app.token, get(login, 'auth', 'client_token'), 'node-vault adopts the login token')
  t.same(get(await app.read('secret/data/backup/s3'), 'data', 'data'), { key: 'k' }, 'the token works within its policy')
  t.equal((await failure(app.read('secret/data/other/s3'))).statusCode, 403, 'and only there')

  const anon = vaultClient(sim.url)
  const wrongSa = await failure(anon.kubernetesLogin({ role: 'backup', jwt: 'jwt-of-intruder' }))
  t.equal(wrongSa.statusCode, 403)
  t.same(wrongSa.body, { errors: ['service account name not authorized'] })
  const wrongNs = await failure(anon.kubernetesLogin({ role: 'backup', jwt: 'jwt-other-ns' }))
  t.same(wrongNs.body, { errors: ['namespace not authorized'] })
  const unknownJwt = await failure(anon.kubernetesLogin({ role: 'backup', jwt: 'forged' }))
  t.equal(unknownJwt.statusCode, 403)
  t.same(unknownJwt.body, { errors: ['permission denied'] })
  const noRole = await failure(anon.kubernetesLogin({ role: 'nope', jwt: 'jwt-of-backup' }))
  t.equal(noRole.statusCode, 400)
  t.same(noRole.body, { errors: ['invalid role name "nope"'] })

  await root.write('auth/kubernetes/config', { kubernetes_host: k8s.url, token_reviewer_jwt: 'wrong-reviewer' })
  const badReviewer = await failure(anon.kubernetesLogin({ role: 'backup', jwt: 'jwt-of-backup' }))
  t.equal(badReviewer.statusCode, 403, 'a TokenReview the API server refuses means permission denied')

  t.test('node-vault without mount_point posts to auth//login, which Vault redirects', async (t) => {
    const res = await fetch(`${sim.url}/v1/auth//login`, { method: 'POST', body: '{}', redirect: 'manual' })
    t.equal(res.status, 301)
    t.equal(res.headers.get('location'), '/v1/auth/login')
  })

  t.test('preconfigured through options', async (t) => {
    const pre = await startVaultSimulator({ kubernetes: { host: k8s.url, reviewerToken: reviewer } })
    t.teardown(() => pre.close())
    pre.addKubernetesRole('any', { bound_service_account_names: ['*'], bound_service_account_namespaces: ['caretaker'], token_policies: ['p'] })
    const c = vaultClient(pre.url)
    const res = await c.kubernetesLogin({ role: 'any', jwt: 'jwt-of-intruder' })
    t.same(get(res, 'auth', 'policies'), ['default', 'p'])
  })
})

t.test('token lifetimes as Vault keeps them: renewal capped at the max TTL, refused past it or when the role changed', async (t) => {
  const reviewer = 'reviewer-jwt'
  const k8s = await tokenReviewServer(reviewer, { 'jwt-of-notify': { namespace: 'caretaker', name: 'notify' } })
  t.teardown(() => k8s.close())
  const sim = await startVaultSimulator({ kubernetes: { host: k8s.url, reviewerToken: reviewer } })
  t.teardown(() => sim.close())
  sim.addKubernetesRole('notify', { bound_service_account_names: ['notify'], bound_service_account_namespaces: ['caretaker'], token_policies: ['notify'], token_ttl: 3600, token_max_ttl: 5400 })
  const app = vaultClient(sim.url)
  const login = await app.kubernetesLogin({ role: 'notify', jwt: 'jwt-of-notify' })
  t.equal(get(login, 'auth', 'lease_duration'), 3600)
  t.equal(get(login, 'auth', 'renewable'), true)

  const renewed = await app.write('auth/token/renew-self', { increment: '1h' })
  t.equal(get(renewed, 'auth', 'lease_duration'), 3600, 'within the max TTL: what was asked')
  const entry = Object.values(sim.state.tokens).find((e) => e.id === app.token)!
  entry.creation_time -= 3000 // 50 minutes later: 40 minutes of the 90-minute max are left
  const capped = await app.write('auth/token/renew-self', { increment: '1h' })
  t.ok(Math.abs((get(capped, 'auth', 'lease_duration') as number) - 2400) <= 1, 'capped at what the max TTL leaves')
  t.match(capped.warnings, [/^TTL of "1h0m0s" exceeded the effective max_ttl of "\d+m\d+s"; TTL value is capped accordingly$/], 'with Vault\'s warning')
  const byDefault = await app.write('auth/token/renew-self', {})
  t.ok((get(byDefault, 'auth', 'lease_duration') as number) <= 2400, 'no increment: the role\'s TTL, capped too')

  entry.creation_time -= 5400 // past the max TTL
  entry.expires_at = Date.now() + 60_000
  const past = await failure(app.write('auth/token/renew-self', {}))
  t.equal(past.statusCode, 400)
  t.same(past.body, { errors: ['past the max TTL, cannot renew'] })

  const again = vaultClient(sim.url)
  await again.kubernetesLogin({ role: 'notify', jwt: 'jwt-of-notify' })
  sim.addKubernetesRole('notify', { bound_service_account_names: ['notify'], bound_service_account_namespaces: ['caretaker'], token_policies: ['notify', 'more'], token_ttl: 3600 })
  const changed = await failure(again.write('auth/token/renew-self', {}))
  t.same(changed.body, { errors: ['policies have changed, not renewing'] }, 'the role\'s policies changed: the plugin refuses')
  await root(sim).delete('auth/kubernetes/role/notify')
  t.same((await failure(again.write('auth/token/renew-self', {}))).body, { errors: ['role notify does not exist during renewal'] })

  const short = vaultClient(sim.url, sim.createToken([], 2))
  await new Promise((r) => setTimeout(r, 2100))
  t.equal((await failure(short.write('auth/token/renew-self', {}))).statusCode, 403, 'an expired token cannot renew itself')
})

function root(sim: { url: string; rootToken: string }) {
  return vaultClient(sim.url, sim.rootToken)
}
