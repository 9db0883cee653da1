import { closeSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../../shared/process/ports.ts'
import type { Artifact } from './artifacts.ts'
import type { BackupSet } from './config.ts'
import { fail, pass, readAt, type FormatVerdict } from './formats/stream.ts'
import { isZip, singleEntry, streamEntry } from './formats/zip.ts'
import { Errors, isCaretakerError } from '../../shared/errors.ts'
import {
  boundedRestore, errorLine, pause, restoreProgram, restoreProgramMissing, sizeBytes, versionOf,
  type RestorePrograms, type RestoreScope,
} from './restore-process.ts'

/**
 * The etcd restore test: the snapshot (a k3s `.zip` one inflated first into
 * the throwaway directory) is restored into a fresh data directory with
 * `etcdutl snapshot restore` where the installed etcd has etcdutl (3.5 and
 * later), else `etcdctl snapshot restore` (3.4, Debian 12's); both check the
 * snapshot's appended SHA-256 and rebuild the member's WAL and membership
 * (etcd-io/etcd etcdutl/snapshot/v3_snapshot.go, Restore). That directory is
 * then served by a throwaway single-member etcd on free loopback ports, its
 * keys counted over the API (`get "" --prefix --keys-only --limit 1`: the
 * range response's `count` is every key in the range, whatever the limit,
 * etcd-io/etcd api/etcdserverpb/rpc.proto RangeResponse.count), the
 * expected keys looked up, and the server stopped.
 */

const NAME = 'restore'
const ADDRESS_IN_USE = /address already in use/i
const ETCD_ERROR = /^(Error:|panic:|fatal error:)|\s[CF] \| /

/** The snapshot as a plain file: the artifact itself, or its one zip entry inflated into the scratch directory. */
async function plainSnapshot(artifact: Artifact, scope: RestoreScope): Promise<{ path: string; compressed: boolean } | FormatVerdict> {
  if (!isZip(await readAt(artifact.path, 0, 4))) return { path: artifact.path, compressed: false }
  const target = join(scope.dir, 'snapshot.db')
  let fd: number | undefined
  try {
    const entry = await singleEntry(artifact.path, artifact.size)
    fd = openSync(target, 'wx', 0o600)
    const out = fd
    await streamEntry(artifact.path, entry, (chunk) => {
      for (let at = 0; at < chunk.length;) at += writeSync(out, chunk, at)
    }, scope.signal)
  } catch (err) {
    if (isCaretakerError(err, Errors.ArchiveUnreadable)) return fail(`the compressed snapshot does not unzip: ${err.message}`, { restored: false, compressed: true })
    scope.check()
    throw err
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
  return { path: target, compressed: true }
}

/** The one-line JSON answer in a program's output (stdout and stderr together: its JSON log lines are skipped). */
function jsonIn<T>(output: string, open: '{' | '['): T | undefined {
  for (const line of output.split('\n')) {
    if (!line.startsWith(open)) continue
    try {
      const value = JSON.parse(line) as Record<string, unknown>
      if (!('level' in value && 'msg' in value)) return value as T
    } catch {
      // Not JSON, or cut: the next line may be the answer.
    }
  }
  return undefined
}

interface RangeJson {
  header?: { revision?: number | string }
  count?: number | string
}

export async function restoreEtcdSnapshot(artifact: Artifact, set: BackupSet, signal: AbortSignal, programs: RestorePrograms = {}): Promise<FormatVerdict> {
  const etcd = restoreProgram('etcd', programs)
  const etcdctl = restoreProgram('etcdctl', programs)
  const etcdutl = restoreProgram('etcdutl', programs)
  if (!etcd) return fail(`restore test cannot run: ${restoreProgramMissing('etcd')}`, {})
  if (!etcdctl) return fail(`restore test cannot run: ${restoreProgramMissing('etcdctl')}`, {})
  const test = set.restore!
  const quota = sizeBytes(test.memoryLimit)
  return boundedRestore(set, signal, async (scope, started) => {
    const elapsed = (): number => Math.round(performance.now() - started)
    const snapshot = await plainSnapshot(artifact, scope)
    if ('ok' in snapshot) return snapshot
    const restorer = etcdutl ?? etcdctl
    const restorerName = etcdutl ? 'etcdutl' : 'etcdctl'
    const tool = versionOf(restorerName, (await scope.run(restorer, ['version'])).output)
    const evidence = { tool, compressed: snapshot.compressed }
    const ctlEnv = ['--dial-timeout', '2s', '--command-timeout', '10s']

    // Ports are free a moment ago only: another process may take one; then again with others.
    for (let attempt = 1; ; attempt++) {
      const client = await freePort()
      const peer = await freePort()
      const peerUrl = `http://127.0.0.1:${peer}`
      const clientUrl = `http://127.0.0.1:${client}`
      const dataDir = join(scope.dir, `data-${attempt}`)
      const restored = await scope.run(restorer, [
        'snapshot', 'restore', snapshot.path, '--data-dir', dataDir, '--name', NAME,
        '--initial-cluster', `${NAME}=${peerUrl}`, '--initial-advertise-peer-urls', peerUrl,
      ])
      if (restored.code !== 0) {
        const error = errorLine(restored.output, ETCD_ERROR) ?? `${restorerName} exited with code ${restored.code}`
        return fail(`the snapshot does not restore: ${error}`, { ...evidence, restored: false, error, durationMs: elapsed() })
      }
      const server = scope.start(etcd, [
        '--name', NAME, '--data-dir', dataDir,
        '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', `${NAME}=${peerUrl}`,
        // Never a member of anything else, and no metrics or other listener.
        '--initial-cluster-state', 'new', '--log-level', 'error',
        ...(quota !== undefined ? ['--quota-backend-bytes', String(quota)] : []),
      ])
      const ctl = (...args: string[]) => scope.run(etcdctl, ['--endpoints', clientUrl, ...ctlEnv, ...args])
      let range: RangeJson | undefined
      while (server.running()) {
        const got = await ctl('get', '', '--prefix', '--keys-only', '--limit', '1', '-w', 'json')
        range = got.code === 0 ? jsonIn<RangeJson>(got.output, '{') : undefined
        if (range) break
        await pause(scope, 100)
      }
      if (!range) {
        await server.exited
        const output = server.output()
        if (ADDRESS_IN_USE.test(output) && attempt < 5) continue
        const error = errorLine(output, ETCD_ERROR) ?? 'etcd exited'
        return fail(`the restored snapshot does not start an etcd: ${error}`, { ...evidence, restored: false, error, durationMs: elapsed() })
      }
      const keys = Number(range.count ?? 0)
      const revision = Number(range.header?.revision ?? 0)
      const missing: string[] = []
      for (const key of test.expectKeys ?? []) {
        const one = await ctl('get', key, '--keys-only', '-w', 'json')
        const count = one.code === 0 ? Number(jsonIn<RangeJson>(one.output, '{')?.count ?? 0) : 0
        if (count < 1) missing.push(key)
      }
      const status = await ctl('endpoint', 'status', '-w', 'json')
      const size = status.code === 0 ? jsonIn<Array<{ Status?: { dbSize?: number } }>>(status.output, '[')?.[0]?.Status?.dbSize : undefined
      const dbSize = size === undefined ? null : Number(size)
      await server.stop('SIGTERM', 5000)
      const found = { ...evidence, restored: true, keys, revision, dbSize, durationMs: elapsed() }
      if (missing.length > 0) return fail(`restored, but expected key(s) ${missing.join(', ')} are missing`, { ...found, missing })
      if (test.minKeys !== undefined && keys < test.minKeys) return fail(`restored, but it holds ${keys} key(s), below the minimum ${test.minKeys}`, { ...found, minKeys: test.minKeys })
      if (quota !== undefined && dbSize !== null && dbSize > quota) {
        return fail(`restored, but its database takes ${dbSize} bytes, more than restore.memoryLimit (${test.memoryLimit})`, { ...found, memoryLimit: test.memoryLimit })
      }
      return pass(`restored with ${tool} and served by a throwaway etcd in ${found.durationMs} ms: ${keys} key(s) at revision ${revision}${test.expectKeys?.length ? `, ${test.expectKeys.length} expected key(s) present` : ''}`, found)
    }
  })
}
