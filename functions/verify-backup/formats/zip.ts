import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { crc32, createInflateRaw } from 'node:zlib'
import { GarbageReleaser } from '../../../shared/memory.ts'
import { CHUNK_BYTES, readAt, readRange } from './stream.ts'
import { CaretakerError, Errors } from '../../../shared/errors.ts'

/**
 * A zip archive holding one file, the way k3s compresses an etcd snapshot
 * (`--etcd-snapshot-compress`): Go's archive/zip, one Deflate entry named
 * after the snapshot, its CRC-32 and sizes in a data descriptor after the
 * data and in the central directory (k3s-io/k3s pkg/etcd/snapshot.go,
 * compressSnapshot). The entry is found through the central directory
 * (zip64 records included, APPNOTE.TXT 4.3.14-4.3.16 and 4.5.3) and inflated
 * as a stream; its CRC-32 and length are compared with the directory's.
 */

const LOCAL_HEADER = 0x04034b50
const CENTRAL_HEADER = 0x02014b50
const END_OF_DIRECTORY = 0x06054b50
const ZIP64_LOCATOR = 0x07064b50
const ZIP64_END = 0x06064b50
const END_BYTES = 22
const MAX_COMMENT = 0xffff
const U16_MAX = 0xffff
const U32_MAX = 0xffffffff
const STORED = 0
const DEFLATE = 8

/** The first four bytes of a zip archive (a local file header). */
export function isZip(head: Uint8Array): boolean {
  return head.length >= 4 && Buffer.from(head.subarray(0, 4)).readUInt32LE(0) === LOCAL_HEADER
}

export interface ZipEntry {
  readonly name: string
  readonly method: number
  readonly crc32: number
  readonly compressedSize: number
  readonly uncompressedSize: number
  /** Where the entry's data begins in the archive. */
  readonly dataOffset: number
}

/** What is wrong with an archive, in an operator's words (Errors.ArchiveUnreadable). */
const problem = (what: string): CaretakerError => new CaretakerError(Errors.ArchiveUnreadable, what)

function u64(buffer: Buffer, at: number): number {
  const value = buffer.readBigUInt64LE(at)
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw problem(`a zip64 size or offset (${value}) is beyond any real file`)
  return Number(value)
}

