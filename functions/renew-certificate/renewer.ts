import type { KubeConfig } from '../../shared/kubernetes/api.ts'
import type { Registry } from 'prom-client'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { EventRecorder } from '../../shared/kubernetes/events.ts'
import type { Logger } from '../../shared/logger.ts'
import { KeyedSerial } from '../../shared/serial.ts'
import { CertificateApi } from './certificate-api.ts'
import type { Certificate } from './certificates.ts'
import { renewalPolicy, type RenewalPolicy, type RenewCertificateConfig } from './config.ts'
import { CertificateMetrics } from './metrics.ts'

/** What renew-certificate's steps share, built once per instance from its config. */
export interface Renewer {
  config: RenewCertificateConfig
  policy: RenewalPolicy
  metrics: CertificateMetrics
  kubeConfig: KubeConfig | undefined
  certificates: CertificateApi | undefined
  recorder: EventRecorder | undefined
  /** The namespaces whose Certificates are followed (none: all). */
  watched: Set<string>
  /**
   * One follow-up per Certificate at a time in this instance: an Event and
   * the sweep arriving together act once, in turn.
   */
  perCertificate: KeyedSerial
}

export function createRenewer(config: RenewCertificateConfig, kubeConfig: KubeConfig | undefined, log: Logger, registry: Registry): Renewer {
  return {
    config,
    policy: renewalPolicy(config),
    metrics: new CertificateMetrics(registry),
    kubeConfig,
    certificates: kubeConfig ? new CertificateApi(kubeConfig) : undefined,
    recorder: kubeConfig ? new EventRecorder(kubeConfig, 'renew-certificate', log) : undefined,
    watched: new Set(config.namespaces),
    perCertificate: new KeyedSerial(),
  }
}

/** The Certificate API, or DependencyUnavailable when no Kubernetes API is configured. */
export function certificateApi(r: Renewer): CertificateApi {
  if (!r.certificates || !r.kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'renew-certificate needs the Kubernetes API, and none is configured')
  return r.certificates
}

/** An audit Event on the Certificate (none without a Kubernetes API). */
export function note(r: Renewer, cert: Certificate, type: 'Normal' | 'Warning', reason: string, action: string, message: string): Promise<boolean> {
  const { namespace, name, uid } = cert.metadata
  return r.recorder?.record({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', namespace, name, ...(uid ? { uid } : {}) }, { type, reason, action, message }) ?? Promise.resolve(false)
}
