import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { AuthorizationV1Api } from '@kubernetes/client-node'
import { parseAllDocuments, stringify } from 'yaml'
import type { Logger } from '../../shared/logger.ts'
import { createDemoBackups, demoAlerts, DEMO_ALERTS_REPOST_MS, seedSandbox, startDemoDatabases, startDemoVaultStandby, type DemoBackups, type DemoDatabases, type SeedSummary } from '../platform/index.ts'
import { ALERTMANAGER_PACKAGE, findAlertmanager, startAlertmanager, type Alertmanager } from '../harness/alertmanager-process.ts'
import { startKubernetesSimulator } from '../simulators/kubernetes/index.ts'
import { startVaultSimulator, type VaultSimulator } from '../simulators/vault/index.ts'
import { RESTORE_TEST_LABEL } from '../../functions/verify-backup/restore-job.ts'
import { sandboxConfigs } from './sandbox-configs.ts'

/**
 * The sandbox platform: the Kubernetes and Vault simulators seeded with a
 * small demo platform (namespaces, workloads, backup CronJobs and their
 * Jobs, certificates, snapshots, Vault secrets), a directory of real demo
 * backup artifacts, and the RBAC of `manifests/`, so each function runs
 * with exactly the permissions its manifest grants.
 */

type KubernetesSimulator = Awaited<ReturnType<typeof startKubernetesSimulator>>

export interface Sandbox {
  readonly kube: KubernetesSimulator
  readonly vault: VaultSimulator
  /** The demo Vault's HA standby (sealed): only health-report's vault check looks at it. */
  readonly vaultStandby: VaultSimulator
  /** A throwaway real Alertmanager with the demo alerts firing, when one is installed. */
  readonly alertmanager: Alertmanager | undefined
  /** maintain-databases' demo PostgreSQL and Redis (those installed; `missing` says what is not). */
  readonly databases: DemoDatabases | undefined
  /** A kubeconfig for kubectl (TLS, the simulator's own CA). */
  readonly kubeconfigPath: string
  /** A file holding the Vault root token (kept out of logs and banners). */
  readonly vaultTokenPath: string
  readonly backups: DemoBackups
  readonly seeded: SeedSummary
  /** The environment a function process needs to reach the sandbox. */
  functionEnv(name: string): Promise<Record<string, string>>
  /** The demo config file of a function, written at start (maintain-databases' only once its databases are up). */
  configPath(name: string): string | undefined
  /** Whether the function's start waits for more of the sandbox to start (maintain-databases: the demo databases). */
  startsSlowly(name: string): boolean
  close(): Promise<void>
}

export interface SandboxOptions {
  readonly stateDir: string
  /** The HTTPS port kubectl talks to (the functions use a plain loopback port). */
  readonly kubePort: number
  readonly vaultPort: number
  /** Where the project's manifests are: their RBAC is applied to the simulator. */
  readonly manifestsDir: string
  readonly logger: Logger
  readonly now?: Date
  /** Start maintain-databases' demo PostgreSQL and Redis (npm start does; tests that bring their own servers leave it off). */
  readonly databases?: boolean
}

/** The namespace Caretaker's functions run in, as in the manifests. */
export const CARETAKER_NAMESPACE = 'caretaker'

/**
 * A loopback Helm chart repository for check-updates: the demo index.yaml
 * and K3s channels of sandbox/platform/chart-repository, on a free port.
 */
export async function startChartRepository(): Promise<{ url: string; server: Server }> {
  const fixtures = new URL('../../sandbox/platform/chart-repository/', import.meta.url)
  const index = await readFile(new URL('index.yaml', fixtures))
  const channels = await readFile(new URL('channels.json', fixtures))
  const server = createServer((req, res) => {
    const body = req.url === '/charts/index.yaml' ? index : req.url === '/k3s/v1-release/channels' ? channels : undefined
    res.writeHead(body ? 200 : 404, { 'content-type': body === channels ? 'application/json' : 'text/yaml' })
    res.end(body ?? '404 page not found\n')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}
export const stopChartRepository = (server: Server) => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })

