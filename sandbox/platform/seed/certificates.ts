import { DAY, HOUR, MINUTE, hex, iso, type Ctx, type CertificateState } from './context.ts'
import { makeCertificate } from '../certs.ts'
import { secret } from './workloads.ts'

/** A cert-manager Certificate in one of the states renew-certificate distinguishes, with its Secret where one exists. */
export function certificate(ctx: Ctx, namespace: string, name: string, state: CertificateState, issuer: { kind: 'Issuer' | 'ClusterIssuer', name: string }, dnsNames: string[]) {
  const durationDays = 90
  const renewBeforeDays = state === 'expiring' ? 3 : 30
  const notAfter = { ready: ctx.at(62 * DAY), expiring: ctx.at(4 * DAY), renewing: ctx.at(10 * DAY), failed: undefined }[state]
  const notBefore = notAfter && new Date(notAfter.getTime() - durationDays * DAY)
  const renewalTime = notAfter && new Date(notAfter.getTime() - renewBeforeDays * DAY)
  const since = iso(ctx.ago(20 * DAY))
  const conditions = {
    ready: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', lastTransitionTime: since, observedGeneration: 1 }],
    expiring: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', lastTransitionTime: since, observedGeneration: 1 }],
    renewing: [
      { type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', lastTransitionTime: since, observedGeneration: 1 },
      { type: 'Issuing', status: 'True', reason: 'Renewing', message: `Renewing certificate as renewal was scheduled at ${renewalTime?.toISOString().replace(/\.\d+Z$/, ' +0000 UTC').replace('T', ' ')}`, lastTransitionTime: iso(ctx.ago(20 * MINUTE)), observedGeneration: 1 },
    ],
    failed: [
      { type: 'Ready', status: 'False', reason: 'DoesNotExist', message: 'Issuing certificate as Secret does not exist', lastTransitionTime: iso(ctx.ago(26 * HOUR)), observedGeneration: 1 },
      { type: 'Issuing', status: 'False', reason: 'Failed', message: `The certificate request has failed to complete and will be retried: Failed to wait for order resource "${name}-1-3051985112" to become ready: order is in "errored" state: Failed to create Order: 429 urn:ietf:params:acme:error:rateLimited: too many certificates already issued for exact set of domains`, lastTransitionTime: iso(ctx.ago(2 * HOUR)), observedGeneration: 1 },
    ],
  }[state]
  const secretName = name
  ctx.put({
    apiVersion: 'cert-manager.io/v1', kind: 'Certificate',
    metadata: { name, namespace, creationTimestamp: iso(ctx.ago(state === 'failed' ? 26 * HOUR : 200 * DAY)) },
    spec: { secretName, issuerRef: { group: 'cert-manager.io', ...issuer }, dnsNames, commonName: dnsNames[0], duration: `${durationDays * 24}h0m0s`, renewBefore: `${renewBeforeDays * 24}h0m0s`, privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' }, usages: ['digital signature', 'key encipherment', 'server auth'] },
    status: {
      conditions,
      ...(notAfter ? { notBefore: iso(notBefore!), notAfter: iso(notAfter), renewalTime: iso(renewalTime!), revision: 3 } : {}),
      ...(state === 'failed' ? { failedIssuanceAttempts: 3, lastFailureTime: iso(ctx.ago(2 * HOUR)) } : {}),
      ...(state === 'renewing' ? { nextPrivateKeySecretName: `${name}-${hex(name, 5)}` } : {}),
    },
  })
  if (notAfter) {
    const cert = makeCertificate({ commonName: dnsNames[0]!, dnsNames, notBefore: notBefore!, notAfter, issuer: ctx.ca })
    ctx.put(secret(ctx, namespace, secretName, { 'tls.crt': cert.certPem + ctx.ca.certPem, 'tls.key': cert.keyPem, 'ca.crt': ctx.ca.certPem }, {
      type: 'kubernetes.io/tls',
      labels: { 'controller.cert-manager.io/fao': 'true' },
      annotations: { 'cert-manager.io/certificate-name': name, 'cert-manager.io/issuer-name': issuer.name, 'cert-manager.io/issuer-kind': issuer.kind, 'cert-manager.io/issuer-group': 'cert-manager.io', 'cert-manager.io/common-name': dnsNames[0]!, 'cert-manager.io/alt-names': dnsNames.join(',') },
    }))
  }
  ctx.summary.certificates.push({ namespace, name, state, ...(notAfter ? { notAfter: iso(notAfter) } : {}), secretName })
}
