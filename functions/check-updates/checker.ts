import { CoreV1Api, VersionApi, type KubeConfig } from '../../shared/kubernetes/api.ts'
import { Gauge, type Registry } from 'prom-client'
import { CaretakerError, Errors, isCaretakerError } from '../../shared/errors.ts'
import { byCodeUnits } from '../../shared/order.ts'
import { checkPolicy, type CheckUpdatesConfig, type Repository } from './config.ts'
import { fetchText, parseRepositoryIndex, type FetchLimits, type RepositoryIndex } from './repository.ts'
import type { RepositoryReport } from './report.ts'

/** What check-updates' steps share, built once per instance from its config. */
export interface Checker {
  config: CheckUpdatesConfig
  kubeConfig: KubeConfig | undefined
  repositories: Map<string, Repository>
  /** Each fetch's timeout and size limit. */
  limits: FetchLimits
  releasesGauge: Gauge<'status'>
  kubernetesGauge: Gauge
  lastCheck: Gauge
}

export function createChecker(config: CheckUpdatesConfig, kubeConfig: KubeConfig | undefined, registry: Registry): Checker {
  const { timeoutMs } = checkPolicy(config)
  const registers = [registry]
  return {
    config,
    kubeConfig,
    releasesGauge: new Gauge({ name: 'caretaker_updates_releases', help: 'Helm releases of the last update check by status', labelNames: ['status'], registers }),
    kubernetesGauge: new Gauge({ name: 'caretaker_updates_kubernetes_behind', help: '1 when the last update check found the cluster behind its release channel\'s latest version, else 0', registers }),
    lastCheck: new Gauge({ name: 'caretaker_updates_last_check_timestamp_seconds', help: 'When the last update check was made', registers }),
    repositories: new Map(config.repositories.map((r) => [r.name, r])),
    limits: { timeoutMs, maxBytes: config.maxIndexBytes },
  }
}

export function kube(c: Checker): { core: CoreV1Api; version: VersionApi } {
  if (!c.kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'check-updates needs the Kubernetes API, and none is configured')
  return { core: c.kubeConfig.makeApiClient(CoreV1Api), version: c.kubeConfig.makeApiClient(VersionApi) }
}

/** The repositories' indexes of one check: each read once, and only when a release needs it; what each read gave, for the report. */
export class RepositoryIndexes {
  readonly #checker: Checker
  readonly #signal: AbortSignal
  readonly #indexes = new Map<string, Promise<RepositoryIndex>>()
  readonly #reports = new Map<string, RepositoryReport>()

  constructor(checker: Checker, signal: AbortSignal) {
    this.#checker = checker
    this.#signal = signal
  }

  get(name: string): Promise<RepositoryIndex> {
    let pending = this.#indexes.get(name)
    if (!pending) {
      const repo = this.#checker.repositories.get(name)!
      const url = `${repo.url.replace(/\/+$/, '')}/index.yaml`
      pending = fetchText(url, this.#checker.limits, this.#signal).then(parseRepositoryIndex)
      pending.then(
        (index) => this.#reports.set(name, { name, ok: true, charts: index.size }),
        (err: unknown) => { if (isCaretakerError(err, Errors.RepositoryUnreadable)) this.#reports.set(name, { name, ok: false, reason: err.message }) },
      )
      this.#indexes.set(name, pending)
    }
    return pending
  }

  /** The repositories read, by name. */
  reports(): RepositoryReport[] {
    return [...this.#reports.values()].sort((a, b) => byCodeUnits(a.name, b.name))
  }
}
