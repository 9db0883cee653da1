import type { JsonSchema } from '../../shared/schema.ts'

/** A custom resource kind the project defines itself: where it is served and its schema. */
export interface CrdDefinition {
  group: string
  version: string
  kind: string
  plural: string
  namespaced: boolean
  shortNames: string[]
  subresources: string[]
  /** the OpenAPI v3 schema of the whole object (openAPIV3Schema) */
  schema: JsonSchema
}
