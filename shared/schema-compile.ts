import type { ValidateFunction } from 'ajv'
import { createAjv, type JsonSchema } from './schema.ts'

/**
 * Compiles a schema with ajv (the sources' path). The bundles of
 * `npm run build` replace this module with one that refuses: every schema
 * they use is precompiled, and ajv's compiler is not in them.
 */
export function compileSchema(schema: JsonSchema, purpose: 'config' | 'data'): ValidateFunction {
  return createAjv({ useDefaults: purpose === 'config' }).compile(schema)
}
