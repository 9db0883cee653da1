import type { EventTypeDefinition } from '../catalogue.ts'
import type { JsonSchema } from '../../schema.ts'

/** What the real Knative sources send: PingSource ticks and ApiServerSource changes. */

const kubernetesName = { type: 'string', minLength: 1, maxLength: 253 }

const apiServerResource: JsonSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata'],
  properties: {
    apiVersion: { type: 'string', minLength: 1 },
    kind: { type: 'string', minLength: 1 },
    metadata: {
      type: 'object',
      required: ['name'],
      properties: { name: kubernetesName, namespace: { type: 'string' } },
    },
  },
}

const apiServerReference: JsonSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'name'],
  properties: {
    apiVersion: { type: 'string', minLength: 1 },
    kind: { type: 'string', minLength: 1 },
    name: kubernetesName,
    namespace: { type: 'string' },
  },
}

function knative(type: string, description: string, schema: JsonSchema): EventTypeDefinition {
  return { type, direction: 'inbound', description, schema }
}

export const knativeTypes: EventTypeDefinition[] = [
  knative('dev.knative.sources.ping', 'PingSource tick: data is the PingSource spec.data (any content, possibly none)', {}),
  ...(['add', 'update', 'delete'] as const).flatMap((action) => [
    knative(`dev.knative.apiserver.resource.${action}`, `ApiServerSource (Resource mode): an object was ${action === 'add' ? 'added' : action + 'd'}; data is the object`, apiServerResource),
    knative(`dev.knative.apiserver.ref.${action}`, `ApiServerSource (Reference mode): an object was ${action === 'add' ? 'added' : action + 'd'}; data is {kind, namespace, name, apiVersion}`, apiServerReference),
  ]),
]

/** An object added or changed, in either mode of an ApiServerSource: what a function that follows objects (not their deletion) accepts. */
export const API_SERVER_CHANGE_TYPES: readonly string[] = [
  'dev.knative.apiserver.resource.add', 'dev.knative.apiserver.resource.update',
  'dev.knative.apiserver.ref.add', 'dev.knative.apiserver.ref.update',
]
