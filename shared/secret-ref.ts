import { readFile } from 'node:fs/promises'
import { SecretValue } from './logger.ts'
import type { FromSchema, JsonSchema } from './schema.ts'
import type { Vault } from './vault/client.ts'

/**
 * Where a config finds a secret it must not hold itself: an environment
 * variable, a mounted file, or a key of a Vault KV secret. The value is
 * resolved when needed (Secrets, below) and only ever held as SecretValue.
 */
export const secretRefSchema = {
  oneOf: [
    { type: 'object', additionalProperties: false, required: ['env'], properties: { env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } } },
    { type: 'object', additionalProperties: false, required: ['file'], properties: { file: { type: 'string', pattern: '^/' } } },
    {
      type: 'object', additionalProperties: false, required: ['vault'],
      properties: {
        vault: {
          type: 'object', additionalProperties: false, required: ['mount', 'path', 'key'],
          properties: { mount: { type: 'string', minLength: 1 }, path: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } },
        },
      },
    },
  ],
} as const satisfies JsonSchema

export type SecretRef = FromSchema<typeof secretRefSchema>

/** A secret the config points at is not there: what needs it (a channel, a source) is not configured here. */
export class NotConfigured extends Error {
  readonly where: string
  constructor(where: string) {
    super(`not configured: ${where} is not set`)
    this.where = where
  }
}

export function describeRef(ref: SecretRef): string {
  if ('env' in ref) return `environment variable ${ref.env}`
  if ('file' in ref) return `file ${ref.file}`
  return `vault ${ref.vault.mount}/${ref.vault.path}#${ref.vault.key}`
}

export class Secrets {
  readonly #vault: Vault | undefined
  readonly #env: NodeJS.ProcessEnv
  readonly #cache = new Map<string, { value: SecretValue; until: number }>()

  constructor(vault: Vault | undefined, env: NodeJS.ProcessEnv = process.env) {
    this.#vault = vault
    this.#env = env
  }

  /** Whether a reference can be resolved without asking anyone (env and files); Vault is assumed there. */
  async present(ref: SecretRef): Promise<boolean> {
    try {
      if ('vault' in ref) return this.#vault !== undefined
      await this.resolve(ref)
      return true
    } catch {
      return false
    }
  }

  async resolve(ref: SecretRef): Promise<SecretValue> {
    if ('env' in ref) {
      const v = this.#env[ref.env]
      if (!v) throw new NotConfigured(describeRef(ref))
      return new SecretValue(v.trim())
    }
    if ('file' in ref) {
      try {
        const v = (await readFile(ref.file, 'utf8')).trim()
        if (!v) throw new NotConfigured(describeRef(ref))
        return new SecretValue(v)
      } catch (err) {
        if (err instanceof NotConfigured) throw err
        throw new NotConfigured(describeRef(ref))
      }
    }
    if (!this.#vault) throw new NotConfigured(`${describeRef(ref)} (no Vault is configured)`)
    const key = describeRef(ref)
    const cached = this.#cache.get(key)
    if (cached && cached.until > Date.now()) return cached.value
    // A Vault error (CaretakerError) says which path failed, never a value.
    const secret = await this.#vault.readKv(ref.vault.mount, ref.vault.path)
    const v = secret.data[ref.vault.key]
    if (!v) throw new NotConfigured(`key ${ref.vault.key} of ${key}`)
    const value = new SecretValue(v)
    // Short cache: a rotated webhook or password is picked up within a minute.
    this.#cache.set(key, { value, until: Date.now() + 60_000 })
    return value
  }
}
