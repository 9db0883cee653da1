import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { pack, type Pack } from 'tar-stream'
import { CaretakerError, Errors } from '../../shared/errors.ts'

/**
 * One configuration backup: a gzipped tar whose `SHA256SUMS` (its last
 * entry) lists every other file with its hash, verify-backup's
 * `sha256sums-tar-gzip` format, and a `<archive>.sha256` beside it (as
 * `sha256sum` writes it) that verify-backup's checksum check reads.
 *
 * Written atomically: the tar goes to `.<name>.part` (a dot name, which no
 * set pattern matches), is fsynced, the side file is written and fsynced
 * the same way, then the archive is renamed into place and the directory
 * fsynced. A run killed or failing mid-way leaves at most a `.part` file,
 * never a file with an archive's name; a failed run removes its own.
 */

/** An archive's name for a time: `<prefix>_YYYYMMDD_HHmmss.tar.gz` in UTC. */
export function archiveName(prefix: string, at: Date): string {
  const iso = at.toISOString()
  return `${prefix}_${iso.slice(0, 10).replaceAll('-', '')}_${iso.slice(11, 19).replaceAll(':', '')}.tar.gz`
}

/** A path element safe in a tar and in SHA256SUMS (no spaces, no slashes). */
export function safeName(text: string): string {
  const clean = text.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_')
  return clean.length > 0 ? clean.slice(0, 200) : '_'
}

function writeFailure(directory: string, err: unknown): CaretakerError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error'
  const hint = code === 'ENOSPC' ? ': the volume is full' : code === 'EROFS' || code === 'EACCES' || code === 'EPERM' ? ': it is not writable (mount the backups claim read-write)' : code === 'ENOTDIR' || code === 'EEXIST' ? ': it is not a directory' : code === 'ENOENT' ? ': its parent is missing (is the backups volume mounted?)' : ''
  return new CaretakerError(Errors.DependencyUnavailable, `cannot write the configuration archive in ${directory} (${code})${hint}`, { details: { system: 'filesystem', code } })
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export interface WrittenArchive { name: string; path: string; size: number; sha256: string; files: number }

export class ArchiveWriter {
  readonly name: string
  readonly path: string
  readonly #directory: string
  readonly #part: string
  readonly #tar: Pack
  readonly #sums: string[] = []
  readonly #done: Promise<void>
  readonly #seen = new Set<string>()

  private constructor(directory: string, name: string, done: Promise<void>, tar: Pack) {
    this.#directory = directory
    this.name = name
    this.path = join(directory, name)
    this.#part = join(directory, `.${name}.part`)
    this.#tar = tar
    this.#done = done
  }

  /**
   * Opens `.<name>.part` in `directory`, made if missing, but only there: its
   * parent is the mounted volume, and without it nothing is written (no
   * archive on a container's own filesystem). Refuses when `name` exists already.
   */
  static async open(directory: string, name: string): Promise<ArchiveWriter> {
    try {
      await mkdir(directory)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw writeFailure(directory, err)
    }
    if (await stat(join(directory, name)).then(() => true, () => false)) {
      throw new CaretakerError(Errors.EventInProgress, `the archive ${name} exists already (another run this second): retry in a moment`)
    }
    const part = join(directory, `.${name}.part`)
    const file = createWriteStream(part, { flags: 'w', mode: 0o640 })
    try {
      await new Promise<void>((resolve, reject) => { file.once('open', () => resolve()); file.once('error', reject) })
    } catch (err) {
      throw writeFailure(directory, err)
    }
    const tar = pack()
    const done = pipeline(tar, createGzip(), file)
    // Failures surface when finished; until then keep them from being unhandled.
    done.catch(() => undefined)
    return new ArchiveWriter(directory, name, done, tar)
  }

