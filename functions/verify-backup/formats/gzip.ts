import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { GarbageReleaser } from '../../../shared/memory.ts'
import { CHUNK_BYTES, fail, pass, readRange, type FormatVerdict } from './stream.ts'

/**
 * gzip integrity as `gzip -t` checks it: every member fully inflated, each
 * one's CRC-32 and length trailer compared. For a `pg_dumpall` dump it also
 * checks the SQL begins and ends as pg_dumpall writes it, which catches a
 * dump that was cut short before gzip closed a sound file around it.
 */

const DUMP_HEAD = '-- PostgreSQL database cluster dump'
const DUMP_TAIL = '-- PostgreSQL database cluster dump complete'
const TAIL_KEEP = 512

/** zlib's error codes, in the words an operator would use. */
function describeZlibError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'Z_BUF_ERROR':
      return 'the file ends before the compressed stream does (truncated)'
    case 'Z_DATA_ERROR':
      if (/incorrect header check|unknown compression method/.test(err.message)) return 'not gzip data (bad header)'
      if (/incorrect data check/.test(err.message)) return 'CRC-32 mismatch: the data is corrupt'
      if (/incorrect length check/.test(err.message)) return 'length mismatch: the data is corrupt'
      return `corrupt compressed data (${err.message})`
    default:
      return `cannot be decompressed (${err.code ?? err.message})`
  }
}

export interface GzipOptions {
  /** Also check the decompressed text is a complete pg_dumpall dump. */
  readonly pgDumpall?: boolean
  readonly signal?: AbortSignal
}

export async function verifyGzip(path: string, size: number, options: GzipOptions = {}): Promise<FormatVerdict> {
  let uncompressed = 0
  const releaser = new GarbageReleaser()
  let head = ''
  let tail = ''
  const sink = new Writable({
    highWaterMark: CHUNK_BYTES,
    write(chunk: Buffer, _encoding, callback) {
      uncompressed += chunk.length
      releaser.count(chunk.length)
      if (options.pgDumpall) {
        if (head.length < DUMP_HEAD.length + 8) head += chunk.subarray(0, 64).toString('latin1')
        tail = (tail + chunk.subarray(Math.max(0, chunk.length - TAIL_KEEP)).toString('latin1')).slice(-TAIL_KEEP)
      }
      callback()
    },
  })
  try {
    await pipeline(
      readRange(path),
      // The default finish flush makes a truncated stream an error, as it must be.
      createGunzip({ chunkSize: 256 * 1024 }),
      sink,
      ...(options.signal ? [{ signal: options.signal }] : []),
    )
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    return fail(`gzip: ${describeZlibError(err as NodeJS.ErrnoException)}`, { compressedBytes: size, decompressedBeforeError: uncompressed })
  }
  const evidence = { compressedBytes: size, uncompressedBytes: uncompressed }
  if (options.pgDumpall) {
    if (!head.replace(/^\s*--\s*\n/, '').startsWith(DUMP_HEAD)) {
      return fail('gzip is sound, but the content is not a pg_dumpall dump (its first lines are not "-- PostgreSQL database cluster dump")', evidence)
    }
    if (!tail.includes(DUMP_TAIL)) {
      return fail('gzip is sound, but the dump is incomplete: pg_dumpall\'s closing "cluster dump complete" line is missing', evidence)
    }
  }
  return pass(`gzip sound: ${size} bytes inflate to ${uncompressed} with matching CRC-32 and length`, evidence)
}
