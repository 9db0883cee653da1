import { Crc64Jones } from '../../../shared/crc64.ts'
import { fail, hexOf, pass, readAt, scan, type FormatVerdict } from './stream.ts'

/**
 * A Redis RDB file: `REDIS` and a four-digit version, the body, the EOF
 * opcode 0xFF, then (from version 5) the CRC-64/Jones of everything before
 * the checksum, little-endian. A zero checksum means Redis saved it with
 * `rdbchecksum no`: its integrity cannot be proven, so it does not pass.
 */

const EOF_OPCODE = 0xff
const CRC_BYTES = 8
const HEADER = 9

export async function verifyRdb(path: string, size: number, signal?: AbortSignal): Promise<FormatVerdict> {
  const header = await readAt(path, 0, HEADER)
  const text = header.toString('latin1')
  if (!/^REDIS\d{4}$/.test(text)) {
    return fail(`redis rdb: bad header ${JSON.stringify(text.replace(/[^\x20-\x7e]/g, '?'))}, expected REDIS and a 4-digit version`, { header: hexOf(header) })
  }
  const version = Number(text.slice(5))
  if (version < 5) {
    return fail(`redis rdb: version ${version} carries no checksum; integrity cannot be proven`, { version })
  }
  if (size < HEADER + 1 + CRC_BYTES) return fail('redis rdb: too short to hold a body and a checksum (truncated)', { version, size })
  const end = size - CRC_BYTES
  const eof = await readAt(path, end - 1, 1)
  const stored = await readAt(path, end, CRC_BYTES)
  if (eof[0] !== EOF_OPCODE) {
    return fail('redis rdb: no EOF marker before the checksum (truncated or corrupt)', { version, size })
  }
  if (stored.every((b) => b === 0)) {
    return fail('redis rdb: saved without a checksum (rdbchecksum no); integrity cannot be proven', { version })
  }
  const crc = new Crc64Jones()
  await scan(path, (chunk) => crc.update(chunk), { end, ...(signal ? { signal } : {}) })
  const actual = crc.digestLE()
  if (!actual.equals(stored)) {
    return fail('redis rdb: CRC-64 mismatch, the file is corrupt', { version, expectedCrc64: hexOf(stored), actualCrc64: hexOf(actual) })
  }
  return pass(`redis rdb sound: version ${version}, CRC-64 matches`, { version, crc64: hexOf(actual) })
}
