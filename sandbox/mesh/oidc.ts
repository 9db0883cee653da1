import { createHash } from 'node:crypto'
import { TRIGGER_OIDC_SUFFIX, type EventingOidc } from '../../shared/runtime/auth.ts'
import type { MeshIssuer } from './issuer.ts'
import type { Destination, TriggerObject } from './manifests.ts'

/**
 * Sender identity as Knative Eventing does it (config-features
 * `authentication-oidc`):
 * - `disabled` (Knative's default): deliveries carry no Authorization header;
 * - `enabled`: the broker filter sends to a Trigger's subscriber and to its
 *   dead-letter sink with a token of the Trigger's OIDC ServiceAccount
 *   (in the Trigger's namespace), minted for the target's audience, as
 *   `Authorization: Bearer <jwt>`; a target without an audience gets no
 *   token at all (knative/eventing pkg/broker/filter/filter_handler.go send,
 *   pkg/kncloudevents/event_dispatcher.go createRequest). The broker
 *   ingress then takes an event only with a token for the Broker's audience
 *   (see brokerAudience and broker.ts), which the mesh's issuer signs.
 */

export interface ServiceAccountRef {
  readonly namespace: string
  readonly name: string
}

/** Mints a ServiceAccount token for an audience (Knative uses TokenRequest; the sandbox mints its own). */
export type TokenSource = (account: ServiceAccountRef, audience: string) => Promise<string> | string

export interface MeshOidc {
  readonly mode: EventingOidc
  /** Needed when `mode` is `enabled`. */
  readonly tokens?: TokenSource
  /**
   * Needed when `mode` is `enabled`: signs the tokens senders bring to the
   * broker ingress (the functions' projected token files, PingSources) and
   * verifies them there, as the API server's issuer does for Knative.
   */
  readonly issuer?: MeshIssuer
}

/**
 * A Broker's audience, `status.address.audience` of an MT broker:
 * knative/eventing pkg/reconciler/broker/broker.go sets it to
 * auth.GetAudience(Broker GVK, meta), pkg/auth/audience.go:
 * `<group>/<kind>/<namespace>/<name>` lower-cased.
 */
export function brokerAudience(namespace: string, name: string): string {
  return `eventing.knative.dev/broker/${namespace}/${name}`.toLowerCase()
}

/** A PingSource's OIDC ServiceAccount (pkg/auth/serviceaccount.go GetOIDCServiceAccountNameForResource). */
export function pingSourceOidcServiceAccount(source: { namespace: string; name: string }): ServiceAccountRef {
  return { namespace: source.namespace, name: childName(source.name, '-oidc-sources.knative.dev-PingSource').toLowerCase() }
}

const LONGEST = 63
const MD5_HEX = 32
const HEAD = LONGEST - MD5_HEX

/** knative/pkg kmeta/names.go ChildName: parent + suffix, hashed to fit 63 characters. */
export function childName(parent: string, suffix: string): string {
  if (parent.length <= LONGEST - suffix.length) return parent + suffix
  if (HEAD - suffix.length <= 0) {
    const h = createHash('md5').update(parent + suffix).digest('hex')
    let ret = (HEAD < parent.length ? parent.slice(0, HEAD) : parent) + h
    const d = LONGEST - ret.length
    if (d > 0) ret += suffix.slice(0, d)
    while (ret.length > 0 && !/[a-zA-Z0-9]/.test(ret[ret.length - 1]!)) ret = ret.slice(0, -1)
    return ret
  }
  return `${parent.slice(0, HEAD - suffix.length)}${createHash('md5').update(parent).digest('hex')}${suffix}`
}

/** The Trigger's OIDC ServiceAccount (knative/eventing pkg/auth/serviceaccount.go). */
export function triggerOidcServiceAccount(trigger: Pick<TriggerObject, 'name' | 'namespace'>): ServiceAccountRef {
  return { namespace: trigger.namespace, name: childName(trigger.name, TRIGGER_OIDC_SUFFIX).toLowerCase() }
}

/** The Authorization header the broker filter sends to `target` for `trigger`, or undefined when it sends none. */
export async function deliveryAuthorization(oidc: MeshOidc | undefined, trigger: TriggerObject, target: Destination | undefined): Promise<string | undefined> {
  if (!oidc || oidc.mode !== 'enabled') return undefined
  const audience = target?.audience
  if (!audience) return undefined
  if (!oidc.tokens) throw new Error('mesh: authentication-oidc is enabled but no token source was given')
  return `Bearer ${await oidc.tokens(triggerOidcServiceAccount(trigger), audience)}`
}
