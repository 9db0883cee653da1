import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { cleanUpAtExit, startDaemon, type Daemon } from './daemon.ts'
import { freePort } from './ports.ts'
import { findProgram } from '../../shared/process/programs.ts'

/**
 * A throwaway real Alertmanager (Debian's prometheus-alertmanager) on
 * loopback, with clustering off and its storage in a directory of its own:
 * the tests' and the sandbox's. With a webhook URL it notifies it (the
 * bridge) with the given group_wait/group_interval; without one its
 * receiver has no integrations, so alerts only sit in the API.
 */

export const ALERTMANAGER_PROGRAM = 'prometheus-alertmanager'
export const ALERTMANAGER_PACKAGE = 'prometheus-alertmanager'

/** The installed Alertmanager program, or undefined. */
export function findAlertmanager(env?: NodeJS.ProcessEnv): string | undefined {
  return findProgram(ALERTMANAGER_PROGRAM, { packageName: ALERTMANAGER_PACKAGE, ...(env ? { env } : {}) })
}

export interface AlertmanagerOptions {
  /** The program (findAlertmanager's answer). */
  program: string
  /** Where the webhook receiver posts (the bridge); none: a receiver that notifies nobody. */
  webhookUrl?: string
  /** Extra `http_config` of the webhook (authorization, basic_auth). */
  httpConfig?: Record<string, unknown>
  groupWait?: string
  groupInterval?: string
  repeatInterval?: string
  /** Its config and storage; a temporary directory (removed on close) unless given. */
  dir?: string
}

export interface PostableAlert { labels: Record<string, string>; annotations?: Record<string, string>; startsAt?: string; endsAt?: string }

export interface Alertmanager {
  readonly url: string
  readonly daemon: Daemon
  /** Posts alerts through the v2 API. */
  fire(alerts: PostableAlert[]): Promise<void>
  silences(): Promise<Array<{ id: string; status: { state: string }; matchers: Array<{ name: string; value: string }>; createdBy: string }>>
  close(): Promise<void>
}

export async function startAlertmanager(options: AlertmanagerOptions): Promise<Alertmanager> {
  const own = options.dir === undefined
  const dir = options.dir ?? await mkdtemp(join(tmpdir(), 'caretaker-alertmanager-'))
  if (!own) await mkdir(dir, { recursive: true })
  const removeDir = async (): Promise<void> => { if (own) await rm(dir, { recursive: true, force: true }) }
  const config = {
    route: {
      receiver: 'caretaker',
      group_by: ['alertname', 'namespace'],
      group_wait: options.groupWait ?? '200ms',
      group_interval: options.groupInterval ?? '500ms',
      repeat_interval: options.repeatInterval ?? '1h',
    },
    // A receiver with a name only is valid and notifies nobody (prometheus/alertmanager docs/configuration.md, <receiver>).
    receivers: [options.webhookUrl === undefined
      ? { name: 'caretaker' }
      : { name: 'caretaker', webhook_configs: [{ url: options.webhookUrl, send_resolved: true, ...(options.httpConfig ? { http_config: options.httpConfig } : {}) }] }],
  }
  await writeFile(join(dir, 'alertmanager.yml'), stringify(config))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const daemon = startDaemon(options.program, [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    `--web.external-url=${url}`,
    '--cluster.listen-address=',
    '--log.level=warn',
  ])
  // A process that dies before stopping it leaves no Alertmanager behind.
  const forget = cleanUpAtExit(() => [daemon], own ? [dir] : [])
  const deadline = Date.now() + 20_000
  for (;;) {
    if (!daemon.running()) {
      forget()
      await removeDir()
      throw new Error(`alertmanager exited: ${daemon.output().slice(-2000)}`)
    }
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      forget()
      await daemon.stop('SIGKILL')
      await removeDir()
      throw new Error(`alertmanager did not become ready: ${daemon.output().slice(-2000)}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    url,
    daemon,
    async fire(alerts) {
      const res = await fetch(`${url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) })
      if (!res.ok) throw new Error(`alertmanager refused the alerts: ${res.status} ${await res.text()}`)
    },
    async silences() {
      return await (await fetch(`${url}/api/v2/silences`)).json() as Awaited<ReturnType<Alertmanager['silences']>>
    },
    async close() {
      forget()
      await daemon.stop('SIGTERM', 5000)
      await removeDir()
    },
  }
}
