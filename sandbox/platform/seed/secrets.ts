import { createHash } from 'node:crypto'
import { DAY, MINUTE, hex, iso, b64, token, ROTATION_INTERVAL_DAYS, VAULT_MOUNT, type Ctx } from './context.ts'
import { secret } from './workloads.ts'

/** Vault's KV secrets with their rotation metadata, and the ExternalSecrets that sync them into Kubernetes Secrets. */

// Vault KV v2: every credential with its rotation time and interval (custom metadata).
export function seedVault(ctx: Ctx) {
  const secrets: Array<{ path: string, data: Record<string, string>, rotatedDaysAgo: number, intervalDays: number, target: string }> = [
    { path: 'databases/postgres/app', data: { username: 'app', password: token() }, rotatedDaysAgo: 104, intervalDays: ROTATION_INTERVAL_DAYS.postgres, target: 'postgres-role:app' },
    { path: 'databases/postgres/reporting', data: { username: 'reporting', password: token() }, rotatedDaysAgo: 31, intervalDays: ROTATION_INTERVAL_DAYS.postgres, target: 'postgres-role:reporting' },
    { path: 'databases/postgres/superuser', data: { username: 'postgres', password: token() }, rotatedDaysAgo: 88, intervalDays: ROTATION_INTERVAL_DAYS.postgres, target: 'postgres-role:postgres' },
    { path: 'databases/redis', data: { username: 'app', password: token() }, rotatedDaysAgo: 95, intervalDays: ROTATION_INTERVAL_DAYS.redis, target: 'redis-acl:app' },
    { path: 'production/api/jwt', data: { signingKey: token(48) }, rotatedDaysAgo: 203, intervalDays: ROTATION_INTERVAL_DAYS.jwt, target: 'generated' },
    { path: 'production/web/session', data: { sessionSecret: token(48) }, rotatedDaysAgo: 62, intervalDays: ROTATION_INTERVAL_DAYS.session, target: 'generated' },
    { path: 'production/oidc/grafana', data: { clientId: 'grafana', clientSecret: token() }, rotatedDaysAgo: 290, intervalDays: ROTATION_INTERVAL_DAYS.oidc, target: 'oidc-client:grafana' },
    { path: 'production/oidc/gitea', data: { clientId: 'gitea', clientSecret: token() }, rotatedDaysAgo: 381, intervalDays: ROTATION_INTERVAL_DAYS.oidc, target: 'oidc-client:gitea' },
  ]
  for (const s of secrets) {
    const rotatedAt = iso(ctx.ago(s.rotatedDaysAgo * DAY))
    const metadata = { 'rotated-at': rotatedAt, 'rotation-interval': `${s.intervalDays}d`, 'rotation-target': s.target, owner: 'platform-team' }
    // An earlier version first, as a secret that has been rotated before has.
    ctx.vault.putSecret(VAULT_MOUNT, s.path, Object.fromEntries(Object.keys(s.data).map((k) => [k, k === 'username' || k === 'clientId' ? s.data[k]! : token()])), metadata)
    ctx.vault.putSecret(VAULT_MOUNT, s.path, s.data, metadata)
    ctx.vaultData.set(s.path, s.data)
    ctx.summary.vaultSecrets.push({ mount: VAULT_MOUNT, path: s.path, rotatedAt, intervalDays: s.intervalDays, due: s.rotatedDaysAgo >= s.intervalDays })
  }
}

/** An ExternalSecret bound to Vault paths, and the Secret it keeps in sync (already synced). */
export function externalSecret(ctx: Ctx, namespace: string, name: string, data: Array<{ secretKey: string, path: string, property: string }>) {
  const annotations = {}
  const labels = { 'app.kubernetes.io/managed-by': 'external-secrets' }
  const syncedAt = iso(ctx.ago(40 * MINUTE))
  const es = ctx.put({
    apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret',
    metadata: { name, namespace, labels, creationTimestamp: iso(ctx.ago(200 * DAY)) },
    spec: {
      refreshInterval: '1h',
      secretStoreRef: { kind: 'ClusterSecretStore', name: 'vault-backend' },
      target: { name, creationPolicy: 'Owner', deletionPolicy: 'Retain' },
      data: data.map((d) => ({ secretKey: d.secretKey, remoteRef: { key: d.path, property: d.property } })),
    },
    status: {
      refreshTime: syncedAt,
      // What the sandbox's external-secrets controller records once in sync.
      syncedResourceVersion: `1-${createHash('md5').update(JSON.stringify({ annotations, labels })).digest('hex')}`,
      binding: { name },
      conditions: [{ type: 'Ready', status: 'True', reason: 'SecretSynced', message: 'secret synced', lastTransitionTime: syncedAt }],
    },
  })
  const values = Object.fromEntries(data.map((d) => [d.secretKey, ctx.vaultData.get(d.path)?.[d.property] ?? '']))
  const encoded = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, b64(v)]))
  ctx.put(secret(ctx, namespace, name, values, {
    labels: { 'reconcile.external-secrets.io/created-by': hex(`${namespace}/${name}`, 40), 'reconcile.external-secrets.io/managed': 'true' },
    annotations: { 'reconcile.external-secrets.io/data-hash': createHash('md5').update(JSON.stringify(encoded)).digest('hex') },
    ownerReferences: [ctx.ownerRef(es)],
  }))
  ctx.summary.externalSecrets.push({ namespace, name, secret: name, vaultPaths: [...new Set(data.map((d) => `${VAULT_MOUNT}/${d.path}`))] })
}
