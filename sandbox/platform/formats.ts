import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'
import { Crc64Jones } from '../../shared/crc64.ts'

/**
 * Writers for the on-disk formats of the platform's backups, byte-exact to
 * what the real tools write, so the demo artifacts pass the real checkers:
 * an etcd snapshot (a bbolt file plus the SHA-256 `etcdctl snapshot save`
 * appends), a Redis RDB file (version 10, as Redis 7.0 writes it, with its
 * CRC64 trailer) and PostgreSQL SCRAM-SHA-256 password verifiers for dumps.
 */

// ---------------------------------------------------------------------------
// etcd snapshot: a bbolt database (go.etcd.io/bbolt, file format version 2)

const PAGE_SIZE = 4096
const BOLT_MAGIC = 0xed0cdaed
const BOLT_VERSION = 2
const PAGE_HEADER = 16
const LEAF_ELEMENT = 16
const FLAG_LEAF = 0x02
const FLAG_META = 0x04
const FLAG_FREELIST = 0x10
const BUCKET_LEAF_FLAG = 0x01

export interface KeyValue { key: Buffer, value: Buffer }

/** FNV-1a, 64 bit: bbolt's meta page checksum. */
export function fnv1a64(data: Buffer): bigint {
  let h = 0xcbf29ce484222325n
  for (const b of data) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n)
  return h
}

function pageHeader(id: number, flags: number, count: number): Buffer {
  const h = Buffer.alloc(PAGE_HEADER)
  h.writeBigUInt64LE(BigInt(id), 0)
  h.writeUInt16LE(flags, 8)
  h.writeUInt16LE(count, 10)
  h.writeUInt32LE(0, 12)
  return h
}

/** A leaf page's body after its header: the elements, then keys and values packed. */
function leafBody(items: Array<KeyValue & { flags?: number }>): Buffer {
  const sorted = [...items].sort((a, b) => Buffer.compare(a.key, b.key))
  const elems = Buffer.alloc(sorted.length * LEAF_ELEMENT)
  const data: Buffer[] = []
  let dataOff = sorted.length * LEAF_ELEMENT
  sorted.forEach((it, i) => {
    const at = i * LEAF_ELEMENT
    elems.writeUInt32LE(it.flags ?? 0, at)
    elems.writeUInt32LE(dataOff - at, at + 4) // pos: from the element to its key
    elems.writeUInt32LE(it.key.length, at + 8)
    elems.writeUInt32LE(it.value.length, at + 12)
    data.push(it.key, it.value)
    dataOff += it.key.length + it.value.length
  })
  return Buffer.concat([elems, ...data])
}

/** A bucket small enough to live inside its parent's leaf: header (root 0) + a page. */
function inlineBucket(items: KeyValue[]): Buffer {
  const header = Buffer.alloc(16) // root pgid 0 = inline, sequence 0
  return Buffer.concat([header, pageHeader(0, FLAG_LEAF, items.length), leafBody(items)])
}

function bucketRef(root: number): Buffer {
  const b = Buffer.alloc(16)
  b.writeBigUInt64LE(BigInt(root), 0)
  return b
}

function fullPage(id: number, flags: number, count: number, body: Buffer): Buffer {
  if (PAGE_HEADER + body.length > PAGE_SIZE) throw new Error(`bbolt page ${id} overflows (${body.length} bytes)`)
  const p = Buffer.alloc(PAGE_SIZE)
  pageHeader(id, flags, count).copy(p, 0)
  body.copy(p, PAGE_HEADER)
  return p
}

function metaPage(id: number, txid: number, root: number, freelist: number, highWater: number): Buffer {
  const m = Buffer.alloc(64)
  m.writeUInt32LE(BOLT_MAGIC, 0)
  m.writeUInt32LE(BOLT_VERSION, 4)
  m.writeUInt32LE(PAGE_SIZE, 8)
  m.writeUInt32LE(0, 12) // flags
  m.writeBigUInt64LE(BigInt(root), 16) // root bucket: root pgid
  m.writeBigUInt64LE(0n, 24) // root bucket: sequence
  m.writeBigUInt64LE(BigInt(freelist), 32)
  m.writeBigUInt64LE(BigInt(highWater), 40)
  m.writeBigUInt64LE(BigInt(txid), 48)
  m.writeBigUInt64LE(fnv1a64(m.subarray(0, 56)), 56)
  return fullPage(id, FLAG_META, 0, m)
}

/**
 * A bbolt file holding `buckets` at the top level. Buckets under 1 KiB are
 * inlined as bbolt does; larger ones get a leaf page of their own.
 */
export function boltDatabase(buckets: Record<string, KeyValue[]>, txid = 8): Buffer {
  const pages: Buffer[] = []
  const rootItems: Array<KeyValue & { flags: number }> = []
  let next = 4 // 0,1 meta; 2 freelist; 3 root leaf
  const ownPages: Array<{ id: number, items: KeyValue[] }> = []
  for (const [name, items] of Object.entries(buckets)) {
    const inline = inlineBucket(items)
    if (inline.length <= PAGE_SIZE / 4) rootItems.push({ key: Buffer.from(name), value: inline, flags: BUCKET_LEAF_FLAG })
    else {
      const id = next++
      ownPages.push({ id, items })
      rootItems.push({ key: Buffer.from(name), value: bucketRef(id), flags: BUCKET_LEAF_FLAG })
    }
  }
  const highWater = next
  pages.push(metaPage(0, txid - (txid % 2), 3, 2, highWater))
  pages.push(metaPage(1, txid - (txid % 2) + 1, 3, 2, highWater))
  pages.push(fullPage(2, FLAG_FREELIST, 0, Buffer.alloc(0)))
  pages.push(fullPage(3, FLAG_LEAF, rootItems.length, leafBody(rootItems)))
  for (const p of ownPages) pages.push(fullPage(p.id, FLAG_LEAF, p.items.length, leafBody(p.items)))
  return Buffer.concat(pages)
}

