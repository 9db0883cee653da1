import type { FromSchema, JsonSchema } from './schema.ts'

/**
 * Where a config finds a secret it must not hold itself: an environment
 * variable, a mounted file, or a key of a Vault KV secret. The value is
 * resolved when needed and never logged (notify's Secrets does it).
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
