import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../../shared/logger.ts'
import { startKubernetesSimulator } from '../../test/simulators/kubernetes/index.ts'
import { startVaultSimulator, type VaultSimulator } from '../../test/simulators/vault/index.ts'

/**
 * The sandbox platform: the Kubernetes and Vault simulators seeded with a
 * small demo platform, for running Caretaker with no cluster at hand.
 */

type KubernetesSimulator = Awaited<ReturnType<typeof startKubernetesSimulator>>

export interface Sandbox {
  readonly kube: KubernetesSimulator
  readonly vault: VaultSimulator
  /** A kubeconfig for kubectl and for the functions. */
  readonly kubeconfigPath: string
  /** A file holding the Vault root token (kept out of logs and banners). */
  readonly vaultTokenPath: string
  /** The environment a function process needs to reach the sandbox. */
  functionEnv(name: string): Record<string, string>
  close(): Promise<void>
}

export interface SandboxOptions {
  readonly stateDir: string
  readonly kubePort: number
  readonly vaultPort: number
  readonly logger: Logger
}

/** The namespace Caretaker's functions run in, as in the manifests. */
export const CARETAKER_NAMESPACE = 'caretaker'

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  // A sandbox starts fresh every time: nothing of an earlier run is trusted.
  await rm(options.stateDir, { recursive: true, force: true })
  await mkdir(options.stateDir, { recursive: true })
  const kube = await startKubernetesSimulator({ port: options.kubePort })
  let vault: VaultSimulator
  try {
    vault = await startVaultSimulator({ port: options.vaultPort, kubernetes: { host: kube.url, reviewerToken: kube.token } })
  } catch (err) {
    await kube.close()
    throw err
  }
  const kubeconfigPath = join(options.stateDir, 'kubeconfig')
  await writeFile(kubeconfigPath, kubeconfigYaml(kube.url, kube.token), { mode: 0o600 })
  const vaultTokenPath = join(options.stateDir, 'vault-token')
  await writeFile(vaultTokenPath, vault.rootToken, { mode: 0o600 })
  options.logger.info({ kubernetes: kube.url, vault: vault.url, kubeconfig: kubeconfigPath }, 'sandbox: simulators started')
  return {
    kube,
    vault,
    kubeconfigPath,
    vaultTokenPath,
    functionEnv(name) {
      return {
        CARETAKER_KUBE_SERVER: kube.url,
        CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken(CARETAKER_NAMESPACE, name),
        VAULT_ADDR: vault.url,
        VAULT_TOKEN: vault.rootToken,
      }
    },
    async close() {
      await vault.close()
      await kube.close()
    },
  }
}

function kubeconfigYaml(server: string, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: caretaker-sandbox',
    '  cluster:',
    `    server: ${server}`,
    // A loopback simulator with a throwaway certificate (or plain HTTP): nothing to verify against.
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: sandbox-admin',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: caretaker-sandbox',
    '  context:',
    '    cluster: caretaker-sandbox',
    '    user: sandbox-admin',
    'current-context: caretaker-sandbox',
    '',
  ].join('\n')
}
