import { createGunzip } from 'node:zlib'
import { readRange } from './stream.ts'

/**
 * The PostgreSQL version a pg_dumpall dump came from. pg_dumpall writes
 * "-- PostgreSQL database cluster dump" on top, then the roles, then one
 * pg_dump section per database, each with the header
 *
 *   -- Dumped from database version 15.8 (Debian 15.8-1.pgdg120+1)
 *   -- Dumped by pg_dump version 15.8 (Debian 15.8-1.pgdg120+1)
 *
 * (postgres/postgres, src/bin/pg_dump/pg_backup_archiver.c, RestoreArchive:
 * "Dumped from database version %s" from the server's `server_version`,
 * "Dumped by pg_dump version %s" from PG_VERSION). The restore test runs in
 * the server's own major version: the first "Dumped from" line names it.
 */

export interface DumpVersion {
  /** The server's version as written, e.g. `15.8 (Debian 15.8-1.pgdg120+1)`. */
  readonly server: string
  /** Its major version: `15`, or `9.6` before PostgreSQL 10. */
  readonly major: string
  /** pg_dump's own version, when the header has it. */
  readonly pgDump?: string
}

const FROM = /^-- Dumped from database version (\S.*)$/m
const BY = /^-- Dumped by pg_dump version (\S.*)$/m

/** The major version of a PostgreSQL version string: `15` of `15.8`, `9.6` of `9.6.24`, `17` of `17beta1`. */
export function postgresMajor(version: string): string | undefined {
  const m = /^(\d+)(?:\.(\d+))?/.exec(version.trim())
  if (!m) return undefined
  const first = Number(m[1])
  if (first >= 10) return String(first)
  return m[2] === undefined ? undefined : `${first}.${m[2]}`
}

/** The version header in the text of a dump (its head is enough), or undefined when there is none. */
export function parseDumpVersion(text: string): DumpVersion | undefined {
  const from = FROM.exec(text)
  if (!from) return undefined
  const server = from[1]!.trim()
  const major = postgresMajor(server)
  if (!major) return undefined
  const by = BY.exec(text.slice(from.index))
  return { server, major, ...(by ? { pgDump: by[1]!.trim() } : {}) }
}

/** How much of the decompressed dump is searched: the roles section before the first header is rarely larger. */
export const VERSION_SEARCH_BYTES = 16 * 1024 * 1024

/**
 * Reads a gzipped pg_dumpall dump only as far as its first version header
 * (at most VERSION_SEARCH_BYTES of SQL) and stops there.
 */
export async function readDumpVersion(path: string, signal?: AbortSignal): Promise<DumpVersion | undefined> {
  const gunzip = createGunzip()
  const source = readRange(path)
  source.on('error', (err) => gunzip.destroy(err))
  source.pipe(gunzip)
  let text = ''
  let seen = 0
  try {
    for await (const chunk of gunzip.iterator({ destroyOnReturn: true }) as AsyncIterable<Buffer>) {
      if (signal?.aborted) throw signal.reason
      seen += chunk.length
      // Only whole lines matter: keep the unfinished last line with the next chunk.
      text += chunk.toString('utf8')
      const found = parseDumpVersion(text.slice(0, text.lastIndexOf('\n') + 1))
      if (found && (found.pgDump || text.length - text.indexOf('-- Dumped from') > 4096)) return found
      if (seen >= VERSION_SEARCH_BYTES) break
      // Keep a window large enough for both header lines.
      if (!found && text.length > 8192) text = text.slice(-8192)
    }
    return parseDumpVersion(text)
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    // A dump that does not even gunzip has no header to read; the integrity check says why.
    return undefined
  } finally {
    source.destroy()
    gunzip.destroy()
  }
}
