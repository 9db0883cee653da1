import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto'
import { gunzipSync, gzipSync } from 'node:zlib'

/**
 * Vault's raft snapshot archive, as written by hashicorp/raft-snapshot: a
 * gzipped tar holding `meta.json` (raft.SnapshotMeta as JSON), `state.bin`
 * (the FSM's data; here the simulator's serialised state), `SHA256SUMS`
 * (`<hex>  <name>` lines for the other two) and `SHA256SUMS.sealed` (the
 * same sums protected by the seal, so that another cluster's snapshot needs
 * `snapshot-force`). Real Vault seals with the barrier; the simulator uses an
 * HMAC under its own key, which keeps the same behaviour.
 *
 * tar-stream is not a declared dependency of the project, so a minimal ustar
 * writer and reader live here; this is test code.
 */

export interface SnapshotMeta {
  Version: number
  ID: string
  Index: number
  Term: number
  Peers: string | null
  Configuration: { Servers: { Suffrage: number; ID: string; Address: string }[] }
  ConfigurationIndex: number
  Size: number
}

export class SnapshotError extends Error {}

// ---------------------------------------------------------------------------
// ustar

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0'
}

function tarHeader(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(512)
  h.write(name, 0, 100, 'utf8')
  h.write(octal(0o600, 8), 100, 'ascii')
  h.write(octal(0, 8), 108, 'ascii')
  h.write(octal(0, 8), 116, 'ascii')
  h.write(octal(size, 12), 124, 'ascii')
  h.write(octal(mtime, 12), 136, 'ascii')
  h.write('        ', 148, 'ascii') // checksum field counts as spaces while summing
  h.write('0', 156, 'ascii')
  h.write('ustar\0', 257, 'ascii')
  h.write('00', 263, 'ascii')
  let sum = 0
  for (const b of h) sum += b
  h.write(octal(sum, 7) + ' ', 148, 'ascii')
  return h
}

export function writeTar(files: { name: string; data: Buffer }[], mtime = Math.floor(Date.now() / 1000)): Buffer {
  const parts: Buffer[] = []
  for (const f of files) {
    parts.push(tarHeader(f.name, f.data.length, mtime), f.data)
    const pad = (512 - (f.data.length % 512)) % 512
    if (pad > 0) parts.push(Buffer.alloc(pad))
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}

export function readTar(tar: Buffer): { name: string; data: Buffer }[] {
  const files: { name: string; data: Buffer }[] = []
  let off = 0
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512)
    if (h.every((b) => b === 0)) break
    let sum = 0
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!
    const stored = Number.parseInt(h.subarray(148, 156).toString('ascii').replace(/\0.*$/, '').trim(), 8)
    if (stored !== sum) throw new SnapshotError('failed reading snapshot: archive/tar: invalid tar header')
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '')
    const prefix = h.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '')
    const size = Number.parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/, '').trim() || '0', 8)
    const type = String.fromCharCode(h[156]!)
    off += 512
    if (off + size > tar.length) throw new SnapshotError('failed reading snapshot: unexpected EOF')
    if (type === '0' || type === '\0') files.push({ name: prefix ? `${prefix}/${name}` : name, data: tar.subarray(off, off + size) })
    off += size + ((512 - (size % 512)) % 512)
  }
  return files
}

// ---------------------------------------------------------------------------
// archive

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const seal = (key: Buffer, sums: Buffer): Buffer => Buffer.from(createHmac('sha256', key).update(sums).digest('hex'))

export function writeSnapshot(state: Buffer, raft: { index: number; term: number }, sealKey: Buffer): Buffer {
  const meta: SnapshotMeta = {
    Version: 1,
    ID: `${raft.term}-${raft.index}-${Date.now()}`,
    Index: raft.index,
    Term: raft.term,
    Peers: null,
    Configuration: { Servers: [{ Suffrage: 0, ID: 'node1', Address: '127.0.0.1:8201' }] },
    ConfigurationIndex: 1,
    Size: state.length,
  }
  // Go's json.Encoder ends the document with a newline.
  const metaJson = Buffer.from(`${JSON.stringify(meta)}\n`)
  const sums = Buffer.from(`${sha256(metaJson)}  meta.json\n${sha256(state)}  state.bin\n`)
  return gzipSync(
    writeTar([
      { name: 'meta.json', data: metaJson },
      { name: 'state.bin', data: state },
      { name: 'SHA256SUMS', data: sums },
      { name: 'SHA256SUMS.sealed', data: seal(sealKey, sums) },
    ]),
  )
}

/**
 * Reads and verifies an archive; the messages are raft-snapshot's. With
 * `force`, the sealed sums are not checked (Vault's snapshot-force).
 */
export function readSnapshot(archive: Buffer, sealKey: Buffer, force: boolean): { meta: SnapshotMeta; state: Buffer } {
  let tar: Buffer
  try {
    tar = gunzipSync(archive)
  } catch (err) {
    throw new SnapshotError(`failed to decompress snapshot: ${(err as Error).message}`)
  }
  const files = readTar(tar)
  let metaJson: Buffer | undefined
  let state: Buffer | undefined
  let sums: Buffer | undefined
  let sealed: Buffer | undefined
  for (const f of files) {
    if (f.name === 'meta.json') metaJson = f.data
    else if (f.name === 'state.bin') state = f.data
    else if (f.name === 'SHA256SUMS') sums = f.data
    else if (f.name === 'SHA256SUMS.sealed') sealed = f.data
    else throw new SnapshotError(`unexpected file "${f.name}" in snapshot`)
  }
  const actual = new Map([
    ['meta.json', metaJson ? sha256(metaJson) : undefined],
    ['state.bin', state ? sha256(state) : undefined],
  ])
  const verify = (list: Buffer): void => {
    const seen = new Set<string>()
    for (const line of list.toString('utf8').split('\n')) {
      if (line === '') continue
      const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line)
      if (!m) throw new SnapshotError('failed checking integrity of snapshot: unexpected SHA256SUMS line')
      const file = m[2]!
      if (!actual.has(file)) throw new SnapshotError(`failed checking integrity of snapshot: list missing hash for "${file}"`)
      if (actual.get(file) !== m[1]) throw new SnapshotError(`failed checking integrity of snapshot: hash check failed for "${file}"`)
      seen.add(file)
    }
    for (const file of actual.keys()) {
      if (!seen.has(file)) throw new SnapshotError(`failed checking integrity of snapshot: file missing for "${file}"`)
    }
  }
  if (!force) {
    const expected = sums ? seal(sealKey, sums) : undefined
    if (!sealed || !expected || sealed.length !== expected.length || !timingSafeEqual(sealed, expected)) {
      throw new SnapshotError('failed to open the sealed hashes: message authentication failed')
    }
  }
  verify(sums ?? Buffer.alloc(0))
  if (!metaJson || !state) throw new SnapshotError('failed checking integrity of snapshot: missing file')
  let meta: SnapshotMeta
  try {
    meta = JSON.parse(metaJson.toString('utf8')) as SnapshotMeta
  } catch (err) {
    throw new SnapshotError(`failed to decode snapshot metadata: ${(err as Error).message}`)
  }
  return { meta, state }
}

export const newSealKey = (): Buffer => createHash('sha256').update(randomUUID()).digest()
