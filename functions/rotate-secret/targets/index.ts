import type { SecretValue } from '../../../shared/logger.ts'
import type { Vault } from '../../../shared/vault/client.ts'
import type { SecretPolicy, Target } from '../config.ts'
import { openKeycloakTarget } from './keycloak.ts'
import { openPostgresTarget } from './postgres.ts'
import { openRedisTarget } from './redis.ts'
import { generatedTarget, type TargetSession } from './target.ts'

export { TargetError, type TargetSession } from './target.ts'

/**
 * Connects to the policy's target with what the secret held before (the old
 * password is the undo). `alsoTry`: a password a cut-off rotation may have
 * set already, to log in with where the old one is refused (recovery).
 */
export function openTarget(policy: SecretPolicy, current: Record<string, string>, vault: Vault, timeoutMs: number, alsoTry?: SecretValue): Promise<TargetSession> {
  const key = policy.keys[0]!
  switch (policy.target.kind) {
    case 'postgres-role': return openPostgresTarget(policy.target, current, vault, key, timeoutMs)
    case 'redis': return openRedisTarget(policy.target, current, vault, key, timeoutMs, alsoTry)
    case 'generated': return Promise.resolve(generatedTarget)
    case 'keycloak-client': return openKeycloakTarget(policy.target, current, vault, key, timeoutMs)
  }
}

/** The target in words, without connecting (for a dry-run plan). */
export function describeTarget(target: Target, current: Record<string, string>): string {
  switch (target.kind) {
    case 'postgres-role': return `PostgreSQL role ${target.role ?? current.username ?? '(the secret\'s username)'} (admin credential from ${target.connection.vault.mount}/${target.connection.vault.path})`
    case 'redis': return `${target.mode === 'acl' ? `Redis ACL user ${target.user}` : 'Redis requirepass'} on ${target.nodes.map((n) => `${n.host}:${n.port}`).join(', ')}`
    case 'generated': return generatedTarget.description
    case 'keycloak-client': return `Keycloak client ${target.clientId} in realm ${target.realm} at ${target.url.replace(/\/+$/, '')} (admin credential from ${target.connection.vault.mount}/${target.connection.vault.path})`
  }
}
