import { fail, pass, type FormatVerdict } from './stream.ts'
import { parseSha256Sums, readTarGz, sumMismatches } from './tar-sums.ts'

/**
 * A Vault raft snapshot (`vault operator raft snapshot save`): a gzipped
 * tar holding `meta.json`, `state.bin`, `SHA256SUMS` and
 * `SHA256SUMS.sealed`. The archive must open, and every file SHA256SUMS
 * names must be there with that hash. The sealed sums need the cluster's
 * barrier key, which a verifier must never hold, so they are only required
 * to be present.
 */

const REQUIRED = ['meta.json', 'state.bin', 'SHA256SUMS', 'SHA256SUMS.sealed']

export async function verifyVaultSnapshot(path: string, size: number, signal?: AbortSignal): Promise<FormatVerdict> {
  const read = await readTarGz(path, signal)
  if ('error' in read) return fail(`vault snapshot: the archive does not open (${read.error})`, { size })
  const { hashes, sizes, small } = read
  const missing = REQUIRED.filter((name) => !hashes.has(name))
  if (missing.length > 0) return fail(`vault snapshot: the archive lacks ${missing.join(', ')}`, { files: [...hashes.keys()] })
  const sums = parseSha256Sums(small.get('SHA256SUMS') ?? '')
  if (!sums.has('state.bin') || !sums.has('meta.json')) {
    return fail('vault snapshot: SHA256SUMS does not list meta.json and state.bin', { listed: [...sums.keys()] })
  }
  const mismatched = sumMismatches(sums, hashes)
  if (mismatched.length > 0) {
    return fail(`vault snapshot: ${mismatched.map((m) => m.file).join(', ')} does not match SHA256SUMS`, { mismatches: mismatched })
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
