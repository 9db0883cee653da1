import { readFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { containedFile } from '../artifacts.ts'
import { fail, hashFile, pass, type FormatVerdict } from './stream.ts'

/**
 * A `<artifact>.sha256` file beside the artifact, as `sha256sum` writes it
 * (`<hex>  <name>`, or the bare hex). Absent: nothing to check.
 */

export async function sidecarPath(artifact: string): Promise<string | undefined> {
  // Like the artifact, a checksum file that links out of the directory is never read.
  return (await containedFile(dirname(artifact), `${basename(artifact)}.sha256`))?.path
}

export async function verifySidecar(artifact: string, sidecar: string, signal?: AbortSignal): Promise<FormatVerdict> {
  const text = (await readFile(sidecar, 'utf8')).slice(0, 4096)
  const line = text.split('\n').find((l) => l.trim() !== '') ?? ''
  const m = /^([0-9a-fA-F]{64})(?:\s+\*?(.+))?$/.exec(line.trim())
  if (!m) return fail(`checksum file ${basename(sidecar)} holds no SHA-256`, { file: basename(sidecar) })
  const expected = m[1]!.toLowerCase()
  const named = m[2]?.trim()
  if (named && basename(named) !== basename(artifact)) {
    return fail(`checksum file ${basename(sidecar)} names ${named}, not ${basename(artifact)}`, { file: basename(sidecar) })
  }
  const actual = await hashFile(artifact, 'sha256', signal ? { signal } : {})
  if (actual !== expected) {
    return fail(`SHA-256 mismatch against ${basename(sidecar)}`, { file: basename(sidecar), expectedSha256: expected, actualSha256: actual })
  }
  return pass(`SHA-256 matches ${basename(sidecar)}`, { file: basename(sidecar), sha256: actual })
}
