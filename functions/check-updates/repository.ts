import { parse } from 'yaml'
import { CaretakerError, Errors, isCaretakerError } from '../../shared/errors.ts'
import { compareVersions, isPrerelease, parseVersion, type SemVer } from './versions.ts'

/**
 * Reading what repositories and channels publish, over HTTPS only (plain
 * HTTP to a loopback address alone, for a local mirror and the tests),
 * bounded in time and size: an index.yaml of a large repository is tens
 * of MB, so the body is read as a stream and given up past the limit, never
 * buffered whole first. Redirects are followed by hand, at most a few, each
 * target held to the same rule (no step down from HTTPS to HTTP).
 */

export interface FetchLimits { timeoutMs: number; maxBytes: number }

/** Why a repository or channel could not be read (Errors.RepositoryUnreadable), in words a person can act on. */
const failure = (reason: string): CaretakerError => new CaretakerError(Errors.RepositoryUnreadable, reason)

const MAX_REDIRECTS = 5
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

/** Why a URL may not be fetched, or undefined when it may. */
export function urlRefusal(url: URL): string | undefined {
  if (url.protocol === 'https:') return undefined
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return undefined
  return `${url.protocol}//${url.host} is not HTTPS (plain HTTP only to a loopback address)`
}

/** The body of a URL as text, within the limits; throws Errors.RepositoryUnreadable with a reason a person can act on. */
export async function fetchText(start: string, limits: FetchLimits, signal?: AbortSignal): Promise<string> {
  let url = new URL(start)
  const timeout = AbortSignal.timeout(limits.timeoutMs)
  const aborted = signal ? AbortSignal.any([signal, timeout]) : timeout
  try {
    for (let hop = 0; ; hop++) {
      const refusal = urlRefusal(url)
      if (refusal) throw failure(refusal)
      const res = await fetch(url, { redirect: 'manual', signal: aborted, headers: { accept: 'application/x-yaml, application/yaml, application/json, text/plain, */*' } })
      if ([301, 302, 303, 307, 308].includes(res.status)) {
        await res.body?.cancel()
        const location = res.headers.get('location')
        if (!location) throw failure(`HTTP ${res.status} without a Location`)
        if (hop >= MAX_REDIRECTS) throw failure(`more than ${MAX_REDIRECTS} redirects`)
        const next = new URL(location, url)
        if (url.protocol === 'https:' && next.protocol !== 'https:') throw failure(`redirected from HTTPS to ${next.protocol}//${next.host}`)
        url = next
        continue
      }
      if (!res.ok) {
        await res.body?.cancel()
        throw failure(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} from ${url.host}${url.pathname}`)
      }
      const declared = Number(res.headers.get('content-length') ?? Number.NaN)
      if (declared > limits.maxBytes) {
        await res.body?.cancel()
        throw failure(`${url.pathname} is ${declared} bytes, over the limit of ${limits.maxBytes}`)
      }
      return await readBounded(res, limits.maxBytes, url)
    }
  } catch (err) {
    if (isCaretakerError(err, Errors.RepositoryUnreadable)) throw err
    const e = err as Error & { cause?: { code?: string; message?: string } }
    if (timeout.aborted) throw failure(`no answer within ${limits.timeoutMs} ms`)
    if (signal?.aborted) throw err
    throw failure(e.cause?.code ?? e.cause?.message ?? e.message)
  }
}

async function readBounded(res: Response, maxBytes: number, url: URL): Promise<string> {
  if (!res.body) return ''
  const decoder = new TextDecoder('utf-8')
  const parts: string[] = []
  let size = 0
  const reader = res.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel()
      throw failure(`${url.pathname} is over the limit of ${maxBytes} bytes`)
    }
    parts.push(decoder.decode(value, { stream: true }))
  }
  parts.push(decoder.decode())
  return parts.join('')
}

/** One version of a chart in a repository's index (Helm's repo.ChartVersion, the fields read). */
export interface ChartVersionEntry {
  version: string
  parsed: SemVer
  appVersion?: string
  created?: string
  deprecated: boolean
}

/** A repository's index.yaml: the versions of each chart it lists. */
export type RepositoryIndex = ReadonlyMap<string, ChartVersionEntry[]>

/**
 * Parses a Helm repository index (helm/helm pkg/repo/index.go: `apiVersion`,
 * `entries: { <chart>: [ { version, appVersion, created, deprecated, ... } ] }`).
 * A version that is no semver is skipped, as Helm's index sort skips it.
 */
export function parseRepositoryIndex(text: string): RepositoryIndex {
  let doc: unknown
  try {
    // Aliases are bounded (the yaml package's maxAliasCount), so a crafted index cannot blow up.
    doc = parse(text, { maxAliasCount: 100, uniqueKeys: false })
  } catch (err) {
    throw failure(`index.yaml does not parse: ${(err as Error).message.split('\n')[0]!}`)
  }
  const entries = (doc as { entries?: unknown } | null)?.entries
  if (!doc || typeof doc !== 'object' || !entries || typeof entries !== 'object' || Array.isArray(entries)) {
    throw failure('index.yaml has no entries: it is no Helm repository index')
  }
  const index = new Map<string, ChartVersionEntry[]>()
  for (const [chart, list] of Object.entries(entries as Record<string, unknown>)) {
    if (!Array.isArray(list)) continue
    const versions: ChartVersionEntry[] = []
    for (const raw of list) {
      const e = (raw ?? {}) as Record<string, unknown>
      // An unquoted `version: 1.2` is a YAML number: read it as the text it was.
      const version = typeof e.version === 'string' ? e.version : typeof e.version === 'number' ? String(e.version) : undefined
      const parsed = parseVersion(version)
      if (!version || !parsed) continue
      versions.push({
        version, parsed,
        ...(typeof e.appVersion === 'string' || typeof e.appVersion === 'number' ? { appVersion: String(e.appVersion) } : {}),
        ...(typeof e.created === 'string' ? { created: e.created } : e.created instanceof Date ? { created: e.created.toISOString() } : {}),
        deprecated: e.deprecated === true,
      })
    }
    index.set(chart, versions)
  }
  return index
}

/** The newest version of a chart, pre-releases left out unless asked for. */
export function newestVersion(versions: readonly ChartVersionEntry[], includePrerelease: boolean): ChartVersionEntry | undefined {
  let best: ChartVersionEntry | undefined
  for (const v of versions) {
    if (!includePrerelease && isPrerelease(v.parsed)) continue
    if (!best || compareVersions(v.parsed, best.parsed) > 0) best = v
  }
  return best
}

/** The K3s release channels document (the channel server at update.k3s.io/v1-release/channels): `latest` of the named channel. */
export function channelLatest(text: string, channel: string): { latest: string } | { reason: string } {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    return { reason: 'the channels document is not JSON' }
  }
  const data = (doc as { data?: unknown } | null)?.data
  if (!Array.isArray(data)) return { reason: 'the channels document has no data list' }
  const found = data.find((c) => c && typeof c === 'object' && ((c as Record<string, unknown>).id === channel || (c as Record<string, unknown>).name === channel)) as Record<string, unknown> | undefined
  if (!found) return { reason: `channel ${channel} is not in the channels document` }
  return typeof found.latest === 'string' && found.latest.length > 0 ? { latest: found.latest } : { reason: `channel ${channel} names no latest version` }
}
