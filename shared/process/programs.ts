import { accessSync, constants, readdirSync, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'

/**
 * Finding the server programs Caretaker runs (PostgreSQL's initdb, postgres
 * and psql; in tests also Redis and etcd): on PATH, and for PostgreSQL in
 * Debian's versioned directories (`/usr/lib/postgresql/<major>/bin`), where
 * the highest version wins.
 */
export interface ProgramOptions {
  /** The Debian package that provides the program, for the install hint. */
  packageName: string
  /** Environment to read PATH from (the process's by default). */
  env?: NodeJS.ProcessEnv
  /** Where the versioned PostgreSQL programs are (Debian's place by default). */
  postgresqlRoot?: string
}

const debianPostgresqlRoot = '/usr/lib/postgresql'

export function missingProgramMessage(name: string, packageName: string): string {
  return `${name} not found; install it with: apt-get install -y ${packageName}`
}

export function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** `<root>/<version>/bin` directories, highest version first. */
function postgresqlBinDirs(root: string): string[] {
  let entries: string[]
  try {
    entries = readdirSync(root)
  } catch {
    return []
  }
  return entries
    .filter((e) => /^\d+(\.\d+)*$/.test(e))
    .sort((a, b) => {
      const pa = a.split('.').map(Number)
      const pb = b.split('.').map(Number)
      for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
        const d = (pb[i] ?? 0) - (pa[i] ?? 0)
        if (d !== 0) return d
      }
      return 0
    })
    .map((v) => join(root, v, 'bin'))
}

/** The directories searched for a program, in order. */
export function searchPath(options: ProgramOptions): string[] {
  const env = options.env ?? process.env
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean)
  if (options.packageName.startsWith('postgresql')) dirs.push(...postgresqlBinDirs(options.postgresqlRoot ?? debianPostgresqlRoot))
  return dirs
}

/** The absolute path of program `name`, or undefined when it is not installed. */
export function findProgram(name: string, options: ProgramOptions): string | undefined {
  for (const dir of searchPath(options)) {
    const candidate = join(dir, name)
    if (isExecutableFile(candidate)) return candidate
  }
  return undefined
}
