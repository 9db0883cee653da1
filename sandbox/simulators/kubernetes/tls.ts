// A throwaway self-signed serving certificate for the simulator's TLS listener, made
// with the openssl CLI (once per process) and valid for 127.0.0.1 and localhost.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface ServingCert { cert: string, key: string }

let cached: ServingCert | undefined

export function selfSignedCert(): ServingCert {
  if (cached) return cached
  const dir = mkdtempSync(join(tmpdir(), 'k8s-sim-tls-'))
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=kubernetes-simulator', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature,keyCertSign',
      '-addext', 'extendedKeyUsage=serverAuth',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    cached = { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') }
    return cached
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