const RBAC_KINDS = new Set(['Namespace', 'ServiceAccount', 'Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'])
/** `kind: <one of them>`, in block or flow style, quoted or not. */
const RBAC_KIND_NAMED = new RegExp(`\\bkind:\\s*["']?(${[...RBAC_KINDS].join('|')})["']?\\s*([,}#]|$)`, 'm')

/** Every Namespace, ServiceAccount and RBAC object in the manifests directory tree. */
export async function manifestRbac(dir: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = []
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name)
      if (entry.isDirectory()) await walk(path)
      else if (/\.ya?ml$/.test(entry.name) && entry.name !== 'kustomization.yaml') {
        const text = await readFile(path, 'utf8')
        // Only a file that names one of the kinds is parsed (most of manifests/ is configs, dashboards, rules).
        if (!RBAC_KIND_NAMED.test(text)) continue
        for (const doc of parseAllDocuments(text)) {
          const obj = doc.toJSON() as Record<string, unknown> | null
          if (obj && RBAC_KINDS.has(String(obj.kind))) out.push(obj)
        }
      }
    }
  }
  await walk(dir)
  // Namespaces first, then identities, then what refers to them.
  const order = ['Namespace', 'ServiceAccount', 'ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding']
  return out.sort((a, b) => order.indexOf(String(a.kind)) - order.indexOf(String(b.kind)))
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const log = options.logger.child({ component: 'sandbox' })
  const now = options.now ?? new Date()
  // A sandbox starts fresh every time: nothing of an earlier run is trusted.
  await rm(options.stateDir, { recursive: true, force: true })
  await mkdir(options.stateDir, { recursive: true })
  const vault = await startVaultSimulator({ port: options.vaultPort })
  let kube: KubernetesSimulator | undefined
  let charts: { url: string; server: Server } | undefined
  let vaultStandby: VaultSimulator | undefined
  let alertmanager: Alertmanager | undefined
  let databases: DemoDatabases | undefined
  let repost: NodeJS.Timeout | undefined
  // The demo databases (initdb, and a seed of 200,000 Redis commands sent from this process: the slowest, most
  // CPU-hungry part of a start) begin when maintain-databases, the one function that needs them, starts: they
  // do not hold up the platform's readiness, and a functions directory without it never starts them.
  let databasesStarting: Promise<DemoDatabases | undefined> | undefined
  const startDatabases = (): Promise<DemoDatabases | undefined> => databasesStarting ??= !options.databases ? Promise.resolve(undefined) : startDemoDatabases(vault).catch((err: unknown) => {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'sandbox: the demo databases did not start: maintain-databases has no targets')
    return undefined
  })
  // Alertmanager (a process to start and wait for), the Vault standby and the chart repository.
  const program = findAlertmanager()
  if (!program) log.info(`sandbox: no Alertmanager (install ${ALERTMANAGER_PACKAGE} to have one): health-report's alerts check is left out`)
  const alertmanagerStarting = !program ? Promise.resolve(undefined) : startDemoAlertmanager(program, join(options.stateDir, 'alertmanager'), now).catch((err: unknown) => {
    // One that will not start is no reason to give up the sandbox: it runs without, as where none is installed.
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'sandbox: Alertmanager did not start: health-report\'s alerts check is left out')
    return undefined
  })
  const standbyStarting = startDemoVaultStandby(vault)
  // The demo backups too: git makes the Gitea bundles in processes of its own while the API server starts.
  const backupsWriting = createDemoBackups(join(options.stateDir, 'backups'), now, { vault })
  const chartsStarting = startChartRepository()
  // Each is awaited before the sandbox is handed out or stopped, so none is left running; a failed one's error is thrown there.
  void standbyStarting.catch(() => undefined)
  void chartsStarting.catch(() => undefined)
  void backupsWriting.catch(() => undefined)
  const stopExtras = async (): Promise<void> => {
    clearInterval(repost)
    await (databases ?? await databasesStarting)?.close()
    await (alertmanager ?? await alertmanagerStarting)?.close()
    await (vaultStandby ?? await standbyStarting.catch(() => undefined))?.close()
    const started = charts ?? await chartsStarting.catch(() => undefined)
    if (started) await stopChartRepository(started.server)
    // Nothing goes on writing into the state directory after a stop.
    await backupsWriting.catch(() => undefined)
  }
  try {
    vaultStandby = await standbyStarting
    kube = await startKubernetesSimulator({
      tls: { port: options.kubePort },
      // Rollouts, Jobs and syncs take a second; CronJobs run on their schedules.
      // verify-backup's restore Jobs (a set's restore.mode: job) really run, with this
      // machine's PostgreSQL, the demo backups standing for the backups claim.
      controllers: {
        delayMs: 1000, scheduleCheckMs: 10_000, vault: { url: vault.url, token: vault.rootToken },
        kubelet: { volumes: { backups: join(options.stateDir, 'backups') }, label: RESTORE_TEST_LABEL },
      },
    })
    vault.configureKubernetes({ host: kube.url, reviewerToken: kube.token })
    const seeded = await seedSandbox({ kube, vault, now })
    for (const obj of await manifestRbac(options.manifestsDir)) {
      const meta = obj.metadata as { name: string; namespace?: string }
      // The demo platform holds the namespaces and ServiceAccounts already.
      if (kube.store.get(String(obj.apiVersion), String(obj.kind), meta.namespace ?? '', meta.name)) continue
      kube.store.seed(obj)
    }
    const backups = await backupsWriting
    const kubeconfigPath = join(options.stateDir, 'kubeconfig')
    await writeFile(kubeconfigPath, kubeconfigYaml(kube.tlsUrl!, kube.caCert!, kube.token), { mode: 0o600 })
    const vaultTokenPath = join(options.stateDir, 'vault-token')
    await writeFile(vaultTokenPath, vault.rootToken, { mode: 0o600 })
    const configDir = join(options.stateDir, 'config')
    await mkdir(configDir)
    const longhornBackups = seeded.objects
      .filter((o) => o.apiVersion === 'longhorn.io/v1beta2' && o.kind === 'Backup' && o.namespace)
      .map((o) => kube!.store.get(o.apiVersion, o.kind, o.namespace!, o.name))
    const volumes = [...new Set(longhornBackups.map((b) => (b?.status as { volumeName?: string } | undefined)?.volumeName).filter((v): v is string => Boolean(v)))]
    charts = await chartsStarting
    alertmanager = await alertmanagerStarting
    if (alertmanager) {
      const am = alertmanager
      // Re-posted as Prometheus re-sends firing alerts, so they stay firing however long the sandbox runs.
      repost = setInterval(() => {
        am.fire(demoAlerts(now, new Date())).catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'sandbox: the demo alerts could not be re-posted to Alertmanager'))
      }, DEMO_ALERTS_REPOST_MS)
      repost.unref()
    }
    const facts = {
      backups, seeded, chartRepository: charts.url,
      vault: { address: vault.url, members: [vault.url, vaultStandby.url] },
      ...(alertmanager ? { alertmanager: { address: alertmanager.url } } : {}),
      ...(volumes.length > 0 ? { longhorn: { namespace: String((longhornBackups[0]?.metadata as { namespace?: string }).namespace), volumes } } : {}),
    }
    const configs = sandboxConfigs(facts)
    // Only maintain-databases' config needs the demo databases, so only its start waits for them (functionEnv, below).
    let databasesReady: Promise<DemoDatabases | undefined> | undefined
    const startedDatabases = (): Promise<DemoDatabases | undefined> => databasesReady ??= startDatabases().then((started) => {
      databases = started
      for (const reason of started?.missing ?? []) log.info(`sandbox: maintain-databases runs without it: ${reason}`)
      log.info({ databases: started?.targets.map((d) => d.name) ?? [] }, 'sandbox: demo databases started')
      return started
    })
    // Every config but one that waits for the databases is on disk from the start: the functions start
    // behind the activator after the sandbox is handed out, and a person (or the console) reads them at once.
    const configPaths = new Map<string, string>()
    const writeConfig = async (name: string, config: unknown): Promise<string> => {
      const path = join(configDir, `${name}.yaml`)
      await writeFile(path, stringify(config))
      configPaths.set(name, path)
      return path
    }
    const waitsForDatabases = (name: string): boolean => name === 'maintain-databases' && options.databases === true
    for (const [name, config] of Object.entries(configs)) {
      if (config !== undefined && !waitsForDatabases(name)) await writeConfig(name, config)
    }
    const configFile = async (name: string): Promise<string | undefined> => {
      if (!waitsForDatabases(name)) return configPaths.get(name)
      if (configPaths.has(name)) return configPaths.get(name)
      const started = await startedDatabases()
      const config = sandboxConfigs({ ...facts, ...(started ? { databases: started } : {}) })[name]
      return config === undefined ? undefined : writeConfig(name, config)
    }
    log.info({ kubernetes: kube.tlsUrl, vault: vault.url, vaultStandby: vaultStandby.url, alertmanager: alertmanager?.url ?? null, kubeconfig: kubeconfigPath, backups: backups.dir, objects: seeded.objects.length }, 'sandbox: simulators started and seeded')
    const k = kube
    const standby = vaultStandby
    return {
      kube: k,
      vault,
      vaultStandby: standby,
      alertmanager,
      // Set once they have started (before maintain-databases starts).
      get databases() { return databases },
      kubeconfigPath,
      vaultTokenPath,
      backups,
      seeded,
      async functionEnv(name) {
        const env: Record<string, string> = {
          CARETAKER_KUBE_SERVER: k.url,
          // The function's own ServiceAccount: it can do what its manifest's RBAC grants, nothing more.
          CARETAKER_KUBE_TOKEN: k.mintServiceAccountToken(CARETAKER_NAMESPACE, name),
          VAULT_ADDR: vault.url,
          VAULT_TOKEN: vault.rootToken,
        }
        // As deployed: handled events recorded on Leases, so a restarted function does not act
        // twice; the manifests' RBAC grants that to each shipped function. A function of one's
        // own without the grant remembers them in memory, and is told so, rather than failing
        // every event closed.
        const review = await k.kubeConfig().makeApiClient(AuthorizationV1Api).createSubjectAccessReview({ body: {
          spec: { user: `system:serviceaccount:${CARETAKER_NAMESPACE}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${CARETAKER_NAMESPACE}`, 'system:authenticated'], resourceAttributes: { namespace: CARETAKER_NAMESPACE, verb: 'create', group: 'coordination.k8s.io', resource: 'leases' } },
        } })
        if (review.status?.allowed) Object.assign(env, { CARETAKER_IDEMPOTENCY: 'kubernetes', CARETAKER_NAMESPACE: CARETAKER_NAMESPACE })
        else log.warn({ function: name }, `sandbox: ${name} may not write Leases in ${CARETAKER_NAMESPACE} (manifests/core/idempotency-rbac.yaml): its handled events are remembered in memory only`)
        const config = await configFile(name)
        if (config !== undefined) env.CARETAKER_CONFIG = config
        return env
      },
      configPath: (name) => configPaths.get(name),
      startsSlowly: (name) => waitsForDatabases(name) && !configPaths.has(name),
      async close() {
        await k.close()
        await stopExtras()
        await vault.close()
      },
    }
  } catch (err) {
    await kube?.close()
    await stopExtras()
    await vault.close()
    throw err
  }
}

/** A throwaway Alertmanager in `dir` with the demo alerts posted; stopped again if they are refused. */
async function startDemoAlertmanager(program: string, dir: string, now: Date): Promise<Alertmanager> {
  const am = await startAlertmanager({ program, dir })
  try {
    await am.fire(demoAlerts(now))
    return am
  } catch (err) {
    await am.close()
    throw err
  }
}

function kubeconfigYaml(server: string, caCert: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'caretaker-sandbox', cluster: { server, 'certificate-authority-data': Buffer.from(caCert).toString('base64') } }],
    users: [{ name: 'sandbox-admin', user: { token } }],
    contexts: [{ name: 'caretaker-sandbox', context: { cluster: 'caretaker-sandbox', user: 'sandbox-admin' } }],
    'current-context': 'caretaker-sandbox',
  })
}
