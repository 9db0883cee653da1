import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import t from 'tap'
import { startVaultSimulator } from '../../sandbox/simulators/vault/index.ts'
import { failure, get, vaultClient, type Body } from '../../sandbox/simulators/vault/client.ts'
import { tokenReviewServer } from '../../sandbox/simulators/vault/token-review.ts'

/**
 * The simulator's answers against Vault's own API description: the doc
 * samples in docs-examples/ (which show only `data`, sometimes less, see
 * SOURCES.md) and the response schemas of the OpenAPI file.
 */
const UPSTREAM = process.env.CARETAKER_UPSTREAM_DIR ?? resolve(import.meta.dirname, '../../../shared/upstream')
const VAULT_DIR = resolve(UPSTREAM, 'vault')
const EXAMPLES = resolve(VAULT_DIR, 'docs-examples')

if (!existsSync(EXAMPLES)) {
  const message = `the upstream Vault API description is missing at ${EXAMPLES} (it lives beside the project as ../shared/upstream; set CARETAKER_UPSTREAM_DIR to point elsewhere)`
  if (process.env.CI === 'true') t.fail(message)
  else t.skip(message, () => undefined)
} else {
  run()
}

const example = (name: string): Body => JSON.parse(readFileSync(resolve(EXAMPLES, name), 'utf8')) as Body
const keys = (v: unknown): string[] => (typeof v === 'object' && v !== null ? Object.keys(v).sort() : [])

