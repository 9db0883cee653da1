import { CaretakerError, Errors } from '../errors.ts'
import { createAjv, describeSchemaErrors, type ValidateFunction } from '../schema.ts'
import type { EventTypeDefinition } from './catalogue.ts'

/**
 * Compiled data validators for the types one function accepts. Compiled once
 * at start, so a malformed event costs a lookup and a check, never a compile.
 */
export class EventDataValidator {
  readonly #validators = new Map<string, ValidateFunction>()
  readonly accepted: readonly string[]

  constructor(types: readonly string[], definitions: ReadonlyMap<string, EventTypeDefinition>) {
    const ajv = createAjv()
    for (const type of types) {
      const def = definitions.get(type)
      if (!def) {
        throw new CaretakerError(Errors.InvalidConfig, `event type ${type} is not in the event catalogue; add it to shared/events/catalogue.ts`)
      }
      this.#validators.set(type, ajv.compile(def.schema))
    }
    this.accepted = [...types]
  }

  accepts(type: string): boolean {
    return this.#validators.has(type)
  }

  /** Throws a 4xx CaretakerError that says which fields are wrong. */
  check(type: string, data: unknown): void {
    const validate = this.#validators.get(type)
    if (!validate) {
      throw new CaretakerError(Errors.UnknownEventType, `event type ${JSON.stringify(type)} is not handled here; accepted types: ${this.accepted.join(', ')}`)
    }
    const value = data instanceof Uint8Array ? undefined : data
    if (!validate(value)) {
      const problems = describeSchemaErrors(validate.errors, 'data')
      throw new CaretakerError(Errors.InvalidEventData, `data of ${type} is invalid: ${problems.join('; ')}`, { details: { problems } })
    }
  }
}
