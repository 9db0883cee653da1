import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Errors, isCaretakerError } from '../../shared/errors.ts'
import { createKubeConfig } from '../../shared/kubernetes/kubeconfig.ts'
import { restTarget } from '../../shared/kubernetes/rest.ts'
import { TokenReviewAuthenticator } from '../../shared/runtime/auth.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

// In the cluster the runtime's TokenReview is one plain HTTPS call with the
// pod's ServiceAccount token and CA (shared/kubernetes/rest.ts), not the
// Kubernetes client: here against the simulator's TLS listener, with a
// ServiceAccount directory of its own and the KUBERNETES_SERVICE_* variables.

const caughtCode = async (p: Promise<unknown>): Promise<string> => p.then(() => 'resolved', (err: unknown) => (isCaretakerError(err) ? `${err.code}: ${err.message}` : String(err)))

t.test('TokenReview in the cluster: the pod\'s token and CA, no client', async (t) => {
  const kube = await startKubernetesSimulator({ tls: true })
  t.teardown(() => kube.close())
  const dir = mkdtempSync(join(tmpdir(), 'caretaker-sa-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'token'), `${kube.token}\n`)
  writeFileSync(join(dir, 'ca.crt'), kube.caCert!)
  const tls = new URL(kube.tlsUrl!)
  const env = { KUBERNETES_SERVICE_HOST: tls.hostname, KUBERNETES_SERVICE_PORT: tls.port }
  const rest = restTarget({ inCluster: true }, env, dir)
  t.ok(rest, 'in the cluster the reviews are plain calls')
  t.equal(rest!.url.href, `https://127.0.0.1:${tls.port}/`, 'to KUBERNETES_SERVICE_HOST:PORT over HTTPS')
  // The client, were it used, would call a closed port and fail.
  const unusedClient = createKubeConfig({ server: 'http://127.0.0.1:1', token: 'x' })
  const reviewer = new TokenReviewAuthenticator(unusedClient, { allowed: undefined, audience: 'caretaker-test', rest: rest! })

  const token = kube.mintServiceAccountToken('ops', 'runbook-cli', { audiences: ['caretaker-test'] })
  const identity = await reviewer.authenticate(`Bearer ${token}`)
  t.equal(identity.username, 'system:serviceaccount:ops:runbook-cli', 'the API server\'s answer')
  t.equal(identity.method, 'tokenreview')
  t.ok(identity.groups?.includes('system:serviceaccounts:ops'), 'with its groups')

  t.match(await caughtCode(reviewer.authenticate('Bearer not-a-token-the-server-issued')), /^unauthenticated: /, 'an unknown token: 401')
  t.match(await caughtCode(reviewer.authenticate(`Bearer ${kube.mintServiceAccountToken('ops', 'runbook-cli', { audiences: ['other'] })}`)), /^unauthenticated: /, 'a token for another audience: 401 (the API server does not authenticate it for this one)')

  // The kubelet rotates the pod's token: each call reads the file.
  writeFileSync(join(dir, 'token'), 'a-token-the-server-no-longer-accepts')
  const rotated = await caughtCode(reviewer.authenticate(`Bearer ${kube.mintServiceAccountToken('ops', 'a', { audiences: ['caretaker-test'] })}`))
  t.match(rotated, new RegExp(`^${Errors.DependencyUnavailable.code}: cannot authenticate the request now: kubernetes: create TokenReview: Unauthorized`), 'the pod\'s own token refused: 503, retried')
  writeFileSync(join(dir, 'token'), kube.token)
  t.equal((await reviewer.authenticate(`Bearer ${kube.mintServiceAccountToken('ops', 'b', { audiences: ['caretaker-test'] })}`)).username, 'system:serviceaccount:ops:b', 'the file read again at the next call')

  // A CA that did not sign the server's certificate: TLS refuses, nothing is sent.
  const other = mkdtempSync(join(tmpdir(), 'caretaker-ca-'))
  t.teardown(() => rmSync(other, { recursive: true, force: true }))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=other-ca', '-keyout', join(other, 'key.pem'), '-out', join(other, 'cert.pem')], { stdio: 'ignore' })
  writeFileSync(join(dir, 'ca.crt'), readFileSync(join(other, 'cert.pem')))
  t.match(await caughtCode(reviewer.authenticate(`Bearer ${kube.mintServiceAccountToken('ops', 'c', { audiences: ['caretaker-test'] })}`)), /^dependency_unavailable: cannot authenticate the request now: kubernetes: create TokenReview: /, 'a server the pod\'s CA did not sign: 503')
})

t.test('which connections are plain calls', async (t) => {
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }
  t.equal(restTarget({ inCluster: true }, env)?.url.href, 'https://10.96.0.1/', 'in the cluster')
  t.equal(restTarget({ inCluster: true }, { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' })?.url.host, '[fd00::1]:6443', 'an IPv6 service address, bracketed')
  t.equal(restTarget({ server: 'http://127.0.0.1:8001', token: 't' })?.url.href, 'http://127.0.0.1:8001/', 'a loopback API by URL (the sandbox\'s simulator)')
  t.equal(restTarget({ inCluster: true }, {}), undefined, 'no service address: the client decides (and fails as before)')
  t.equal(restTarget({ kubeconfigPath: '/etc/kubeconfig' }), undefined, 'a kubeconfig file (certificates, exec plugins): the client')
  t.equal(restTarget({ server: 'https://api.example.org:6443', token: 't' }), undefined, 'a remote API by URL: the client, with the system CAs')
})
