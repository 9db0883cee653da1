import { randomBytes } from 'node:crypto'
import type { CloudEvent } from 'cloudevents'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../../shared/logger.ts'
import { MeshIssuer, startMesh, type Mesh, type MeshOidc } from '../mesh/index.ts'
import type { EventingOidc } from '../../shared/runtime/auth.ts'
import { loadManifests } from '../mesh/manifests.ts'
import { brokerAudience, triggerOidcServiceAccount } from '../mesh/oidc.ts'
import { loadApiServerSources, startApiServerSources, type ApiServerSourceObject } from '../mesh/apiserversource.ts'
import { createKubeConfig } from '../../shared/kubernetes/kubeconfig.ts'
import { clusterConfigs, userConfigFiles, type LocalConfig } from './configs.ts'
import { discoverFunctions, FunctionStarter, READY_TIMEOUT_MS, type LocalFunction } from './functions.ts'
import { Activator, type RouteState } from '../mesh/activator.ts'
import { CARETAKER_NAMESPACE, startSandbox, type Sandbox } from './sandbox.ts'
import { DEAD_LETTERS_FILE, DELIVERIES_FILE, deliveryLine, JsonLines, removeLocalState, writeLocalState, type LocalState } from '../../cli/state.ts'
import { outcomeFunction } from '../../cli/outcome.ts'
import { ConsoleFeed } from './console/feed.ts'
import { startConsole, type ConsoleServer } from './console/server.ts'

/** The ServiceAccount a source without one names watches with, as Knative does. */
const DEFAULT_ACCOUNT = 'default'

/**
 * Everything `npm start` runs: the sandbox platform (when no cluster is
 * configured), every function on its own loopback port, and the local
 * event mesh routing between them by the objects in `triggers/`.
 */

export interface LocalPlatformOptions {
  readonly functionsDir: string
  readonly triggersDir: string
  /** The project's manifests: the sandbox applies their RBAC. */
  readonly manifestsDir: string
  /** Where the sandbox writes its kubeconfig, demo backups and dead letters. */
  readonly stateDir: string
  /** Broker ingress port; 0 picks a free one. */
  readonly port: number
  readonly kubePort: number
  readonly vaultPort: number
  /** `auto`: the sandbox unless a cluster (KUBECONFIG, in-cluster) or VAULT_ADDR is configured. */
  readonly sandbox: 'auto' | 'always' | 'never'
  /** One `<function>.yaml` per function; the others take the shipped manifests/<function>/config.yaml (or, in the sandbox, its demo config). */
  readonly configDir?: string
  /** Against a real cluster, let the functions act; without it they are held in dry-run, whatever an event asks. */
  readonly apply?: boolean
  /**
   * Knative Eventing's `authentication-oidc` (config-features), reproduced by
   * the mesh and the functions alike; `disabled` unless given, as Knative ships.
   * `enabled` needs the sandbox (its API server mints the Triggers' tokens).
   */
  readonly eventingOidc?: EventingOidc
  /** In the sandbox, maintain-databases' demo PostgreSQL and Redis (npm start: unless --no-databases); off unless asked. */
  readonly databases?: boolean
  readonly env: Readonly<Record<string, string | undefined>>
  readonly logger: Logger
  /** Told of each outcome a function sends (a reply or an emitted event), as the Broker takes it in. */
  readonly onOutcome?: (event: CloudEvent<unknown>) => void
  /** The local console's loopback port (0 picks a free one); no console when not given. */
  readonly consolePort?: number
  /**
   * `wait` (the default): ready once every function is; one that cannot start stops the platform with its error.
   * `background`: ready once the broker and the functions' addresses are (npm start); a request for a function
   * still starting waits for it, as Knative's activator holds requests while a Service scales from zero.
   */
  readonly functionStart?: 'wait' | 'background'
}

