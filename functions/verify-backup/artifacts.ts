import { readdir, stat } from 'node:fs/promises'
import { join, relative, resolve, sep } from 'node:path'
import picomatch from 'picomatch'
import { CaretakerError, Errors } from '../../shared/errors.ts'

/** One file of a backup set. */
export interface Artifact {
  readonly path: string
  readonly name: string
  readonly size: number
  readonly modified: Date
}

/**
 * The set's artifacts in its directory, newest first (by modification
 * time, then name: runbook names carry a timestamp that sorts). Only plain
 * files directly in the directory count; side files (`.sha256`) never do.
 */
export async function listArtifacts(directory: string, pattern: string): Promise<Artifact[]> {
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
    const path = join(directory, name)
    const info = await stat(path).catch(() => undefined)
    if (!info?.isFile()) continue
    found.push({ path, name, size: info.size, modified: info.mtime })
  }
  return found.sort((a, b) => b.modified.getTime() - a.modified.getTime() || b.name.localeCompare(a.name))
}

/** Whether `path` lies inside `directory` (after resolving `..`). */
export function isInside(directory: string, path: string): boolean {
  const rel = relative(resolve(directory), resolve(path))
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !rel.includes(sep)
}
