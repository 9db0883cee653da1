import { createHash } from 'node:crypto'
import { fail, hexOf, pass, readAt, scan, type FormatVerdict } from './stream.ts'

/**
 * A git bundle (v2 or v3): a text header (signature, v3 capabilities,
 * prerequisites `-<oid>`, references `<oid> <refname>`), a blank line, then
 * a packfile whose last 20 (SHA-1) or 32 (SHA-256) bytes are the hash of the
 * pack before them. The prerequisites are reported: a bundle that needs
 * them cannot be restored without the commits they name.
 */

const MAX_HEADER = 4 * 1024 * 1024

/** A bundle's header: what it holds, what it needs, and where its pack starts. */
export interface BundleHeader {
  readonly version: number
  readonly objectFormat: 'sha1' | 'sha256'
  /** The commits it needs the repository to have (an incremental bundle's base). */
  readonly prerequisites: string[]
  readonly refs: string[]
  readonly packStart: number
}

/** The header of the bundle at `path`, or what is wrong with it. */
export async function readBundleHeader(path: string, size: number): Promise<BundleHeader | FormatVerdict> {
  const start = await readAt(path, 0, Math.min(size, MAX_HEADER))
  const blank = start.indexOf('\n\n')
  if (blank < 0) return fail('git bundle: no end of header found (not a bundle, or truncated)', { size })
  const lines = start.subarray(0, blank).toString('utf8').split('\n')
  const signature = lines.shift()
  if (signature !== '# v2 git bundle' && signature !== '# v3 git bundle') {
    return fail(`git bundle: bad signature ${JSON.stringify(signature?.slice(0, 40))}`, {})
  }
  let objectFormat: 'sha1' | 'sha256' = 'sha1'
  const prerequisites: string[] = []
  const refs: string[] = []
  for (const line of lines) {
    if (line.startsWith('@')) {
      const [key, value] = line.slice(1).split('=')
      if (key === 'object-format' && (value === 'sha1' || value === 'sha256')) objectFormat = value
      else if (key === 'object-format') return fail(`git bundle: unknown object format ${value}`, {})
    } else if (line.startsWith('-')) {
      prerequisites.push(line.slice(1).split(' ')[0]!)
    } else if (/^[0-9a-f]{40,64} \S+/.test(line)) {
      refs.push(line.split(' ')[1]!)
    } else {
      return fail(`git bundle: unreadable header line ${JSON.stringify(line.slice(0, 80))}`, {})
    }
  }
  if (refs.length === 0) return fail('git bundle: the header lists no references', { prerequisites })
  return { version: Number(signature.charAt(3)), objectFormat, prerequisites, refs, packStart: blank + 2 }
}

export async function verifyGitBundle(path: string, size: number, signal?: AbortSignal): Promise<FormatVerdict> {
  const header = await readBundleHeader(path, size)
  if ('ok' in header) return header
  const { objectFormat, prerequisites, refs, packStart } = header
  const hashBytes = objectFormat === 'sha1' ? 20 : 32
  const pack = await readAt(path, packStart, 12)
  if (pack.subarray(0, 4).toString('latin1') !== 'PACK') {
    return fail('git bundle: no packfile after the header', { refs: refs.length, prerequisites })
  }
  const packVersion = pack.readUInt32BE(4)
  const objects = pack.readUInt32BE(8)
  const end = size - hashBytes
  if (end <= packStart + 12) return fail('git bundle: the packfile is truncated', { refs: refs.length })
  const hash = createHash(objectFormat)
  await scan(path, (chunk) => hash.update(chunk), { start: packStart, end, ...(signal ? { signal } : {}) })
  const actual = hash.digest('hex')
  const expected = hexOf(await readAt(path, end, hashBytes))
  const evidence = { version: header.version, objectFormat, refs, prerequisites, packVersion, objects }
  if (actual !== expected) {
    return fail(`git bundle: packfile ${objectFormat.toUpperCase()} mismatch, the pack is corrupt or truncated`, { ...evidence, expectedChecksum: expected, actualChecksum: actual })
  }
  const needs = prerequisites.length === 0 ? 'self-contained' : `needs ${prerequisites.length} prerequisite commit(s)`
  return pass(`git bundle sound: ${refs.length} ref(s), ${objects} object(s), ${needs}`, { ...evidence, checksum: actual })
}
