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

/**
 * The TypeScript type of the values a JSON schema accepts, so each config
 * and event data type is declared once, as its schema (written `as const`),
 * and the type follows from it. Neither TypeBox nor json-schema-to-ts is
 * installed, so this covers the subset Caretaker's schemas use: `type`
 * (one or several), `const`, `enum`, `properties` with `required`,
 * `additionalProperties` (false, or a schema: a record), `items`, and
 * `anyOf`/`oneOf` when there is no `type` beside them, and `allOf` of
 * `if`/`then` pairs (a field picking the schema, as `kind` picks a target's)
 * as the union of the `then`s. A property with a
 * `default` is present in the type, since validation (ajv `useDefaults`)
 * fills it in. Keywords that only narrow a value (`minLength`, `pattern`,
 * `format`, `maximum`...) do not change its type.
 */
export type FromSchema<S> =
  S extends { readonly const: infer C } ? C
    : S extends { readonly enum: readonly (infer E)[] } ? E
      : S extends { readonly allOf: readonly (infer A extends { readonly then: unknown })[] } ? ThenOf<A>
        : S extends { readonly type: infer T } ? FromType<T, S>
          : S extends { readonly anyOf: readonly (infer A)[] } ? FromSchema<A>
            : S extends { readonly oneOf: readonly (infer A)[] } ? FromSchema<A>
              : unknown

type ThenOf<A> = A extends { readonly then: infer T } ? FromSchema<T> : never

type FromType<T, S> =
  T extends readonly (infer U)[] ? FromType<U, S>
    : T extends 'string' ? string
      : T extends 'integer' | 'number' ? number
        : T extends 'boolean' ? boolean
          : T extends 'null' ? null
            : T extends 'array' ? (S extends { readonly items: infer I } ? FromSchema<I>[] : unknown[])
              : T extends 'object' ? FromObject<S>
                : unknown

type Present<S, P> =
  | (S extends { readonly required: readonly (infer R)[] } ? R : never)
  | { [K in keyof P]: P[K] extends { readonly default: unknown } ? K : never }[keyof P]

type Extra<S> =
  S extends { readonly additionalProperties: false } ? unknown
    : S extends { readonly additionalProperties: infer A extends object } ? Record<string, FromSchema<A>>
      : S extends { readonly properties: object } ? unknown
        : Record<string, unknown>

type Flatten<T> = { [K in keyof T]: T[K] } & {}

type FromObject<S> = S extends { readonly properties: infer P }
  ? Flatten<
    & { -readonly [K in keyof P as K extends Present<S, P> ? K : never]: FromSchema<P[K]> }
    & { -readonly [K in keyof P as K extends Present<S, P> ? never : K]?: FromSchema<P[K]> }
    & Extra<S>
  >
  : Extra<S>
