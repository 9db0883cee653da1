import { randomUUID } from 'node:crypto'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { CloudEvent } from 'cloudevents'
import { catalogue } from '../shared/events/catalogue.ts'
import { EventDataValidator } from '../shared/events/validation.ts'
import { isCaretakerError } from '../shared/errors.ts'
import { toBinaryMessage } from '../shared/runtime/cloudevent-http.ts'
import type { FunctionModule } from '../shared/runtime/function.ts'
import { isRequestType } from '../shared/runtime/proof.ts'
import { discoverFunctions } from '../sandbox/local/functions.ts'
import { CliError, EXIT, unavailable, usageError, type ExitCode } from './errors.ts'
import { describeDelivery, waitForDelivery, type Printer } from './deliveries.ts'
import { answerOf, functionUrl, manualAuthorization, projectRoot, send, type Connection, type Target } from './target.ts'

export interface RunOptions {
  readonly name: string | undefined
  readonly fields: readonly string[]
  readonly apply: boolean
  readonly json: boolean
  readonly timeoutMs: number
}

type Schema = Record<string, unknown>

/** The request type a function takes manually (its definition's `*.requested` type), if any. */
export async function requestTypeOf(module: string): Promise<string | undefined> {
  const fn = (await import(pathToFileURL(module).href) as { default: FunctionModule }).default
  return fn.definition.accepts.find(isRequestType)
}

/** The functions that take manual requests, one line each: what a wrong name is answered with. */
async function manualListing(specs: ReadonlyArray<{ name: string; module: string }>): Promise<string> {
  const rows: string[] = []
  for (const spec of specs) {
    const type = await requestTypeOf(spec.module)
    if (type) rows.push(`  ${spec.name}  (${type})`)
  }
  return rows.join('\n')
}

function fieldList(schema: Schema): string {
  const properties = (schema.properties ?? {}) as Record<string, Schema>
  const required = new Set((schema.required ?? []) as string[])
  const rows = Object.entries(properties).map(([name, p]) => {
    const type = Array.isArray(p.enum) ? (p.enum as unknown[]).map((v) => JSON.stringify(v)).join('|') : Array.isArray(p.type) ? (p.type as string[]).join('|') : String(p.type ?? 'any')
    return `  ${name}=${type}${required.has(name) ? ' (required)' : ''}`
  })
  const anyOf = (schema.anyOf ?? []) as Array<{ required?: string[] }>
  if (anyOf.length > 0) rows.push(`  (at least one of: ${anyOf.map((a) => (a.required ?? []).join('+')).join(', ')})`)
  return rows.length > 0 ? rows.join('\n') : '  (none: the request takes no fields)'
}

/** `field=value` pairs typed by the request's schema: a string field takes the text as it is, others JSON (`42`, `true`, `["a"]`). */
export function parseFields(pairs: readonly string[], type: string, schema: Schema): Record<string, unknown> {
  const properties = (schema.properties ?? {}) as Record<string, Schema>
  const data: Record<string, unknown> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw usageError(`"${pair}" is not field=value. ${type} takes:\n${fieldList(schema)}`)
    const field = pair.slice(0, eq)
    const raw = pair.slice(eq + 1)
    const property = properties[field]
    if (!property) throw usageError(`${type} has no field "${field}". It takes:\n${fieldList(schema)}`)
    const types = Array.isArray(property.type) ? property.type as string[] : property.type === undefined ? [] : [String(property.type)]
    const stringOnly = types.length === 1 && types[0] === 'string' || (Array.isArray(property.enum) && (property.enum as unknown[]).every((v) => typeof v === 'string'))
    if (stringOnly) data[field] = raw
    else {
      try {
        data[field] = JSON.parse(raw) as unknown
      } catch {
        // A list of strings may be given as a,b,c.
        if (types.includes('array')) data[field] = raw.split(',').filter(Boolean)
        else if (types.includes('string') || types.length === 0) data[field] = raw
        else throw usageError(`${field} takes ${types.join(' or ')}, and ${JSON.stringify(raw)} is not one (write it as JSON: ${types.includes('boolean') ? 'true' : '42'})`)
      }
    }
  }
  return data
}

/** The request for `caretaker run <function> field=value...`, checked against the catalogue before it leaves. */
export async function buildRequest(functionsDir: string, options: RunOptions): Promise<CloudEvent<unknown>> {
  const specs = await discoverFunctions(functionsDir)
  if (!options.name) throw usageError(`name a function: caretaker run <function> [field=value ...]. These take manual requests:\n${await manualListing(specs)}`)
  const spec = specs.find((s) => s.name === options.name)
  if (!spec) throw usageError(`no function "${options.name}". These take manual requests:\n${await manualListing(specs)}`)
  const type = await requestTypeOf(spec.module)
  if (!type) throw usageError(`${options.name} takes no manual requests (it accepts no *.requested type). These do:\n${await manualListing(specs)}`)
  const definition = catalogue.get(type)!
  const data = parseFields(options.fields, type, definition.schema)
  try {
    new EventDataValidator([type], catalogue).check(type, data)
  } catch (err) {
    if (isCaretakerError(err)) throw usageError(`${err.message}. ${type} takes:\n${fieldList(definition.schema)}`)
    throw err
  }
  return new CloudEvent<unknown>({
    specversion: '1.0',
    id: `cli-${randomUUID()}`,
    source: `/caretaker/cli/${encodeURIComponent(userInfo().username || 'user')}`,
    type,
    datacontenttype: 'application/json',
    // Said either way: the function's default does not decide what a person asked for.
    dryrun: options.apply ? 'false' : 'true',
    data,
  }, false)
}

