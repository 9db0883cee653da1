// Label and field selectors, as kube-apiserver reads them (k8s.io/apimachinery pkg/labels, pkg/fields).

export function matchLabels(selector: string, labels: Record<string, string>): boolean {
  // Split on commas outside parentheses (set-based values contain commas).
  const parts = selector.match(/[^,(]+(\([^)]*\))?/g) ?? []
  return parts.every((raw) => {
    const p = raw.trim()
    let m
    if ((m = /^(\S+)\s+(in|notin)\s+\((.*)\)$/.exec(p))) {
      const vals = (m[3] ?? '').split(',').map((s) => s.trim())
      const v = labels[m[1] ?? '']
      return m[2] === 'in' ? v !== undefined && vals.includes(v) : v === undefined || !vals.includes(v)
    }
    if ((m = /^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/.exec(p))) {
      const v = labels[m[1] ?? '']
      return m[2] === '!=' ? v !== m[3] : v === m[3]
    }
    if (p.startsWith('!')) return !(p.slice(1) in labels)
    return p in labels
  })
}

function fieldValue(o: Record<string, unknown>, path: string): string {
  // core/v1 Events select `source` by its component, as the real field label conversion does.
  if (path === 'source' && o.kind === 'Event' && o.apiVersion === 'v1') path = 'source.component'
  let cur: unknown = o
  for (const k of path.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined
  return cur === undefined || cur === null ? '' : String(cur)
}

export function matchFields(selector: string, o: Record<string, unknown>): boolean {
  return selector.split(',').every((p) => {
    const m = /^([^!=]+)(==|=|!=)(.*)$/.exec(p.trim())
    if (!m) return true
    const v = fieldValue(o, m[1] ?? '')
    return m[2] === '!=' ? v !== m[3] : v === m[3]
  })
}
