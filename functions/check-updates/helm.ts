import { gunzipSync } from 'node:zlib'
import type { V1Secret } from '@kubernetes/client-node'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { byCodeUnits } from '../../shared/order.ts'

/**
 * Helm 3's release records, as its Secret storage driver keeps them
 * (helm/helm pkg/storage/driver/secrets.go): one Secret per revision, type
 * `helm.sh/release.v1`, named `sh.helm.release.v1.<release>.v<revision>`,
 * labelled `owner=helm`, `name`, `status`, `version`, whose `data.release`
 * is the release as Helm's encodeRelease writes it
 * (helm/helm pkg/storage/driver/util.go): JSON, gzipped
 * (gzip.BestCompression), base64 (StdEncoding); the Secret then base64s
 * that text once more, as it does any `data` value. decodeRelease undoes
 * it, and gunzips only when the bytes start with gzip's magic
 * (`1f 8b 08`): releases stored before compression are plain JSON.
 */

export const HELM_RELEASE_TYPE = 'helm.sh/release.v1'
export const HELM_OWNER_SELECTOR = 'owner=helm'
const GZIP_MAGIC = [0x1f, 0x8b, 0x08]
/** A release record is at most a Secret (1 MiB); its JSON, unzipped, is held to this. */
const MAX_RELEASE_JSON = 16 * 1024 * 1024

/** The parts of Helm's release (pkg/release/release.go) this function reads. */
export interface HelmRelease {
  name: string
  namespace: string
  revision: number
  status: string
  chart: { name: string; version: string; appVersion?: string }
  lastDeployed?: string
}

/** A release record that cannot be read (Errors.ReleaseUnreadable). */
const unreadable = (reason: string): CaretakerError => new CaretakerError(Errors.ReleaseUnreadable, reason)

/** `data.release` of a Secret (base64 as the API returns it) to the release's JSON. */
export function decodeReleaseData(secretValue: string): unknown {
  // The Secret's own base64, then Helm's.
  const helmText = Buffer.from(secretValue, 'base64').toString('latin1')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(helmText)) throw unreadable('data.release is not base64 text as Helm writes it')
  let bytes = Buffer.from(helmText, 'base64')
  if (bytes.length > 3 && GZIP_MAGIC.every((b, i) => bytes[i] === b)) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: MAX_RELEASE_JSON })
    } catch (err) {
      throw unreadable(`data.release does not unzip: ${(err as Error).message}`)
    }
  }
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    throw unreadable('data.release is not a release in JSON')
  }
}

/** Helm's encodeRelease, for tests and the sandbox: the value to put in `data.release` (already base64 for the Secret). */
export function encodeReleaseData(release: unknown, gzip: (b: Buffer) => Buffer): string {
  const helmText = gzip(Buffer.from(JSON.stringify(release))).toString('base64')
  return Buffer.from(helmText).toString('base64')
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined)
type Obj = Record<string, unknown>
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Obj : {})

/** A Secret that is a Helm release record, read; undefined when it is none (wrong type or labels). */
export function readReleaseSecret(secret: V1Secret): HelmRelease | undefined {
  const labels = secret.metadata?.labels ?? {}
  if (secret.type !== HELM_RELEASE_TYPE || labels.owner !== 'helm') return undefined
  const value = secret.data?.release
  if (!value) throw unreadable('the Secret has no data.release')
  const release = obj(decodeReleaseData(value))
  const chart = obj(obj(release.chart).metadata)
  const info = obj(release.info)
  const name = str(release.name) ?? labels.name
  const namespace = str(release.namespace) ?? secret.metadata?.namespace
  const revision = typeof release.version === 'number' ? release.version : Number(labels.version)
  const chartName = str(chart.name)
  const chartVersion = str(chart.version)
  if (!name || !namespace || !Number.isInteger(revision) || !chartName || !chartVersion) {
    throw unreadable('the release lacks its name, revision or chart name and version')
  }
  return {
    name, namespace, revision,
    // The label is what Helm's own list selects on; the record's info.status is the same value.
    status: labels.status ?? str(info.status) ?? 'unknown',
    chart: { name: chartName, version: chartVersion, ...(str(chart.appVersion) ? { appVersion: str(chart.appVersion)! } : {}) },
    ...(str(info.last_deployed) ? { lastDeployed: str(info.last_deployed)! } : {}),
  }
}

/**
 * The deployed revision of each release: status `deployed`, the highest
 * revision when more than one says so, as Helm's Storage.Deployed does
 * (helm/helm pkg/storage/storage.go: DeployedAll queries the labels
 * `name`, `owner=helm`, `status=deployed`; "If executed concurrently, Helm's
 * database gets corrupted and multiple releases are DEPLOYED. Take the
 * latest.").
 */
export function deployedReleases(releases: Iterable<HelmRelease>): HelmRelease[] {
  const byName = new Map<string, HelmRelease>()
  for (const r of releases) {
    if (r.status !== 'deployed') continue
    const key = `${r.namespace}/${r.name}`
    const seen = byName.get(key)
    if (!seen || r.revision > seen.revision) byName.set(key, r)
  }
  return [...byName.values()].sort((a, b) => byCodeUnits(a.namespace, b.namespace) || byCodeUnits(a.name, b.name))
}
