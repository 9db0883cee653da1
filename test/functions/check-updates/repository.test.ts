import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { decodeReleaseData, encodeReleaseData } from '../../../functions/check-updates/helm.ts'
import { channelLatest, fetchText, newestVersion, parseRepositoryIndex } from '../../../functions/check-updates/repository.ts'
import { Errors, isCaretakerError } from '../../../shared/errors.ts'
import { parseVersion, updateStatus } from '../../../functions/check-updates/versions.ts'

// The pieces of check-updates on their own: reading a repository within
// its limits (over real HTTP), the index format, Helm's release encoding,
// and version ordering.

const indexYaml = await readFile(new URL('../../../sandbox/platform/chart-repository/index.yaml', import.meta.url))
const big = Buffer.alloc(64 * 1024, 'a')
const server = createServer((req, res) => {
  switch (req.url) {
    case '/index.yaml': res.writeHead(200, { 'content-type': 'text/yaml' }); res.end(indexYaml); return
    case '/declared-big': res.writeHead(200, { 'content-length': String(big.length) }); res.end(big); return
    // No Content-Length: the limit must hold on the stream itself.
    case '/chunked-big': res.writeHead(200, { 'content-type': 'text/yaml' }); for (let i = 0; i < 16; i++) res.write(big.subarray(0, 4096)); res.end(); return
    case '/gzip': res.writeHead(200, { 'content-encoding': 'gzip' }); res.end(gzipSync(indexYaml)); return
    // HTTPS to this plain HTTP server: followed, and the TLS handshake fails.
    case '/to-https': res.writeHead(302, { location: `https://127.0.0.1:${(server.address() as AddressInfo).port}/index.yaml` }); res.end(); return
    case '/to-elsewhere': res.writeHead(302, { location: 'http://example.org/index.yaml' }); res.end(); return
    case '/loop': res.writeHead(302, { location: '/loop' }); res.end(); return
    case '/no-location': res.writeHead(302); res.end(); return
    case '/slow': setTimeout(() => { if (!res.destroyed) res.end('late') }, 3000); return
    default: res.writeHead(404); res.end()
  }
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const limits = { timeoutMs: 2000, maxBytes: 32 * 1024 }
const failure = (p: Promise<unknown>) => p.then(() => 'no failure', (err: unknown) => (isCaretakerError(err, Errors.RepositoryUnreadable) ? err.message : `not a repository_unreadable error: ${String(err)}`))

t.test('a repository is read within its limits', async (t) => {
  t.equal(await fetchText(`${base}/index.yaml`, limits), indexYaml.toString())
  t.equal(await fetchText(`${base}/gzip`, limits), indexYaml.toString(), 'a compressed answer is unzipped')
  t.match(await failure(fetchText(`${base}/declared-big`, limits)), /is 65536 bytes, over the limit of 32768/)
  t.match(await failure(fetchText(`${base}/chunked-big`, limits)), /over the limit of 32768 bytes/, 'no Content-Length: counted on the stream')
  t.match(await failure(fetchText(`${base}/slow`, { ...limits, timeoutMs: 200 })), /no answer within 200 ms/)
  t.match(await failure(fetchText(`${base}/missing`, limits)), /^HTTP 404/)
})

t.test('HTTPS only, and redirects are held to the same rule', async (t) => {
  t.match(await failure(fetchText('http://charts.example.org/index.yaml', limits)), /not HTTPS/, 'plain HTTP off loopback is refused before any request')
  t.match(await failure(fetchText('file:///etc/passwd', limits)), /not HTTPS/)
  t.match(await failure(fetchText(`${base}/to-elsewhere`, limits)), /http:\/\/example\.org is not HTTPS/)
  t.match(await failure(fetchText(`${base}/loop`, limits)), /more than 5 redirects/)
  t.match(await failure(fetchText(`${base}/no-location`, limits)), /without a Location/)
  t.match(await failure(fetchText(`${base}/to-https`, limits)), /EPROTO|ECONNRESET|SSL|TLS|fetch failed/i, 'a step up to HTTPS is followed')
})

t.test('the index: newest released version, pre-releases on request, deprecation', async (t) => {
  const index = parseRepositoryIndex(indexYaml.toString())
  t.same([...index.keys()], ['cert-manager', 'traefik', 'podinfo', 'grafana', 'nginx-ingress'])
  t.equal(newestVersion(index.get('cert-manager')!, false)?.version, 'v1.16.1')
  t.equal(newestVersion(index.get('cert-manager')!, true)?.version, 'v1.17.0-alpha.0')
  t.equal(newestVersion(index.get('grafana')!, false)?.version, '8.5.2')
  t.match(newestVersion(index.get('nginx-ingress')!, false), { version: '1.41.3', deprecated: true })
  t.match(newestVersion(index.get('traefik')!, false), { version: '33.2.1', appVersion: 'v3.2.3', created: '2024-12-13T09:21:45.871366Z', deprecated: false })
  t.throws(() => parseRepositoryIndex('apiVersion: v1\n'), /no entries/)
  t.throws(() => parseRepositoryIndex('entries: [\n'), /does not parse/)
  t.throws(() => parseRepositoryIndex('a: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\nentries: {}\n'), /does not parse/, 'an alias bomb is refused')
  const odd = parseRepositoryIndex('entries:\n  x:\n  - version: 1.2\n  - version: not-a-version\n  - version: 1.10.0\n')
  t.same(odd.get('x')!.map((v) => v.version), ['1.2', '1.10.0'], 'an unquoted 1.2 is read as Helm reads it; no version is skipped')
})

t.test('versions and statuses', async (t) => {
  const s = (a: string, b: string) => updateStatus(parseVersion(a)!, parseVersion(b)!)
  t.equal(s('33.0.0', '33.2.1'), 'update-available')
  t.equal(s('5.2.1', '6.7.1'), 'major-update')
  t.equal(s('v1.16.1', 'v1.16.1'), 'current')
  t.equal(s('2.0.0', '1.9.9'), 'current', 'ahead of the repository is current')
  t.equal(s('v1.30.4+k3s1', 'v1.30.5+k3s1'), 'update-available')
  t.equal(s('v1.30.5+k3s1', 'v1.30.5+k3s2'), 'update-available', 'a newer K3s build of the same Kubernetes')
  t.equal(parseVersion('latest'), undefined)
})

t.test('the K3s channels document', async (t) => {
  const doc = (await readFile(new URL('../../../sandbox/platform/chart-repository/channels.json', import.meta.url))).toString()
  t.same(channelLatest(doc, 'stable'), { latest: 'v1.30.5+k3s1' })
  t.same(channelLatest(doc, 'v1.29'), { latest: 'v1.29.9+k3s1' })
  t.same(channelLatest(doc, 'nope'), { reason: 'channel nope is not in the channels document' })
  t.same(channelLatest('<html>', 'stable'), { reason: 'the channels document is not JSON' })
  t.same(channelLatest('{"data":{}}', 'stable'), { reason: 'the channels document has no data list' })
})

t.test('Helm\'s release encoding, both ways, and a record before compression', async (t) => {
  const release = { name: 'x', version: 1, chart: { metadata: { name: 'x', version: '1.0.0' } } }
  t.same(decodeReleaseData(encodeReleaseData(release, (b) => gzipSync(b))), release)
  const plain = Buffer.from(Buffer.from(JSON.stringify(release)).toString('base64')).toString('base64')
  t.same(decodeReleaseData(plain), release, 'no gzip magic: plain JSON')
  t.throws(() => decodeReleaseData(Buffer.from('not base64!').toString('base64')), { code: Errors.ReleaseUnreadable.code, message: /not base64/ })
  t.throws(() => decodeReleaseData(Buffer.from(Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2]).toString('base64')).toString('base64')), /does not unzip/)
})