/** The one entry of an archive of `size` bytes; an Errors.ArchiveUnreadable when it is not one sound single-file archive. */
export async function singleEntry(path: string, size: number): Promise<ZipEntry> {
  const tailLength = Math.min(size, END_BYTES + MAX_COMMENT + 20)
  const tail = await readAt(path, size - tailLength, tailLength)
  let end = -1
  for (let i = tail.length - END_BYTES; i >= 0; i--) {
    if (tail.readUInt32LE(i) === END_OF_DIRECTORY && i + END_BYTES + tail.readUInt16LE(i + 20) === tail.length) {
      end = i
      break
    }
  }
  if (end < 0) throw problem('no end-of-central-directory record: the archive is truncated, or still being written')
  let entries = tail.readUInt16LE(end + 10)
  let directoryOffset = tail.readUInt32LE(end + 16)
  if (entries === U16_MAX || directoryOffset === U32_MAX || tail.readUInt32LE(end + 12) === U32_MAX) {
    const locator = end - 20
    if (locator < 0 || tail.readUInt32LE(locator) !== ZIP64_LOCATOR) throw problem('a zip64 archive without its zip64 end-of-central-directory locator')
    const recordAt = u64(tail, locator + 8)
    const record = await readAt(path, recordAt, 56)
    if (record.length < 56 || record.readUInt32LE(0) !== ZIP64_END) throw problem('the zip64 end-of-central-directory record is missing')
    entries = u64(record, 32)
    directoryOffset = u64(record, 48)
  }
  if (entries !== 1) throw problem(`the archive holds ${entries} files; a compressed snapshot holds exactly one`)

  const header = await readAt(path, directoryOffset, 46)
  if (header.length < 46 || header.readUInt32LE(0) !== CENTRAL_HEADER) throw problem('the central directory is not where the archive says')
  const flags = header.readUInt16LE(8)
  const method = header.readUInt16LE(10)
  const nameLength = header.readUInt16LE(28)
  const extraLength = header.readUInt16LE(30)
  const variable = await readAt(path, directoryOffset + 46, nameLength + extraLength)
  const name = variable.subarray(0, nameLength).toString('utf8')
  let uncompressedSize = header.readUInt32LE(24)
  let compressedSize = header.readUInt32LE(20)
  let localOffset = header.readUInt32LE(42)
  // Zip64 extended information (0x0001): the 64-bit values of the fields set to 0xFFFFFFFF, in this order.
  const extra = variable.subarray(nameLength)
  for (let at = 0; at + 4 <= extra.length;) {
    const id = extra.readUInt16LE(at)
    const length = extra.readUInt16LE(at + 2)
    if (id === 0x0001) {
      let field = at + 4
      const next = (): number => {
        if (field + 8 > at + 4 + length) throw problem('a zip64 extra field shorter than the sizes it must hold')
        const value = u64(extra, field)
        field += 8
        return value
      }
      if (uncompressedSize === U32_MAX) uncompressedSize = next()
      if (compressedSize === U32_MAX) compressedSize = next()
      if (localOffset === U32_MAX) localOffset = next()
    }
    at += 4 + length
  }
  if (flags & 0x1) throw problem(`${name} is encrypted; its content cannot be checked`)
  if (method !== STORED && method !== DEFLATE) throw problem(`${name} is compressed with method ${method}; only stored and Deflate are read`)

  const local = await readAt(path, localOffset, 30)
  if (local.length < 30 || local.readUInt32LE(0) !== LOCAL_HEADER) throw problem(`the local header of ${name} is not where the directory says`)
  const dataOffset = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28)
  if (dataOffset + compressedSize > directoryOffset) throw problem(`${name}'s ${compressedSize} compressed bytes run past the central directory`)
  return { name, method, crc32: header.readUInt32LE(16), compressedSize, uncompressedSize, dataOffset }
}

/**
 * Feeds the entry's uncompressed bytes to `consume`, chunk by chunk, then
 * compares their CRC-32 and length with the directory's; an Errors.ArchiveUnreadable when
 * the data does not inflate or does not match.
 */
export async function streamEntry(path: string, entry: ZipEntry, consume: (chunk: Buffer) => void, signal?: AbortSignal): Promise<void> {
  const releaser = new GarbageReleaser()
  let crc = 0
  let length = 0
  const sink = new Writable({
    highWaterMark: CHUNK_BYTES,
    write(chunk: Buffer, _encoding, callback) {
      crc = crc32(chunk, crc)
      length += chunk.length
      releaser.count(chunk.length)
      consume(chunk)
      callback()
    },
  })
  const source = readRange(path, entry.dataOffset, entry.dataOffset + entry.compressedSize)
  try {
    if (entry.method === DEFLATE) {
      // The default finish flush makes a Deflate stream cut short an error.
      await pipeline(source, createInflateRaw({ chunkSize: 256 * 1024 }), sink, ...(signal ? [{ signal }] : []))
    } else {
      await pipeline(source, sink, ...(signal ? [{ signal }] : []))
    }
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    throw problem(`${entry.name} does not inflate (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): the archive is corrupt or truncated`)
  }
  if (length !== entry.uncompressedSize) throw problem(`${entry.name} inflates to ${length} bytes, the archive says ${entry.uncompressedSize}`)
  if (crc >>> 0 !== entry.crc32) throw problem(`${entry.name}: CRC-32 mismatch (archive ${entry.crc32.toString(16)}, data ${(crc >>> 0).toString(16)}): the data is corrupt`)
}
