import { createHash } from 'node:crypto'
import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { extract } from 'tar-stream'
import { GarbageReleaser } from '../../../shared/memory.ts'
import { fail, pass, readRange, type FormatVerdict } from './stream.ts'

/**
 * A Vault raft snapshot (`vault operator raft snapshot save`): a gzipped
 * tar holding `meta.json`, `state.bin`, `SHA256SUMS` and
 * `SHA256SUMS.sealed`. The archive must open, and every file SHA256SUMS
 * names must be there with that hash. The sealed sums need the cluster's
 * barrier key, which a verifier must never hold, so they are only required
 * to be present.
 */

const REQUIRED = ['meta.json', 'state.bin', 'SHA256SUMS', 'SHA256SUMS.sealed']
const SMALL_FILE = 1024 * 1024

export async function verifyVaultSnapshot(path: string, size: number, signal?: AbortSignal): Promise<FormatVerdict> {
  const hashes = new Map<string, string>()
  const sizes = new Map<string, number>()
  const small = new Map<string, string>()
  const releaser = new GarbageReleaser()
  const tar = extract()
  tar.on('entry', (header, stream, next) => {
    const hash = createHash('sha256')
    const keep: Buffer[] = []
    let bytes = 0
    stream.on('data', (data: unknown) => {
      const chunk = data as Buffer
      hash.update(chunk)
      bytes += chunk.length
      releaser.count(chunk.length)
      if (bytes <= SMALL_FILE) keep.push(chunk)
    })
    stream.on('end', () => {
      hashes.set(header.name, hash.digest('hex'))
      sizes.set(header.name, bytes)
      if (bytes <= SMALL_FILE) small.set(header.name, Buffer.concat(keep).toString('utf8'))
      next()
    })
    stream.on('error', next)
  })
  try {
    await pipeline(readRange(path), createGunzip(), tar as unknown as Writable, ...(signal ? [{ signal }] : []))
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    const what = (err as NodeJS.ErrnoException).code === 'Z_BUF_ERROR' ? 'truncated' : (err as Error).message
    return fail(`vault snapshot: the archive does not open (${what})`, { size })
  }
  const missing = REQUIRED.filter((name) => !hashes.has(name))
  if (missing.length > 0) return fail(`vault snapshot: the archive lacks ${missing.join(', ')}`, { files: [...hashes.keys()] })
  const sums = new Map<string, string>()
  for (const line of (small.get('SHA256SUMS') ?? '').split('\n')) {
    const m = /^([0-9a-f]{64})\s+\*?(\S+)$/.exec(line.trim())
    if (m) sums.set(m[2]!, m[1]!)
  }
  if (!sums.has('state.bin') || !sums.has('meta.json')) {
    return fail('vault snapshot: SHA256SUMS does not list meta.json and state.bin', { listed: [...sums.keys()] })
  }
  const mismatched = [...sums].filter(([name, expected]) => hashes.get(name) !== expected)
  if (mismatched.length > 0) {
    return fail(`vault snapshot: ${mismatched.map(([n]) => n).join(', ')} does not match SHA256SUMS`, {
      mismatches: mismatched.map(([name, expected]) => ({ file: name, expectedSha256: expected, actualSha256: hashes.get(name) ?? null })),
    })
  }
  let meta: { Index?: number; Term?: number; ID?: string } = {}
  try {
    meta = JSON.parse(small.get('meta.json') ?? '') as typeof meta
  } catch {
    return fail('vault snapshot: meta.json is not JSON', {})
  }
  return pass(`vault snapshot sound: ${sums.size} files match SHA256SUMS (raft index ${meta.Index ?? '?'}, term ${meta.Term ?? '?'})`, {
    files: Object.fromEntries(sizes),
    raftIndex: meta.Index ?? null,
    raftTerm: meta.Term ?? null,
    snapshotId: meta.ID ?? null,
  })
}
