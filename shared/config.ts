import { readFile } from 'node:fs/promises'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import { CaretakerError, Errors } from './errors.ts'
import type { JsonSchema } from './schema.ts'
import { describeSchemaErrors } from './schema-errors.ts'
import { validatorFor } from './validators.ts'

/**
 * Validate a function's configuration document. Defaults from the schema are
 * filled in; any problem stops the process with a message that names the
 * field, so a bad ConfigMap never becomes a half-working function.
 */
export function validateConfig<T>(document: unknown, schema: JsonSchema, source: string): T {
  const validate = validatorFor(schema, 'config')
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

/**
 * Why a credential in a config is a shipped placeholder rather than a real
 * one (`REPLACE-with-…`, `changeme`, `<token>`, an unexpanded `${VAR}`), or
 * undefined. The value itself is never put in the answer.
 */
export function placeholderReason(value: string): string | undefined {
  const v = value.trim()
  if (/^replace(\b|[-_ ])/i.test(v)) return 'it starts with REPLACE'
  if (/change[-_ ]?me/i.test(v)) return 'it says change-me'
  if (/^<[^<>]*>$/.test(v)) return 'it is a <placeholder>'
  if (/^\$\{[^}]*\}$|^\$\([^)]*\)$/.test(v)) return 'it is a variable nobody expanded'
  if (/^(todo|fixme|placeholder|example|secret|password|token|x+|\*+)$/i.test(v)) return 'it is a placeholder word'
  return undefined
}

/** Refuses to start with a credential left at its placeholder: names the field and says what to do. */
export function refusePlaceholders(fields: Record<string, string | undefined>, where: string): void {
  for (const [field, value] of Object.entries(fields)) {
    const reason = value === undefined ? undefined : placeholderReason(value)
    if (reason) {
      throw new CaretakerError(Errors.InvalidConfig, `config.${field} is a placeholder (${reason}), not a credential: put the real one in ${where}`)
    }
  }
}
