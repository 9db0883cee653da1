import { createHash } from 'node:crypto'
import { constants, createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { GarbageReleaser } from '../../../shared/memory.ts'

/**
 * Streaming helpers for the format checks: every check reads its artifact
 * in fixed-size chunks, so memory stays flat whatever the file's size.
 */

export const CHUNK_BYTES = 1024 * 1024

/** What a format check found: a verdict and the evidence behind it. */
export interface FormatVerdict {
  readonly ok: boolean
  /** One line: what passed, or what is wrong. */
  readonly message: string
  readonly evidence: Readonly<Record<string, unknown>>
}

export function pass(message: string, evidence: Record<string, unknown> = {}): FormatVerdict {
  return { ok: true, message, evidence }
}

export function fail(message: string, evidence: Record<string, unknown> = {}): FormatVerdict {
  return { ok: false, message, evidence }
}

/**
 * Artifacts are opened without following a final symbolic link: the listing
 * already resolved links that stay in the set's directory, so a link met
 * here was put in place after it and may point anywhere (ELOOP instead).
 */
const READ_NO_FOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW

/** A read stream over [start, endExclusive) of a file. */
export function readRange(path: string, start = 0, endExclusive?: number) {
  return createReadStream(path, {
    // fs.open takes numeric flags (and createReadStream passes them on); the typings only list strings.
    flags: READ_NO_FOLLOW as unknown as string,
    highWaterMark: CHUNK_BYTES,
    start,
    ...(endExclusive === undefined ? {} : { end: endExclusive - 1 }),
  })
}

/** Feed [start, endExclusive) of a file to `consume`, chunk by chunk. */
export async function scan(path: string, consume: (chunk: Buffer) => void, options: { start?: number; end?: number; signal?: AbortSignal } = {}): Promise<void> {
  if (options.end !== undefined && options.end <= (options.start ?? 0)) return
  const releaser = new GarbageReleaser()
  await pipeline(
    readRange(path, options.start ?? 0, options.end),
    new Writable({
      highWaterMark: CHUNK_BYTES,
      write(chunk: Buffer, _encoding, callback) {
        consume(chunk)
        releaser.count(chunk.length)
        callback()
      },
    }),
    ...(options.signal ? [{ signal: options.signal }] : []),
  )
}

/** The hex digest of [start, end) of a file. */
export async function hashFile(path: string, algorithm: 'sha256' | 'sha1', options: { start?: number; end?: number; signal?: AbortSignal } = {}): Promise<string> {
  const hash = createHash(algorithm)
  await scan(path, (chunk) => hash.update(chunk), options)
  return hash.digest('hex')
}

/** Read `length` bytes at `position` (fewer at the end of the file). */
export async function readAt(path: string, position: number, length: number): Promise<Buffer> {
  const handle = await open(path, READ_NO_FOLLOW)
  try {
    const buffer = Buffer.alloc(length)
    const { bytesRead } = await handle.read(buffer, 0, length, position)
    return buffer.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

/** Printable evidence for a few bytes: hex, never the content itself. */
export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}