/** The request as a binary-mode CloudEvent (what /manual and the Broker read). */
function binary(event: CloudEvent<unknown>): { headers: Record<string, string>; body: string | Buffer } {
  const message = toBinaryMessage(event)
  return { headers: message.headers, body: message.body ?? '' }
}

/** The exit code of an error answer: the request's fault is a usage error, the rest is the server's or the caller's rights. */
function refusalCode(status: number): ExitCode {
  return status === 401 || status === 403 || status >= 500 ? EXIT.unavailable : status === 404 ? EXIT.unavailable : EXIT.usage
}

function refusalHint(status: number): string {
  if (status === 401) return ' Check the token: the kubeconfig\'s user, or --token-file.'
  if (status === 403) return ' Ask for a RoleBinding granting that verb (README, Trust boundary).'
  if (status >= 500) return ' Retry; if it persists, read the function\'s log.'
  return ''
}

/** `found` is the target, or why there is none: the request is checked first, so a wrong command line says so whatever runs. */
export async function runCommand(found: Target | CliError, connection: Connection, options: RunOptions, print: Printer): Promise<ExitCode> {
  const functionsDir = !(found instanceof CliError) && found.kind === 'local' ? found.state.functionsDir : join(projectRoot, 'functions')
  const event = await buildRequest(functionsDir, options)
  if (found instanceof CliError) throw found
  const target = found
  const name = options.name!
  const since = new Date().toISOString()
  const request = { id: event.id, source: event.source, type: event.type, dryRun: !options.apply, data: event.data }
  // Without the sandbox the local functions check no token (CARETAKER_AUTH=none): the request goes to the Broker, as the banner says.
  const viaBroker = target.kind === 'local' && target.state.kubeconfig === null
  let accepted: unknown
  if (viaBroker) {
    const res = await send(target.state.broker, { method: 'POST', ...binary(event) }, 'the Broker')
    if (res.status !== 202 && res.status !== 200) {
      const a = await answerOf(res)
      throw new CliError(refusalCode(res.status), `the Broker refused the request: HTTP ${res.status}: ${a.message}`)
    }
    await res.arrayBuffer().catch(() => undefined)
    accepted = { id: event.id, source: event.source, type: event.type }
  } else {
    const base = functionUrl(target, name)
    if (!base) throw unavailable(`${name} is not running in this Caretaker (its functions: ${target.kind === 'local' ? Object.keys(target.state.functions).join(', ') : ''}); restart \`npm start\``)
    const authorization = await manualAuthorization(connection, target)
    const message = binary(event)
    const res = await send(`${base}/manual`, { method: 'POST', headers: { ...message.headers, authorization }, body: message.body }, `${name}'s manual entry`)
    if (res.status !== 202) {
      const a = await answerOf(res)
      throw new CliError(refusalCode(res.status), `${name} refused the request: HTTP ${res.status}${a.error ? ` ${a.error}` : ''}: ${a.message}${refusalHint(res.status)}`)
    }
    accepted = await res.json() as unknown
  }
  if (target.kind === 'server') {
    // A cluster's Broker keeps no record this command can read: the outcome goes where every outcome goes (notify's channels, the function's log).
    if (options.json) print.out(JSON.stringify({ function: name, request, accepted, outcome: null }, null, 2))
    else print.out(`${name}: request accepted (${request.dryRun ? 'dry-run' : 'applied'}), id ${event.id}.\n  The outcome goes to the Broker: notify's channels report it, and ${name}'s log has it (search for the id).`)
    return EXIT.ok
  }
  const forced = options.apply && target.state.dryRun === 'forced'
  const mode = request.dryRun ? 'dry-run: nothing will be changed; --apply to act'
    : forced ? 'asked to act, but this Caretaker holds every function in dry-run: start `npm start` with --apply to let them act'
      : 'applied: it may change things'
  if (!options.json) print.err(`${name}: request ${event.id} accepted (${mode}), waiting for the outcome…`)
  const line = await waitForDelivery(target.state, event, name, since, options.timeoutMs)
  if (!line) {
    throw unavailable(`no outcome from ${name} within ${Math.round(options.timeoutMs / 1000)}s; the request (id ${event.id}) was accepted and may still run: see \`npm start\`'s output, or wait longer with --timeout SECONDS`)
  }
  const result = describeDelivery(name, line)
  if (options.json) print.out(JSON.stringify({ function: name, request, accepted, ...result.json }, null, 2))
  else print.out(result.text)
  return result.code
}
