import { DURATION_PATTERN, parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { JsonSchema } from '../../shared/schema.ts'

/** A KV v2 secret: `<mount>/data/<path>`. */
export interface VaultRef {
  mount: string
  path: string
}

/**
 * How a new value is made: `length` characters drawn from an alphabet, or
 * `bytes` random bytes encoded (base64 for signing keys).
 */
export interface GenerationRule {
  length?: number
  /** A named alphabet or the characters themselves (default alphanumeric). */
  alphabet?: string
  bytes?: number
  encoding?: 'base64' | 'base64url' | 'hex'
}

export interface PostgresRoleTarget {
  kind: 'postgres-role'
  /** The role whose password changes (default: the secret's `username` key). */
  role?: string
  /**
   * Where the function logs in to change the password. The admin credential
   * (username, password, and optionally host, port, database) is read from
   * Vault; host, port and database may also be given here, in the clear.
   */
  connection: { vault: VaultRef; host?: string; port?: number; database?: string }
  /** The database the proof login opens (default: the connection's database). */
  loginDatabase?: string
}

export interface RedisNode {
  host: string
  port: number
}

export interface RedisTarget {
  kind: 'redis'
  /** `acl`: an ACL user holding the old and new password side by side; `requirepass`: the default user's password (and masterauth). */
  mode: 'acl' | 'requirepass'
  /** The ACL user (acl mode). */
  user?: string
  /** Every node that must change: the primary and each replica. */
  nodes: RedisNode[]
  /** An admin credential (username, password) in Vault; requirepass mode logs in with the current password when absent. */
  connection?: { vault: VaultRef }
  /**
   * Save each change where the server reads it at its next start (default
   * true): `ACL SAVE` when the server has an aclfile, else `CONFIG REWRITE`.
   * A node that runs without a config file is refused before anything
   * changes; false rotates the running servers only.
   */
  persist: boolean
}

export interface GeneratedTarget {
  kind: 'generated'
}

/**
 * A confidential OpenID Connect client's secret in Keycloak. The function
 * logs in to Keycloak's admin REST API with an admin credential read from
 * Vault (`connection.vault`): either `clientId` + `clientSecret` of a
 * service account (client_credentials), or `username` + `password` through
 * the public `admin-cli` client (password grant); it needs the
 * realm-management role manage-clients. `realm` in that secret names the
 * realm the admin logs in to (default: the target's realm, e.g. `master`
 * for a global admin).
 */
export interface KeycloakClientTarget {
  kind: 'keycloak-client'
  /** Keycloak's base URL (the admin API is under `/admin/realms`, the token endpoint under `/realms`). */
  url: string
  realm: string
  /** The `clientId` of the client whose secret rotates (not its internal id). */
  clientId: string
  connection: { vault: VaultRef }
}

export type Target = PostgresRoleTarget | RedisTarget | GeneratedTarget | KeycloakClientTarget

export interface Workload {
  kind: 'Deployment' | 'StatefulSet'
  namespace: string
  name: string
}

export interface ObjectRef {
  namespace: string
  name: string
}

export interface SecretPolicy {
  name: string
  vault: VaultRef
  /** The keys of the Vault secret that get new values (one for a password target). */
  keys: string[]
  target: Target
  generate: GenerationRule
  /** Rotate when the last rotation is older than this, e.g. `90d`. */
  interval: string
  /** The ExternalSecrets that carry the value into the cluster, force-synced after the write. */
  externalSecrets: ObjectRef[]
  /** Restarted (rollout restart) once the synced Secrets hold the new value. */
  consumers: Workload[]
}

export interface RotateSecretConfig {
  secrets: SecretPolicy[]
  /** Where the per-secret Leases live. */
  leaseNamespace: string
  /** How long a Lease holds without renewal (it is renewed every third of it): a killed rotation's lock is free after it, and the next holder resumes or undoes its work. */
  leaseDuration: string
  /** Where the journals of rotations in progress live in Vault: `<mount>/<path>/<secret name>` (see journal.ts). */
  journal: VaultRef
  /** How long to wait for an ExternalSecret's Secret to carry the new value. */
  syncTimeout: string
  /** How long to wait for each consumer's rollout. */
  rolloutTimeout: string
  /** Timeout of each call to a database or Redis. */
  connectTimeout: string
  /**
   * Whether the process, once it serves, finishes or undoes the rotations
   * whose holder died (see index.ts, recoverAtStart); false leaves them to
   * the redelivered request and the daily sweep.
   */
  recoverAtStart: boolean
}

/** The Vault custom-metadata key holding the time of the last rotation (RFC 3339). */
export const ROTATED_AT_KEY = 'rotated-at'

export const ALPHABETS: Record<string, string> = {
  alphanumeric: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  // Safe in a URL, a connection string and a shell without quoting.
  urlsafe: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
  hex: '0123456789abcdef',
}

const duration = { type: 'string', pattern: DURATION_PATTERN }
const kubeName = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' }
const vaultRef = {
  type: 'object',
  additionalProperties: false,
  required: ['mount', 'path'],
  properties: { mount: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$' }, path: { type: 'string', pattern: '^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$' } },
}
const objectRef = { type: 'object', additionalProperties: false, required: ['namespace', 'name'], properties: { namespace: kubeName, name: kubeName } }

export const configSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    leaseNamespace: { ...kubeName, default: 'caretaker' },
    leaseDuration: { ...duration, default: '1m' },
    journal: { ...vaultRef, default: { mount: 'secret', path: 'caretaker/rotate-secret' } },
    syncTimeout: { ...duration, default: '2m' },
    rolloutTimeout: { ...duration, default: '10m' },
    connectTimeout: { ...duration, default: '10s' },
    recoverAtStart: { type: 'boolean', default: true },
    secrets: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'vault', 'keys', 'target', 'interval'],
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 40 },
          vault: vaultRef,
          keys: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$' } },
          interval: duration,
          generate: {
            type: 'object',
            additionalProperties: false,
            default: { length: 32, alphabet: 'alphanumeric' },
            properties: {
              length: { type: 'integer', minimum: 16, maximum: 1024 },
              alphabet: { type: 'string', minLength: 2 },
              bytes: { type: 'integer', minimum: 16, maximum: 1024 },
              encoding: { enum: ['base64', 'base64url', 'hex'] },
            },
          },
          target: {
            type: 'object',
            required: ['kind'],
            properties: { kind: { enum: ['postgres-role', 'redis', 'generated', 'keycloak-client'] } },
            oneOf: [
              {
                additionalProperties: false,
                required: ['kind', 'connection'],
                properties: {
                  kind: { const: 'postgres-role' },
                  role: { type: 'string', minLength: 1, maxLength: 63 },
                  loginDatabase: { type: 'string', minLength: 1 },
                  connection: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['vault'],
                    properties: { vault: vaultRef, host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535 }, database: { type: 'string', minLength: 1 } },
                  },
                },
              },
              {
                additionalProperties: false,
                required: ['kind', 'mode', 'nodes'],
                properties: {
                  kind: { const: 'redis' },
                  mode: { enum: ['acl', 'requirepass'] },
                  user: { type: 'string', minLength: 1 },
                  nodes: {
                    type: 'array',
                    minItems: 1,
                    items: { type: 'object', additionalProperties: false, required: ['host', 'port'], properties: { host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535 } } },
                  },
                  connection: { type: 'object', additionalProperties: false, required: ['vault'], properties: { vault: vaultRef } },
                  persist: { type: 'boolean', default: true },
                },
              },
              { additionalProperties: false, required: ['kind'], properties: { kind: { const: 'generated' } } },
              {
                additionalProperties: false,
                required: ['kind', 'url', 'realm', 'clientId', 'connection'],
                properties: {
                  kind: { const: 'keycloak-client' },
                  url: { type: 'string', pattern: '^https?://[^\\s/?#@]+(/[^\\s?#]*)?$' },
                  realm: { type: 'string', minLength: 1, maxLength: 255 },
                  clientId: { type: 'string', minLength: 1, maxLength: 255 },
                  connection: { type: 'object', additionalProperties: false, required: ['vault'], properties: { vault: vaultRef } },
                },
              },
            ],
          },
          externalSecrets: { type: 'array', default: [], items: objectRef },
          consumers: {
            type: 'array',
            default: [],
            items: { type: 'object', additionalProperties: false, required: ['kind', 'namespace', 'name'], properties: { kind: { enum: ['Deployment', 'StatefulSet'] }, namespace: kubeName, name: kubeName } },
          },
        },
      },
    },
  },
}

