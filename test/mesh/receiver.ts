import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startMesh, type Mesh, type MeshOptions } from '../../sandbox/mesh/index.ts'

/** A small real HTTP subscriber for mesh tests: records every request and answers as told. */

export interface ReceivedRequest {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
}

export interface ReceiverAnswer {
  readonly status: number
  readonly headers?: Record<string, string>
  readonly body?: string
}

/** Decides the answer from the request and how many requests this path had before it. */
export type Respond = (request: ReceivedRequest, seenOnPath: number) => ReceiverAnswer

export interface Receiver {
  readonly url: string
  readonly requests: ReceivedRequest[]
  on(path: string): ReceivedRequest[]
  close(): Promise<void>
}

export async function startReceiver(respond: Respond = () => ({ status: 200 })): Promise<Receiver> {
  const requests: ReceivedRequest[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const request: ReceivedRequest = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks) }
      const seen = requests.filter((r) => r.path === request.path).length
      requests.push(request)
      const answer = respond(request, seen)
      res.writeHead(answer.status, answer.headers ?? {})
      res.end(answer.body ?? '')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    on: (path) => requests.filter((r) => r.path === path),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

/** POSTs a binary-mode CloudEvent to the mesh ingress; returns the status. */
export async function postBinary(url: string, attributes: Record<string, string>, body?: string, contentType = 'application/json'): Promise<number> {
  const headers: Record<string, string> = { 'ce-specversion': '1.0' }
  for (const [name, value] of Object.entries(attributes)) headers[`ce-${name}`] = value
  if (body !== undefined) headers['content-type'] = contentType
  const response = await fetch(url, { method: 'POST', headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(5000) })
  await response.arrayBuffer()
  return response.status
}

/**
 * A mesh with one Broker (`caretaker` in `namespace`) whose one Trigger
 * sends everything to a receiver, plus any more YAML given; its ingress
 * URL is the Broker's. Backoffs return at once.
 */
export async function startBrokerToReceiver(
  t: { testdir(): string; teardown(fn: () => unknown): void },
  options: Omit<MeshOptions, 'dir' | 'services' | 'sleep'> & { namespace: string; moreYaml?: string },
): Promise<{ mesh: Mesh; receiver: Receiver; url: string; dir: string }> {
  const receiver = await startReceiver(() => ({ status: 200 }))
  t.teardown(() => receiver.close())
  const dir = t.testdir()
  const { namespace, moreYaml, ...meshOptions } = options
  await writeFile(join(dir, 'mesh.yaml'), `
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: caretaker, namespace: ${namespace} }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: all, namespace: ${namespace} }
spec:
  broker: caretaker
  subscriber: { uri: ${receiver.url}/all }
${moreYaml ? `---\n${moreYaml}` : ''}`)
  const mesh = await startMesh({ ...meshOptions, dir, services: {}, sleep: async () => undefined })
  t.teardown(() => mesh.close())
  return { mesh, receiver, url: mesh.brokers[0]!.url, dir }
}
