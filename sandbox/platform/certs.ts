import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'

/**
 * Real X.509 certificates for the sandbox's TLS Secrets, with the validity
 * window the seed needs (a certificate "expiring in four days" must say so
 * in its notAfter). ECDSA P-256, signed by `issuer` or self-signed; built with
 * a small DER encoder since node:crypto parses certificates but does not make
 * them.
 */

const tlv = (tag: number, content: Buffer): Buffer => {
  const n = content.length
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), len, content])
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items))
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items))
const integer = (b: Buffer) => tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b)
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s))
const octets = (b: Buffer) => tlv(0x04, b)
const bits = (b: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]))
const explicit = (n: number, b: Buffer) => tlv(0xa0 + n, b)
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]))

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number)
  const out = [40 * a! + b!]
  for (const n of rest) {
    const chunk: number[] = [n & 0x7f]
    for (let v = n >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80)
    out.push(...chunk)
  }
  return tlv(0x06, Buffer.from(out))
}

function time(d: Date): Buffer {
  const s = d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z')
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(s.slice(2))) : tlv(0x18, Buffer.from(s))
}

const name = (cn: string, org?: string) => seq(...(org ? [set(seq(oid('2.5.4.10'), utf8(org)))] : []), set(seq(oid('2.5.4.3'), utf8(cn))))
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'))

export interface CertificateKeyPair { certPem: string, keyPem: string, privateKey: ReturnType<typeof generateKeyPairSync>['privateKey'], subject: string }

export function makeCertificate(options: { commonName: string, dnsNames?: string[], notBefore: Date, notAfter: Date, isCA?: boolean, organization?: string, issuer?: CertificateKeyPair }): CertificateKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  const extensions: Buffer[] = []
  if (options.isCA) extensions.push(seq(oid('2.5.29.19'), bool(true), octets(seq(bool(true)))))
  if (options.dnsNames?.length) extensions.push(seq(oid('2.5.29.17'), octets(seq(...options.dnsNames.map((d) => tlv(0x82, Buffer.from(d)))))))
  const issuerName = options.issuer ? name(options.issuer.subject, 'Caretaker Sandbox') : name(options.commonName, options.organization ?? 'Caretaker Sandbox')
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(randomBytes(16)),
    ECDSA_SHA256,
    issuerName,
    seq(time(options.notBefore), time(options.notAfter)),
    name(options.commonName, options.organization ?? 'Caretaker Sandbox'),
    spki,
    ...(extensions.length ? [explicit(3, seq(...extensions))] : []),
  )
  const signature = sign('sha256', tbs, options.issuer?.privateKey ?? privateKey)
  const der = seq(tbs, ECDSA_SHA256, bits(signature))
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  return { certPem, keyPem, privateKey, subject: options.commonName }
}
