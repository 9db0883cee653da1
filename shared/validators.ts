/**
 * The one place a JSON schema becomes a validator, for config (defaults
 * filled in) and for event data. The built functions carry ajv standalone
 * code that `npm run build` made for every config and event schema they use
 * (scripts/build.ts replaces validators-precompiled.ts and schema-compile.ts
 * in the bundles), so they never compile a schema at start; from the
 * sources (`npm start`, tests) a schema without precompiled code is compiled
 * with ajv once and kept.
 */
import { createHash } from 'node:crypto'
import type { ValidateFunction } from 'ajv'
import type { JsonSchema } from './schema.ts'
import { compileSchema } from './schema-compile.ts'
import { precompiledValidators } from './validators-precompiled.ts'

/** `config` validators fill in defaults (useDefaults); `data` validators never change what they check. */
export type SchemaPurpose = 'config' | 'data'

/** The name of a schema's validator: its purpose and a hash of its JSON (a JavaScript identifier, for the generated code's exports). */
export function validatorKey(schema: JsonSchema, purpose: SchemaPurpose): string {
  return `${purpose}_${createHash('sha256').update(JSON.stringify(schema)).digest('hex').slice(0, 32)}`
}

const compiled = new Map<string, ValidateFunction>()

export function validatorFor(schema: JsonSchema, purpose: SchemaPurpose): ValidateFunction {
  const key = validatorKey(schema, purpose)
  let validate = precompiledValidators.get(key) ?? compiled.get(key)
  if (!validate) {
    validate = compileSchema(schema, purpose)
    compiled.set(key, validate)
  }
  return validate
}
