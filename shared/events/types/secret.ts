import type { EventTypeDefinition } from '../catalogue.ts'

/** rotate-secret: the manual request. */

export const secretTypes: EventTypeDefinition[] = [
  {
    type: 'dev.caretaker.secret.rotate.requested',
    direction: 'inbound',
    description: 'Manual request to rotate one configured secret now',
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['secret'],
      properties: {
        secret: { type: 'string', minLength: 1 },
        reason: { type: 'string', maxLength: 1024 },
      },
    },
  },
]
