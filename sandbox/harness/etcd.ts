import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cleanUpAtExit, runCommand, startDaemon, type Daemon } from '../../shared/process/daemon.ts'
import { freePort } from '../../shared/process/ports.ts'
import { binarySkipReason, findBinary } from './binaries.ts'

/**
 * A throwaway single-member etcd (Debian's etcd-server) on free loopback
 * ports, with etcdctl (etcd-client) to write keys and save snapshots.
 */
export interface EtcdServer {
  endpoint: string
  /** Run etcdctl against this server (API v3); resolves with its output. */
  etcdctl(...args: string[]): Promise<string>
  stop(): Promise<void>
}

export function etcdSkipReason(): string | false {
  return binarySkipReason('etcd', { packageName: 'etcd-server' }) || binarySkipReason('etcdctl', { packageName: 'etcd-client' })
}

export async function startEtcd(): Promise<EtcdServer> {
  const etcd = findBinary('etcd', { packageName: 'etcd-server' })
  const etcdctl = findBinary('etcdctl', { packageName: 'etcd-client' })
  if (!etcd || !etcdctl) throw new Error(String(etcdSkipReason()))
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-etcd-'))
  let daemon: Daemon | undefined
  const cancel = cleanUpAtExit(() => (daemon ? [daemon] : []), [dir])
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCDCTL_API: '3' }
  for (let attempt = 1; attempt <= 5; attempt++) {
    const client = await freePort()
    const peer = await freePort()
    const endpoint = `http://127.0.0.1:${client}`
    daemon = startDaemon(etcd, [
      '--name', 'throwaway', '--data-dir', join(dir, 'data'),
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `throwaway=http://127.0.0.1:${peer}`, '--log-level', 'error',
    ], { cwd: dir, env })
    const run = (...args: string[]) => runCommand(etcdctl, ['--endpoints', endpoint, '--dial-timeout', '2s', ...args], { env })
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline && daemon.running()) {
      try {
        await run('endpoint', 'health')
        const running = daemon
        return {
          endpoint,
          etcdctl: run,
          async stop() {
            await running.stop('SIGTERM', 10_000)
            await rm(dir, { recursive: true, force: true })
            cancel()
          },
        }
      } catch {
        await sleep(100)
      }
    }
    const output = daemon.output()
    await daemon.stop('SIGKILL')
    if (!/address already in use/i.test(output)) {
      await rm(dir, { recursive: true, force: true })
      cancel()
      throw new Error(`etcd did not start:\n${output}`)
    }
  }
  await rm(dir, { recursive: true, force: true })
  cancel()
  throw new Error('etcd did not start: no free ports')
}
