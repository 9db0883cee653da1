import { Ajv, type CodeOptions, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'

// ajv-formats is CommonJS; under ESM its callable sits on default.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

export type JsonSchema = Record<string, unknown>

/**
 * One ajv per purpose: `useDefaults` fills config defaults, events are
 * validated as they are (never mutated). `code` is for the build, which
 * turns the schemas into standalone code with these same options
 * (shared/validators.ts); ajv-formats then names its formats module in
 * that code itself.
 */
export function createAjv(options: { useDefaults?: boolean; code?: CodeOptions } = {}): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    strict: false,
    useDefaults: options.useDefaults ?? false,
    coerceTypes: false,
    ...(options.code ? { code: options.code } : {}),
  })
  addFormats(ajv)
  return ajv
}

export { describeSchemaErrors, toFieldPath } from './schema-errors.ts'
export type { ValidateFunction }
