import { ROTATED_AT_KEY, type SecretPolicy } from './config.ts'
import { Delivery } from './delivery.ts'
import { describeRule } from './generate.ts'
import { workloadName, type RotationDeps } from './step.ts'
import { describeTarget } from './targets/index.ts'

/** What a rotation would do, read-only: for dry-run. */
export async function planRotation(policy: SecretPolicy, deps: Pick<RotationDeps, 'vault' | 'kubeConfig' | 'config'>): Promise<Record<string, unknown>> {
  const { mount, path } = policy.vault
  const current = await deps.vault.readKv(mount, path)
  const delivery = new Delivery(deps.kubeConfig)
  const synced = []
  for (const ref of policy.externalSecrets) synced.push(await delivery.syncedSecret(ref, policy.vault, policy.keys))
  const target = describeTarget(policy.target, current.data)
  return {
    lock: `Lease ${deps.config.leaseNamespace}/rotate-secret.${policy.name}`,
    vault: { mount, path, currentVersion: current.version, rotatedAt: current.customMetadata[ROTATED_AT_KEY] ?? null },
    keys: policy.keys,
    generate: describeRule(policy.generate),
    target,
    steps: [
      `take the Lease ${deps.config.leaseNamespace}/rotate-secret.${policy.name}`,
      `read ${mount}/${path} (version ${current.version})`,
      `generate ${describeRule(policy.generate)} for ${policy.keys.join(', ')}`,
      policy.target.kind === 'generated' ? 'no external target to change'
        : policy.target.kind === 'keycloak-client' ? `set the new secret on ${target} (the client's representation written back with PUT), then obtain a token with it`
          : `set the new password on ${target}, then log in with it`,
      `write version ${current.version + 1} of ${mount}/${path} (check-and-set on version ${current.version}) and record the rotation time`,
      ...synced.map((s) => `force-sync ExternalSecret ${s.externalSecret.namespace}/${s.externalSecret.name} and wait for Secret ${s.secret.namespace}/${s.secret.name} (keys ${[...s.keys.keys()].join(', ')})`),
      ...policy.consumers.map((w) => `rollout restart ${workloadName(w)} and wait for it`),
      ...(policy.target.kind === 'redis' && policy.target.mode === 'acl' ? [`remove the old password of ACL user ${policy.target.user}`] : []),
    ],
    externalSecrets: synced.map((s) => ({ namespace: s.externalSecret.namespace, name: s.externalSecret.name, secret: s.secret.name })),
    restarts: policy.consumers,
  }
}
