import { readFileSync } from 'node:fs'
import { CaretakerError, Errors } from '../errors.ts'
import { serviceAudience, TRIGGER_OIDC_SUFFIX, type EventingOidc } from './auth.ts'
import type { KubernetesConnection } from '../kubernetes/client.ts'
import { vaultSettingsFromEnv, type VaultSettings } from '../vault/settings.ts'

/**
 * The runtime's settings, read from the environment in this one place and
 * passed down as a typed object. Knative sets PORT; everything else has a
 * safe default: authentication on, dry-run on.
 */
export interface RuntimeSettings {
  functionName: string
  host: string
  port: number
  configPath: string | undefined
  auth: {
    mode: 'tokenreview' | 'static' | 'none'
    token: string | undefined
    /** Who may deliver with Eventing's OIDC on: by default every Trigger's OIDC identity in `namespace`. */
    allowed: string[]
    /** The audience a delivery's token must carry: by default the one the Triggers name for this Knative Service. */
    audience: string | undefined
    /** Mirrors knative-eventing's config-features `authentication-oidc`. */
    eventingOidc: EventingOidc
    /** Caretaker's namespace: its Knative Services, Triggers and RBAC resources. */
    namespace: string
    /** HMAC key of the proofs request events carry (shared/runtime/proof.ts); never logged. */
    proofKey: string | undefined
    proofTtlSeconds: number
  }
  kubernetes: KubernetesConnection | undefined
  dryRun: { default: boolean; locked: boolean }
  idempotency: { store: 'memory' | 'redis' | 'kubernetes'; redisUrl: string | undefined; ttlSeconds: number; namespace: string | undefined }
  bodyLimitBytes: number
  shutdownTimeoutMs: number
  /**
   * CARETAKER_RUN_DEADLINE (seconds): how long one event may run before the
   * function stops at its next safe point and replies with what is left. Set
   * below the Knative Service's timeoutSeconds, so a long run reports rather
   * than being cut off by the request timeout. Unset: no deadline.
   */
  runDeadlineMs: number | undefined
  /** K_SINK: where events beyond the reply are sent. */
  sinkUrl: string | undefined
  /** CARETAKER_SINK_TOKEN_FILE: the token sent to K_SINK (a projected ServiceAccount token with the Broker's audience). */
  sinkTokenFile: string | undefined
  /** VAULT_ADDR with VAULT_TOKEN or VAULT_K8S_ROLE: the function's Vault. */
  vault: VaultSettings | undefined
  logLevel: string
}

function invalid(name: string, problem: string): CaretakerError {
  return new CaretakerError(Errors.InvalidConfig, `environment: ${name}: ${problem}`)
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(name, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`)
  return n
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!(allowed as readonly string[]).includes(raw)) throw invalid(name, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`)
  return raw as T
}

function secretFrom(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[`${name}_FILE`]
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim()
    } catch {
      throw invalid(`${name}_FILE`, `cannot read ${file}`)
    }
  }
  return env[name] || undefined
}

/**
 * The namespace the function runs in, where its durable records live: the
 * ServiceAccount's namespace file Kubernetes mounts into every pod (Knative
 * Serving gates fieldRef env behind a feature flag, so the downward API is
 * not relied on), or CARETAKER_NAMESPACE.
 */
