import { DAY, MINUTE, hex, iso, type Ctx } from './context.ts'
import { externalSecret } from './secrets.ts'
import { certificate } from './certificates.ts'
import { backupCronJob } from './backup-jobs.ts'
import { deployment, pod, podSpec, pvc, replicaSets, secret, secretEnv, service } from './workloads.ts'

/** The applications: production's api, web and worker, and Gitea with its weekly bundle backup. */

export function seedProduction(ctx: Ctx) {
  const ns = 'production'
  externalSecret(ctx, ns, 'api-db-credentials', [{ secretKey: 'username', path: 'databases/postgres/app', property: 'username' }, { secretKey: 'password', path: 'databases/postgres/app', property: 'password' }])
  externalSecret(ctx, ns, 'api-jwt', [{ secretKey: 'JWT_SIGNING_KEY', path: 'production/api/jwt', property: 'signingKey' }])
  externalSecret(ctx, ns, 'web-session', [{ secretKey: 'SESSION_SECRET', path: 'production/web/session', property: 'sessionSecret' }, { secretKey: 'OIDC_CLIENT_SECRET', path: 'production/oidc/grafana', property: 'clientSecret' }])
  externalSecret(ctx, ns, 'worker-redis', [{ secretKey: 'password', path: 'databases/redis', property: 'password' }])

  ctx.put({ apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: { name: 'production-ca', namespace: ns }, spec: { ca: { secretName: 'production-ca-key-pair' } },
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KeyPairVerified', message: 'Signing CA verified', lastTransitionTime: iso(ctx.ago(300 * DAY)), observedGeneration: 1 }] } })
  ctx.put(secret(ctx, ns, 'production-ca-key-pair', { 'tls.crt': ctx.ca.certPem, 'tls.key': ctx.ca.keyPem }, { type: 'kubernetes.io/tls' }))
  certificate(ctx, ns, 'api-tls', 'ready', { kind: 'Issuer', name: 'production-ca' }, ['api.example.com'])
  certificate(ctx, ns, 'web-tls', 'expiring', { kind: 'ClusterIssuer', name: 'letsencrypt-prod' }, ['www.example.com', 'example.com'])
  certificate(ctx, ns, 'admin-tls', 'failed', { kind: 'ClusterIssuer', name: 'letsencrypt-prod' }, ['admin.example.com'])

  // Consumers of those Secrets in all three ways: env secretKeyRef, envFrom, a mounted volume.
  const reload = { 'reloader.stakater.com/auto': 'true' }
  const apiSpec = podSpec([{
    name: 'api', image: 'registry.example.com/api:2.14.1', ports: [{ containerPort: 8080, name: 'http' }],
    env: [{ name: 'DATABASE_HOST', value: 'postgres.databases.svc' }, secretEnv('DATABASE_USER', 'api-db-credentials', 'username'), secretEnv('DATABASE_PASSWORD', 'api-db-credentials', 'password')],
    envFrom: [{ secretRef: { name: 'api-jwt' } }],
    volumeMounts: [{ name: 'tls', mountPath: '/etc/tls', readOnly: true }],
  }], [{ name: 'tls', secret: { secretName: 'api-tls' } }])
  const api = deployment(ctx, ns, 'api', 3, apiSpec, { annotations: reload, revision: 5 })
  replicaSets(ctx, api, 5)
  const webSpec = podSpec([{ name: 'web', image: 'registry.example.com/web:4.2.0', ports: [{ containerPort: 3000, name: 'http' }], envFrom: [{ secretRef: { name: 'web-session' } }], volumeMounts: [{ name: 'tls', mountPath: '/etc/tls', readOnly: true }] }], [{ name: 'tls', secret: { secretName: 'web-tls' } }])
  const web = deployment(ctx, ns, 'web', 2, webSpec, { annotations: reload, revision: 2 })
  replicaSets(ctx, web, 2)
  const workerSpec = podSpec([{ name: 'worker', image: 'registry.example.com/worker:2.14.1', env: [{ name: 'REDIS_HOST', value: 'redis.databases.svc' }, secretEnv('REDIS_PASSWORD', 'worker-redis', 'password'), secretEnv('DATABASE_PASSWORD', 'api-db-credentials', 'password')], volumeMounts: [{ name: 'db', mountPath: '/var/run/secrets/db', readOnly: true }] }], [{ name: 'db', secret: { secretName: 'api-db-credentials', items: [{ key: 'password', path: 'password' }] } }])
  const worker = deployment(ctx, ns, 'worker', 2, workerSpec, { ready: 1, revision: 3 })
  replicaSets(ctx, worker, 3)
  service(ctx, ns, 'api', 8080)
  service(ctx, ns, 'web', 3000)
  pod(ctx, ns, `api-${hex('api5', 10)}-x7k2p`, 'api', 'worker-1', 'running', apiSpec)
  pod(ctx, ns, `api-${hex('api5', 10)}-m4q9z`, 'api', 'worker-2', 'running', apiSpec)
  pod(ctx, ns, `api-${hex('api5', 10)}-b8w3n`, 'api', 'worker-1', 'running', apiSpec)
  pod(ctx, ns, `web-${hex('web2', 10)}-t5v6c`, 'web', 'worker-2', 'running', webSpec)
  pod(ctx, ns, `worker-${hex('worker3', 10)}-h2d8s`, 'worker', 'worker-1', 'running', workerSpec)
  pod(ctx, ns, `worker-${hex('worker3', 10)}-q9l4f`, 'worker', 'worker-2', 'crashloop', workerSpec)
  // A finished one-off Job long past any TTL, owned by nobody (clean-up-resources).
  const done = ctx.ago(52 * DAY)
  ctx.put({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'db-migrate-2-14-0', namespace: ns, labels: { 'app.kubernetes.io/name': 'db-migrate' }, creationTimestamp: iso(new Date(done.getTime() - 3 * MINUTE)) },
    spec: { backoffLimit: 0, template: { spec: podSpec([{ name: 'migrate', image: 'registry.example.com/api:2.14.0', command: ['/app/migrate', 'up'] }], [], { restartPolicy: 'Never' }) } },
    status: { startTime: iso(new Date(done.getTime() - 3 * MINUTE)), completionTime: iso(done), succeeded: 1, conditions: [{ type: 'Complete', status: 'True', lastProbeTime: iso(done), lastTransitionTime: iso(done) }] } })
}

export function seedGitea(ctx: Ctx) {
  const ns = 'gitea'
  const spec = podSpec([{ name: 'gitea', image: 'gitea/gitea:1.23.4', ports: [{ containerPort: 3000, name: 'http' }], env: [{ name: 'GITEA__database__HOST', value: 'postgres.databases.svc:5432' }], volumeMounts: [{ name: 'data', mountPath: '/data' }] }], [{ name: 'data', persistentVolumeClaim: { claimName: 'gitea-data' } }])
  const gitea = deployment(ctx, ns, 'gitea', 1, spec, { revision: 1 })
  replicaSets(ctx, gitea, 1)
  service(ctx, ns, 'gitea', 3000)
  pvc(ctx, ns, 'gitea-data', '10Gi')
  backupCronJob(ctx, ns, 'gitea-backup', { cron: '0 4 * * 0', hour: 4, minute: 0, weekday: 0 },
    { name: 'bundle', image: 'alpine/git:2.47.2', command: ['/bin/sh', '-c', 'for r in /data/git/repositories/*/*.git; do git -C "$r" bundle create /backups/gitea/gitea_$(date +%Y%m%d_%H%M%S).bundle --all; done'], volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: true }] },
    [{ name: 'data', persistentVolumeClaim: { claimName: 'gitea-data' } }], ['Complete', 'Complete'])
}
