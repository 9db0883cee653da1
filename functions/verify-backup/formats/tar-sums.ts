import { createHash } from 'node:crypto'
import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { extract } from 'tar-stream'
import { GarbageReleaser } from '../../../shared/memory.ts'
import { fail, pass, readRange, type FormatVerdict } from './stream.ts'

/**
 * A gzipped tar read as a stream: every entry's SHA-256 and size, and the
 * text of the small ones (a SHA256SUMS, a meta.json). Shared by the formats
 * whose archive carries its own SHA256SUMS (Vault's raft snapshot, a
 * configuration archive).
 */

const SMALL_FILE = 1024 * 1024

export interface TarContents {
  readonly hashes: Map<string, string>
  readonly sizes: Map<string, number>
  readonly small: Map<string, string>
  /** Entries that are not regular files (directories, links): a SHA256SUMS never lists them. */
  readonly other: string[]
}

/** The archive's contents, or why it does not open (`truncated`, or the stream's error). AbortError is thrown. */
export async function readTarGz(path: string, signal?: AbortSignal): Promise<TarContents | { error: string }> {
  const contents: TarContents = { hashes: new Map(), sizes: new Map(), small: new Map(), other: [] }
  const releaser = new GarbageReleaser()
  const tar = extract()
  tar.on('entry', (header, stream, next) => {
    if (header.type !== 'file') contents.other.push(header.name)
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
      if (header.type === 'file') {
        contents.hashes.set(header.name, hash.digest('hex'))
        contents.sizes.set(header.name, bytes)
        if (bytes <= SMALL_FILE) contents.small.set(header.name, Buffer.concat(keep).toString('utf8'))
      }
      next()
    })
    stream.on('error', next)
  })
  try {
    await pipeline(readRange(path), createGunzip(), tar as unknown as Writable, ...(signal ? [{ signal }] : []))
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    return { error: (err as NodeJS.ErrnoException).code === 'Z_BUF_ERROR' ? 'truncated' : (err as Error).message }
  }
  return contents
}

/** A SHA256SUMS as `sha256sum` writes it (`<hex>  <name>`, `*` for binary mode): name → hash. */
export function parseSha256Sums(text: string): Map<string, string> {
  const sums = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{64})\s+\*?(\S+)$/.exec(line.trim())
    if (m) sums.set(m[2]!, m[1]!)
  }
  return sums
}

/** The listed files whose hash in the archive is not the listed one (or that are missing). */
export function sumMismatches(sums: ReadonlyMap<string, string>, hashes: ReadonlyMap<string, string>): Array<{ file: string; expectedSha256: string; actualSha256: string | null }> {
  return [...sums].filter(([name, expected]) => hashes.get(name) !== expected).map(([file, expectedSha256]) => ({ file, expectedSha256, actualSha256: hashes.get(file) ?? null }))
}

/**
 * A `sha256sums-tar-gzip` artifact: a gzipped tar whose `SHA256SUMS` lists
 * every other regular file in it, each with its hash. The archive must open
 * to its end (a truncated one fails), SHA256SUMS must list at least one file,
 * every listed file must be there with that hash, and no file may be there
 * unlisted (an archive with a file added or one whose listing was cut short
 * fails).
 */
export async function verifySumsArchive(path: string, size: number, signal?: AbortSignal): Promise<FormatVerdict> {
  const read = await readTarGz(path, signal)
  if ('error' in read) return fail(`archive: it does not open (${read.error})`, { size })
  const text = read.small.get('SHA256SUMS')
  if (text === undefined) return fail('archive: it has no SHA256SUMS', { files: [...read.hashes.keys()].slice(0, 20), fileCount: read.hashes.size })
  const sums = parseSha256Sums(text)
  if (sums.size === 0) return fail('archive: its SHA256SUMS lists no file', {})
  const mismatches = sumMismatches(sums, read.hashes)
  if (mismatches.length > 0) {
    return fail(`archive: ${mismatches.slice(0, 5).map((m) => m.file).join(', ')}${mismatches.length > 5 ? ` and ${mismatches.length - 5} more` : ''} ${mismatches.length === 1 ? 'does' : 'do'} not match SHA256SUMS`, { mismatches: mismatches.slice(0, 20), mismatchCount: mismatches.length })
  }
  const unlisted = [...read.hashes.keys()].filter((name) => name !== 'SHA256SUMS' && !sums.has(name))
  if (unlisted.length > 0) return fail(`archive: ${unlisted.slice(0, 5).join(', ')}${unlisted.length > 5 ? ` and ${unlisted.length - 5} more` : ''} not listed in SHA256SUMS`, { unlisted: unlisted.slice(0, 20), unlistedCount: unlisted.length })
  const bytes = [...read.sizes.values()].reduce((a, b) => a + b, 0)
  return pass(`archive sound: ${sums.size} files match SHA256SUMS (${bytes} bytes unpacked)`, { fileCount: sums.size, unpackedBytes: bytes })
}
