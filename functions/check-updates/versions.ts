import semver, { type SemVer } from 'semver'

/** Version comparison with `semver` (npm's own). */

export type { SemVer }

/**
 * A chart or Kubernetes version, as Helm reads one: Helm's Masterminds
 * semver also takes `v1.2.3` and a short `1.2` (as `1.2.0`). Anything else is
 * no version (undefined).
 */
export function parseVersion(text: unknown): SemVer | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 256) return undefined
  const parsed = semver.parse(text.trim(), { loose: true })
  if (parsed) return parsed
  return /^v?\d+(\.\d+)?$/.test(text.trim()) ? semver.coerce(text.trim()) ?? undefined : undefined
}

/** Orders versions, build metadata last (`v1.30.5+k3s2` after `v1.30.5+k3s1`, as K3s numbers its builds). */
export function compareVersions(a: SemVer, b: SemVer): number {
  // The same `loose` as parseVersion's: with another, semver re-parses each from its `version`, which has lost the build.
  return semver.compareBuild(a, b, { loose: true })
}

export function isPrerelease(v: SemVer): boolean {
  return v.prerelease.length > 0
}

export type UpdateStatus = 'current' | 'update-available' | 'major-update'

/** Where `installed` stands against `latest`: a newer major is a `major-update`. */
export function updateStatus(installed: SemVer, latest: SemVer): UpdateStatus {
  if (compareVersions(latest, installed) <= 0) return 'current'
  return latest.major !== installed.major ? 'major-update' : 'update-available'
}
