import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { CoordinationV1Api } from '@kubernetes/client-node'
import { checkConfig, configSchema, type RotateSecretConfig } from '../../../functions/rotate-secret/config.ts'
import rotateSecret from '../../../functions/rotate-secret/index.ts'
import { validateConfig } from '../../../shared/config.ts'
import { CaretakerError } from '../../../shared/errors.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { startKeycloakSimulator } from '../../../sandbox/simulators/keycloak/index.ts'
import { leaksIn, sha256, startPlatform, vaultValues } from './platform.ts'

// rotate-secret's keycloak-client target end to end over HTTP: the Keycloak
// stand-in (test/simulators/keycloak), the Vault and Kubernetes simulators
// with the manifest's RBAC, the function hosted over real HTTP. A rotation,
// dry-run, a fault at each write step (each ends with the secret in Vault
// accepted by Keycloak's token endpoint), the config refused, no value in
// any output.

const kc = await startKeycloakSimulator()
t.teardown(() => kc.close())
const adminSecret = 'kc-admin-Secret-0f-the-rotator-1234'
const masterPassword = 'kc-master-Password-of-admin-5678'
const viewerSecret = 'kc-viewer-Secret-3333333333333333'
const oldWeb = 'kc-web-old-Secret-aaaaaaaaaaaaaaaaaaaa'
const oldPortal = 'kc-portal-old-Secret-bbbbbbbbbbbbbbbbb'
kc.addRealm('platform')
kc.addClient('master', { clientId: 'caretaker-rotator', secret: adminSecret, serviceAccountsEnabled: true, serviceAccountRoles: ['admin'] })
kc.addUser('master', { username: 'admin', password: masterPassword, roles: ['admin'] })
kc.addClient('platform', { clientId: 'viewer', secret: viewerSecret, serviceAccountsEnabled: true, serviceAccountRoles: ['view-clients'] })
// A client with authorization services and a service account, and a web login client without a service account.
kc.addClient('platform', { clientId: 'web', secret: oldWeb, serviceAccountsEnabled: true, authorizationServicesEnabled: true, redirectUris: ['https://web.example.com/*'], attributes: { 'post.logout.redirect.uris': '+' } })
kc.addClient('platform', { clientId: 'portal', secret: oldPortal, serviceAccountsEnabled: false })
kc.addClient('platform', { clientId: 'spa', publicClient: true })

const target = (clientId: string, admin: string) => ({ kind: 'keycloak-client', url: kc.url, realm: 'platform', clientId, connection: { vault: { mount: 'secret', path: `identity/keycloak/${admin}` } } })
const policy = (name: string, path: string, clientId: string, admin: string, extra: Record<string, unknown> = {}) => ({
  name, vault: { mount: 'secret', path: `platform/keycloak/${path}` }, keys: ['clientSecret'], interval: '365d',
  generate: { length: 48, alphabet: 'urlsafe' }, target: target(clientId, admin), externalSecrets: [], consumers: [], ...extra,
})
const config = {
  secrets: [
    policy('web-oidc', 'web', 'web', 'rotator', { externalSecrets: [{ namespace: 'production', name: 'web-oidc' }], consumers: [{ kind: 'Deployment', namespace: 'production', name: 'web' }] }),
    policy('portal-oidc', 'portal', 'portal', 'master-admin'),
    policy('web-oidc-by-a-viewer', 'web', 'web', 'viewer'),
    policy('ghost-oidc', 'ghost', 'ghost', 'rotator'),
    policy('spa-oidc', 'spa', 'spa', 'rotator'),
    policy('web-oidc-no-admin', 'web', 'web', 'incomplete'),
  ] as unknown as RotateSecretConfig['secrets'],
}
const p = await startPlatform(config)
t.teardown(() => p.close())
p.vault.putSecret('secret', 'identity/keycloak/rotator', { clientId: 'caretaker-rotator', clientSecret: adminSecret, realm: 'master' })
p.vault.putSecret('secret', 'identity/keycloak/master-admin', { username: 'admin', password: masterPassword, realm: 'master' })
p.vault.putSecret('secret', 'identity/keycloak/viewer', { clientId: 'viewer', clientSecret: viewerSecret })
p.vault.putSecret('secret', 'identity/keycloak/incomplete', { clientId: 'caretaker-rotator' })
p.vault.putSecret('secret', 'platform/keycloak/web', { clientId: 'web', clientSecret: oldWeb }, { 'rotated-at': '2025-10-01T00:00:00Z' })
p.vault.putSecret('secret', 'platform/keycloak/portal', { clientId: 'portal', clientSecret: oldPortal }, { 'rotated-at': '2025-10-01T00:00:00Z' })
p.vault.putSecret('secret', 'platform/keycloak/ghost', { clientSecret: 'kc-ghost-Secret-cccccccccccccccccccc' })
p.vault.putSecret('secret', 'platform/keycloak/spa', { clientSecret: 'kc-spa-Secret-dddddddddddddddddddddd' })
await p.externalSecret('production', 'web-oidc', [{ secretKey: 'OIDC_CLIENT_SECRET', path: 'platform/keycloak/web', property: 'clientSecret' }])
p.deployment('production', 'web')
await p.kube.controllers.idle()

