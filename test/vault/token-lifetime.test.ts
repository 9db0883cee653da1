import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Vault } from '../../shared/vault/client.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/server.ts'
import { startVaultSimulator, type VaultSimulator } from '../../sandbox/simulators/vault/index.ts'

// A function that runs for days (notify at min-scale 1) keeps a working
// Vault token from Kubernetes auth: renewed before it expires, and obtained
// again by a fresh login when renewal can no longer help (max TTL reached,
// token revoked, role changed). Real time against the simulators, with
// second-long TTLs; the simulator keeps token lifetimes as Vault does.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
const dir = await mkdtemp(join(tmpdir(), 'caretaker-vault-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const jwtPath = join(dir, 'token')
await writeFile(jwtPath, kube.mintServiceAccountToken('caretaker', 'notify'))

async function vaultWithRole(ttl: number, maxTtl: number): Promise<VaultSimulator> {
  const vault = await startVaultSimulator({ kubernetes: { host: kube.url, reviewerToken: kube.token } })
  vault.putPolicy('notify', 'path "secret/data/notify/*" { capabilities = ["read"] }')
  vault.putSecret('secret', 'notify/mattermost', { url: 'https://chat.example.org/hooks/x' })
  vault.addKubernetesRole('notify', { bound_service_account_names: ['notify'], bound_service_account_namespaces: ['caretaker'], token_policies: ['notify'], token_ttl: ttl, token_max_ttl: maxTtl })
  return vault
}

const paths = (vault: VaultSimulator, from: number) => vault.requests.slice(from).map((r) => `${r.method} ${r.path} ${r.status}`)

t.test('renewed before it expires, then a fresh login once the max TTL is near; never a request with a dead token', async (t) => {
  const vault = await vaultWithRole(6, 14)
  t.teardown(() => vault.close())
  const client = new Vault({ address: vault.url, kubernetesRole: 'notify', serviceAccountTokenPath: jwtPath })
  const started = Date.now()
  let reads = 0
  while (Date.now() - started < 17_000) {
    const secret = await client.readKv('secret', 'notify/mattermost')
    t.equal(secret.data.url, 'https://chat.example.org/hooks/x')
    reads++
    await sleep(1000)
  }
  const seen = paths(vault, 0)
  const logins = seen.filter((p) => /auth\/kubernetes\/login 200/.test(p)).length
  const renewals = seen.filter((p) => /auth\/token\/renew-self 200/.test(p)).length
  t.ok(renewals >= 1, `renewed (${renewals} renewals)`)
  t.ok(logins >= 2, `logged in again once the 14 s max TTL was near (${logins} logins over 17 s)`)
  t.same(seen.filter((p) => /secret\/data/.test(p) && !/ 200$/.test(p)), [], `all ${reads} reads answered 200: no read went out with an expired token`)
})

t.test('idle past expiry: a fresh login before the next request, no attempt with the dead token', async (t) => {
  const vault = await vaultWithRole(2, 60)
  t.teardown(() => vault.close())
  const client = new Vault({ address: vault.url, kubernetesRole: 'notify', serviceAccountTokenPath: jwtPath })
  await client.readKv('secret', 'notify/mattermost')
  await sleep(2500)
  const from = vault.requests.length
  await client.readKv('secret', 'notify/mattermost')
  t.same(paths(vault, from).map((p) => p.replace(/^(\S+ \S+) .*/, '$1')), ['POST auth/kubernetes/login', 'GET secret/data/notify/mattermost'])
})

t.test('a token revoked under it: one fresh login, then the request', async (t) => {
  const vault = await vaultWithRole(3600, 0)
  t.teardown(() => vault.close())
  const client = new Vault({ address: vault.url, kubernetesRole: 'notify', serviceAccountTokenPath: jwtPath })
  await client.readKv('secret', 'notify/mattermost')
  for (const e of Object.values(vault.state.tokens)) if (e.path === 'auth/kubernetes/login') Reflect.deleteProperty(vault.state.tokens, e.id)
  const from = vault.requests.length
  t.equal((await client.readKv('secret', 'notify/mattermost')).data.url, 'https://chat.example.org/hooks/x')
  t.same(paths(vault, from), ['GET secret/data/notify/mattermost 403', 'POST auth/kubernetes/login 200', 'GET secret/data/notify/mattermost 200'])

  vault.putSecret('secret', 'other/x', { a: 'b' })
  const before = vault.requests.length
  await t.rejects(client.readKv('secret', 'other/x'), /not allowed for this identity/, 'a real permission problem still fails')
  t.equal(paths(vault, before).filter((p) => p.includes('login')).length, 1, 'after one fresh login, not a loop')
})

t.test('the role\'s policies changed: the renewal is refused and a fresh login carries the new policies', async (t) => {
  const vault = await vaultWithRole(3, 60)
  t.teardown(() => vault.close())
  const client = new Vault({ address: vault.url, kubernetesRole: 'notify', serviceAccountTokenPath: jwtPath })
  await client.readKv('secret', 'notify/mattermost')
  vault.addKubernetesRole('notify', { bound_service_account_names: ['notify'], bound_service_account_namespaces: ['caretaker'], token_policies: ['notify', 'notify-extra'], token_ttl: 3, token_max_ttl: 60 })
  await sleep(2100) // past two thirds of the lease: due for renewal
  const from = vault.requests.length
  t.equal((await client.readKv('secret', 'notify/mattermost')).data.url, 'https://chat.example.org/hooks/x')
  const seen = paths(vault, from)
  t.match(seen.at(-2), /^POST auth\/kubernetes\/login 200$/, `a fresh login (${seen.join(', ')})`)
  t.ok(Object.values(vault.state.tokens).some((e) => e.path === 'auth/kubernetes/login' && e.policies.includes('notify-extra')), 'with the role\'s new policies')
})

t.test('a given VAULT_TOKEN is its owner\'s: never renewed nor replaced', async (t) => {
  const vault = await vaultWithRole(3600, 0)
  t.teardown(() => vault.close())
  const client = new Vault({ address: vault.url, token: vault.rootToken })
  await client.readKv('secret', 'notify/mattermost')
  await client.readKv('secret', 'notify/mattermost')
  t.same(paths(vault, 0).filter((p) => p.includes('auth/')), [])
})