function run(): void {
  t.test('KV v2 answers have the documented keys', async (t) => {
    const sim = await startVaultSimulator()
    t.teardown(() => sim.close())
    const vault = vaultClient(sim.url, sim.rootToken)

    // the doc request bodies are sent as they are
    const written = await vault.write('secret/data/my-secret', example('kv2-write-request.json'))
    t.same(keys(written.data), keys(example('kv2-write-response.json').data), 'write')
    t.same(keys(written), ['auth', 'data', 'lease_duration', 'lease_id', 'mount_type', 'renewable', 'request_id', 'warnings', 'wrap_info'], 'the full envelope')

    await vault.write('secret/metadata/my-secret', example('kv2-metadata-write-request.json'))
    await vault.update('secret/metadata/my-secret', example('kv2-metadata-patch-request.json'))

    const read = await vault.read('secret/data/my-secret')
    const readDoc = example('kv2-read-response.json')
    t.same(keys(read.data), keys(readDoc.data), 'read')
    t.same(keys(get(read, 'data', 'metadata')), keys(get(readDoc, 'data', 'metadata')), 'read metadata')

    const patched = await vault.update('secret/data/my-secret', example('kv2-patch-request.json'))
    t.same(keys(patched.data), keys(example('kv2-patch-response.json').data), 'patch (cas 1 from the doc sample)')

    const meta = await vault.read('secret/metadata/my-secret')
    const metaDoc = example('kv2-metadata-read-response.json')
    t.same(keys(meta.data), keys(metaDoc.data), 'metadata read')
    t.same(keys(get(meta, 'data', 'versions', '1')), keys(get(metaDoc, 'data', 'versions', '1')), 'a version entry')
    t.same(get(meta, 'data', 'custom_metadata'), { foo: 'abc', bar: '123', baz: '5c07d823-3810-48f6-a147-4c06b5219e84' }, 'custom_metadata from the doc samples')
    t.equal(get(meta, 'data', 'max_versions'), 5)
    t.equal(get(meta, 'data', 'delete_version_after'), '3h25m19s')

    const sub = await vault.read('secret/subkeys/my-secret')
    const subDoc = example('kv2-subkeys-response.json')
    t.same(keys(sub.data), keys(subDoc), 'subkeys (the doc omits the data wrapper)')
    t.same(keys(get(sub, 'data', 'metadata')), keys(subDoc.metadata))

    await vault.write('secret/data/foo', { data: { a: '1' } })
    await vault.write('secret/data/foo/bar', { data: { a: '1' } })
    const listed = await vault.list('secret/metadata/')
    t.same(keys(listed.data), keys(example('kv2-list-response.json').data), 'list')
    t.same(get(listed, 'data', 'keys'), ['foo', 'foo/', 'my-secret'])

    await vault.write('secret/config', example('kv2-config-request.json'))
    const cfg = await vault.read('secret/config')
    t.same(cfg.data, { ...(example('kv2-config-read-response.json').data as Body), max_versions: 5 }, 'config round trip')

    for (const op of ['delete', 'undelete', 'destroy']) {
      t.same(await vault.write(`secret/${op}/my-secret`, example('kv2-versions-request.json')), {}, `${op} answers 204`)
    }

    const empty = await failure(vault.list('secret/metadata/none/'))
    t.equal(empty.statusCode, 404)
    t.same(empty.body, example('list-empty-404-response.json'))
    const denied = await fetch(`${sim.url}/v1/secret/data/foo`)
    t.same(keys(await denied.json()), keys(example('error-response.json')))
  })

  t.test('sys answers have the documented keys', async (t) => {
    const sim = await startVaultSimulator()
    t.teardown(() => sim.close())
    const vault = vaultClient(sim.url, sim.rootToken)
    t.same(keys(await vault.health()), keys(example('sys-health-response-ce-active.json')), 'health, CE active node')
    t.same(keys(await vault.status()), keys(example('sys-seal-status-response-unsealed.json')), 'seal status, unsealed')
    sim.seal()
    t.same(keys(await vault.status()), keys(example('sys-seal-status-response-sealed.json')), 'seal status, sealed')
    sim.unseal()
    const envelope = await vault.read('sys/policies/acl/default')
    for (const k of keys(example('raft-configuration-response.json'))) t.ok(k in envelope, `envelope has ${k}`)
  })

  t.test('Kubernetes login with the documented request', async (t) => {
    const request = example('auth-kubernetes-login-request.json')
    const k8s = await tokenReviewServer('reviewer', { [String(request.jwt)]: { namespace: 'default', name: 'vault-auth' } })
    t.teardown(() => k8s.close())
    const sim = await startVaultSimulator({ kubernetes: { host: k8s.url, reviewerToken: 'reviewer' } })
    t.teardown(() => sim.close())
    sim.addKubernetesRole(String(request.role), { bound_service_account_names: ['vault-auth'], bound_service_account_namespaces: ['default'] })
    const res = await fetch(`${sim.url}/v1/auth/kubernetes/login`, { method: 'POST', body: JSON.stringify(request) })
    t.equal(res.status, 200)
    const body = (await res.json()) as Body
    const doc = example('auth-kubernetes-login-response.json')
    for (const k of keys(doc.auth)) t.ok(k in (body.auth as Body), `auth has ${k}`)
    t.same(keys(get(body, 'auth', 'metadata')), keys(get(doc, 'auth', 'metadata')), 'auth metadata')
    t.same(get(body, 'auth', 'policies'), ['default'])
    t.equal(get(body, 'auth', 'lease_duration'), get(doc, 'auth', 'lease_duration'), 'the default TTL, 768h')
  })

  t.test('OpenAPI: served paths exist and data keys match the response schemas', async (t) => {
    const openapiPath = resolve(VAULT_DIR, 'openapi.json')
    const spec = JSON.parse(readFileSync(openapiPath, 'utf8')) as { paths: Record<string, Body>; components: { schemas: Record<string, { properties?: Body }> } }
    const served: [string, string][] = [
      ['/{kv_v2_mount_path}/data/{path}', 'get'],
      ['/{kv_v2_mount_path}/data/{path}', 'post'],
      ['/{kv_v2_mount_path}/data/{path}', 'delete'],
      ['/{kv_v2_mount_path}/metadata/{path}', 'get'],
      ['/{kv_v2_mount_path}/metadata/{path}', 'post'],
      ['/{kv_v2_mount_path}/metadata/{path}', 'delete'],
      ['/{kv_v2_mount_path}/metadata/{path}/', 'get'],
      ['/{kv_v2_mount_path}/delete/{path}', 'post'],
      ['/{kv_v2_mount_path}/undelete/{path}', 'post'],
      ['/{kv_v2_mount_path}/destroy/{path}', 'post'],
      ['/{kv_v2_mount_path}/subkeys/{path}', 'get'],
      ['/{kv_v2_mount_path}/config', 'get'],
      ['/{kv_v2_mount_path}/config', 'post'],
      ['/auth/token/create', 'post'],
      ['/auth/token/lookup-self', 'get'],
      ['/auth/{kubernetes_mount_path}/config', 'post'],
      ['/auth/{kubernetes_mount_path}/role/{name}', 'post'],
      ['/auth/{kubernetes_mount_path}/login', 'post'],
      ['/sys/policies/acl/{name}', 'post'],
      ['/sys/policies/acl/', 'get'],
      ['/sys/health', 'get'],
      ['/sys/seal-status', 'get'],
      ['/sys/seal', 'post'],
      ['/sys/unseal', 'post'],
    ]
    for (const [path, method] of served) t.ok(spec.paths[path]?.[method], `${method.toUpperCase()} ${path} is in the API description`)

    const sim = await startVaultSimulator()
    t.teardown(() => sim.close())
    const vault = vaultClient(sim.url, sim.rootToken)
    const schemaKeys = (name: string): string[] => keys(spec.components.schemas[name]?.properties)
    const w = await vault.write('secret/data/s', { data: { a: { b: '1' } } })
    t.same(keys(w.data), schemaKeys('KvV2WriteResponse'), 'KvV2WriteResponse')
    t.same(keys((await vault.read('secret/data/s')).data), schemaKeys('KvV2ReadResponse'), 'KvV2ReadResponse')
    t.same(keys((await vault.update('secret/data/s', { data: { c: '2' } })).data), schemaKeys('KvV2PatchResponse'), 'KvV2PatchResponse')
    t.same(keys((await vault.read('secret/metadata/s')).data), schemaKeys('KvV2ReadMetadataResponse'), 'KvV2ReadMetadataResponse')
    t.same(keys((await vault.read('secret/subkeys/s')).data), schemaKeys('KvV2ReadSubkeysResponse'), 'KvV2ReadSubkeysResponse')
    t.same(keys((await vault.read('secret/config')).data), schemaKeys('KvV2ReadConfigurationResponse'), 'KvV2ReadConfigurationResponse')
    const sealKeys = schemaKeys('SealStatusResponse')
    for (const k of keys(await vault.status())) t.ok(sealKeys.includes(k), `seal-status key ${k} is in SealStatusResponse`)
  })
}