/** What a schema cannot say: unique names, one key per password, a generation rule that makes sense. */
/** `runDeadlineMs`: CARETAKER_RUN_DEADLINE, which one rotation's waits must fit in. */
export function checkConfig(config: RotateSecretConfig, runDeadlineMs?: number): void {
  const seen = new Set<string>()
  for (const field of ['leaseDuration', 'syncTimeout', 'rolloutTimeout', 'connectTimeout'] as const) {
    if ((parseDuration(config[field]) ?? 0) <= 0) throw new CaretakerError(Errors.InvalidConfig, `config.${field}: must be longer than zero`)
  }
  if (runDeadlineMs !== undefined && parseDuration(config.syncTimeout)! + parseDuration(config.rolloutTimeout)! >= runDeadlineMs) {
    throw new CaretakerError(Errors.InvalidConfig, `config.rolloutTimeout: syncTimeout (${config.syncTimeout}) and rolloutTimeout (${config.rolloutTimeout}) together do not fit in the run's deadline (CARETAKER_RUN_DEADLINE, ${runDeadlineMs / 1000}s, below the Knative Service's timeoutSeconds): make them shorter`)
  }
  config.secrets.forEach((s, i) => {
    const bad = (field: string, problem: string): never => {
      throw new CaretakerError(Errors.InvalidConfig, `config.secrets[${i}].${field}: ${problem}`)
    }
    if (seen.has(s.name)) bad('name', `"${s.name}" is used by another secret; names must be unique`)
    seen.add(s.name)
    if ((parseDuration(s.interval) ?? 0) <= 0) bad('interval', 'must be longer than zero')
    if (s.target.kind !== 'generated' && s.keys.length !== 1) bad('keys', `a ${s.target.kind} target has one password: name exactly one key`)
    if (s.target.kind === 'redis' && s.target.mode === 'acl' && !s.target.user) bad('target.user', 'acl mode needs the ACL user whose password rotates')
    if (s.target.kind === 'keycloak-client' && /\/admin(\/|$)|\/realms(\/|$)/.test(new URL(s.target.url).pathname)) bad('target.url', `give Keycloak's base URL (e.g. https://sso.example.com, or with its context path such as /auth), not the admin API's or a realm's: "${s.target.url}"`)
    if (s.target.kind === 'redis' && s.target.mode === 'acl' && !s.target.connection) bad('target.connection', 'acl mode needs an admin credential in Vault (connection.vault) that may run ACL SETUSER')
    const g = s.generate
    if (g.bytes !== undefined && (g.length !== undefined || g.alphabet !== undefined)) bad('generate', 'give either bytes (with encoding) or length (with alphabet), not both')
    if (g.encoding !== undefined && g.bytes === undefined) bad('generate.encoding', 'an encoding applies to bytes')
    if (g.bytes === undefined && g.length === undefined) bad('generate', 'give length (characters) or bytes')
    if (g.alphabet !== undefined && !ALPHABETS[g.alphabet] && new Set(g.alphabet).size < 16) bad('generate.alphabet', `name one of ${Object.keys(ALPHABETS).join(', ')} or give at least 16 distinct characters`)
  })
}
