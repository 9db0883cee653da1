// Dispatch of an authenticated request: sys endpoints, token auth, Kubernetes auth admin, KV v2 mounts.
import { envelope, noHandler, VaultHttpError, type JsonObject, type Reply, type RequestContext } from './common.ts'
import { handleTokenAuth } from './auth.ts'
import { handleKubernetesAdmin } from './kubernetes-auth.ts'
import { handleKv, kvExists, splitKvPath } from './kv2.ts'
import type { Capability } from './policy.ts'
import type { TokenEntry } from './state.ts'
import { handleAuthMounts, handleMounts, handlePolicies } from './sys.ts'
import { authorize, capabilitiesOf, capabilityFor } from './access.ts'
import type { VaultSimulatorServer } from './server.ts'

/** What dispatch needs of the server. */
export type DispatchTarget = Pick<VaultSimulatorServer, 'state' | 'sealState' | 'policyCache' | 'snapshot' | 'restore'>

/** Paths that need `sudo` on top of the operation's capability. */
const SUDO_PATHS = [/^sys\/seal$/, /^sys\/step-down$/, /^sys\/raw(\/.*)?$/, /^sys\/audit(\/.*)?$/]
export const KUBERNETES_MOUNT = 'auth/kubernetes/'

export function dispatch(vault: DispatchTarget, ctx: RequestContext, token: TokenEntry): Reply {
  const { state, policyCache } = vault
  const { method, path } = ctx
  const simple = (): Capability => capabilityFor(method, () => true)

  if (path.startsWith('sys/')) {
    const sub = path.slice(4).replace(/\/$/, '')
    const sudo = SUDO_PATHS.some((re) => re.test(path.replace(/\/$/, '')))
    authorize(state, policyCache, token, path, simple(), sudo)
    if (sub === 'seal') {
      if (method !== 'PUT' && method !== 'POST') throw new VaultHttpError(405, ['unsupported operation'])
      vault.sealState.seal()
      return { status: 204 }
    }
    if (sub === 'storage/raft/snapshot' || sub === 'storage/raft/snapshot-force') {
      if (method === 'GET' && sub === 'storage/raft/snapshot') {
        return { status: 200, raw: vault.snapshot(), contentType: 'application/octet-stream' }
      }
      if (method === 'POST' || method === 'PUT') {
        vault.restore(ctx.rawBody, sub.endsWith('-force'))
        return { status: 204 }
      }
      throw new VaultHttpError(405, ['unsupported operation'])
    }
    if (sub === 'mounts' || sub.startsWith('mounts/')) return handleMounts(ctx, state, sub)
    if (sub === 'auth') return handleAuthMounts(ctx)
    if (sub === 'policy' || sub.startsWith('policy/') || sub === 'policies/acl' || sub.startsWith('policies/acl/')) {
      return handlePolicies(ctx, state, policyCache, sub)
    }
    if (sub === 'capabilities-self') {
      const paths = ctx.body['paths'] ?? ctx.body['path']
      const list = Array.isArray(paths) ? paths.map(String) : typeof paths === 'string' ? [paths] : []
      const data: JsonObject = {}
      for (const p of list) data[p] = capabilitiesOf(state, policyCache, token, p)
      data['capabilities'] = list.length === 1 ? data[list[0]!]! : []
      // Vault repeats the answer at the top level for old clients.
      return { status: 200, body: { ...data, ...(envelope(data, { mountType: 'system' })) } }
    }
    throw noHandler(path)
  }

  if (path.startsWith('auth/token/')) {
    authorize(state, policyCache, token, path, simple())
    return handleTokenAuth(ctx, state, token)
  }
  if (path.startsWith(KUBERNETES_MOUNT)) {
    authorize(state, policyCache, token, path, simple())
    return handleKubernetesAdmin(ctx, state, KUBERNETES_MOUNT)
  }

  const mountPath = Object.keys(state.mounts)
    .filter((m) => path.startsWith(m) || `${path}/` === m)
    .sort((a, b) => b.length - a.length)[0]
  if (mountPath === undefined) throw noHandler(path)
  const mount = state.mounts[mountPath]!
  const sub = path.slice(mountPath.length)
  const kv = splitKvPath(sub)
  authorize(state, policyCache, token, path, capabilityFor(method, () => (kv ? kvExists(mount, kv.key.replace(/\/$/, '')) : true)))
  return handleKv(ctx, mount, sub)
}
