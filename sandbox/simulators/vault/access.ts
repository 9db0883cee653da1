// ACL checks: a token's policies against a path (policy.ts reads the policy texts).
import { permissionDenied } from './common.ts'
import type { Capability, PolicyCache } from './policy.ts'
import type { TokenEntry, VaultState } from './state.ts'

/** Throws permission denied unless the token's policies grant `capability` (and `sudo` when asked) on `path`; root passes. */
export function authorize(state: VaultState, policyCache: PolicyCache, token: TokenEntry, path: string, capability: Capability, sudo = false): void {
  if (token.policies.includes('root')) return
  const texts = token.policies.map((p) => state.policies[p]).filter((t): t is string => t !== undefined)
  const caps = policyCache.capabilities(texts, path)
  if (caps.has('deny') || !caps.has(capability)) throw permissionDenied()
  if (sudo && !caps.has('sudo')) throw permissionDenied()
}

/** The capability an HTTP method needs: a write is `update` on an existing path, `create` otherwise. */
export function capabilityFor(method: string, exists: () => boolean): Capability {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return 'read'
    case 'LIST':
      return 'list'
    case 'PATCH':
      return 'patch'
    case 'DELETE':
      return 'delete'
    default:
      return exists() ? 'update' : 'create'
  }
}

/** sys/capabilities-self: the token's capabilities on a path, sorted; `deny` when none. */
export function capabilitiesOf(state: VaultState, policyCache: PolicyCache, token: TokenEntry, path: string): string[] {
  if (token.policies.includes('root')) return ['root']
  const texts = token.policies.map((p) => state.policies[p]).filter((t): t is string => t !== undefined)
  const caps = [...policyCache.capabilities(texts, path)].sort()
  return caps.length === 0 ? ['deny'] : caps
}