export function podNamespace(env: NodeJS.ProcessEnv): string | undefined {
  if (env.CARETAKER_NAMESPACE) return env.CARETAKER_NAMESPACE
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

/** K_SINK: where extra events go (set by a Knative SinkBinding, or by npm start). */
function sinkUrl(env: NodeJS.ProcessEnv): string | undefined {
  const value = env.K_SINK
  if (!value) return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw invalid('K_SINK', `must be an http(s) URL, not ${JSON.stringify(value)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('K_SINK', `must be an http(s) URL, not ${JSON.stringify(value)}`)
  return url.toString()
}

/** CARETAKER_RUN_DEADLINE: whole seconds, 1 to 3600; unset or empty for none. */
export function runDeadlineMs(env: NodeJS.ProcessEnv): number | undefined {
  if (env.CARETAKER_RUN_DEADLINE === undefined || env.CARETAKER_RUN_DEADLINE === '') return undefined
  return integer(env, 'CARETAKER_RUN_DEADLINE', 0, 1, 3600) * 1000
}

/**
 * What a function needs that Caretaker's host would give it, when another
 * runtime (faas-js-runtime) hosts it instead: from the same variables as
 * parseSettings, each read only when asked for (what a caller gives
 * explicitly is never read from the environment).
 */
export const standaloneSettings = {
  configPath: (env: NodeJS.ProcessEnv): string | undefined => env.CARETAKER_CONFIG || undefined,
  dryRunDefault: (env: NodeJS.ProcessEnv): boolean => env.CARETAKER_DRY_RUN !== 'false',
  runDeadlineMs,
  sinkUrl: (env: NodeJS.ProcessEnv): string | undefined => env.K_SINK || undefined,
  vault: (env: NodeJS.ProcessEnv): VaultSettings | undefined => vaultSettingsFromEnv(env),
}

export function parseSettings(env: NodeJS.ProcessEnv, functionName?: string): RuntimeSettings {
  const name = functionName ?? env.FUNCTION_NAME
  if (!name || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
    throw invalid('FUNCTION_NAME', `expected a function name like verify-backup, got ${JSON.stringify(name ?? '')}`)
  }
  const host = env.HOST || '0.0.0.0'
  const mode = oneOf(env, 'CARETAKER_AUTH', ['tokenreview', 'static', 'none'] as const, 'tokenreview')
  if (mode === 'none' && !isLoopback(host)) {
    throw invalid('CARETAKER_AUTH', `"none" is allowed only when listening on loopback (HOST=127.0.0.1), not on ${host}`)
  }
  const token = secretFrom(env, 'CARETAKER_AUTH_TOKEN')
  if (mode === 'static' && !token) throw invalid('CARETAKER_AUTH_TOKEN', 'static auth needs a token (or CARETAKER_AUTH_TOKEN_FILE)')
  const namespace = env.CARETAKER_NAMESPACE || 'caretaker'
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) throw invalid('CARETAKER_NAMESPACE', `expected a namespace name, got ${JSON.stringify(namespace)}`)
  const eventingOidc = oneOf(env, 'CARETAKER_EVENTING_OIDC', ['disabled', 'enabled'] as const, 'disabled')
  const listed = (env.CARETAKER_AUTH_ALLOWED ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  const allowed = listed.length > 0 ? listed : [`system:serviceaccount:${namespace}:*${TRIGGER_OIDC_SUFFIX}`]
  const proofKey = secretFrom(env, 'CARETAKER_PROOF_KEY')
  if (proofKey !== undefined && Buffer.byteLength(proofKey) < 32) throw invalid('CARETAKER_PROOF_KEY', 'the proof key must be at least 32 bytes (e.g. openssl rand -base64 32)')

  let kubernetes: KubernetesConnection | undefined
  if (env.CARETAKER_KUBE_SERVER) kubernetes = { server: env.CARETAKER_KUBE_SERVER, token: secretFrom(env, 'CARETAKER_KUBE_TOKEN') ?? '' }
  else if (env.KUBECONFIG) kubernetes = { kubeconfigPath: env.KUBECONFIG }
  else if (env.KUBERNETES_SERVICE_HOST) kubernetes = { inCluster: true }
  if (mode === 'tokenreview' && !kubernetes) {
    throw invalid('CARETAKER_AUTH', 'tokenreview auth needs a Kubernetes API (in-cluster, KUBECONFIG or CARETAKER_KUBE_SERVER)')
  }

  const dryRun = oneOf(env, 'CARETAKER_DRY_RUN', ['true', 'false', 'force'] as const, 'true')
  const store = oneOf(env, 'CARETAKER_IDEMPOTENCY', ['memory', 'redis', 'kubernetes'] as const, 'memory')
  const redisUrl = secretFrom(env, 'CARETAKER_REDIS_URL')
  if (store === 'redis' && !redisUrl) throw invalid('CARETAKER_REDIS_URL', 'the redis idempotency store needs a URL')
  if (store === 'kubernetes' && !kubernetes) throw invalid('CARETAKER_IDEMPOTENCY', 'the kubernetes idempotency store needs a Kubernetes API (in-cluster, KUBECONFIG or CARETAKER_KUBE_SERVER)')

  const sink = sinkUrl(env)
  const sinkTokenFile = env.CARETAKER_SINK_TOKEN_FILE || undefined
  // With Eventing's OIDC on, the broker ingress refuses every event without a token for its audience.
  if (eventingOidc === 'enabled' && sink && !sinkTokenFile) {
    throw invalid('CARETAKER_SINK_TOKEN_FILE', 'with CARETAKER_EVENTING_OIDC=enabled the Broker\'s ingress (K_SINK) refuses events without a token: mount a projected serviceAccountToken with the Broker\'s audience and point this at it (the eventing-oidc component of manifests/ does both)')
  }

  return {
    functionName: name,
    host,
    port: integer(env, 'PORT', 8080, 0, 65535),
    configPath: env.CARETAKER_CONFIG || undefined,
    auth: {
      mode, token, allowed, eventingOidc, namespace, proofKey,
      audience: env.CARETAKER_AUTH_AUDIENCE || (mode === 'tokenreview' ? serviceAudience(namespace, name) : undefined),
      proofTtlSeconds: integer(env, 'CARETAKER_PROOF_TTL', 3600, 60, 7 * 86400),
    },
    kubernetes,
    dryRun: { default: dryRun !== 'false', locked: dryRun === 'force' },
    idempotency: { store, redisUrl, ttlSeconds: integer(env, 'CARETAKER_IDEMPOTENCY_TTL', 86400, 60, 30 * 86400), namespace: podNamespace(env) },
    bodyLimitBytes: integer(env, 'CARETAKER_BODY_LIMIT', 1024 * 1024, 1024, 64 * 1024 * 1024),
    shutdownTimeoutMs: integer(env, 'CARETAKER_SHUTDOWN_TIMEOUT', 30, 1, 3600) * 1000,
    runDeadlineMs: runDeadlineMs(env),
    sinkUrl: sink,
    sinkTokenFile,
    vault: vaultSettingsFromEnv(env),
    logLevel: oneOf(env, 'LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'info'),
  }
}
