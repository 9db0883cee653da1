import { lstat, readdir, realpath, stat } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import picomatch from 'picomatch'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { byCodeUnits } from '../../shared/order.ts'
import type { NameTimestamp } from './config.ts'
import { nameTimeReader } from './timestamps.ts'

/** One file of a backup set. */
export interface Artifact {
  /** Where it is read from: for a symbolic link, the file it resolves to (in the same directory). */
  readonly path: string
  readonly name: string
  readonly size: number
  /** The file's modification time (a copy may have reset it). */
  readonly modified: Date
  /** The artifact's time: from its name when the set has a `timestamp` and the name has one, else `modified`. */
  readonly time: Date
  readonly timeSource: 'name' | 'mtime'
  /** Why the name did not give the time, when the set has a `timestamp`. */
  readonly timeNote?: string
}

/**
 * The file `name` in `directory` as it may be read: a regular file, or a
 * symbolic link whose target (every link resolved) is a regular file directly
 * in the same directory (also resolved); its real path then. Anything else,
 * above all a link out of the directory, is undefined: it is never opened,
 * so no byte of it can reach a reply.
 */
export async function containedFile(directory: string, name: string): Promise<{ path: string; size: number; modified: Date } | undefined> {
  const path = join(directory, name)
  const own = await lstat(path).catch(() => undefined)
  if (!own) return undefined
  if (own.isFile()) return { path, size: own.size, modified: own.mtime }
  if (!own.isSymbolicLink()) return undefined
  const [realDirectory, target] = await Promise.all([realpath(directory).catch(() => undefined), realpath(path).catch(() => undefined)])
  if (realDirectory === undefined || target === undefined || dirname(target) !== realDirectory) return undefined
  const info = await stat(target).catch(() => undefined)
  return info?.isFile() ? { path: target, size: info.size, modified: info.mtime } : undefined
}

/**
 * The set's artifacts in its directory, newest first (by their time, from
 * the name when `timestamp` says how to read it, else the modification time;
 * then by name). Only plain files directly in the directory count, or links
 * to one there; side files (`.sha256`) never do.
 */
export async function listArtifacts(directory: string, pattern: string, timestamp?: NameTimestamp): Promise<Artifact[]> {
  const nameTime = timestamp ? nameTimeReader(timestamp) : undefined
  const isMatch = picomatch(pattern, { dot: false })
  let names: string[]
  try {
    names = await readdir(directory)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return []
    throw new CaretakerError(Errors.DependencyUnavailable, `cannot read backup directory ${directory} (${code ?? 'error'})`)
  }
  const found: Artifact[] = []
  for (const name of names) {
    if (!isMatch(name) || name.endsWith('.sha256')) continue
    const file = await containedFile(directory, name)
    if (!file) continue
    const named = nameTime?.(name)
    found.push({
      path: file.path, name, size: file.size, modified: file.modified,
      ...(named?.time ? { time: named.time, timeSource: 'name' as const } : { time: file.modified, timeSource: 'mtime' as const, ...(named ? { timeNote: `${named.note}: its modification time is used` } : {}) }),
    })
  }
  return found.sort((a, b) => b.time.getTime() - a.time.getTime() || byCodeUnits(b.name, a.name))
}

/** Whether `path` lies inside `directory` (after resolving `..`). */
export function isInside(directory: string, path: string): boolean {
  const rel = relative(resolve(directory), resolve(path))
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !rel.includes(sep)
}
