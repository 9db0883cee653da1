import { createHash } from 'node:crypto'
import { fail, hexOf, pass, readAt, scan, type FormatVerdict } from './stream.ts'

/**
 * An etcd snapshot as `etcdctl snapshot save` writes it: the bbolt database
 * followed by the SHA-256 of that database (32 bytes). etcd itself tells a
 * hashed snapshot by its size: a multiple of 512 plus 32. The bbolt file
 * starts with two meta pages, each with the magic 0xED0CDAED.
 */

const BOLT_MAGIC = 0xed0cdaed
const PAGE_HEADER = 16
const SHA256_BYTES = 32

export async function verifyEtcdSnapshot(path: string, size: number, signal?: AbortSignal): Promise<FormatVerdict> {
  if (size % 512 !== SHA256_BYTES) {
    return fail(`etcd snapshot: no SHA-256 appended (size ${size} is not 512·n + 32); not a file written by etcdctl snapshot save, or truncated`, { size })
  }
  const dbSize = size - SHA256_BYTES
  const meta = await readAt(path, 0, PAGE_HEADER + 12)
  const magic = meta.length >= PAGE_HEADER + 12 ? meta.readUInt32LE(PAGE_HEADER) : 0
  if (magic !== BOLT_MAGIC) {
    return fail(`etcd snapshot: not a bbolt database (magic ${magic.toString(16)}, expected ${BOLT_MAGIC.toString(16)})`, { magic: magic.toString(16) })
  }
  const pageSize = meta.readUInt32LE(PAGE_HEADER + 8)
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0 || dbSize < 2 * pageSize) {
    return fail(`etcd snapshot: bbolt meta page size ${pageSize} is not valid for a ${dbSize}-byte database`, { pageSize, dbSize })
  }
  const second = await readAt(path, pageSize + PAGE_HEADER, 4)
  if (second.length < 4 || second.readUInt32LE(0) !== BOLT_MAGIC) {
    return fail('etcd snapshot: the second bbolt meta page has no magic', { pageSize })
  }
  const hash = createHash('sha256')
  await scan(path, (chunk) => hash.update(chunk), { end: dbSize, ...(signal ? { signal } : {}) })
  const actual = hash.digest('hex')
  const expected = hexOf(await readAt(path, dbSize, SHA256_BYTES))
  if (actual !== expected) {
    return fail('etcd snapshot: SHA-256 mismatch, the database is corrupt', { expectedSha256: expected, actualSha256: actual, dbSize })
  }
  return pass(`etcd snapshot sound: bbolt (page size ${pageSize}), SHA-256 matches`, { sha256: actual, dbSize, pageSize })
}