const vaultValue = (path: string) => String(p.vault.getSecret('secret', `platform/keycloak/${path}`)!.clientSecret)
function versionOf(path: string): number {
  let v = 0
  while (p.vault.getSecret('secret', `platform/keycloak/${path}`, v + 1) !== null) v++
  return v
}
/** What Keycloak's token endpoint says to a client_credentials request with this secret: ok, or its error code. */
const tokenAnswer = async (clientId: string, secret: string): Promise<string> => {
  const res = await fetch(`${kc.url}/realms/platform/protocol/openid-connect/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }),
  })
  return res.status === 200 ? 'ok' : String(((await res.json()) as { error: string }).error)
}
/** The invariant every case ends with: Keycloak accepts the secret in Vault, and the synced Secret carries it. */
const webWorks = async (t: Test) => {
  const inVault = vaultValue('web')
  t.equal(kc.client('platform', 'web')!.secret, inVault, 'Keycloak holds the secret in Vault')
  t.equal(await tokenAnswer('web', inVault), 'ok', 'the token endpoint accepts it')
  t.equal((await p.secretHashes('production', 'web-oidc')).OIDC_CLIENT_SECRET, sha256(inVault), 'the synced Secret carries it')
  t.equal(kc.client('platform', 'web')!.authorizationServicesEnabled, true, 'nothing else of the client changed')
}
const journal = () => p.vault.getSecret('secret', 'caretaker/rotate-secret/web-oidc')
const leases = async () => (await p.admin.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: 'caretaker' })).items.filter((l) => l.spec?.holderIdentity)
const request = (secret: string, extra: Record<string, string> = {}) => p.send('dev.caretaker.secret.rotate.requested', { secret }, extra)
const writes = () => kc.requests.filter((r) => r.method !== 'GET' && r.path.startsWith('/admin/'))

t.test('dry-run reports the plan and changes nothing', async (t) => {
  const before = { version: versionOf('web'), secret: kc.client('platform', 'web')!.secret, writes: writes().length, deployment: await p.deploymentOf('production', 'web') }
  const res = await request('web-oidc', { 'ce-dryrun': 'true' })
  t.equal(res.status, 200)
  t.equal(res.body?.dryRun, true)
  const plan = res.body?.plan as { target: string; steps: string[] }
  t.match(plan.target, /^Keycloak client web in realm platform at http:\/\/127\.0\.0\.1:\d+ \(admin credential from secret\/identity\/keycloak\/rotator\)$/)
  t.match(plan.steps.join('\n'), /set the new secret on Keycloak client web .*then obtain a token with it/)
  t.equal(versionOf('web'), before.version, 'Vault unchanged')
  t.equal(kc.client('platform', 'web')!.secret, before.secret, 'Keycloak unchanged')
  t.equal(writes().length, before.writes, 'no write reached Keycloak')
  t.same(await p.deploymentOf('production', 'web'), before.deployment, 'no restart')
  t.same(await leases(), [], 'no Lease')
})

t.test('a client secret is rotated: Keycloak, Vault, the Secret, the consumer', async (t) => {
  const before = versionOf('web')
  const res = await request('web-oidc')
  t.equal(res.type, 'dev.caretaker.secret.rotated', JSON.stringify(res.body))
  t.same((res.body?.steps as Array<{ step: string }>).map((s) => s.step), ['lock', 'read', 'generate', 'apply', 'verify', 'write', 'sync', 'restart'])
  const fresh = vaultValue('web')
  t.match(fresh, /^[A-Za-z0-9_-]{48}$/, '48 URL-safe characters, as the policy says')
  t.equal(versionOf('web'), before + 1)
  t.equal(p.vault.getSecret('secret', 'platform/keycloak/web')!.clientId, 'web', 'the other keys of the secret are kept')
  t.equal(await tokenAnswer('web', fresh), 'ok', 'the new secret gets a token')
  t.equal(await tokenAnswer('web', oldWeb), 'invalid_client', 'the old one is refused')
  await webWorks(t)
  t.same(kc.client('platform', 'web')!.redirectUris, ['https://web.example.com/*'])
  t.ok((await p.deploymentOf('production', 'web')).restartedAt, 'the consumer restarted')
  t.ok(Number(res.body?.lockoutWindowMs) > 0, 'one secret at a time: the window is measured')
  t.equal(journal(), null, 'no journal left')
})

t.test('a client without a service account, through admin-cli: the secret is proven by client authentication', async (t) => {
  const res = await request('portal-oidc')
  t.equal(res.type, 'dev.caretaker.secret.rotated', JSON.stringify(res.body))
  const fresh = vaultValue('portal')
  t.equal(kc.client('platform', 'portal')!.secret, fresh)
  t.equal(await tokenAnswer('portal', fresh), 'unauthorized_client', 'Keycloak authenticated it (then refused the grant)')
  t.equal(await tokenAnswer('portal', oldPortal), 'invalid_client')
})

t.test('refused before anything changes', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['web-oidc-by-a-viewer', /viewer lacks the realm-management role manage-clients in realm platform/],
    ['ghost-oidc', /there is no client with clientId ghost in realm platform/],
    ['spa-oidc', /a public client has no secret to rotate/],
    ['web-oidc-no-admin', /identity\/keycloak\/incomplete needs clientId and clientSecret .* or username and password/],
  ]
  for (const [name, reason] of cases) {
    const secret = kc.client('platform', 'web')!.secret
    const res = await request(name)
    t.equal(res.status, 200, `${name}: a failed rotation is an outcome`)
    t.match(res.body, { failedStep: 'apply', changed: false, rolledBack: true, credentialInVault: 'previous' }, name)
    t.match(res.body?.reason, reason, name)
    t.equal(kc.client('platform', 'web')!.secret, secret, `${name}: Keycloak unchanged`)
  }
  await webWorks(t)
})

t.test('a fault at each write step leaves a working credential', async (t) => {
  const cases: Array<{ name: string; inject: () => unknown; clear?: () => unknown; expect: Record<string, unknown>; reason: RegExp; journal?: 'kept' }> = [
    {
      name: 'the PUT fails',
      inject: () => kc.faults.add({ method: 'PUT', path: '/admin/realms/platform/clients/*', status: 500 }),
      expect: { failedStep: 'apply', rolledBack: true, credentialInVault: 'previous', rollback: [{ step: 'apply', ok: true }] },
      reason: /setting the new secret: HTTP 500/,
    },
    {
      name: 'the PUT is made but its answer lost',
      inject: () => kc.faults.add({ method: 'PUT', path: '/admin/realms/platform/clients/*', drop: true, after: true }),
      expect: { failedStep: 'apply', changed: true, rolledBack: true, credentialInVault: 'previous', rollback: [{ step: 'apply', ok: true }] },
      reason: /setting the new secret: the connection closed without an answer/,
    },
    {
      name: 'the token endpoint fails on the proof',
      inject: () => kc.faults.add({ method: 'POST', path: '/realms/platform/protocol/openid-connect/token', status: 503 }),
      expect: { failedStep: 'verify', changed: true, rolledBack: true, credentialInVault: 'previous' },
      reason: /obtaining a token with the new secret: HTTP 503/,
    },
    {
      name: 'Vault seals as the new value is written',
      inject: () => p.vault.faults.sealOn(['PUT', 'POST'], 'secret/data/platform/keycloak/web'),
      clear: () => p.vault.unseal(),
      expect: { failedStep: 'write', rolledBack: true, credentialInVault: 'previous', rollback: [{ step: 'apply', ok: true }] },
      reason: /sealed/,
      // Sealed, Vault could not delete it either: the next holder confirms the rollback and deletes it.
      journal: 'kept',
    },
    {
      name: 'the ExternalSecret never syncs',
      inject: () => p.setStorePath('nowhere'),
      clear: () => p.setStorePath('secret'),
      expect: { failedStep: 'sync', rolledBack: true, credentialInVault: 'previous', rollback: [{ step: 'write', ok: true }, { step: 'apply', ok: true }, { step: 'sync', ok: true }] },
      reason: /Secret production\/web-oidc did not carry the new value/,
    },
    {
      name: 'the consumer\'s rollout fails',
      inject: () => p.kube.controllers.failRollout('Deployment', 'production', 'web'),
      clear: () => p.kube.controllers.failRollout('Deployment', 'production', 'web', false),
      expect: { failedStep: 'restart', rolledBack: true, credentialInVault: 'previous' },
      reason: /the rollout of Deployment production\/web failed/,
    },
  ]
  for (const c of cases) {
    const before = vaultValue('web')
    await c.inject()
    const res = await request('web-oidc')
    await c.clear?.()
    kc.faults.clear()
    t.equal(res.type, 'dev.caretaker.secret.rotation.failed', `${c.name}: ${JSON.stringify(res.body)}`)
    t.match(res.body, { ...c.expect, journal: c.journal ?? 'closed' }, c.name)
    t.match(res.body?.reason, c.reason, c.name)
    t.equal(vaultValue('web'), before, `${c.name}: Vault holds the previous secret`)
    t.equal(await tokenAnswer('web', before), 'ok', `${c.name}: which Keycloak accepts`)
    await webWorks(t)
    if (c.journal === 'kept') {
      const next = await request('web-oidc')
      t.equal(next.type, 'dev.caretaker.secret.rotated', `${c.name}: the next request rotates`)
      t.match(next.body?.recovered, { action: 'rolled-back' }, `${c.name}: once it has confirmed the rollback`)
      await webWorks(t)
    }
    t.equal(journal(), null, `${c.name}: no journal left`)
  }
})

t.test('the undo fails too: the journal is kept and the next request finishes the rotation', async (t) => {
  const before = vaultValue('web')
  // The proof is slowed and then fails; meanwhile (the new secret set) every PUT fails, the undo's too.
  kc.faults.add({ method: 'POST', path: '/realms/platform/protocol/openid-connect/token', status: 503, latencyMs: 800 })
  const seen = kc.requests.length
  const pending = request('web-oidc')
  while (!kc.requests.slice(seen).some((r) => r.method === 'PUT' && r.status === 204)) await sleep(5)
  kc.faults.add({ method: 'PUT', path: '/admin/realms/platform/clients/*', status: 500, times: Infinity })
  const res = await pending
  kc.faults.clear()
  t.match(res.body, { failedStep: 'verify', rolledBack: false, credentialInVault: 'previous', journal: 'kept', rollback: [{ step: 'apply', ok: false, message: /restoring the previous secret: HTTP 500/ }] })
  t.equal(await tokenAnswer('web', before), 'invalid_client', 'Keycloak was left with the new secret')
  t.ok(journal(), 'the journal records it')
  const next = await request('web-oidc')
  t.equal(next.type, 'dev.caretaker.secret.rotated', JSON.stringify(next.body))
  t.match(next.body?.recovered, { action: 'rolled-forward', stepFound: 'verify', message: /the target held the new value: written to Vault/ })
  t.not(vaultValue('web'), before)
  await webWorks(t)
  t.equal(journal(), null)
  t.same(await leases(), [])
})

t.test('an expired admin token is fetched again', async (t) => {
  // Keycloak's tokens for the admin live 1 s; the sync waits 3 s before the undo needs one.
  kc.tokenLifespanSeconds = 1
  const seen = kc.requests.length
  await p.setStorePath('nowhere')
  const res = await request('web-oidc')
  await p.setStorePath('secret')
  kc.tokenLifespanSeconds = 300
  t.match(res.body, { failedStep: 'sync', rolledBack: true, rollback: [{ step: 'write', ok: true }, { step: 'apply', ok: true }] }, 'the undo, seconds later, got through')
  const logins = kc.requests.slice(seen).filter((r) => r.path === '/realms/master/protocol/openid-connect/token')
  t.ok(logins.length >= 2 && logins.every((r) => r.status === 200), `the admin logged in again (${logins.length} logins)`)
  t.notOk(kc.requests.slice(seen).some((r) => r.path.startsWith('/admin/') && r.status === 401), 'never with an expired token')
  await webWorks(t)
})

t.test('a bad config is refused with invalid_config, saying what to fix; a bad request is a 400', async (t) => {
  const load = (target: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const c = validateConfig<RotateSecretConfig>({ secrets: [{ name: 'a', vault: { mount: 'secret', path: 'x/y' }, keys: ['clientSecret'], interval: '365d', target: { kind: 'keycloak-client', url: 'https://sso.example.com', realm: 'platform', clientId: 'web', connection: { vault: { mount: 'secret', path: 'kc/admin' } }, ...target }, ...extra }] }, configSchema, 'test')
    checkConfig(c)
    return c
  }
  t.equal(load({}).secrets[0]!.target.kind, 'keycloak-client', 'a good one loads')
  const refused = (what: string, target: Record<string, unknown>, extra: Record<string, unknown>, message: RegExp) => {
    let thrown: unknown
    try {
      load(target, extra)
    } catch (err) {
      thrown = err
    }
    t.ok(thrown instanceof CaretakerError, `${what}: refused`)
    t.match(thrown, { code: 'invalid_config', message: message }, what)
  }
  refused('credentials in the URL', { url: 'https://admin:pw@sso.example.com' }, {}, /url/)
  refused('the admin API instead of the base URL', { url: 'https://sso.example.com/admin/realms/platform' }, {}, /target\.url: give Keycloak's base URL/)
  refused('a secret in the config', { clientSecret: 'inline' }, {}, /config/)
  refused('no realm', { realm: undefined }, {}, /realm/)
  refused('two keys', {}, { keys: ['clientSecret', 'other'] }, /one password: name exactly one key/)
  t.equal(load({ url: 'https://sso.example.com/auth' }).secrets.length, 1, 'a context path is fine')

  const res = await request('keycloak')
  t.equal(res.status, 400)
  t.match(res.body, { error: 'invalid_request', message: /no secret named "keycloak"; configured secrets: web-oidc, portal-oidc/ })
})

t.test('no secret, admin credential or admin token in any log line, reply, event or metric', async (t) => {
  const values = vaultValues(p.vault, 'secret', ['platform/keycloak/web', 'platform/keycloak/portal', 'platform/keycloak/ghost', 'identity/keycloak/rotator', 'identity/keycloak/master-admin', 'identity/keycloak/viewer'], ['clientId', 'username', 'realm'])
  for (const v of [adminSecret, masterPassword, viewerSecret, oldWeb, oldPortal]) values.add(v)
  t.ok(values.size >= 12, `values searched for: ${values.size}`)
  const found = await leaksIn(p, values, [
    // A generated secret that never reached Vault (rolled back), and Keycloak's access tokens.
    /(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{48}(?![A-Za-z0-9_-])/,
    /kc\.[A-Za-z0-9_-]{20,}/,
  ])
  t.ok(p.logText().length > 1000 && p.replies.join('').length > 1000)
  t.same(found, { logs: { values: 0, shapes: [] }, replies: { values: 0, shapes: [] }, emitted: { values: 0, shapes: [] }, metrics: { values: 0, shapes: [] } })
})

// Last: a function module runs one instance per process, so this one takes over the platform's.
t.test('an instance started without CARETAKER_DRY_RUN is in dry-run: it plans, and changes nothing', async (t) => {
  const before = { version: versionOf('web'), secret: kc.client('platform', 'web')!.secret, writes: writes().length }
  const fn = await startTestFunction(rotateSecret, {
    config: validateConfig<RotateSecretConfig>({ leaseDuration: '30s', syncTimeout: '3s', rolloutTimeout: '5s', connectTimeout: '2s', ...config }, configSchema, 'test'),
    env: { CARETAKER_KUBE_SERVER: p.kube.url, CARETAKER_KUBE_TOKEN: p.kube.mintServiceAccountToken('caretaker', 'rotate-secret'), VAULT_ADDR: p.vault.url, VAULT_TOKEN: p.vault.rootToken },
  })
  t.teardown(() => fn.stop())
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.secret.rotate.requested'), body: JSON.stringify({ secret: 'web-oidc' }) })
  const body = await res.json() as Record<string, unknown>
  t.equal(res.status, 200)
  t.match(body, { dryRun: true, plan: { target: /^Keycloak client web in realm platform/ } })
  t.equal(versionOf('web'), before.version, 'Vault unchanged')
  t.equal(kc.client('platform', 'web')!.secret, before.secret, 'Keycloak unchanged')
  t.equal(writes().length, before.writes, 'no write reached Keycloak')
  t.same(await leases(), [], 'no Lease')
  t.notOk(fn.logText().includes(oldWeb) || fn.logText().includes(adminSecret), 'no secret in its log')
})
