import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Each function's config when `npm start` runs against a real cluster: the
 * user's `<config dir>/<function>.yaml` (the config document itself, what a
 * ConfigMap's `config.yaml` holds), else the shipped
 * `manifests/<function>/config.yaml` (the same document), else none: the
 * function's defaults.
 */

export interface LocalConfig {
  /** The file the function reads (CARETAKER_CONFIG). */
  readonly path: string
  /** Where it came from, for the log: the user's file, the shipped manifest, or a local default. */
  readonly source: string
}

/**
 * Shipped configs that cannot serve a local run as they are. The bridge's
 * is a Secret holding a placeholder token it refuses; locally it listens on
 * loopback only, where it may take the webhook without credentials.
 */
const LOCAL_DEFAULTS: Readonly<Record<string, string>> = {
  'alertmanager-bridge': 'auth: none\n',
}

/**
 * The config document of a shipped `manifests/<name>/config.yaml`, or
 * undefined: the file is the config itself (kustomize's generators make the
 * ConfigMap, or the bridge's Secret, of it).
 */
export async function shippedConfigText(manifestsDir: string, name: string): Promise<string | undefined> {
  const file = join(manifestsDir, name, 'config.yaml')
  if (!existsSync(file)) return undefined
  return readFile(file, 'utf8')
}

/**
 * The user's config directory, checked: it must exist, and each YAML file
 * in it must be named after a function (a misspelt name would otherwise
 * leave that function on the shipped config without a word).
 */
export async function userConfigFiles(configDir: string, functionNames: readonly string[]): Promise<Map<string, string>> {
  if (!existsSync(configDir)) throw new Error(`--config ${configDir}: no such directory`)
  const files = new Map<string, string>()
  for (const entry of await readdir(configDir, { withFileTypes: true })) {
    const m = /^(.+)\.ya?ml$/.exec(entry.name)
    if (!entry.isFile() || !m) continue
    const name = m[1]!
    if (!functionNames.includes(name)) {
      throw new Error(`--config ${configDir}: ${entry.name} names no function; one <function>.yaml per function, of ${functionNames.join(', ')}`)
    }
    if (files.has(name)) throw new Error(`--config ${configDir}: both ${name}.yaml and ${name}.yml; keep one`)
    files.set(name, join(configDir, entry.name))
  }
  return files
}

/** Resolves every function's config, writing the ones taken from manifests into `stateDir`. */
export async function clusterConfigs(options: { functionNames: readonly string[]; configDir?: string; manifestsDir: string; stateDir: string }): Promise<Map<string, LocalConfig>> {
  const user = options.configDir ? await userConfigFiles(options.configDir, options.functionNames) : new Map<string, string>()
  const out = new Map<string, LocalConfig>()
  const dir = join(options.stateDir, 'config')
  for (const name of options.functionNames) {
    const own = user.get(name)
    if (own) {
      out.set(name, { path: own, source: own })
      continue
    }
    const local = LOCAL_DEFAULTS[name]
    const shipped = local ?? await shippedConfigText(options.manifestsDir, name)
    if (shipped === undefined) continue
    await mkdir(dir, { recursive: true })
    const path = join(dir, `${name}.yaml`)
    await writeFile(path, shipped, { mode: 0o600 })
    out.set(name, { path, source: local ? 'local default (loopback only)' : join(options.manifestsDir, name, 'config.yaml') })
  }
  return out
}
