import nodeVault from 'node-vault'

/**
 * The one place tests touch node-vault's loose (`any`) types: every call
 * answers `unknown`-valued records, and failures are read with apiError().
 */
export type Body = Record<string, unknown>

export interface VaultClient {
  token: string
  read(path: string): Promise<Body>
  write(path: string, data: Body): Promise<Body>
  update(path: string, data: Body): Promise<Body>
  list(path: string): Promise<Body>
  delete(path: string): Promise<Body>
  health(query?: Body): Promise<Body>
  status(): Promise<Body>
  unseal(key: string): Promise<Body>
  seal(): Promise<Body>
  mounts(): Promise<Body>
  tokenCreate(options: Body): Promise<Body>
  tokenLookupSelf(): Promise<Body>
  tokenRevokeSelf(): Promise<Body>
  kubernetesLogin(options: { role: string; jwt: string }): Promise<Body>
  addPolicy(name: string, rules: string): Promise<Body>
  getPolicy(name: string): Promise<Body>
  destroySecretVersions(mount: string, path: string, versions: number[]): Promise<Body>
}

const asBody = async (p: Promise<unknown>): Promise<Body> => {
  const v = await p
  return typeof v === 'object' && v !== null ? (v as Body) : {}
}

export function vaultClient(endpoint: string, token?: string): VaultClient {
  const c = nodeVault({ endpoint, ...(token ? { token } : {}) })
  return {
    get token() {
      return c.token
    },
    set token(value: string) {
      c.token = value
    },
    read: (path) => asBody(c.read(path)),
    write: (path, data) => asBody(c.write(path, data)),
    update: (path, data) => asBody(c.update(path, data)),
    list: (path) => asBody(c.list(path)),
    delete: (path) => asBody(c.delete(path)),
    health: (query = {}) => asBody(c.health(query)),
    status: () => asBody(c.status()),
    unseal: (key) => asBody(c.unseal({ key })),
    seal: () => asBody(c.seal()),
    mounts: () => asBody(c.mounts()),
    tokenCreate: (options) => asBody(c.tokenCreate(options)),
    tokenLookupSelf: () => asBody(c.tokenLookupSelf()),
    tokenRevokeSelf: () => asBody(c.tokenRevokeSelf()),
    // node-vault 0.12 renders its default mount into this path only when
    // mount_point is given; without it the call goes to /v1/auth//login.
    kubernetesLogin: (options) => asBody(c.kubernetesLogin({ mount_point: 'kubernetes', ...options })),
    addPolicy: (name, rules) => asBody(c.addPolicy({ name, rules })),
    getPolicy: (name) => asBody(c.getPolicy({ name })),
    destroySecretVersions: (mount, path, versions) => asBody(c.destroySecretVersions({ mount_point: mount, path, versions })),
  }
}

export interface ApiError {
  statusCode: number
  body: unknown
  message: string
}

/** node-vault's ApiResponseError, read safely. */
export function apiError(err: unknown): ApiError | undefined {
  if (!(err instanceof Error) || !('response' in err)) return undefined
  const response = (err as Error & { response: unknown }).response
  if (typeof response !== 'object' || response === null) return undefined
  const r = response as { statusCode?: unknown; body?: unknown }
  return typeof r.statusCode === 'number' ? { statusCode: r.statusCode, body: r.body, message: err.message } : undefined
}

/** Runs a call expected to fail and returns node-vault's error details. */
export async function failure(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call
  } catch (err) {
    const e = apiError(err)
    if (e) return e
    throw err
  }
  throw new Error('expected the Vault call to fail')
}

export const get = (value: unknown, ...keys: string[]): unknown => {
  let v = value
  for (const k of keys) v = typeof v === 'object' && v !== null ? (v as Body)[k] : undefined
  return v
}
