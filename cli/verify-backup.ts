import { readdir, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { constants, gunzipSync } from 'node:zlib'
import type { BackupSet } from '../functions/verify-backup/config.ts'
import { isZip } from '../functions/verify-backup/formats/zip.ts'
import { readAt } from '../functions/verify-backup/formats/stream.ts'
import { verifyFileSet, type CheckReport } from '../functions/verify-backup/verify.ts'

/**
 * `caretaker verify-backup`: local backup files checked once, with no server
 * and no config, by verify-backup's own checks (presence, size, integrity by
 * format, the `.sha256` beside it). The format is read from the file's first
 * bytes, as each format's verifier recognises it.
 */

import { FILE_FORMATS, type FileFormat } from './formats.ts'

const HEAD_BYTES = 16 * 1024
/** bbolt's meta page magic, right after the first page header (functions/verify-backup/formats/etcd.ts). */
const BOLT_MAGIC = 0xed0cdaed
const BOLT_MAGIC_OFFSET = 16
/** A Vault raft snapshot's members (functions/verify-backup/formats/vault-snapshot.ts). */
const VAULT_MEMBERS = new Set(['meta.json', 'state.bin', 'SHA256SUMS.sealed'])

/** The names of the tar entries whose headers lie in `bytes` (the start of an archive). */
function tarNames(bytes: Buffer): string[] {
  const names: string[] = []
  let offset = 0
  while (offset + 512 <= bytes.length) {
    const header = bytes.subarray(offset, offset + 512)
    if (header.every((b) => b === 0)) break
    if (header.toString('latin1', 257, 262) !== 'ustar') break
    const name = header.toString('utf8', 0, 100).replace(/\0.*$/s, '')
    const prefix = header.toString('utf8', 345, 500).replace(/\0.*$/s, '')
    names.push(prefix ? `${prefix}/${name}` : name)
    const size = parseInt(header.toString('latin1', 124, 136).replace(/\0.*$/s, '').trim() || '0', 8)
    if (!Number.isFinite(size)) break
    offset += 512 + Math.ceil(size / 512) * 512
  }
  return names
}

/** The format of the file whose first bytes are `head`, or undefined when it is none verify-backup knows. */
export function detectFormat(head: Buffer): FileFormat | undefined {
  if (/^REDIS\d{4}/.test(head.toString('latin1', 0, 9))) return 'redis-rdb'
  if (/^# v[23] git bundle\n/.test(head.toString('latin1', 0, 16))) return 'git-bundle'
  if (head.length >= BOLT_MAGIC_OFFSET + 4 && head.readUInt32LE(BOLT_MAGIC_OFFSET) === BOLT_MAGIC) return 'etcd-snapshot'
  // etcd's snapshot as some backup jobs keep it: zipped (the etcd verifier opens the zip).
  if (isZip(head)) return 'etcd-snapshot'
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    let inner: Buffer
    try {
      // What the first bytes unpack to; the rest (and a truncated end) is the verifier's to judge.
      inner = gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH })
    } catch {
      return 'pg-dumpall-gzip'
    }
    if (inner.length >= 262 && inner.toString('latin1', 257, 262) === 'ustar') {
      return tarNames(inner).some((n) => VAULT_MEMBERS.has(n)) ? 'vault-raft-snapshot' : 'sha256sums-tar-gzip'
    }
    return 'pg-dumpall-gzip'
  }
  return undefined
}

export interface FileVerdict {
  readonly path: string
  readonly format: FileFormat | null
  readonly ok: boolean
  /** What passed (the integrity check's finding) or the reason it failed, and what to do. */
  readonly message: string
  /** The check that failed, when one did. */
  readonly failedCheck?: string
  readonly checks: readonly CheckReport[]
}

/** Checks judged here: those of one file. Age and depth are a set's (its RPO and retention), which only a config knows. */
const FILE_CHECKS = new Set(['presence', 'size', 'integrity', 'checksum'])

/** The set verify-backup verifies for one file: itself alone, any age, any size but empty, no restore. */
function oneFileSet(path: string, format: FileFormat): BackupSet {
  return { name: basename(path), format, directory: dirname(path), pattern: '*', rpo: '36500d', minSizeBytes: 1, maxShrinkPercent: 100 }
}

export async function verifyBackupFile(path: string, forced?: FileFormat, signal: AbortSignal = new AbortController().signal): Promise<FileVerdict> {
  const info = await stat(path)
  const format = forced ?? detectFormat(info.size === 0 ? Buffer.alloc(0) : await readAt(path, 0, Math.min(HEAD_BYTES, info.size)))
  if (!format) {
    return {
      path, format: null, ok: false, failedCheck: 'format', checks: [],
      message: info.size === 0
        ? 'the file is empty (0 bytes)'
        : `not a backup format caretaker recognises (${FILE_FORMATS.join(', ')}): if it is one, name it with --format`,
    }
  }
  const report = await verifyFileSet(oneFileSet(path, format), { now: new Date(), signal, only: resolve(path) })
  const checks = report.checks.filter((c) => FILE_CHECKS.has(c.check))
  const failed = checks.find((c) => !c.ok)
  if (failed) return { path, format, ok: false, failedCheck: failed.failure ?? failed.check, message: failed.message, checks }
  const shown = checks.find((c) => c.check === 'checksum') ?? checks.find((c) => c.check === 'integrity')
  const sidecar = checks.some((c) => c.check === 'checksum')
  return { path, format, ok: true, message: `${checks.find((c) => c.check === 'integrity')?.message ?? shown?.message ?? 'verified'}${sidecar ? '; matches its .sha256' : ''}`, checks }
}

/** Every backup file under `path` (a file, or a directory walked down; dot files, and the `.sha256` beside an artifact, left out). */
export async function backupFiles(path: string): Promise<string[]> {
  const info = await stat(path)
  if (!info.isDirectory()) return [path]
  const out: string[] = []
  const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))
  const names = new Set(entries.map((e) => e.name))
  for (const e of entries) {
    if (e.name.startsWith('.')) continue
    const full = join(path, e.name)
    if (e.isDirectory()) out.push(...await backupFiles(full))
    else if (e.isFile() || e.isSymbolicLink()) {
      // A checksum file is checked with its artifact; alone, it is no backup.
      if (e.name.endsWith('.sha256') && names.has(e.name.slice(0, -'.sha256'.length))) continue
      out.push(full)
    }
  }
  return out
}
