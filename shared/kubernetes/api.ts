/**
 * The Kubernetes client, out of the start path: @kubernetes/client-node
 * (about 85 MB and half a second at start, bench/RESULTS.md) is loaded at the
 * first API call, not when a function's modules load.
 *
 * Functions and shared helpers take these API classes instead of the
 * client's: `kubeConfig.makeApiClient(CoreV1Api)` gives an object with the
 * client's methods (the same types) that loads the client and makes the real
 * API object at its first call. It works with a real KubeConfig (tests, the
 * sandbox) and with the runtime's DeferredKubeConfig, which also makes the
 * real KubeConfig only at that first call.
 */
import type * as K8s from '@kubernetes/client-node'
import type * as ClientParts from './client-parts.ts'
import { lazy } from '../lazy.ts'
import { checkConnection, type KubernetesConnection } from './client.ts'

export type KubernetesClient = typeof ClientParts

/** The client's parts Caretaker calls (client-parts.ts), loaded once on first use. */
export const loadKubernetesClient: () => Promise<KubernetesClient> = lazy(() => import('./client-parts.ts'))

/**
 * What Caretaker uses of a KubeConfig: making API clients. A real
 * KubeConfig is one; so is the runtime's DeferredKubeConfig.
 */
export type KubeConfig = Pick<K8s.KubeConfig, 'makeApiClient'>

type ApiName = 'AppsV1Api' | 'AuthenticationV1Api' | 'AuthorizationV1Api' | 'BatchV1Api' | 'CoordinationV1Api' | 'CoreV1Api' | 'CustomObjectsApi' | 'VersionApi'

const API_NAME = Symbol('caretaker.kubernetes.apiName')

/** Header options resolved with the client once it is loaded (setHeaderOptions below). */
class DeferredHeaderOptions {
  readonly key: string
  readonly value: string
  constructor(key: string, value: string) {
    this.key = key
    this.value = value
  }
}

/**
 * An object answering every method of T by making T on the first call
 * (`make`) and calling it there. Every method of the client's API classes
 * returns a promise, so the types stay what the client declares. Not a
 * thenable (`then` is undefined), so it may be returned from async code.
 */
function deferredApi<T extends object>(make: () => Promise<T>): T {
  const get = lazy(make)
  return new Proxy({} as T, {
    get(_target, property) {
      if (typeof property === 'symbol' || property === 'then') return undefined
      return async (...args: unknown[]): Promise<unknown> => {
        const [api, client] = await Promise.all([get(), loadKubernetesClient()])
        const method = (api as Record<string, unknown>)[property]
        if (typeof method !== 'function') throw new TypeError(`${property} is not a method of the Kubernetes API client`)
        const resolved = args.map((a) => (a instanceof DeferredHeaderOptions ? client.setHeaderOptions(a.key, a.value) : a))
        return (method as (...a: unknown[]) => unknown).apply(api, resolved)
      }
    },
  })
}

/** A stand-in for one of the client's API classes: constructed by makeApiClient, it makes the real one at the first call. */
function lazyApiClass<N extends ApiName>(name: N): KubernetesClient[N] {
  // A function, not a class: `new` on it returns the deferred object (what a real KubeConfig's makeApiClient does with it).
  function LazyApi(configuration: unknown): object {
    return deferredApi(async () => {
      const client = await loadKubernetesClient()
      const Real = client[name] as unknown as new (c: unknown) => object
      return new Real(configuration)
    })
  }
  Object.defineProperty(LazyApi, 'name', { value: name })
  Object.defineProperty(LazyApi, API_NAME, { value: name })
  return LazyApi as unknown as KubernetesClient[N]
}

export const AppsV1Api = lazyApiClass('AppsV1Api')
export type AppsV1Api = K8s.AppsV1Api
export const AuthenticationV1Api = lazyApiClass('AuthenticationV1Api')
export type AuthenticationV1Api = K8s.AuthenticationV1Api
export const AuthorizationV1Api = lazyApiClass('AuthorizationV1Api')
export type AuthorizationV1Api = K8s.AuthorizationV1Api
export const BatchV1Api = lazyApiClass('BatchV1Api')
export type BatchV1Api = K8s.BatchV1Api
export const CoordinationV1Api = lazyApiClass('CoordinationV1Api')
export type CoordinationV1Api = K8s.CoordinationV1Api
export const CoreV1Api = lazyApiClass('CoreV1Api')
export type CoreV1Api = K8s.CoreV1Api
export const CustomObjectsApi = lazyApiClass('CustomObjectsApi')
export type CustomObjectsApi = K8s.CustomObjectsApi
export const VersionApi = lazyApiClass('VersionApi')
export type VersionApi = K8s.VersionApi

/**
 * The client's patch Content-Types, as it declares them
 * (kubernetes-client/javascript src/patch.ts), without loading it.
 */
export const PatchStrategy = {
  JsonPatch: 'application/json-patch+json',
  MergePatch: 'application/merge-patch+json',
  StrategicMergePatch: 'application/strategic-merge-patch+json',
  ServerSideApply: 'application/apply-patch+yaml',
} as const satisfies Record<string, K8s.PatchStrategy>

/**
 * The client's `setHeaderOptions(key, value)` for a call on an API made
 * from the classes above: the client's own options are made when the call
 * runs, with the client loaded (src/middleware.ts there).
 */
export function setHeaderOptions(key: string, value: string): ReturnType<KubernetesClient['setHeaderOptions']> {
  return new DeferredHeaderOptions(key, value) as unknown as ReturnType<KubernetesClient['setHeaderOptions']>
}

/**
 * The client's V1MicroTime (a Date written with microseconds, for Lease
 * times), restated so a Lease can be built before the client is loaded: the
 * client serialises it as any Date, through its toISOString
 * (kubernetes-client/javascript src/types.ts).
 */
export class V1MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().slice(0, -1) + '000Z'
  }
}

/**
 * The runtime's KubeConfig for its connection: nothing is loaded when it is
 * made (only the connection is checked, as createKubeConfig would); the
 * client and the real KubeConfig are loaded at the first call of an API
 * made from it.
 */
export class DeferredKubeConfig implements KubeConfig {
  readonly connection: KubernetesConnection
  /** The real KubeConfig (this loads the client). */
  readonly load: () => Promise<K8s.KubeConfig> = lazy(() => import('./kubeconfig.ts').then((m) => m.createKubeConfig(this.connection)))

  constructor(connection: KubernetesConnection) {
    checkConnection(connection)
    this.connection = connection
  }

  makeApiClient<T extends K8s.ApiType>(apiClientType: K8s.ApiConstructor<T>): T {
    const name = (apiClientType as unknown as Record<symbol, ApiName | undefined>)[API_NAME]
    return deferredApi(async () => {
      const [kc, client] = await Promise.all([this.load(), loadKubernetesClient()])
      return kc.makeApiClient(name ? client[name] as unknown as K8s.ApiConstructor<T> : apiClientType)
    })
  }
}
