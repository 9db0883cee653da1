import type { Logger } from '../../shared/logger.ts'
import { MeshBroker, type BrokerOptions, type DeadLetterRecord, type DeliveryReport } from './broker.ts'
import { sendOnce, type Sleep } from './delivery.ts'
import { loadManifests } from './manifests.ts'
import { brokerAudience, pingSourceOidcServiceAccount, type MeshOidc } from './oidc.ts'
import { PingScheduler, systemClock, type Clock } from './pingsource.ts'

/**
 * The local event mesh: the Broker, Triggers and PingSources of a triggers
 * directory, wired like Knative Eventing on loopback, for `npm start` and tests.
 */

export interface MeshOptions {
  /** Directory of Knative YAML (Broker, Trigger, PingSource; other kinds ignored). */
  readonly dir: string
  /** Knative Service name -> local URL of the function serving it. */
  readonly services: Readonly<Record<string, string>>
  /** Ingress port; 0 picks a free one. */
  readonly port?: number
  readonly host?: string
  readonly logger: Logger
  /** With a clock given, PingSources fire only through `pingSources.fireDue()`/`advanceTo()`; without, on real timers. */
  readonly clock?: Clock
  /** Backoff sleeps go through this; tests pass one that records and returns at once. */
  readonly sleep?: Sleep
  readonly deadLetterFile?: string
  readonly hopLimit?: number
  readonly requestTimeoutMs?: number
  /** Knative Eventing's `authentication-oidc` (config-features): `disabled` unless given, as Knative ships. */
  readonly oidc?: MeshOidc
  /** Told of each event the Broker takes in, and of each delivery's end (see MeshBroker). */
  readonly onAccepted?: BrokerOptions['onAccepted']
  readonly onDelivery?: BrokerOptions['onDelivery']
}

export interface Mesh {
  readonly ingressUrl: string
  /** Each Broker of the directory and the URL that reaches only its Triggers. */
  readonly brokers: ReadonlyArray<{ readonly namespace: string; readonly name: string; readonly url: string }>
  readonly broker: MeshBroker
  readonly pingSources: PingScheduler
  close(): Promise<void>
}

const PING_TIMEOUT_MS = 30_000

export async function startMesh(options: MeshOptions): Promise<Mesh> {
  const manifests = await loadManifests(options.dir)
  const logger = options.logger.child({ component: 'mesh' })
  const broker = new MeshBroker({
    triggers: manifests.triggers,
    brokers: manifests.brokers,
    services: options.services,
    logger,
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.deadLetterFile ? { deadLetterFile: options.deadLetterFile } : {}),
    ...(options.hopLimit === undefined ? {} : { hopLimit: options.hopLimit }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    ...(options.oidc ? { oidc: options.oidc } : {}),
    ...(options.onAccepted ? { onAccepted: options.onAccepted } : {}),
    ...(options.onDelivery ? { onDelivery: options.onDelivery } : {}),
  })
  const ingressUrl = await broker.listen(options.port ?? 0, options.host ?? '127.0.0.1')
  const pingSources = new PingScheduler({
    sources: manifests.pingSources,
    clock: options.clock ?? systemClock,
    logger,
    send: async (source, event) => {
      const url = broker.resolve(source.sink, source.namespace)
      // With OIDC on, the PingSource sends with its OIDC ServiceAccount's token for the sink's
      // audience (knative/eventing pkg/adapter/mtping: K_AUDIENCE / the sink's status.address.audience).
      const ref = source.sink.ref
      const audience = source.sink.audience ?? (ref?.kind === 'Broker' ? brokerAudience(ref.namespace ?? source.namespace, ref.name) : undefined)
      const authorization = options.oidc?.mode === 'enabled' && options.oidc.issuer && audience
        ? `Bearer ${options.oidc.issuer.mint(pingSourceOidcServiceAccount(source), audience)}`
        : undefined
      const result = await sendOnce(url, event, options.requestTimeoutMs ?? PING_TIMEOUT_MS, authorization)
      if (result.status === undefined || result.status >= 300) {
        logger.warn({ pingSource: `${source.namespace}/${source.name}`, sink: url, status: result.status, reason: result.error }, 'mesh: ping sink refused the event')
      }
    },
  })
  if (!options.clock) pingSources.start()
  logger.info({
    ingressUrl,
    brokers: manifests.brokers.length,
    triggers: manifests.triggers.length,
    pingSources: manifests.pingSources.length,
  }, 'mesh: started')
  return {
    ingressUrl,
    brokers: manifests.brokers.map((b) => ({ namespace: b.namespace, name: b.name, url: broker.brokerUrl(b.namespace, b.name) })),
    broker,
    pingSources,
    async close() {
      pingSources.stop()
      await broker.close()
    },
  }
}

export { MeshBroker, PingScheduler }
export type { DeadLetterRecord, DeliveryReport, Clock }
export { ManualClock } from './pingsource.ts'
export type { MeshOidc, TokenSource } from './oidc.ts'
export { MeshIssuer, TokenVerificationError } from './issuer.ts'
export { brokerAudience } from './oidc.ts'
