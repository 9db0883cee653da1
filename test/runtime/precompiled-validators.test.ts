import { createRequire } from 'node:module'
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import type { ValidateFunction } from 'ajv'
import { functionNames, functionSchemas, projectRoot, standaloneValidators } from '../../scripts/build.ts'
import { compileSchema } from '../../shared/schema-compile.ts'
import { describeSchemaErrors } from '../../shared/schema-errors.ts'
import type { JsonSchema } from '../../shared/schema.ts'
import type { SchemaPurpose } from '../../shared/validators.ts'

// The build's standalone validators (what the bundles carry) against ajv
// compiling the same schema at start (what the sources do): the same
// verdict, the same messages, the same defaults filled in, for every
// function's config and event schemas, on the shipped configs and on
// documents broken in the ways people break them.

const require = createRequire(import.meta.url)

/** Standalone code as CommonJS, evaluated here (its require()s resolve from the project). */
function loadStandalone(schemas: Map<string, JsonSchema>, purpose: SchemaPurpose): Record<string, ValidateFunction> {
  const module = { exports: {} as Record<string, ValidateFunction> }
  // The generated validator code, as the bundles carry it.
  new Function('module', 'exports', 'require', standaloneValidators(schemas, purpose, { esm: false }))(module, module.exports, require)
  return module.exports
}

const WRONG: unknown[] = [null, 'x', 12345, -1, 0.5, true, [], [{}], {}, { unknown: 1 }, '', 'not a duration', '2026-13-45T99:00:00Z']

/** The document, then each field (to depth 3) replaced by each wrong value, and removed. */
function variants(document: unknown): unknown[] {
  const out: unknown[] = [document, {}, null, [], 'x', { unknown: true }]
  const walk = (value: unknown, replace: (v: unknown) => unknown, depth: number): void => {
    if (depth > 3 || value === null || typeof value !== 'object') return
    const entries: Array<[string | number, unknown]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value)
    for (const [k, v] of entries.slice(0, 8)) {
      const at = (nv: unknown): unknown => {
        if (Array.isArray(value)) { const copy = [...value]; copy[k as number] = nv; return replace(copy) }
        const rest = Object.entries(value as Record<string, unknown>).filter(([key]) => key !== k)
        return replace(Object.fromEntries(nv === undefined ? rest : [...rest, [k, nv]]))
      }
      for (const w of WRONG) out.push(at(w))
      out.push(at(undefined))
      walk(v, at, depth + 1)
    }
  }
  walk(document, (v) => v, 0)
  return out
}

function run(validate: ValidateFunction, document: unknown): { ok: boolean; problems: string[]; value: unknown } {
  const value = structuredClone(document)
  const ok = validate(value) as boolean
  return { ok, problems: describeSchemaErrors(validate.errors, 'x'), value }
}

for (const name of functionNames()) {
  t.test(name, async (t) => {
    const schemas = await functionSchemas(name)
    const manifest = join(projectRoot, 'manifests', name, 'config.yaml')
    const shipped: unknown = existsSync(manifest) ? parse(readFileSync(manifest, 'utf8')) : {}
    for (const purpose of ['config', 'data'] as const) {
      const standalone = loadStandalone(schemas[purpose], purpose)
      for (const [key, schema] of schemas[purpose]) {
        const pre = standalone[key]
        t.type(pre, 'function', `${purpose} ${key}: precompiled`)
        if (!pre) continue
        const compiled = compileSchema(schema, purpose)
        let differ = 0
        let invalid = 0
        const docs = variants(purpose === 'config' ? shipped : {})
        for (const doc of docs) {
          const a = run(compiled, doc)
          const b = run(pre, doc)
          if (!a.ok) invalid++
          if (JSON.stringify(a) !== JSON.stringify(b)) {
            differ++
            t.same(b, a, `${purpose} ${key}: the same answer for ${JSON.stringify(doc).slice(0, 200)}`)
          }
        }
        t.equal(differ, 0, `${purpose} ${key}: ${docs.length} documents (${invalid} invalid) answered alike`)
      }
    }
  })
}
