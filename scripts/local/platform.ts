import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../../shared/logger.ts'
import { startMesh, type Mesh } from '../../shared/mesh/index.ts'
import { discoverFunctions, startFunctionProcess, stopFunctionProcesses, type LocalFunction } from './functions.ts'
import { startSandbox, type Sandbox } from './sandbox.ts'

/**
 * Everything `npm start` runs: the sandbox platform (when no cluster is
 * configured), every function on its own loopback port, and the local
 * event mesh routing between them by the objects in `triggers/`.
 */

export interface LocalPlatformOptions {
  readonly functionsDir: string
  readonly triggersDir: string
  /** Where the sandbox writes its kubeconfig, demo backups and dead letters. */
  readonly stateDir: string
  /** Broker ingress port; 0 picks a free one. */
  readonly port: number
  readonly kubePort: number
  readonly vaultPort: number
  /** `auto`: the sandbox unless a cluster (KUBECONFIG, in-cluster) or VAULT_ADDR is configured. */
  readonly sandbox: 'auto' | 'always' | 'never'
  readonly env: Readonly<Record<string, string | undefined>>
  readonly logger: Logger
}

export interface LocalPlatform {
  readonly ingressUrl: string
  readonly brokerUrl: string
  readonly functions: readonly LocalFunction[]
  readonly sandbox: Sandbox | undefined
  readonly mesh: Mesh
  close(): Promise<void>
}

export function clusterConfigured(env: Readonly<Record<string, string | undefined>>): boolean {
  return Boolean(env.KUBECONFIG || env.KUBERNETES_SERVICE_HOST || env.VAULT_ADDR)
}

/** The environment each function process gets. */
function functionEnv(name: string, options: LocalPlatformOptions, sandbox: Sandbox | undefined): Record<string, string> {
  const pass = (keys: string[]): Record<string, string> =>
    Object.fromEntries(keys.flatMap((k) => (options.env[k] === undefined ? [] : [[k, options.env[k]!]])))
  const env: Record<string, string> = {
    // Loopback only: the mesh is the only sender.
    CARETAKER_AUTH: 'none',
    ...pass(['LOG_LEVEL', 'CARETAKER_DRY_RUN', 'HOME', 'TZ', 'TMPDIR']),
  }
  if (sandbox) {
    Object.assign(env, sandbox.functionEnv(name))
  } else {
    Object.assign(env, pass(['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'VAULT_ADDR', 'VAULT_TOKEN', 'VAULT_NAMESPACE', 'CARETAKER_REDIS_URL']))
  }
  return env
}

export async function startLocalPlatform(options: LocalPlatformOptions): Promise<LocalPlatform> {
  const log = options.logger
  await mkdir(options.stateDir, { recursive: true })
  const useSandbox = options.sandbox === 'always' || (options.sandbox === 'auto' && !clusterConfigured(options.env))
  const sandbox = useSandbox
    ? await startSandbox({ stateDir: join(options.stateDir, 'sandbox'), kubePort: options.kubePort, vaultPort: options.vaultPort, logger: log })
    : undefined
  const started: LocalFunction[] = []
  try {
    const specs = await discoverFunctions(options.functionsDir)
    for (const spec of specs) started.push(await startFunctionProcess(spec, functionEnv(spec.name, options, sandbox), log))
    const mesh = await startMesh({
      dir: options.triggersDir,
      services: Object.fromEntries(started.map((f) => [f.name, f.url])),
      port: options.port,
      logger: log,
      deadLetterFile: join(options.stateDir, 'dead-letters.jsonl'),
    })
    const brokerUrl = mesh.brokers[0]?.url ?? mesh.ingressUrl
    return {
      ingressUrl: mesh.ingressUrl,
      brokerUrl,
      functions: started,
      sandbox,
      mesh,
      async close() {
        await mesh.close()
        await stopFunctionProcesses(started)
        await sandbox?.close()
      },
    }
  } catch (err) {
    await stopFunctionProcesses(started)
    await sandbox?.close()
    throw err
  }
}
