import { createHash } from 'node:crypto'
import { fail, hexOf, pass, readAt, scan, type FormatVerdict } from './stream.ts'
import { isZip, singleEntry, streamEntry, type ZipEntry } from './zip.ts'
import { Errors, isCaretakerError } from '../../../shared/errors.ts'

/**
 * An etcd snapshot as `etcdctl snapshot save` (and k3s, through the same
 * etcd client) writes it: the bbolt database followed by the SHA-256 of
 * that database (32 bytes). etcd itself tells a hashed snapshot by its size:
 * a multiple of 512 plus 32. The bbolt file starts with two meta pages, each
 * with the magic 0xED0CDAED.
 *
 * k3s with `--etcd-snapshot-compress` keeps the same image inside a one-file
 * zip (`<name>-<node>-<unix time>.zip`): it is recognised by its content,
 * inflated as a stream and held to the same checks, after the zip's own
 * CRC-32 and length.
 */

const BOLT_MAGIC = 0xed0cdaed
const PAGE_HEADER = 16
const SHA256_BYTES = 32
const MAX_PAGE = 65536
/** Enough of the image to read both meta pages at the largest page size. */
const HEAD_BYTES = MAX_PAGE + PAGE_HEADER + 4

interface Layout {
  readonly pageSize: number
  readonly dbSize: number
}

function sizeProblem(size: number, what: string, evidence: Record<string, unknown>): FormatVerdict | undefined {
  if (size % 512 === SHA256_BYTES) return undefined
  return fail(`${what}: no SHA-256 appended (size ${size} is not 512·n + 32); not a file written by etcdctl snapshot save, or truncated`, { ...evidence, size })
}

/** The image's size and meta pages, from its first HEAD_BYTES bytes. */
function layoutOf(size: number, head: Buffer, what: string, evidence: Record<string, unknown>): Layout | FormatVerdict {
  const wrongSize = sizeProblem(size, what, evidence)
  if (wrongSize) return wrongSize
  const dbSize = size - SHA256_BYTES
  const magic = head.length >= PAGE_HEADER + 12 ? head.readUInt32LE(PAGE_HEADER) : 0
  if (magic !== BOLT_MAGIC) {
    return fail(`${what}: not a bbolt database (magic ${magic.toString(16)}, expected ${BOLT_MAGIC.toString(16)})`, { ...evidence, magic: magic.toString(16) })
  }
  const pageSize = head.readUInt32LE(PAGE_HEADER + 8)
  if (pageSize < 512 || pageSize > MAX_PAGE || (pageSize & (pageSize - 1)) !== 0 || dbSize < 2 * pageSize) {
    return fail(`${what}: bbolt meta page size ${pageSize} is not valid for a ${dbSize}-byte database`, { ...evidence, pageSize, dbSize })
  }
  if (head.length < pageSize + PAGE_HEADER + 4 || head.readUInt32LE(pageSize + PAGE_HEADER) !== BOLT_MAGIC) {
    return fail(`${what}: the second bbolt meta page has no magic`, { ...evidence, pageSize })
  }
  return { pageSize, dbSize }
}

function judgeHash(what: string, layout: Layout, actual: string, expected: string, evidence: Record<string, unknown>): FormatVerdict {
  if (actual !== expected) {
    return fail(`${what}: SHA-256 mismatch, the database is corrupt`, { ...evidence, expectedSha256: expected, actualSha256: actual, dbSize: layout.dbSize })
  }
  return pass(`${what} sound: bbolt (page size ${layout.pageSize}), SHA-256 matches`, { ...evidence, sha256: actual, dbSize: layout.dbSize, pageSize: layout.pageSize })
}

export async function verifyEtcdSnapshot(path: string, size: number, signal?: AbortSignal): Promise<FormatVerdict> {
  const head = await readAt(path, 0, HEAD_BYTES)
  if (isZip(head)) return verifyZippedSnapshot(path, size, signal)
  const layout = layoutOf(size, head, 'etcd snapshot', {})
  if ('ok' in layout) return layout
  const hash = createHash('sha256')
  await scan(path, (chunk) => hash.update(chunk), { end: layout.dbSize, ...(signal ? { signal } : {}) })
  return judgeHash('etcd snapshot', layout, hash.digest('hex'), hexOf(await readAt(path, layout.dbSize, SHA256_BYTES)), {})
}

async function verifyZippedSnapshot(path: string, size: number, signal?: AbortSignal): Promise<FormatVerdict> {
  const what = 'etcd snapshot (zip)'
  let entry: ZipEntry
  try {
    entry = await singleEntry(path, size)
  } catch (err) {
    if (isCaretakerError(err, Errors.ArchiveUnreadable)) return fail(`${what}: ${err.message}`, { compressed: true, compressedBytes: size })
    throw err
  }
  const evidence = { compressed: true, entry: entry.name, compressedBytes: size, uncompressedBytes: entry.uncompressedSize }
  const dbSize = entry.uncompressedSize - SHA256_BYTES
  // Fail before inflating anything when the declared size cannot be a snapshot.
  const wrongSize = sizeProblem(entry.uncompressedSize, what, evidence)
  if (wrongSize) return wrongSize
  const headChunks: Buffer[] = []
  let headLength = 0
  const hash = createHash('sha256')
  const stored = Buffer.alloc(SHA256_BYTES)
  let offset = 0
  try {
    await streamEntry(path, entry, (chunk) => {
      if (headLength < HEAD_BYTES) {
        const part = chunk.subarray(0, HEAD_BYTES - headLength)
        headChunks.push(Buffer.from(part))
        headLength += part.length
      }
      const hashed = Math.max(0, Math.min(chunk.length, dbSize - offset))
      if (hashed > 0) hash.update(chunk.subarray(0, hashed))
      // What follows the database is the stored SHA-256 (any excess fails the length check).
      const at = offset + hashed - dbSize
      if (hashed < chunk.length && at < SHA256_BYTES) chunk.copy(stored, at, hashed, Math.min(chunk.length, hashed + SHA256_BYTES - at))
      offset += chunk.length
    }, signal)
  } catch (err) {
    if (isCaretakerError(err, Errors.ArchiveUnreadable)) return fail(`${what}: ${err.message}`, evidence)
    throw err
  }
  const layout = layoutOf(entry.uncompressedSize, Buffer.concat(headChunks), what, evidence)
  if ('ok' in layout) return layout
  return judgeHash(what, layout, hash.digest('hex'), hexOf(stored), evidence)
}
