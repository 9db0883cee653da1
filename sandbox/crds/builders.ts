import type { JsonSchema } from '../../shared/schema.ts'

/**
 * Small builders for the structural OpenAPI v3 schemas of custom resources,
 * so a definition reads like the CRD it follows. They emit only standard JSON
 * Schema keywords (plus OpenAPI's `nullable`, which ajv understands).
 */

export const str = (extra: JsonSchema = {}): JsonSchema => ({ type: 'string', ...extra })
export const dateTime = (extra: JsonSchema = {}): JsonSchema => ({ type: 'string', format: 'date-time', ...extra })
export const int = (extra: JsonSchema = {}): JsonSchema => ({ type: 'integer', ...extra })
export const int64 = (extra: JsonSchema = {}): JsonSchema => ({ type: 'integer', format: 'int64', ...extra })
export const bool = (): JsonSchema => ({ type: 'boolean' })
export const oneOf = (...values: string[]): JsonSchema => ({ type: 'string', enum: values })
export const arr = (items: JsonSchema, extra: JsonSchema = {}): JsonSchema => ({ type: 'array', items, ...extra })
export const stringMap = (extra: JsonSchema = {}): JsonSchema => ({ type: 'object', additionalProperties: { type: 'string' }, ...extra })
export const nullable = (schema: JsonSchema): JsonSchema => ({ ...schema, nullable: true })

export function obj(properties: Record<string, JsonSchema>, required: string[] = [], extra: JsonSchema = {}): JsonSchema {
  return { type: 'object', properties, ...(required.length ? { required } : {}), ...extra }
}

/** Exactly one of the named properties is set (what the CRDs say with a CEL rule). */
export function exactlyOne(a: string, b: string): JsonSchema {
  return { oneOf: [{ required: [a] }, { required: [b] }] }
}

/** The envelope every custom resource shares: apiVersion, kind, metadata, then spec/status. */
export function resource(spec: JsonSchema | undefined, status: JsonSchema | undefined, required: string[] = []): JsonSchema {
  return obj({
    apiVersion: str(),
    kind: str(),
    metadata: { type: 'object' },
    ...(spec ? { spec } : {}),
    ...(status ? { status } : {}),
  }, required)
}

/** A condition as Longhorn writes them (every field a plain string). */
export const longhornCondition = (): JsonSchema => obj({
  lastProbeTime: str(),
  lastTransitionTime: str(),
  message: str(),
  reason: str(),
  status: str(),
  type: str(),
})
