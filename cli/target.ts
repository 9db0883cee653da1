import { readFile } from 'node:fs/promises'
import type { RequestOptions } from 'node:https'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { KubeConfig } from '@kubernetes/client-node'
import { unavailable, usageError } from './errors.ts'
import { readLocalState, type LocalState } from './state.ts'

/**
 * Where the command sends: the Caretaker `npm start` runs (its state file in
 * `.caretaker/`), or a server given by URL: a function's Service, as
 * reachable from where the command runs, authenticated with a token file or
 * the kubeconfig's current user (a token, or its exec plugin).
 */

export const projectRoot = fileURLToPath(new URL('../', import.meta.url))

export interface Connection {
  readonly stateDir: string
  readonly server: string | undefined
  readonly tokenFile: string | undefined
  readonly kubeconfig: string | undefined
  readonly env: Readonly<Record<string, string | undefined>>
}

export type Target =
  | { readonly kind: 'local'; readonly state: LocalState }
  | { readonly kind: 'server'; readonly server: string }

export function defaultStateDir(env: Readonly<Record<string, string | undefined>>, cwd: string): string {
  return resolve(cwd, env.CARETAKER_STATE || '.caretaker')
}

export async function findTarget(c: Connection): Promise<Target> {
  if (c.server !== undefined) {
    let url: URL
    try {
      url = new URL(c.server.replaceAll('{function}', 'function'))
    } catch {
      throw usageError(`--server must be a URL such as http://{function}.caretaker.svc.cluster.local, not ${JSON.stringify(c.server)}`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`--server must be an http or https URL, not ${c.server}`)
    return { kind: 'server', server: c.server.replace(/\/+$/, '') }
  }
  const found = await readLocalState(c.stateDir)
  if ('missing' in found) {
    throw unavailable(`${found.missing}. Start Caretaker with \`npm start\` (in ${projectRoot}), point at its state with --state DIR, or send to a function directly with --server URL [--token-file FILE]`)
  }
  return { kind: 'local', state: found.state }
}

/** A function's base URL on the target. */
export function functionUrl(target: Target, name: string): string | undefined {
  if (target.kind === 'local') return target.state.functions[name]
  return target.server.replaceAll('{function}', name)
}

async function kubeconfigAuthorization(kc: KubeConfig, where: string): Promise<string> {
  const options: RequestOptions = {}
  try {
    await kc.applyToHTTPSOptions(options)
  } catch (err) {
    throw unavailable(`cannot get a token from ${where}: ${(err as Error).message}. Fix the kubeconfig's user (kubectl config view), or give --token-file FILE`)
  }
  const headers = (options.headers ?? {}) as Record<string, string | undefined>
  const authorization = headers.Authorization ?? headers.authorization
  if (!authorization) throw unavailable(`${where} has no token for its current user (a client certificate is not enough: manual requests need a bearer token). Give --token-file FILE with a ServiceAccount token (kubectl create token NAME)`)
  return authorization
}

/** The Authorization header of a manual request: the token file, the sandbox's kubeconfig, or the user's. */
export async function manualAuthorization(c: Connection, target: Target): Promise<string> {
  if (c.tokenFile !== undefined) {
    let token: string
    try {
      token = (await readFile(c.tokenFile, 'utf8')).trim()
    } catch (err) {
      throw usageError(`cannot read --token-file ${c.tokenFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): give a file holding a Kubernetes bearer token`)
    }
    if (!token || /\s/.test(token)) throw usageError(`--token-file ${c.tokenFile} must hold one bearer token and nothing else`)
    return `Bearer ${token}`
  }
  // Loaded only here: the Kubernetes client is the heaviest import, and only a manual request needs it.
  const kc = new (await import('@kubernetes/client-node')).KubeConfig()
  let where: string
  if (target.kind === 'local' && target.state.kubeconfig && c.kubeconfig === undefined) {
    where = target.state.kubeconfig
    try {
      kc.loadFromFile(where)
    } catch (err) {
      throw unavailable(`cannot read the sandbox's kubeconfig ${where}: ${(err as Error).message}. Restart \`npm start\``)
    }
  } else {
    const path = c.kubeconfig ?? c.env.KUBECONFIG
    where = path ?? join(c.env.HOME ?? '~', '.kube', 'config')
    try {
      if (path) kc.loadFromFile(path)
      else kc.loadFromDefault()
    } catch (err) {
      throw unavailable(`cannot read the kubeconfig ${where}: ${(err as Error).message}. Give --kubeconfig FILE or --token-file FILE`)
    }
    if (!kc.getCurrentUser()) throw unavailable(`no kubeconfig with a current user (looked at ${where}): give --kubeconfig FILE or --token-file FILE`)
  }
  return kubeconfigAuthorization(kc, where)
}

/** A fetch whose failure to connect says what to fix. */
export async function send(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) })
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause
    const reason = cause?.code ?? cause?.message ?? (err as Error).message
    throw unavailable(`cannot reach ${what} at ${url} (${reason}): is it running? Check \`npm start\`'s output, or the URL given with --server`)
  }
}

/** The `{error, message}` of a Caretaker error answer, or the body as text. */
export async function answerOf(res: Response): Promise<{ error?: string; message: string }> {
  const text = await res.text()
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown }
    if (typeof body.message === 'string') return { ...(typeof body.error === 'string' ? { error: body.error } : {}), message: body.message }
  } catch {
    // not JSON: shown as it is
  }
  return { message: text.trim().slice(0, 500) || `HTTP ${res.status}` }
}
