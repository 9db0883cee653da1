import type http from 'node:http'
import { groupVersion } from './resources.ts'
import type { ResourceInfo } from './resources.ts'
import { ApiError } from './status.ts'
import { matchFields, matchLabels } from './selectors.ts'
import { meta } from './store.ts'
import type { ChangeEvent, Obj, Store } from './store.ts'

/** A watch: the changes since `resourceVersion` (410 Expired when the history no longer holds them) or the current objects as ADDED, then every change as it happens. */
export function watch(store: Store, r: ResourceInfo, ns: string, q: URLSearchParams, res: http.ServerResponse): void {
  const { history, listeners, list } = store
  const ls = q.get('labelSelector')
  const fs = q.get('fieldSelector')
  const key = `${r.group}/${r.plural}`
  const send = (e: ChangeEvent) => {
    const m = meta(e.object)
    if (e.object.kind !== r.kind || e.object.apiVersion !== groupVersion(r)) return
    if (ns && m.namespace !== ns) return
    if (ls && !matchLabels(ls, m.labels ?? {})) return
    if (fs && !matchFields(fs, e.object)) return
    res.write(JSON.stringify({ type: e.type, object: e.object }) + '\n')
  }
  const from = Number(q.get('resourceVersion') ?? 0)
  const oldest = history[0]?.rv ?? store.rv() + 1
  if (from && from < oldest - 1 && from < store.rv()) {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ type: 'ERROR', object: new ApiError(410, 'Expired', `too old resource version: ${from} (${oldest - 1})`).body() }) + '\n')
    return
  }
  res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
  // Send the headers now: clients wait for them before reading events, and there may be none for a while.
  res.flushHeaders()
  if (from) { for (const e of history) if (e.key === key && e.rv > from) send(e) } else {
    for (const o of (list(r, ns, new URLSearchParams()).items as Obj[])) send({ type: 'ADDED', object: o })
  }
  listeners.add(send)
  const timeout = Number(q.get('timeoutSeconds') ?? 0)
  const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined
  const bookmark = q.get('allowWatchBookmarks') === 'true' ? setInterval(() => res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: r.kind, apiVersion: groupVersion(r), metadata: { resourceVersion: String(store.rv()) } } }) + '\n'), 1000) : undefined
  res.on('close', () => { listeners.delete(send); clearTimeout(timer); clearInterval(bookmark) })
}
