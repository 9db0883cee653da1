import t from 'tap'
import { startKeycloakSimulator } from '../../sandbox/simulators/keycloak/index.ts'

// The Keycloak stand-in is as strict as Keycloak on what rotate-secret uses
// (the sources are cited in keycloak/index.ts): the token endpoint's client
// authentication and grants, the admin API's 401/404/403 in Keycloak's
// order and shapes, PUT changing only what the body says (authorization
// services excepted, as Keycloak does), and faults before or after a write.

const kc = await startKeycloakSimulator()
t.teardown(() => kc.close())
kc.addRealm('apps')
kc.addClient('master', { clientId: 'root', secret: 'root-secret', serviceAccountsEnabled: true, serviceAccountRoles: ['admin'] })
kc.addClient('apps', { clientId: 'manager', secret: 'manager-secret', serviceAccountsEnabled: true, serviceAccountRoles: ['manage-clients'] })
kc.addClient('apps', { clientId: 'viewer', secret: 'viewer-secret', serviceAccountsEnabled: true, serviceAccountRoles: ['view-clients'] })
const webId = kc.addClient('apps', { clientId: 'web', secret: 'web-secret', authorizationServicesEnabled: true, redirectUris: ['https://web/*'] })
kc.addUser('master', { username: 'admin', password: 'admin-pw', roles: ['admin'] })

