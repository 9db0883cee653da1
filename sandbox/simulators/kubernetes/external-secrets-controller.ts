// The external-secrets controller, Vault KV backend: an ExternalSecret's data read from Vault into its Secret.
import { createHash } from 'node:crypto'
import { condition, iso, meta, str } from './controller-common.ts'
import type { ControllerContext, Obj, Rec } from './controller-common.ts'

/** The sync version of an ExternalSecret: its generation and labels/annotations (a force-sync annotation changes it). */
export const syncVersion = (es: Obj) => `${Number(meta(es).generation ?? 1)}-${createHash('md5').update(JSON.stringify({ annotations: meta(es).annotations ?? {}, labels: meta(es).labels ?? {} })).digest('hex')}`

export function createExternalSecretController({ store, clock, event }: ControllerContext, vault: { url: string, token: string } | undefined) {
  let vaultAt = vault
  async function readVault(store0: Obj, key0: string, version?: string): Promise<Rec> {
    const vaultConn = vaultAt
    if (!vaultConn) throw new Error('no Vault configured for the external-secrets controller')
    const vault = ((((store0.spec as Rec | undefined)?.provider as Rec | undefined)?.vault) ?? undefined) as Rec | undefined
    if (!vault) throw new Error(`${str(store0.kind)} ${str(meta(store0).name)} has no vault provider`)
    const mount = str(vault.path) || 'secret'
    const v2 = (str(vault.version) || 'v2') === 'v2'
    const rel = key0.startsWith(`${mount}/`) ? key0.slice(mount.length + 1) : key0
    const path = v2 ? `${mount}/data/${rel}` : `${mount}/${rel}`
    const res = await fetch(`${vaultConn.url}/v1/${path}${v2 && version ? `?version=${encodeURIComponent(version)}` : ''}`, { headers: { 'X-Vault-Token': vaultConn.token }, signal: AbortSignal.timeout(5000) })
    const body = await res.json().catch(() => ({})) as Rec
    if (!res.ok) throw new Error(`Error making API request.\n\nURL: GET ${vaultConn.url}/v1/${path}\nCode: ${res.status}. Errors:\n\n* ${((body.errors ?? []) as string[]).join('\n* ')}`)
    const data = (body.data ?? {}) as Rec
    return (v2 ? (data.data ?? {}) : data) as Rec
  }

  async function syncExternalSecret(ns: string, name: string): Promise<void> {
    const es = store.get('external-secrets.io/v1', 'ExternalSecret', ns, name)
    if (!es) return
    const version = syncVersion(es)
    if ((es.status as Rec | undefined)?.syncedResourceVersion === version) return
    const spec = (es.spec ?? {}) as Rec
    const ref = (spec.secretStoreRef ?? {}) as Rec
    const target = (spec.target ?? {}) as Rec
    const secretName = str(target.name) || name
    const at = iso(clock())
    try {
      const storeKind = str(ref.kind) || 'SecretStore'
      const secretStore = storeKind === 'ClusterSecretStore' ? store.get('external-secrets.io/v1', 'ClusterSecretStore', '', str(ref.name)) : store.get('external-secrets.io/v1', 'SecretStore', ns, str(ref.name))
      if (!secretStore) throw new Error(`could not get ${storeKind} "${str(ref.name)}"`)
      const values: Record<string, string> = {}
      for (const d of (spec.dataFrom ?? []) as Rec[]) {
        const extract = d.extract as Rec | undefined
        if (!extract) continue
        const got = await readVault(secretStore, str(extract.key), str(extract.version) || undefined)
        for (const [k, v] of Object.entries(got)) values[k] = str(v)
      }
      for (const d of (spec.data ?? []) as Rec[]) {
        const rr = (d.remoteRef ?? {}) as Rec
        const got = await readVault(secretStore, str(rr.key), str(rr.version) || undefined)
        const prop = str(rr.property)
        if (prop && !(prop in got)) throw new Error(`key ${prop} does not exist in secret ${str(rr.key)}`)
        values[str(d.secretKey)] = prop ? str(got[prop]) : JSON.stringify(got)
      }
      const data = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]))
      const dataHash = createHash('md5').update(JSON.stringify(data)).digest('hex')
      const existing = store.get('v1', 'Secret', ns, secretName)
      const policy = str(target.creationPolicy) || 'Owner'
      const owner = { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', name, uid: meta(es).uid, controller: true, blockOwnerDeletion: true }
      if (existing) {
        const em = meta(existing)
        const refs = ((em.ownerReferences ?? []) as Rec[]).filter((r) => r.uid !== owner.uid)
        store.update({ ...existing, metadata: { ...em, annotations: { ...((em.annotations ?? {}) as Rec), 'reconcile.external-secrets.io/data-hash': dataHash }, ...(policy === 'Owner' ? { ownerReferences: [...refs, owner] } : {}) }, data: policy === 'Merge' ? { ...((existing.data ?? {}) as Rec), ...data } : data })
      } else if (policy === 'Merge') {
        throw new Error(`secret ${secretName} does not exist and creationPolicy is Merge`)
      } else if (policy !== 'None') {
        store.create({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: secretName, namespace: ns, annotations: { 'reconcile.external-secrets.io/data-hash': dataHash }, ...(policy === 'Owner' ? { ownerReferences: [owner] } : {}) }, data })
      }
      const cur = store.get('external-secrets.io/v1', 'ExternalSecret', ns, name)
      if (!cur) return
      store.updateStatus({ ...cur, status: { refreshTime: at, syncedResourceVersion: version, binding: { name: secretName }, conditions: [condition('Ready', 'True', 'SecretSynced', 'secret synced', at)] } })
      event(cur, 'Normal', 'Updated', 'Updated Secret', 'external-secrets')
    } catch (err) {
      const cur = store.get('external-secrets.io/v1', 'ExternalSecret', ns, name)
      if (!cur) return
      const prevStatus = (cur.status ?? {}) as Rec
      store.updateStatus({ ...cur, status: { ...prevStatus, conditions: [condition('Ready', 'False', 'SecretSyncedError', 'could not get secret data from provider', at)] } })
      event(cur, 'Warning', 'UpdateFailed', (err as Error).message, 'external-secrets')
    }
  }

  return {
    syncExternalSecret,
    /** Points syncs at another Vault. */
    setVault(v: { url: string, token: string }) { vaultAt = v },
  }
}