/** What `etcdctl snapshot save` writes: the database followed by its SHA-256. */
export function withEtcdSnapshotHash(db: Buffer): Buffer {
  return Buffer.concat([db, createHash('sha256').update(db).digest()])
}

function varint(n: number | bigint): Buffer {
  let v = BigInt(n)
  const out: number[] = []
  while (v > 0x7fn) { out.push(Number(v & 0x7fn) | 0x80); v >>= 7n }
  out.push(Number(v))
  return Buffer.from(out)
}

const pbBytes = (field: number, b: Buffer): Buffer => Buffer.concat([varint((field << 3) | 2), varint(b.length), b])
const pbInt = (field: number, n: number): Buffer => (n ? Buffer.concat([varint(field << 3), varint(n)]) : Buffer.alloc(0))

/** An mvccpb.KeyValue, as etcd stores it in the `key` bucket. */
export function etcdKeyValue(kv: { key: string, value: Buffer, createRevision: number, modRevision: number, version: number }): Buffer {
  return Buffer.concat([pbBytes(1, Buffer.from(kv.key)), pbInt(2, kv.createRevision), pbInt(3, kv.modRevision), pbInt(4, kv.version), pbBytes(5, kv.value)])
}

/** etcd's revision key: main revision, '_', sub revision (big-endian). */
export function etcdRevisionKey(main: number, sub = 0): Buffer {
  const b = Buffer.alloc(17)
  b.writeBigUInt64BE(BigInt(main), 0)
  b.write('_', 8)
  b.writeBigUInt64BE(BigInt(sub), 9)
  return b
}

export const u64be = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b }

// ---------------------------------------------------------------------------
// Redis RDB (version 10, Redis 7.0)

/** Redis's crc64 (Jones, reflected, init 0): crc64("123456789") = 0xe9c6d914c4b8d9ca. */
export function crc64(data: Buffer): bigint {
  return new Crc64Jones().update(data).digestLE().readBigUInt64LE(0)
}

function rdbLength(n: number): Buffer {
  if (n < 64) return Buffer.from([n])
  if (n < 16384) return Buffer.from([0x40 | (n >> 8), n & 0xff])
  const b = Buffer.alloc(5)
  b[0] = 0x80
  b.writeUInt32BE(n, 1)
  return b
}

const rdbString = (s: string | Buffer): Buffer => { const b = Buffer.isBuffer(s) ? s : Buffer.from(s); return Buffer.concat([rdbLength(b.length), b]) }
const rdbInt8 = (n: number): Buffer => Buffer.from([0xc0, n & 0xff])
const rdbInt32 = (n: number): Buffer => { const b = Buffer.alloc(5); b[0] = 0xc2; b.writeInt32LE(n, 1); return b }

export type RdbValue = { type: 'string', value: string } | { type: 'hash', value: Record<string, string> } | { type: 'set', value: string[] }
export interface RdbEntry { key: string, expiresAt?: Date, data: RdbValue }

const RDB_OPCODE_AUX = 0xfa
const RDB_OPCODE_RESIZEDB = 0xfb
const RDB_OPCODE_EXPIRETIME_MS = 0xfc
const RDB_OPCODE_SELECTDB = 0xfe
const RDB_OPCODE_EOF = 0xff
const RDB_TYPE: Record<RdbValue['type'], number> = { string: 0, set: 2, hash: 4 }

export function redisRdb(entries: RdbEntry[], savedAt: Date, options: { redisVersion?: string, usedMemory?: number } = {}): Buffer {
  const parts: Buffer[] = [Buffer.from('REDIS0010')]
  const aux = (k: string, v: Buffer) => parts.push(Buffer.from([RDB_OPCODE_AUX]), rdbString(k), v)
  aux('redis-ver', rdbString(options.redisVersion ?? '7.0.15'))
  aux('redis-bits', rdbInt8(64))
  aux('ctime', rdbInt32(Math.floor(savedAt.getTime() / 1000)))
  aux('used-mem', rdbInt32(options.usedMemory ?? 1_234_567))
  aux('aof-base', rdbInt8(0))
  parts.push(Buffer.from([RDB_OPCODE_SELECTDB]), rdbLength(0))
  parts.push(Buffer.from([RDB_OPCODE_RESIZEDB]), rdbLength(entries.length), rdbLength(entries.filter((e) => e.expiresAt).length))
  for (const e of entries) {
    if (e.expiresAt) { const t = Buffer.alloc(9); t[0] = RDB_OPCODE_EXPIRETIME_MS; t.writeBigInt64LE(BigInt(e.expiresAt.getTime()), 1); parts.push(t) }
    parts.push(Buffer.from([RDB_TYPE[e.data.type]]), rdbString(e.key))
    if (e.data.type === 'string') parts.push(rdbString(e.data.value))
    else if (e.data.type === 'set') parts.push(rdbLength(e.data.value.length), ...e.data.value.map((m) => rdbString(m)))
    else { const kv = Object.entries(e.data.value); parts.push(rdbLength(kv.length), ...kv.flatMap(([k, v]) => [rdbString(k), rdbString(v)])) }
  }
  parts.push(Buffer.from([RDB_OPCODE_EOF]))
  const body = Buffer.concat(parts)
  const trailer = Buffer.alloc(8)
  trailer.writeBigUInt64LE(crc64(body))
  return Buffer.concat([body, trailer])
}

// ---------------------------------------------------------------------------
// PostgreSQL

/** A SCRAM-SHA-256 verifier as pg_authid stores it (and pg_dumpall writes it). */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}