const token = async (realm: string, form: Record<string, string>, headers: Record<string, string> = {}) => {
  const res = await fetch(`${kc.url}/realms/${realm}/protocol/openid-connect/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}
const cc = (clientId: string, secret: string) => ({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret })
const bearer = async (realm: string, clientId: string, secret: string) => String((await token(realm, cc(clientId, secret))).body.access_token)
const api = async (method: string, path: string, auth: string | undefined, body?: unknown) => {
  const res = await fetch(`${kc.url}/admin/realms${path}`, {
    method, headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) as unknown : undefined }
}

t.test('the token endpoint: client authentication first, then the grant', async (t) => {
  const invalid = { status: 401, body: { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' } }
  t.same(await token('apps', cc('manager', 'wrong')), invalid, 'a wrong secret')
  t.same(await token('apps', cc('nobody', 'x')), invalid, 'an unknown client')
  t.match(await token('apps', cc('manager', 'manager-secret')), { status: 200, body: { token_type: 'Bearer', expires_in: 300, access_token: /^kc\./ } })
  const basic = Buffer.from('manager:manager-secret').toString('base64')
  t.equal((await token('apps', { grant_type: 'client_credentials' }, { authorization: `Basic ${basic}` })).status, 200, 'HTTP Basic too')
  t.same(await token('apps', cc('web', 'web-secret')), { status: 401, body: { error: 'unauthorized_client', error_description: 'Client not enabled to retrieve service account' } }, 'authenticated, but no service account')
  t.same(await token('nowhere', cc('manager', 'manager-secret')), { status: 404, body: { error: 'Realm does not exist' } })
  t.match(await token('master', { grant_type: 'password', client_id: 'admin-cli', username: 'admin', password: 'admin-pw' }), { status: 200 }, 'admin-cli, a public client, with the password grant')
  t.same(await token('master', { grant_type: 'password', client_id: 'admin-cli', username: 'admin', password: 'nope' }), { status: 401, body: { error: 'invalid_grant', error_description: 'Invalid user credentials' } })
  t.match(await token('apps', { client_id: 'manager', client_secret: 'manager-secret' }), { status: 400, body: { error: 'invalid_request' } }, 'no grant_type')
})

t.test('the admin API: 401, then 404, then 403, in Keycloak\'s shapes', async (t) => {
  for (const auth of [undefined, 'kc.not-a-token']) {
    t.same(await api('GET', '/apps/clients', auth), { status: 401, body: { error: 'HTTP 401 Unauthorized' } }, `token ${String(auth)}`)
  }
  const manager = await bearer('apps', 'manager', 'manager-secret')
  const viewer = await bearer('apps', 'viewer', 'viewer-secret')
  t.same(await api('GET', '/nowhere/clients', manager), { status: 404, body: { error: 'Realm not found.' } })
  t.same(await api('GET', '/apps/clients/no-such-id', manager), { status: 404, body: { error: 'Could not find client' } })
  t.same(await api('GET', '/master/clients', manager), { status: 403, body: { error: 'HTTP 403 Forbidden' } }, 'another realm\'s clients')
  const list = await api('GET', '/apps/clients?clientId=web', viewer)
  t.match(list, { status: 200, body: [{ id: webId, clientId: 'web', secret: '**********', access: { manage: false } }] }, 'a viewer sees the secret masked')
  t.same(await api('PUT', `/apps/clients/${webId}`, viewer, { secret: 'x' }), { status: 403, body: { error: 'HTTP 403 Forbidden' } })
  t.same(await api('GET', `/apps/clients/${webId}/client-secret`, viewer), { status: 403, body: { error: 'HTTP 403 Forbidden' } })
  t.same(await api('GET', `/apps/clients/${webId}/client-secret`, manager), { status: 200, body: { type: 'secret', value: 'web-secret' } })
  const root = await bearer('master', 'root', 'root-secret')
  t.match(await api('GET', `/apps/clients/${webId}`, root), { status: 200, body: { clientId: 'web', secret: 'web-secret', authorizationServicesEnabled: true } }, 'master\'s admin administers every realm')
  kc.tokenLifespanSeconds = 1
  const shortLived = await bearer('apps', 'manager', 'manager-secret')
  kc.tokenLifespanSeconds = 300
  await new Promise((r) => setTimeout(r, 1100))
  t.equal((await api('GET', '/apps/clients', shortLived)).status, 401, 'an expired token')
})

t.test('PUT sets what the body gives; a body without authorizationServicesEnabled switches them off', async (t) => {
  const manager = await bearer('apps', 'manager', 'manager-secret')
  const full = (await api('GET', `/apps/clients/${webId}`, manager)).body as Record<string, unknown>
  t.equal((await api('PUT', `/apps/clients/${webId}`, manager, { ...full, secret: 'second-secret' })).status, 204)
  t.match(kc.client('apps', 'web'), { secret: 'second-secret', authorizationServicesEnabled: true, redirectUris: ['https://web/*'] })
  t.equal((await token('apps', cc('web', 'web-secret'))).body.error, 'invalid_client', 'the old secret is refused at once')
  t.equal((await api('PUT', `/apps/clients/${webId}`, manager, { secret: 'third-secret' })).status, 204)
  t.match(kc.client('apps', 'web'), { secret: 'third-secret', authorizationServicesEnabled: false, redirectUris: ['https://web/*'] }, 'partial: authorization services off, the rest kept')
  const regenerated = await api('POST', `/apps/clients/${webId}/client-secret`, manager)
  t.match(regenerated, { status: 200, body: { type: 'secret', value: /^\S{32}$/ } })
  t.equal(kc.client('apps', 'web')!.secret, (regenerated.body as { value: string }).value)
})

t.test('faults: before the write, or after it with the answer lost', async (t) => {
  const manager = await bearer('apps', 'manager', 'manager-secret')
  const before = kc.client('apps', 'web')!.secret
  kc.faults.add({ method: 'PUT', path: '/admin/realms/apps/clients/*', status: 500 })
  t.same(await api('PUT', `/apps/clients/${webId}`, manager, { secret: 'not-set' }), { status: 500, body: { error: 'unknown_error' } })
  t.equal(kc.client('apps', 'web')!.secret, before, 'failed before the change')
  kc.faults.add({ method: 'PUT', path: '/admin/realms/apps/clients/*', drop: true, after: true })
  await t.rejects(api('PUT', `/apps/clients/${webId}`, manager, { secret: 'set-but-unanswered' }))
  t.equal(kc.client('apps', 'web')!.secret, 'set-but-unanswered', 'made, its answer lost')
  kc.faults.add({ method: 'POST', path: '/realms/apps/protocol/openid-connect/token', status: 503 })
  t.equal((await token('apps', cc('manager', 'manager-secret'))).status, 503)
  t.equal((await token('apps', cc('manager', 'manager-secret'))).status, 200, 'once')
})
