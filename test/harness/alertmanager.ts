import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { binarySkipReason, findBinary } from './binaries.ts'
import { cleanUpAtExit, startDaemon, type Daemon } from './daemon.ts'
import { freePort } from './ports.ts'

/**
 * A real Alertmanager (Debian's prometheus-alertmanager) on loopback, with
 * clustering off, a temporary storage path, and a webhook receiver (the
 * bridge) with short group_wait/group_interval. Missing: tests skip with
 * the install hint; under CI=true they fail.
 */

const PROGRAM = 'prometheus-alertmanager'
const PACKAGE = 'prometheus-alertmanager'

export function alertmanagerSkipReason(): string | false {
  return binarySkipReason(PROGRAM, { packageName: PACKAGE })
}

export interface AlertmanagerOptions {
  /** Where the webhook receiver posts (the bridge). */
  webhookUrl: string
  /** Extra `http_config` of the webhook (authorization, basic_auth). */
  httpConfig?: Record<string, unknown>
  groupWait?: string
  groupInterval?: string
  repeatInterval?: string
}

export interface Alertmanager {
  readonly url: string
  readonly daemon: Daemon
  /** Posts alerts through the v2 API. */
  fire(alerts: Array<{ labels: Record<string, string>; annotations?: Record<string, string>; startsAt?: string; endsAt?: string }>): Promise<void>
  silences(): Promise<Array<{ id: string; status: { state: string }; matchers: Array<{ name: string; value: string }>; createdBy: string }>>
  close(): Promise<void>
}

export async function startAlertmanager(options: AlertmanagerOptions): Promise<Alertmanager> {
  const program = findBinary(PROGRAM, { packageName: PACKAGE })
  if (!program) throw new Error(alertmanagerSkipReason() || 'prometheus-alertmanager is missing')
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-alertmanager-'))
  const config = {
    route: {
      receiver: 'caretaker',
      group_by: ['alertname', 'namespace'],
      group_wait: options.groupWait ?? '200ms',
      group_interval: options.groupInterval ?? '500ms',
      repeat_interval: options.repeatInterval ?? '1h',
    },
    receivers: [{ name: 'caretaker', webhook_configs: [{ url: options.webhookUrl, send_resolved: true, ...(options.httpConfig ? { http_config: options.httpConfig } : {}) }] }],
  }
  await writeFile(join(dir, 'alertmanager.yml'), stringify(config))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const daemon = startDaemon(program, [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    `--web.external-url=${url}`,
    '--cluster.listen-address=',
    '--log.level=warn',
  ])
  // A test that dies before its teardown leaves no Alertmanager behind.
  const forget = cleanUpAtExit(() => [daemon], [dir])
  const deadline = Date.now() + 20_000
  for (;;) {
    if (!daemon.running()) {
      await rm(dir, { recursive: true, force: true })
      throw new Error(`alertmanager exited: ${daemon.output().slice(-2000)}`)
    }
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await daemon.stop('SIGKILL')
      await rm(dir, { recursive: true, force: true })
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
      await rm(dir, { recursive: true, force: true })
    },
  }
}
