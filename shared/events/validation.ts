import { CaretakerError, Errors } from '../errors.ts'
import type { ValidateFunction } from 'ajv'
import { describeSchemaErrors } from '../schema-errors.ts'
import { validatorFor } from '../validators.ts'
import type { EventTypeDefinition } from './catalogue.ts'

/**
 * Data validators for the types one function accepts, picked once at start
 * (precompiled in the build, compiled from the sources), so a malformed event
 * costs a lookup and a check, never a compile.
 */
export class EventDataValidator {
  readonly #validators = new Map<string, ValidateFunction>()
  readonly accepted: readonly string[]

  constructor(types: readonly string[], definitions: ReadonlyMap<string, EventTypeDefinition>) {
    for (const type of types) {
      const def = definitions.get(type)
      if (!def) {
        throw new CaretakerError(Errors.InvalidConfig, `event type ${type} is not in the event catalogue; add it to shared/events/catalogue.ts`)
      }
      this.#validators.set(type, validatorFor(def.schema, 'data'))
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
