import { readFile } from 'node:fs/promises'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import { CaretakerError, Errors } from './errors.ts'
import { createAjv, describeSchemaErrors, type JsonSchema } from './schema.ts'

/**
 * Validate a function's configuration document. Defaults from the schema are
 * filled in; any problem stops the process with a message that names the
 * field, so a bad ConfigMap never becomes a half-working function.
 */
export function validateConfig<T>(document: unknown, schema: JsonSchema, source: string): T {
  const ajv = createAjv({ useDefaults: true })
  const validate = ajv.compile(schema)
  const value = structuredClone(document ?? {})
  if (!validate(value)) {
    const problems = describeSchemaErrors(validate.errors, 'config')
    throw new CaretakerError(Errors.InvalidConfig, `invalid configuration in ${source}: ${problems.join('; ')}`, {
      details: { source, problems },
    })
  }
  return value as T
}

export function parseConfigText<T>(text: string, schema: JsonSchema, source: string): T {
  let document: unknown
  try {
    document = parseYaml(text)
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : ''
    throw new CaretakerError(Errors.InvalidConfig, `configuration in ${source} is not valid YAML${where}`, { cause: err })
  }
  return validateConfig<T>(document, schema, source)
}

export async function loadConfigFile<T>(path: string, schema: JsonSchema): Promise<T> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error'
    throw new CaretakerError(Errors.InvalidConfig, `cannot read configuration file ${path} (${code})`, { cause: err })
  }
  return parseConfigText<T>(text, schema, path)
}
