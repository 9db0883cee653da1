/**
 * A Kubernetes resource.Quantity as a number: cores for cpu (`250m` →
 * 0.25, `329087452n`), bytes for memory (`2748180Ki`, `1.5Gi`, `1e9`).
 * The suffixes of k8s.io/apimachinery pkg/api/resource/quantity.go: binary
 * (Ki … Ei), decimal SI (n u m k M G T P E) and decimal exponents.
 * Undefined for what is not a quantity.
 */
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 }
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 }

export function parseQuantity(text: string | number | undefined): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) ? text : undefined
  if (typeof text !== 'string') return undefined
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(text.trim())
  if (!m) return undefined
  const value = Number(m[1])
  if (m[2]) return value * 10 ** Number(m[2].slice(1))
  const suffix = m[3] ?? ''
  return value * (BINARY[suffix] ?? DECIMAL[suffix] ?? 1)
}

/** Bytes as people read them: `45.5 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = bytes
  let i = 0
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${i === 0 ? v : v.toFixed(1).replace(/\.0$/, '')} ${units[i]}`
}

/** Cores as people read them: `250m`, `3.5`. */
export function formatCores(cores: number): string {
  return cores < 1 ? `${Math.round(cores * 1000)}m` : `${Number(cores.toFixed(2))}`
}
