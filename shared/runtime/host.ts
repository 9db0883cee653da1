import { flushCompileCache, getCompileCacheDir } from 'node:module'
import { DeferredKubeConfig, type KubeConfig } from '../kubernetes/api.ts'
import { createLogger, type Logger } from '../logger.ts'
import { restTarget, type RestTarget } from '../kubernetes/rest.ts'
import { KnativeDeliveryAuthenticator, NoAuthenticator, RbacAuthorizer, StaticTokenAuthenticator, TokenReviewAuthenticator, type Authenticator } from './auth.ts'
import { isRequestType, PROOF, ProofKey } from './proof.ts'
import type { FunctionModule } from './function.ts'
import { MemoryIdempotencyStore, RedisIdempotencyStore, type IdempotencyStore } from './idempotency.ts'
import { RuntimeMetrics } from './metrics.ts'
import { buildRuntime, type ManualEntry, type Runtime } from './server.ts'
import { createEventSink } from './sink.ts'
import type { RuntimeSettings } from './settings.ts'

export interface HostedFunction {
  url: string
  runtime: Runtime
  logger: Logger
  /** Drain and close everything the host opened. */
  stop(): Promise<{ drained: boolean; abandoned: number }>
}

export interface HostOptions {
  module: FunctionModule
  settings: RuntimeSettings
  /** Where log lines go (tests read them back); stdout, written asynchronously, by default. */
  logDestination?: NodeJS.WritableStream
  /** Given config instead of the file at settings.configPath (tests). */
  config?: unknown
  authenticator?: Authenticator
  idempotency?: IdempotencyStore
}

/** The reviews as plain HTTPS calls where the connection allows (in the cluster: the pod's token and CA), not through the client. */
function reviewTarget(settings: RuntimeSettings): { rest?: RestTarget } {
  const rest = settings.kubernetes ? restTarget(settings.kubernetes) : undefined
  return rest ? { rest } : {}
}

function createAuthenticator(settings: RuntimeSettings, kubeConfig: KubeConfig | undefined): Authenticator {
  switch (settings.auth.mode) {
    case 'none':
      return new NoAuthenticator()
    case 'static':
      return new StaticTokenAuthenticator(settings.auth.token ?? '')
    case 'tokenreview':
      return new KnativeDeliveryAuthenticator(settings.auth.eventingOidc,
        new TokenReviewAuthenticator(kubeConfig!, { allowed: settings.auth.allowed, ...(settings.auth.audience ? { audience: settings.auth.audience } : {}), ...reviewTarget(settings) }))
  }
}

/** The manual entry: any identity the API server authenticates (its own audience), then RBAC. */
function createManualEntry(settings: RuntimeSettings, kubeConfig: KubeConfig | undefined): ManualEntry | undefined {
  if (settings.auth.mode !== 'tokenreview' || !kubeConfig) return undefined
  return { callers: new TokenReviewAuthenticator(kubeConfig, { allowed: undefined, ...reviewTarget(settings) }), rbac: new RbacAuthorizer(kubeConfig, reviewTarget(settings)), namespace: settings.auth.namespace }
}

// The Kubernetes client and the Redis client are loaded only by functions
// that use them, the Kubernetes client only at the first API call: it alone
// costs about 85 MB and half a second at start (bench/runtime.ts).
async function createIdempotencyStore(settings: RuntimeSettings, kubeConfig: KubeConfig | undefined): Promise<IdempotencyStore> {
  if (settings.idempotency.store === 'kubernetes') {
    const { KubernetesIdempotencyStore } = await import('./idempotency-kubernetes.ts')
    return new KubernetesIdempotencyStore(kubeConfig!, { functionName: settings.functionName, namespace: settings.idempotency.namespace ?? 'caretaker', ttlSeconds: settings.idempotency.ttlSeconds })
  }
  if (settings.idempotency.store === 'redis') {
    const { Redis } = await import('ioredis')
    const redis = new Redis(settings.idempotency.redisUrl!, { lazyConnect: false, maxRetriesPerRequest: 2, connectTimeout: 5000 })
    return new RedisIdempotencyStore(redis, { ttlSeconds: settings.idempotency.ttlSeconds })
  }
  return new MemoryIdempotencyStore({ ttlMs: settings.idempotency.ttlSeconds * 1000 })
}

/**
 * Host one function: initialise it (config validated, clients built), then
 * listen. Readiness turns on only after init has succeeded.
 */
export async function hostFunction(options: HostOptions): Promise<HostedFunction> {
  const { module, settings } = options
  const logger = createLogger({ name: settings.functionName, level: settings.logLevel, ...(options.logDestination ? { destination: options.logDestination } : { asynchronous: true }) })
  // Nothing of the Kubernetes client is loaded here: it is, with the real KubeConfig, at the first API call.
  const kubeConfig = settings.kubernetes ? new DeferredKubeConfig(settings.kubernetes) : undefined
  const authenticator = options.authenticator ?? createAuthenticator(settings, kubeConfig)
  const idempotency = options.idempotency ?? await createIdempotencyStore(settings, kubeConfig)
  const metrics = new RuntimeMetrics(settings.functionName)
  const proofs = settings.auth.proofKey ? new ProofKey(settings.auth.proofKey, { ttlSeconds: settings.auth.proofTtlSeconds }) : undefined
  // A request this function emits (respond-to-alert asking for a rotation) carries its proof, signed as the function.
  const sink = createEventSink(settings.sinkUrl, logger, {
    ...(proofs ? { prepare: (e) => (isRequestType(e.type) && (e as unknown as Record<string, unknown>)[PROOF] === undefined ? proofs.sign(e, `caretaker/${settings.functionName}`) : e) } : {}),
    ...(settings.sinkTokenFile ? { tokenFile: settings.sinkTokenFile } : {}),
  })
  const manual = createManualEntry(settings, kubeConfig)
  const runtime = buildRuntime({
    module, logger, authenticator, idempotency, metrics, sink,
    ...(proofs ? { proofs } : {}),
    ...(manual ? { manual } : {}),
    dryRun: settings.dryRun,
    bodyLimitBytes: settings.bodyLimitBytes,
    shutdownTimeoutMs: settings.shutdownTimeoutMs,
    runDeadlineMs: settings.runDeadlineMs,
  })
  const vault = settings.vault ? new (await import('../vault/client.ts')).Vault(settings.vault) : undefined
  await module.init({
    log: logger,
    kubeConfig,
    vault,
    metrics: metrics.registry,
    sink,
    dryRunDefault: settings.dryRun.default,
    runDeadlineMs: settings.runDeadlineMs,
    listenHost: settings.host,
    ...(options.config !== undefined ? { config: options.config } : settings.configPath ? { configPath: settings.configPath } : {}),
  })
  const address = await runtime.app.listen({ host: settings.host, port: settings.port })
  runtime.setReady(true)
  // With a compile cache (NODE_COMPILE_CACHE), what the start compiled is written now: Node writes it at a clean exit,
  // and a function process usually ends by a signal (a pod deleted, a node lost), which would keep the next start cold.
  if (getCompileCacheDir()) flushCompileCache()
  logger.info({ address, auth: authenticator.mode, eventing_oidc: settings.auth.eventingOidc, proofs: proofs !== undefined, dry_run: settings.dryRun, accepts: module.definition.accepts }, 'function ready')
  // Background work (never delaying readiness): rotate-secret's recovery of rotations a killed process left.
  module.start()
  return {
    url: address.replace('[::1]', '127.0.0.1'),
    runtime,
    logger,
    async stop() {
      const result = await runtime.drain()
      await module.shutdown()
      await idempotency.close()
      return result
    },
  }
}