/** A function of the platform: its address (the activator's route to it) and its process, once started. */
export interface PlatformFunction {
  readonly name: string
  /** Where to send it requests: held while it starts, then forwarded to its process. */
  readonly url: string
  state(): RouteState
  /** Resolves once its process is ready; rejects with why it could not start. */
  readonly process: Promise<LocalFunction>
}

/** How the functions' starts ended: when every one had, which are ready and which could not start. */
export interface FunctionStarts {
  readonly ms: number
  readonly ready: readonly string[]
  readonly failed: ReadonlyArray<{ readonly name: string; readonly reason: string }>
}

export interface LocalPlatform {
  readonly ingressUrl: string
  readonly brokerUrl: string
  readonly functions: readonly PlatformFunction[]
  /** Settles once every function's start has ended (at once with `functionStart: 'wait'`); never rejects. */
  readonly functionsStarted: Promise<FunctionStarts>
  readonly sandbox: Sandbox | undefined
  readonly mesh: Mesh
  /** With authentication-oidc enabled: the issuer whose tokens the broker ingress takes (a test mints its own with it). */
  readonly issuer: MeshIssuer | undefined
  /** Each function's config file and where it came from. */
  readonly configs: ReadonlyMap<string, LocalConfig>
  /** `forced`: nothing in the cluster changes, whatever an event asks; otherwise CARETAKER_DRY_RUN's value. */
  readonly dryRun: string
  /** The local console, when started with a consolePort. */
  readonly console: ConsoleServer | undefined
  close(): Promise<void>
}

export function clusterConfigured(env: Readonly<Record<string, string | undefined>>): boolean {
  return Boolean(env.KUBECONFIG || env.KUBERNETES_SERVICE_HOST || env.VAULT_ADDR)
}

/**
 * CARETAKER_DRY_RUN for the functions. Against a real cluster it is
 * `force` (no event may opt out) unless --apply; with --apply, the user's
 * CARETAKER_DRY_RUN, else `false`. The sandbox keeps the user's setting.
 */
export function dryRunSetting(options: Pick<LocalPlatformOptions, 'apply' | 'env'>, sandbox: boolean): string | undefined {
  if (sandbox) return options.env.CARETAKER_DRY_RUN
  if (!options.apply) return 'force'
  return options.env.CARETAKER_DRY_RUN ?? 'false'
}