  /** Adds a file; its path is made unique (`-2`, `-3`) when taken. */
  add(path: string, content: Buffer | string): string {
    let unique = path
    for (let n = 2; this.#seen.has(unique); n++) unique = path.replace(/(\.[a-z]+)?$/, (ext) => `-${n}${ext}`)
    this.#seen.add(unique)
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content
    this.#sums.push(`${createHash('sha256').update(bytes).digest('hex')}  ${unique}`)
    this.#tar.entry({ name: unique, size: bytes.length, mode: 0o640, mtime: new Date(0) }, bytes)
    return unique
  }

  get files(): number {
    return this.#sums.length
  }

  /** SHA256SUMS last, everything fsynced, the side file, then the rename into place. */
  async finish(): Promise<WrittenArchive> {
    this.#tar.entry({ name: 'SHA256SUMS', mode: 0o640, mtime: new Date(0) }, `${this.#sums.join('\n')}\n`)
    this.#tar.finalize()
    const sidecar = `${this.path}.sha256`
    const sidecarPart = join(this.#directory, `.${this.name}.sha256.part`)
    try {
      await this.#done
      await fsyncPath(this.#part)
      const hash = createHash('sha256')
      await pipeline((await open(this.#part, 'r')).createReadStream(), hash)
      const sha256 = hash.digest('hex')
      const { size } = await stat(this.#part)
      const handle = await open(sidecarPart, 'w', 0o640)
      try {
        await handle.writeFile(`${sha256}  ${this.name}\n`)
        await handle.sync()
      } finally {
        await handle.close()
      }
      await rename(sidecarPart, sidecar)
      await rename(this.#part, this.path)
      await fsyncPath(this.#directory)
      return { name: this.name, path: this.path, size, sha256, files: this.#sums.length }
    } catch (err) {
      await this.abort()
      await rm(sidecar, { force: true }).catch(() => undefined)
      throw writeFailure(this.#directory, err)
    }
  }

  /** Drops the partial file: nothing with the archive's name is left. */
  async abort(): Promise<void> {
    this.#tar.destroy()
    await this.#done.catch(() => undefined)
    await rm(this.#part, { force: true }).catch(() => undefined)
    await rm(join(this.#directory, `.${this.name}.sha256.part`), { force: true }).catch(() => undefined)
  }
}

export interface RetentionResult { kept: number; deleted: string[]; wouldDelete: string[]; partialsRemoved: string[] }

/**
 * Keeps the newest `keep` archives of `prefix` (by name: the UTC timestamp
 * sorts); older ones and their side files are deleted, or listed only in
 * dry-run. `.part` files of runs killed more than an hour ago are removed
 * (never an archive: nothing with an archive's name is one).
 */
export async function applyRetention(directory: string, prefix: string, keep: number, dryRun: boolean, now: Date): Promise<RetentionResult> {
  const pattern = new RegExp(`^${prefix.replace(/[-]/g, '\\-')}_\\d{8}_\\d{6}\\.tar\\.gz$`)
  const partPattern = new RegExp(`^\\.${prefix.replace(/[-]/g, '\\-')}_\\d{8}_\\d{6}\\.tar\\.gz(\\.sha256)?\\.part$`)
  const names = await readdir(directory)
  const archives = names.filter((n) => pattern.test(n)).sort().reverse()
  const old = archives.slice(keep)
  const result: RetentionResult = { kept: Math.min(keep, archives.length), deleted: [], wouldDelete: [], partialsRemoved: [] }
  for (const name of old) {
    if (dryRun) { result.wouldDelete.push(name); continue }
    await unlink(join(directory, name))
    await rm(join(directory, `${name}.sha256`), { force: true })
    result.deleted.push(name)
  }
  for (const name of names.filter((n) => partPattern.test(n))) {
    const info = await stat(join(directory, name)).catch(() => undefined)
    if (info && now.getTime() - info.mtime.getTime() > 3_600_000) {
      await rm(join(directory, name), { force: true })
      result.partialsRemoved.push(name)
    }
  }
  return result
}
