import type { EventTypeDefinition } from '../catalogue.ts'

/** What the real Knative sources send: PingSource ticks and ApiServerSource changes. */

const kubernetesName = { type: 'string', minLength: 1, maxLength: 253 } as const

const apiServerResource = {
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
} as const

const apiServerReference = {
  type: 'object',
  required: ['apiVersion', 'kind', 'name'],
  properties: {
    apiVersion: { type: 'string', minLength: 1 },
    kind: { type: 'string', minLength: 1 },
    name: kubernetesName,
    namespace: { type: 'string' },
  },
} as const

const resource = (action: 'add' | 'update' | 'delete') => `ApiServerSource (Resource mode): an object was ${action === 'add' ? 'added' : action + 'd'}; data is the object`
const reference = (action: 'add' | 'update' | 'delete') => `ApiServerSource (Reference mode): an object was ${action === 'add' ? 'added' : action + 'd'}; data is {kind, namespace, name, apiVersion}`

export const knativeEvents = {
  Ping: { type: 'dev.knative.sources.ping', direction: 'inbound', description: 'PingSource tick: data is the PingSource spec.data (any content, possibly none)', schema: {} },
  ApiServerResourceAdd: { type: 'dev.knative.apiserver.resource.add', direction: 'inbound', description: resource('add'), schema: apiServerResource },
  ApiServerRefAdd: { type: 'dev.knative.apiserver.ref.add', direction: 'inbound', description: reference('add'), schema: apiServerReference },
  ApiServerResourceUpdate: { type: 'dev.knative.apiserver.resource.update', direction: 'inbound', description: resource('update'), schema: apiServerResource },
  ApiServerRefUpdate: { type: 'dev.knative.apiserver.ref.update', direction: 'inbound', description: reference('update'), schema: apiServerReference },
  ApiServerResourceDelete: { type: 'dev.knative.apiserver.resource.delete', direction: 'inbound', description: resource('delete'), schema: apiServerResource },
  ApiServerRefDelete: { type: 'dev.knative.apiserver.ref.delete', direction: 'inbound', description: reference('delete'), schema: apiServerReference },
} as const satisfies Record<string, EventTypeDefinition>

export const knativeTypes: EventTypeDefinition[] = Object.values(knativeEvents)

/** An object added or changed, in either mode of an ApiServerSource: what a function that follows objects (not their deletion) accepts. */
export const API_SERVER_CHANGE_TYPES: readonly string[] = [
  knativeEvents.ApiServerResourceAdd.type, knativeEvents.ApiServerResourceUpdate.type,
  knativeEvents.ApiServerRefAdd.type, knativeEvents.ApiServerRefUpdate.type,
]

/**
 * A field of a PingSource tick's data, which is whatever the PingSource's
 * `spec.data` says (any JSON, or none): the field's value when the data is
 * an object that has it, else undefined.
 */
export function pingField(data: unknown, name: string): unknown {
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>)[name] : undefined
}