/** The environment each function process gets. */
async function functionEnv(name: string, options: LocalPlatformOptions, sandbox: Sandbox | undefined, sink: string, config: LocalConfig | undefined, proofKey: string): Promise<Record<string, string>> {
  const pass = (keys: string[]): Record<string, string> =>
    Object.fromEntries(keys.flatMap((k) => (options.env[k] === undefined ? [] : [[k, options.env[k]!]])))
  const env: Record<string, string> = {
    // Without the sandbox there is no API server here to check tokens: loopback only, the mesh is the only sender.
    CARETAKER_AUTH: 'none',
    // Events beyond the reply go to the broker, as a SinkBinding would send them.
    K_SINK: sink,
    ...pass(['LOG_LEVEL', 'HOME', 'TZ', 'TMPDIR']),
  }
  const dryRun = dryRunSetting(options, sandbox !== undefined)
  if (dryRun !== undefined) env.CARETAKER_DRY_RUN = dryRun
  if (sandbox) {
    Object.assign(env, await sandbox.functionEnv(name), {
      // As in the cluster: deliveries authenticated as Knative makes them, manual runs by token and RBAC, requests by proof.
      CARETAKER_AUTH: 'tokenreview',
      CARETAKER_EVENTING_OIDC: options.eventingOidc ?? 'disabled',
      CARETAKER_NAMESPACE: CARETAKER_NAMESPACE,
      CARETAKER_PROOF_KEY: proofKey,
    })
  } else {
    Object.assign(env, pass(['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'VAULT_ADDR', 'VAULT_TOKEN', 'VAULT_NAMESPACE', 'CARETAKER_REDIS_URL']))
  }
  if (config) env.CARETAKER_CONFIG = config.path
  return env
}

export async function startLocalPlatform(options: LocalPlatformOptions): Promise<LocalPlatform> {
  const log = options.logger
  await mkdir(options.stateDir, { recursive: true })
  const useSandbox = options.sandbox === 'always' || (options.sandbox === 'auto' && !clusterConfigured(options.env))
  const eventingOidc = options.eventingOidc ?? 'disabled'
  if (eventingOidc === 'enabled' && !useSandbox) {
    throw new Error('authentication-oidc enabled needs the sandbox: its API server mints the Triggers\' OIDC tokens (use --sandbox)')
  }
  const sandbox = useSandbox
    ? await startSandbox({ stateDir: join(options.stateDir, 'sandbox'), kubePort: options.kubePort, vaultPort: options.vaultPort, manifestsDir: options.manifestsDir, logger: log, databases: options.databases === true })
    : undefined
  let starter: FunctionStarter | undefined
  let closing = false
  let activator: Activator | undefined
  const stopProjections: Array<() => void> = []
  let consoleServer: ConsoleServer | undefined
  let mesh: Mesh | undefined
  let sourceFeed: { close(): Promise<void> } | undefined
  // The functions learn the broker's address (K_SINK) when they start, after the mesh (which routes to their
  // activator addresses) listens: the port is the mesh's own, none is picked beforehand and left open to a race.
  const sinkKnown = Promise.withResolvers<string>()
  sinkKnown.promise.catch(() => undefined)
  try {
    const firstBroker = (await loadManifests(options.triggersDir)).brokers[0]
    // A function whose start waits for more of the sandbox (its demo databases) starts after the others.
    const specs = (await discoverFunctions(options.functionsDir)).sort((a, b) => Number(sandbox?.startsSlowly(a.name) ?? false) - Number(sandbox?.startsSlowly(b.name) ?? false))
    const functionNames = specs.map((f) => f.name)
    // Against a cluster: the user's config, else the shipped one. In the sandbox: the user's, else the demo's.
    const configs: Map<string, LocalConfig> = sandbox
      ? new Map([...options.configDir ? await userConfigFiles(options.configDir, functionNames) : []].map(([name, path]) => [name, { path, source: path }]))
      : await clusterConfigs({ functionNames, manifestsDir: options.manifestsDir, stateDir: options.stateDir, ...(options.configDir ? { configDir: options.configDir } : {}) })
    const dryRun = dryRunSetting(options, sandbox !== undefined)
    if (!sandbox) {
      if (!options.apply && options.env.CARETAKER_DRY_RUN === 'false') log.warn('CARETAKER_DRY_RUN=false is not enough against a real cluster: the functions stay in dry-run unless started with --apply')
      for (const [name, config] of configs) log.info({ function: name, config: config.path, from: config.source }, 'config')
    }
    // The Secret every function mounts in the cluster (caretaker-proof-key): one key per run here.
    const proofKey = randomBytes(32).toString('base64')
    // With OIDC on, the broker ingress takes only tokens for the Broker's audience: each function gets what the
    // eventing-oidc component mounts in the cluster, a projected token of its ServiceAccount, kept fresh like the kubelet does.
    const issuer = sandbox && eventingOidc === 'enabled' ? new MeshIssuer() : undefined
    const envOf = async (name: string): Promise<Record<string, string>> => {
      const env = await functionEnv(name, options, sandbox, await sinkKnown.promise, configs.get(name), proofKey)
      if (issuer) {
        const file = join(options.stateDir, 'tokens', name, 'token')
        const audience = brokerAudience(firstBroker?.namespace ?? CARETAKER_NAMESPACE, firstBroker?.name ?? 'default')
        stopProjections.push(await issuer.project(file, { namespace: CARETAKER_NAMESPACE, name }, audience, { logger: log }))
        env.CARETAKER_SINK_TOKEN_FILE = file
      }
      return env
    }
    // Every function's address is the activator's from the start; its process starts behind it.
    const begun = Date.now()
    // The functions start once the broker is up (below): until then the platform's own start has the cores.
    const functionStarter = new FunctionStarter(specs, envOf, log, { paused: true })
    starter = functionStarter
    const routes = new Activator({ logger: log, holdTimeoutMs: READY_TIMEOUT_MS, onDemand: (name) => functionStarter.demand(name) })
    activator = routes
    const functions: PlatformFunction[] = []
    for (const spec of specs) {
      const url = await routes.route(spec.name)
      const started = functionStarter.started(spec.name)
      started.then((fn) => routes.ready(spec.name, fn.url), (err: Error) => {
        routes.failed(spec.name, err.message)
        // A start cut short by a stop is no failure to report.
        if (!closing) log.error({ function: spec.name, reason: err.message }, 'function did not start')
      })
      functions.push({ name: spec.name, url, state: () => routes.state(spec.name) ?? 'failed', process: started })
    }
    const functionsStarted = functionStarter.all().then((results): FunctionStarts => ({
      ms: Date.now() - begun,
      ready: specs.filter((_, i) => results[i]!.status === 'fulfilled').map((s) => s.name),
      failed: results.flatMap((r, i) => r.status === 'rejected' ? [{ name: specs[i]!.name, reason: (r.reason as Error).message }] : []),
    }))
    // With OIDC on, Knative's Trigger reconciler creates each Trigger's OIDC ServiceAccount and the broker filter
    // mints its token per target audience (TokenRequest, which fails for an account that does not exist).
    let oidc: MeshOidc = { mode: 'disabled' }
    if (sandbox && eventingOidc === 'enabled') {
      for (const trigger of (await loadManifests(options.triggersDir)).triggers) {
        const account = triggerOidcServiceAccount(trigger)
        if (sandbox.kube.store.get('v1', 'ServiceAccount', account.namespace, account.name)) continue
        sandbox.kube.store.seed({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { ...account, labels: { 'eventing.knative.dev/oidc': 'enabled' } } })
      }
      oidc = {
        mode: 'enabled',
        ...(issuer ? { issuer } : {}),
        tokens: (account, audience) => {
          if (!sandbox.kube.store.get('v1', 'ServiceAccount', account.namespace, account.name)) throw new Error(`serviceaccounts "${account.name}" not found`)
          return sandbox.kube.mintServiceAccountToken(account.namespace, account.name, { audiences: [audience] })
        },
      }
    }
    // Every delivery the mesh ends, with its reply (a dead letter with its event): what `caretaker run`, `status` and `redeliver` read.
    const deliveriesPath = join(options.stateDir, DELIVERIES_FILE)
    await writeFile(deliveriesPath, '', { mode: 0o600 })
    const deliveries = new JsonLines(deliveriesPath, (err) => log.error({ file: deliveriesPath, reason: err.message }, 'cannot write the deliveries file'))
    const onOutcome = options.onOutcome
    // The console's live flow: every event the Broker takes in and every delivery's end.
    const feed = options.consolePort === undefined ? undefined : new ConsoleFeed()
    const started = await startMesh({
      oidc,
      dir: options.triggersDir,
      services: Object.fromEntries(functions.map((f) => [f.name, f.url])),
      port: options.port,
      logger: log,
      deadLetterFile: join(options.stateDir, DEAD_LETTERS_FILE),
      onDelivery: (report) => { deliveries.append(deliveryLine(report)); feed?.delivered(report) },
      ...(onOutcome || feed ? { onAccepted: (event: CloudEvent<unknown>) => { feed?.accepted(event); if (onOutcome && outcomeFunction(event)) onOutcome(event) } } : {}),
    })
    mesh = started
    sinkKnown.resolve(`${started.ingressUrl}${firstBroker ? `/${firstBroker.namespace}/${firstBroker.name}` : ''}`)
    const brokerUrl = started.brokers[0]?.url ?? started.ingressUrl
    // ApiServerSources: Kubernetes changes become events, from the sandbox or the real cluster.
    const sources = await loadApiServerSources(options.triggersDir)
    // In the sandbox each source watches as its own ServiceAccount (manifests/core/apiserversource-rbac.yaml), as in a cluster.
    const clusterConfig = !sandbox && clusterConfigured(options.env) && (options.env.KUBECONFIG || options.env.KUBERNETES_SERVICE_HOST)
      ? createKubeConfig(options.env.KUBECONFIG ? { kubeconfigPath: options.env.KUBECONFIG } : { inCluster: true })
      : undefined
    const watchConfig = sandbox
      ? (source: ApiServerSourceObject) => createKubeConfig({ server: sandbox.kube.url, token: sandbox.kube.mintServiceAccountToken(source.namespace || CARETAKER_NAMESPACE, source.serviceAccountName ?? DEFAULT_ACCOUNT) })
      : clusterConfig
    sourceFeed = sources.length > 0 && watchConfig
      ? await startApiServerSources({
        sources,
        kubeConfig: watchConfig,
        logger: log,
        sink: (event, source) => started.broker.publish(event, { namespace: source.sink.ref?.namespace ?? source.namespace, name: source.sink.ref?.name ?? '' }),
      })
      : undefined
    const state: LocalState = {
      version: 1,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      broker: brokerUrl,
      functions: Object.fromEntries(functions.map((f) => [f.name, f.url])),
      kubeconfig: sandbox?.kubeconfigPath ?? null,
      dryRun: dryRun === 'force' ? 'forced' : dryRun ?? 'true',
      eventingOidc,
      functionsDir: options.functionsDir,
      triggersDir: options.triggersDir,
      deliveries: deliveriesPath,
      deadLetters: join(options.stateDir, DEAD_LETTERS_FILE),
    }
    if (feed && options.consolePort !== undefined) {
      // What the platform runs against: the sandbox's API server (its admin), or the cluster the functions act on.
      const kubeConfig = sandbox ? sandbox.kube.kubeConfig() : clusterConfig
      consoleServer = await startConsole({
        port: options.consolePort,
        state,
        stateDir: options.stateDir,
        env: options.env,
        feed,
        kubeConfig,
        // The config verify-backup runs with: the console reads its backup sets.
        verifyBackupConfig: configs.get('verify-backup')?.path ?? sandbox?.configPath('verify-backup'),
        logger: log,
      })
    }
    functionStarter.begin()
    if ((options.functionStart ?? 'wait') === 'wait') {
      const ended = await functionsStarted
      if (ended.failed.length > 0) throw await functions.find((f) => f.name === ended.failed[0]!.name)!.process.catch((err: unknown) => err)
    }
    await writeLocalState(options.stateDir, state)
    const feedOfSources = sourceFeed
    return {
      ingressUrl: started.ingressUrl,
      brokerUrl,
      functions,
      functionsStarted,
      sandbox,
      mesh: started,
      issuer,
      configs,
      dryRun: dryRun === 'force' ? 'forced' : dryRun ?? 'true',
      console: consoleServer,
      async close() {
        closing = true
        await removeLocalState(options.stateDir)
        await consoleServer?.close()
        await feedOfSources?.close()
        await started.close()
        await routes.close()
        await deliveries.flushed()
        await functionStarter.stop()
        for (const stop of stopProjections) stop()
        await sandbox?.close()
      },
    }
  } catch (err) {
    // What already runs stops: the console, the sources and the mesh before the functions and the sandbox.
    closing = true
    sinkKnown.reject(new Error('the local platform did not start'))
    await consoleServer?.close()
    await sourceFeed?.close()
    await mesh?.close()
    await activator?.close()
    await starter?.stop()
    for (const stop of stopProjections) stop()
    await sandbox?.close()
    throw err
  }
}
